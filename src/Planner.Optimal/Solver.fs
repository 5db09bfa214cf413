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

    /// Runs the exact search alone under the options (time limit through cancellation).
    let exact (options: SolveOptions) (problem: Problem) : SolveResult =
        let watch = Stopwatch.StartNew()
        let lb = Bounds.lowerBound problem
        use cts = CancellationTokenSource.CreateLinkedTokenSource(options.Cancellation)
        cts.CancelAfter(TimeSpan.FromSeconds(max 0.001 options.TimeLimitSeconds))
        let exactOptions = { Exact.defaults with Cancellation = cts.Token }
        let result status plan bound =
            let plan = plan |> Option.map (Checked.plan problem options.Capacity)
            { Status = status; Plan = plan; Peak = plan |> Option.map (Plan.peak problem); Bound = bound; LowerBound = lb
              Millis = watch.ElapsedMilliseconds; Solver = "exact" }
        match options.Capacity with
        | Some capacity ->
            match decidePortfolio options.Workers exactOptions capacity problem with
            | Fits plan ->
                let peak = Plan.peak problem plan
                result (if peak <= lb then Optimal else Feasible) (Some plan) lb
            | DoesNotFit -> result Infeasible None (max lb (capacity + 1L))
            | ExactResult.Unknown -> result SolveStatus.Unknown None lb
        | None ->
            // the lower bound is usually the optimum: a portfolio decision there first, with a sixth of the time
            let g = Exact.granularity problem
            let atLower = ((lb + g - 1L) / g) * g
            let first =
                use slice = CancellationTokenSource.CreateLinkedTokenSource(cts.Token)
                slice.CancelAfter(TimeSpan.FromSeconds(max 0.001 (options.TimeLimitSeconds / 6.0)))
                decidePortfolio options.Workers { exactOptions with Cancellation = slice.Token } atLower problem
            let report peak bound = options.Progress |> Option.iter (fun f -> f watch.ElapsedMilliseconds peak bound)
            match first with
            | Fits plan ->
                let peak = Plan.peak problem plan
                report peak peak
                result Optimal (Some plan) peak
            | _ ->
            let decide o c p = decidePortfolio options.Workers o c p, 0L
            let m = Exact.minimizeWith decide exactOptions options.Hint report problem
            // a proof at the lower bound raises the bound by the granularity (proofs/exact-search.md, Lemma 1)
            let bound = if first = DoesNotFit then min m.Peak (max m.LowerBound (atLower + g)) else m.LowerBound
            result (if m.Optimal || bound >= m.Peak then Optimal else Feasible) (Some m.Best) bound

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

    /// Solves with the method options.Kind names: CpSat, ExactSearch, or Auto (both in parallel on a shared deadline;
    /// the first proof stops the other; the exact search's first plan is not shared with CP-SAT).
    let solve (options: SolveOptions) (problem: Problem) : SolveResult =
        match options.Kind with
        | CpSat -> CpSat.solve options problem
        | ExactSearch -> exact options problem
        | Auto ->
            let watch = Stopwatch.StartNew()
            // a proof settles the question; with a capacity, so does any plan that fits under it
            let answers (r: SolveResult) =
                r.Status = Optimal || r.Status = Infeasible || (options.Capacity.IsSome && r.Plan.IsSome)
            use cts = CancellationTokenSource.CreateLinkedTokenSource(options.Cancellation)
            let shared = { options with Cancellation = cts.Token }
            let exactTask =
                Task.Run(fun () ->
                    let r = exact shared problem
                    if answers r then cts.Cancel()
                    r)
            let hint = options.Hint |> Option.orElse (Some (Exact.initialPlan problem))
            let cp = CpSat.solve { shared with Hint = hint; Workers = max 1 (options.Workers - 1) } problem
            if answers cp then cts.Cancel()
            let ex = exactTask.Result
            let r = better ex cp
            { r with Millis = watch.ElapsedMilliseconds; Solver = "auto:" + r.Solver }
