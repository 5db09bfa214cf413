namespace Pgmo.Planner.Optimal

open System
open System.Diagnostics
open System.Threading
open System.Threading.Tasks
open Pgmo.Planner

/// One entry point for `pgmo solve`: the exact canonical search (Exact, Descent), CP-SAT, or both in parallel (Auto)
/// on one deadline, the first proof cancelling the other. Every returned plan is valid. Every race cleans up: whatever
/// ends it (an answer, the time, an exception), the other side is cancelled and waited for before solve returns.
[<RequireQualifiedAccess>]
module Solver =

    /// The best valid plan among the hint and the fixed heuristics, with its name: the start of a minimization
    /// (Algorithms.lowest). Best-fit first (n log n); the others (greedy by size, XLA's two orders, first fit) only
    /// when best-fit misses the lower bound and the exact search is tractable (Descent.tractable), as they are slower
    /// at scale.
    let startPlan (hint: Plan option) (axis: TimeAxis) : string * Plan =
        let lb = Bounds.lowerBoundOn axis
        let run (a: Algorithm) = a.Name, a.PlanOn(axis, Algorithms.defaults)
        let candidates =
            seq {
                match hint with
                | Some h -> yield "hint", Algorithms.planned axis h
                | None -> ()
                let name, bestFit = run Algorithms.bestFit
                yield name, bestFit
                if bestFit.Peak > lb && Descent.tractableOn axis then
                    yield! [ Algorithms.greedySize; Algorithms.xlaSpatial; Algorithms.xlaTemporal; Algorithms.firstFit ] |> Seq.map run }
        match Algorithms.lowest axis candidates with
        | Some (name, r) -> name, r.Plan
        | None -> failwith "no heuristic gave a valid start plan"

    /// The progress callback of the options as the Incumbent's report.
    let private reporter (options: SolveOptions) : string -> int64 -> int64 -> unit =
        fun solver peak bound -> options.Progress |> Option.iter (fun f -> f { Solver = solver; Peak = peak; Bound = bound })

    /// The shared incumbent of a minimization from the best start plan, its start reported.
    let private incumbentOf (options: SolveOptions) (axis: TimeAxis) : Incumbent =
        let name, start = startPlan options.Hint axis
        let incumbent = Incumbent(axis.Problem, start, reporter options)
        reporter options name incumbent.Peak incumbent.Bound
        incumbent

    /// Runs the exact search alone on the deadline's budget (the time left of it, its nodes, its cancellation).
    let private exactOn (deadline: Deadline) (axis: TimeAxis) : SolveResult =
        let options = deadline.Options
        let problem = axis.Problem
        let watch = Stopwatch.StartNew()
        let lb = Bounds.lowerBoundOn axis
        use cts = deadline.Source()
        let result status plan bound =
            let plan = plan |> Option.map (Checked.plan problem options.Capacity)
            { Status = status; Plan = plan; Peak = plan |> Option.map (Plan.peak problem); Bound = bound; LowerBound = lb
              Millis = watch.ElapsedMilliseconds; Solver = "exact" }
        match options.Capacity with
        | Some capacity when not (Descent.tractableOn axis) ->
            // too large for the exact search: the lower bound or best-fit may still answer
            let plan = BestFit.planOn axis
            if capacity < lb then result Infeasible None (max lb (capacity + 1L))
            elif Plan.peak problem plan <= capacity then
                result (if Plan.peak problem plan <= lb then Optimal else Feasible) (Some plan) lb
            else result SolveStatus.Unknown None lb
        | Some capacity ->
            match fst (Exact.decideOn (deadline.Share(1.0, cts.Token)) capacity (ExactProblem axis)) with
            | Fits plan ->
                let peak = Plan.peak problem plan
                result (if peak <= lb then Optimal else Feasible) (Some plan) lb
            | DoesNotFit -> result Infeasible None (max lb (capacity + 1L))
            | ExactResult.Unknown -> result SolveStatus.Unknown None lb
        | None ->
            // minimization by capacity decisions from the best heuristic plan (Descent)
            let incumbent = incumbentOf options axis
            let m = Descent.run (deadline.Share(1.0, cts.Token)) incumbent axis
            result (if m.Optimal then Optimal else Feasible) (Some m.Best) m.LowerBound

    /// Runs the exact search alone under the options (time limit, node budget, cancellation).
    let exact (options: SolveOptions) (problem: Problem) : SolveResult = exactOn (Deadline options) (TimeAxis problem)

    /// The stronger of two answers to the same question (a proof beats no proof, a lower peak beats a higher one).
    let private better (a: SolveResult) (b: SolveResult) : SolveResult =
        let rank (r: SolveResult) =
            match r.Status with
            | Optimal | Infeasible -> 3
            | Feasible -> 2
            | SolveStatus.Unknown -> 1
        let bound = max a.Bound b.Bound
        let best =
            if rank a <> rank b then (if rank a > rank b then a else b)
            else
                match a.Peak, b.Peak with
                | Some pa, Some pb -> if pb < pa then b else a
                | None, Some _ -> b
                | _ -> a
        let best = { best with Bound = (match best.Peak with Some p -> min p bound | None -> bound) }
        match best.Peak with
        | Some p when p <= best.Bound -> { best with Status = Optimal }
        | _ -> best

    /// Runs `body` while `background` runs, then cancels `cts` and waits for `background` whatever ended `body`: its
    /// result, or its exception (then the background's own failure, if any, is dropped). No task of a race outlives it.
    let racing (cts: CancellationTokenSource) (background: Task<'b>) (body: unit -> 'a) : 'a * 'b =
        let mutable failed = true
        try
            let r = body ()
            failed <- false
            cts.Cancel()
            r, background.Result
        finally
            if failed then
                cts.Cancel()
                try background.Wait() with _ -> ()

    /// Minimizes with the descent (`workers` threads) and CP-SAT (one more thread, hinted with the start plan; only
    /// where the exact search is tractable and the start is not optimal already) on one shared Incumbent: CP-SAT's
    /// proven bound raises the descent's lower end as it comes, CP-SAT's final plan and bound join at its end, and an
    /// optimum proven by either stops both. Where the exact search is not tractable, search gets the time left.
    let private minimizeAuto (deadline: Deadline) (axis: TimeAxis) : SolveResult =
        let options = deadline.Options
        let problem = axis.Problem
        let watch = Stopwatch.StartNew()
        use cts = deadline.Source()
        let incumbent = incumbentOf options axis
        use _stop = incumbent.Subscribe(fun () -> if incumbent.Optimal then (try cts.Cancel() with :? ObjectDisposedException -> ()))
        let inner = deadline.Share(1.0, cts.Token)
        let tractable = Descent.tractableOn axis
        // a dedicated thread (the race lasts the whole limit): the pool's threads stay free for the deadline's timers
        let descent = Task.Factory.StartNew((fun () -> Descent.run { inner with Workers = max 1 options.Workers } incumbent axis), TaskCreationOptions.LongRunning)
        racing cts descent (fun () ->
            // CP-SAT's model alone outlasts a short time limit where the exact search is not tractable: there the
            // descent ends at once, and the search heuristic (which scales) gets the time left instead
            if not incumbent.Optimal && not tractable && deadline.Remaining > TimeSpan.Zero then
                let planned = Algorithms.search.PlanOn(axis, { inner with TimeLimit = deadline.Remaining })
                match planned.PlanIfAny with
                | Some plan when Validate.isValidOn axis plan -> incumbent.Offer("search", plan) |> ignore
                | _ -> ()
            if not incumbent.Optimal && tractable then
                let cp =
                    CpSat.solve
                        { inner with
                            Hint = Some incumbent.Best; Workers = 1; TimeLimit = deadline.Remaining
                            Progress = Some(fun r -> incumbent.Raise("cp-sat", r.Bound) |> ignore) } problem
                cp.Plan |> Option.iter (fun p -> incumbent.Offer("cp-sat", p) |> ignore)
                incumbent.Raise("cp-sat", cp.Bound) |> ignore) |> ignore
        // the incumbent holds the best of every solver (the descent's result may predate the search's or CP-SAT's offer)
        let lb = Bounds.lowerBoundOn axis
        let plan = Checked.plan problem None incumbent.Best
        { Status = (if incumbent.Optimal then Optimal else Feasible); Plan = Some plan; Peak = Some incumbent.Peak
          Bound = min incumbent.Bound incumbent.Peak; LowerBound = lb; Millis = watch.ElapsedMilliseconds; Solver = "auto:" + incumbent.BestBy }

    /// Solves the problem of a time axis with the method options.Kind names: CpSat, ExactSearch, or Auto (both in
    /// parallel on one deadline; the first proof stops the other; when minimizing, both share one Incumbent: see
    /// minimizeAuto; a decision with one worker, or any run under a node budget, runs the exact search alone, which
    /// counts its work in nodes: the same answer on any machine with one worker).
    let solveOn (options: SolveOptions) (axis: TimeAxis) : SolveResult =
        let problem = axis.Problem
        let deadline = Deadline(options)
        match options.Kind with
        | CpSat -> CpSat.solve options problem
        | ExactSearch -> exactOn deadline axis
        | Auto when options.Nodes.IsSome -> exactOn deadline axis
        | Auto when options.Capacity.IsNone -> minimizeAuto deadline axis
        | Auto when not (Descent.tractableOn axis) -> exactOn deadline axis
        // one worker: one thread, the exact search alone (a race on one core halves both and CP-SAT is the slower
        // decider on every MiniMalloc instance: proofs/benchmarks.md)
        | Auto when options.Workers <= 1 -> exactOn deadline axis
        | Auto ->
            let watch = Stopwatch.StartNew()
            // a proof settles the question; with a capacity, so does any plan that fits under it
            let answers (r: SolveResult) =
                r.Status = Optimal || r.Status = Infeasible || (options.Capacity.IsSome && r.Plan.IsSome)
            use cts = deadline.Source()
            let shared = Deadline(deadline.Share(1.0, cts.Token))
            let exactTask =
                Task.Factory.StartNew((fun () ->
                    let r = exactOn shared axis
                    if answers r then cts.Cancel()
                    r), TaskCreationOptions.LongRunning)
            let hint = options.Hint |> Option.orElse (Some (BestFit.planOn axis))
            let cp, ex =
                racing cts exactTask (fun () ->
                    let cp = CpSat.solve { shared.Options with Hint = hint; Workers = max 1 (options.Workers - 1) } problem
                    if answers cp then cts.Cancel()
                    cp)
            let r = better ex cp
            { r with Millis = watch.ElapsedMilliseconds; Solver = "auto:" + r.Solver }

    /// Solves a problem (solveOn its time axis).
    let solve (options: SolveOptions) (problem: Problem) : SolveResult = solveOn options (TimeAxis problem)
