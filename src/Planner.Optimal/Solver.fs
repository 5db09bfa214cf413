namespace Pgmo.Planner.Optimal

open System
open System.Diagnostics
open System.Threading
open System.Threading.Tasks
open Pgmo.Planner

/// One entry point for `pgmo solve`: the exact canonical search (Exact), CP-SAT, or both in parallel (Auto),
/// the first proof cancelling the other. Every returned plan is valid.
[<RequireQualifiedAccess>]
module Solver =

    /// Decides a capacity with the exact search; with workers >= 2 a parallel portfolio (Exact.decideParallel).
    let decidePortfolio (workers: int) (options: ExactOptions) (capacity: int64) (problem: Problem) : ExactResult =
        if workers <= 1 then Exact.decide options capacity problem else Exact.decideParallel options capacity problem

    /// The best valid plan among the hint and the fixed heuristics, with its name: the start of a minimization.
    /// Best-fit first (n log n); the others (greedy by size, XLA's two orders, first fit) only when
    /// best-fit misses the lower bound and the exact search is tractable (Descent.tractable), as they are slower at scale.
    let startPlan (hint: Plan option) (axis: TimeAxis) : string * Plan =
        let problem = axis.Problem
        let lb = Bounds.lowerBoundOn axis
        let run (a: Algorithm) = a.Name, (a.PlanOn(axis, Algorithms.defaults)).Plan
        let bestFit = run Algorithms.bestFit
        let others () = [ Algorithms.greedySize; Algorithms.xlaSpatial; Algorithms.xlaTemporal; Algorithms.firstFit ] |> List.map run
        [ match hint with
          | Some h -> "hint", h
          | None -> ()
          bestFit
          if Plan.peak problem (snd bestFit) > lb && Descent.tractableOn axis then yield! others () ]
        |> List.filter (fun (_, p) -> Validate.isValidOn axis p)
        |> List.minBy (fun (_, p) -> Plan.peak problem p)

    /// The first phase of a descent: a twelfth of the time limit on the lower bound, the usual optimum (the descent
    /// keeps these searches and resumes them, a quarter of its nodes on the bound).
    let private boundTime (options: SolveOptions) = TimeSpan.FromSeconds(options.TimeLimitSeconds / 12.0)

    /// The progress callback of the options as the Incumbent's report.
    let private reporter (options: SolveOptions) : string -> int64 -> int64 -> unit =
        fun solver peak bound -> options.Progress |> Option.iter (fun f -> f { Solver = solver; Peak = peak; Bound = bound })

    /// The shared incumbent of a minimization from the best start plan, its start reported.
    let private incumbentOf (options: SolveOptions) (axis: TimeAxis) : Incumbent =
        let name, start = startPlan options.Hint axis
        let incumbent = Incumbent(axis.Problem, start, reporter options)
        reporter options name incumbent.Peak incumbent.Bound
        incumbent

    /// Runs the exact search alone under the options (time limit through cancellation).
    let private exactOn (options: SolveOptions) (axis: TimeAxis) : SolveResult =
        let problem = axis.Problem
        let watch = Stopwatch.StartNew()
        let lb = Bounds.lowerBoundOn axis
        use cts = CancellationTokenSource.CreateLinkedTokenSource(options.Cancellation)
        cts.CancelAfter(TimeSpan.FromSeconds(max 0.001 options.TimeLimitSeconds))
        let exactOptions = { Exact.defaults with Cancellation = cts.Token }
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
            match decidePortfolio options.Workers exactOptions capacity problem with
            | Fits plan ->
                let peak = Plan.peak problem plan
                result (if peak <= lb then Optimal else Feasible) (Some plan) lb
            | DoesNotFit -> result Infeasible None (max lb (capacity + 1L))
            | ExactResult.Unknown -> result SolveStatus.Unknown None lb
        | None ->
            // minimization by capacity decisions from the best heuristic plan (Descent)
            let incumbent = incumbentOf options axis
            let m = Descent.run { Descent.defaults with Workers = options.Workers; Cancellation = cts.Token; BoundTime = boundTime options }  incumbent axis
            result (if m.Optimal then Optimal else Feasible) (Some m.Best) m.LowerBound

    /// Runs the exact search alone under the options (time limit through cancellation).
    let exact (options: SolveOptions) (problem: Problem) : SolveResult = exactOn options (TimeAxis problem)

    /// The stronger of two answers to the same question (a proof beats no proof, a lower peak beats a higher one).
    let private better (a: SolveResult) (b: SolveResult) : SolveResult =
        let rank r =
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

    /// Minimizes with the descent (`workers` threads) and CP-SAT (one more thread, hinted with the start plan; only
    /// where the exact search is tractable and the start is not optimal already) on one shared Incumbent: CP-SAT's proven bound raises the descent's lower end as it comes, CP-SAT's final plan
    /// and bound join at its end, and an optimum proven by either stops both.
    let private minimizeAuto (options: SolveOptions) (axis: TimeAxis) : SolveResult =
        let problem = axis.Problem
        let watch = Stopwatch.StartNew()
        use cts = CancellationTokenSource.CreateLinkedTokenSource(options.Cancellation)
        cts.CancelAfter(TimeSpan.FromSeconds(max 0.001 options.TimeLimitSeconds))
        let incumbent = incumbentOf options axis
        incumbent.Subscribe(fun () -> if incumbent.Optimal then (try cts.Cancel() with :? ObjectDisposedException -> ()))
        let descent =
            Task.Run(fun () ->
                Descent.run { Descent.defaults with Workers = max 1 options.Workers; Cancellation = cts.Token; BoundTime = boundTime options }  incumbent axis)
        let left = options.TimeLimitSeconds - watch.Elapsed.TotalSeconds
        // CP-SAT's model alone outlasts a short time limit where the exact search is not tractable (Descent.tractable):
        // there the descent ends at once, and the search heuristic (which scales) gets the time left instead
        let tractable = Descent.tractableOn axis
        if not incumbent.Optimal && not tractable && left > 0.0 then
            let planned = Algorithms.search.PlanOn(axis, Algorithms.settings (TimeSpan.FromSeconds left) options.Seed cts.Token)
            if Validate.isValidOn axis planned.Plan then incumbent.Offer("search", planned.Plan) |> ignore
        if not incumbent.Optimal && tractable then
            let cp =
                CpSat.solve
                    { options with
                        Cancellation = cts.Token; Hint = Some incumbent.Best; Workers = 1; TimeLimitSeconds = max 0.0 left
                        Progress = Some(fun r -> incumbent.Raise("cp-sat", r.Bound) |> ignore) } problem
            cp.Plan |> Option.iter (fun p -> incumbent.Offer("cp-sat", p) |> ignore)
            incumbent.Raise("cp-sat", cp.Bound) |> ignore
        descent.Wait()
        // the incumbent holds the best of every solver (the descent's result may predate the search's or CP-SAT's offer)
        let lb = Bounds.lowerBoundOn axis
        let plan = Checked.plan problem None incumbent.Best
        { Status = (if incumbent.Optimal then Optimal else Feasible); Plan = Some plan; Peak = Some incumbent.Peak
          Bound = min incumbent.Bound incumbent.Peak; LowerBound = lb; Millis = watch.ElapsedMilliseconds; Solver = "auto:" + incumbent.BestBy }

    /// Solves with the method options.Kind names: CpSat, ExactSearch, or Auto (both in parallel on a shared deadline;
    /// the first proof stops the other; when minimizing, both share one Incumbent: see minimizeAuto; a decision with
    /// one worker runs the exact search alone).
    let solve (options: SolveOptions) (problem: Problem) : SolveResult =
        let axis = TimeAxis problem
        match options.Kind with
        | CpSat -> CpSat.solve options problem
        | ExactSearch -> exactOn options axis
        | Auto when options.Capacity.IsNone -> minimizeAuto options axis
        | Auto when not (Descent.tractableOn axis) -> exactOn options axis
        // one worker: one thread, the exact search alone (a race on one core halves both and CP-SAT is the slower
        // decider on every MiniMalloc instance: proofs/benchmarks.md)
        | Auto when options.Workers <= 1 -> exactOn options axis
        | Auto ->
            let watch = Stopwatch.StartNew()
            // a proof settles the question; with a capacity, so does any plan that fits under it
            let answers (r: SolveResult) =
                r.Status = Optimal || r.Status = Infeasible || (options.Capacity.IsSome && r.Plan.IsSome)
            use cts = CancellationTokenSource.CreateLinkedTokenSource(options.Cancellation)
            let shared = { options with Cancellation = cts.Token }
            let exactTask =
                Task.Run(fun () ->
                    let r = exactOn shared axis
                    if answers r then cts.Cancel()
                    r)
            let hint = options.Hint |> Option.orElse (Some (BestFit.planOn axis))
            let cp = CpSat.solve { shared with Hint = hint; Workers = max 1 (options.Workers - 1) } problem
            if answers cp then cts.Cancel()
            let ex = exactTask.Result
            let r = better ex cp
            { r with Millis = watch.ElapsedMilliseconds; Solver = "auto:" + r.Solver }
