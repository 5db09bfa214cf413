namespace Pgmo.Planner.Optimal

open System
open System.Diagnostics
open System.Threading
open Google.OrTools.Sat
open Pgmo.Planner

/// How a solve ended.
type SolveStatus =
    /// The plan's peak equals the proven bound (or, with a capacity, the plan fits and meets the bound).
    | Optimal
    /// A valid plan under the capacity (or better than the start) without proof of optimality.
    | Feasible
    /// Proven: no plan fits under the capacity.
    | Infeasible
    /// The time limit or the cancellation came first; no plan that answers the question.
    | Unknown

/// The answer of a solve. Every Plan in it has passed Validate.plan (and the capacity when one was given).
type SolveResult =
    { /// How the solve ended (optimal, feasible, infeasible or unknown).
      Status: SolveStatus
      /// The best valid plan found, if any.
      Plan: Plan option
      /// Its peak in bytes.
      Peak: int64 option
      /// A proven lower bound on the optimal peak in bytes (with a capacity and Infeasible: capacity + 1 or more).
      Bound: int64
      /// The max-load lower bound.
      LowerBound: int64
      /// Wall-clock milliseconds.
      Millis: int64
      /// Which method produced the answer.
      Solver: string }

[<RequireQualifiedAccess>]
module SolveStatus =
    /// The status as the command line spells it: optimal, feasible, infeasible or unknown.
    let name (status: SolveStatus) =
        match status with
        | Optimal -> "optimal"
        | Feasible -> "feasible"
        | Infeasible -> "infeasible"
        | Unknown -> "unknown"

/// Helpers shared by the solvers of this assembly.
[<RequireQualifiedAccess>]
module internal Checked =
    /// The seconds of a time limit (a very long time for TimeSpan.MaxValue, none).
    let seconds (limit: TimeSpan) : float = if limit = TimeSpan.MaxValue then 1e7 else limit.TotalSeconds

    /// The options with a time limit of `s` seconds (at least 0).
    let withSeconds (options: SolveOptions) (s: float) : SolveOptions = { options with TimeLimit = TimeSpan.FromSeconds(max 0.0 s) }

    /// Returns the plan when it is valid (and under the capacity when given); a violation here is a programmer error.
    let plan (problem: Problem) (capacity: int64 option) (plan: Plan) : Plan =
        match Validate.plan problem capacity plan with
        | [] -> plan
        | v :: _ -> failwithf "solver produced an invalid plan: %s" (Violation.describe v)

/// The CP-SAT model: one offset variable per buffer, a NoOverlap2D between the (time, address) rectangles of the
/// buffers' pieces (a buffer without gaps is one piece), a disjunctive NoOverlap per maximal clique of live pieces
/// (redundant, strong), the pairs with a raised window ordered by MiniMalloc's rule, identical buffers ordered
/// (symmetry breaking), all values divided by the gcd of sizes, alignments, windows and pins, and independent parts of
/// the time axis (no buffer crossing) solved as separate models.
[<RequireQualifiedAccess>]
module CpSat =

    type private Part =
        { Status: CpSolverStatus
          Offsets: int64[] // scaled back to bytes, indexed like the part
          Bound: int64 }

    type private Callback(onSolution: int64 -> int64 -> unit, peak: IntVar, scale: int64) =
        inherit CpSolverSolutionCallback()
        override this.OnSolutionCallback() =
            onSolution (this.Value(peak) * scale) (int64 (Math.Ceiling(this.BestObjectiveBound())) * scale)

    /// The offset variables of the buffers in units of g, each below `top` - its size: k.[i] = (variable, alignment in
    /// units of g), the offset x.[i] = alignment × variable; a pinned buffer's variable is fixed at its pin.
    let internal offsets (model: CpModel) (bs: Buffer[]) (g: int64) (top: int64) : (IntVar * int64)[] * LinearExpr[] =
        let k =
            bs |> Array.mapi (fun i b ->
                let a = max 1L b.Alignment / g |> max 1L // alignment in units of g (g divides it)
                match b.Pinned with
                | Some p -> model.NewIntVar(p / g / a, p / g / a, sprintf "k%d" i), a // g and a divide a valid pin
                | None -> model.NewIntVar(0L, (top - b.Size / g) / a, sprintf "k%d" i), a)
        k, k |> Array.map (fun (v, a) -> if a = 1L then (v :> LinearExpr) else LinearExpr.Term(v, a))

    /// The groups of interchangeable buffers among those `eligible` picks: same lifetime, size and alignment, no
    /// gaps, no pin (gaps and pins break the symmetry); each group's indices ascending, groups of one left out.
    let internal identical (problem: Problem) (eligible: int -> bool) : int[][] =
        let bs = problem.Buffers
        bs |> Array.mapi (fun i b -> (b.Lifetime, b.Size, b.Alignment), i)
        |> Array.filter (fun (_, i) -> bs.[i].Gaps.Length = 0 && bs.[i].Pinned.IsNone && eligible i)
        |> Array.groupBy fst
        |> Array.map (fun (_, members) -> members |> Array.map snd |> Array.sort)
        |> Array.filter (fun idx -> idx.Length > 1)

    /// Symmetry breaking: within each group of identical buffers, each one sits below the next (x: the offsets in
    /// units of g).
    let internal orderIdentical (model: CpModel) (groups: int[][]) (bs: Buffer[]) (x: LinearExpr[]) (g: int64) =
        for idx in groups do
            for m in 0 .. idx.Length - 2 do
                let i, j = idx.[m], idx.[m + 1]
                model.Add(LinearExpr.op_LessThanOrEqual(LinearExpr.Affine(x.[i], 1L, bs.[i].Size / g), x.[j])) |> ignore

    /// The offsets of a valid plan with each group of identical buffers renumbered to respect orderIdentical (the
    /// plan stays valid: the buffers of a group are interchangeable).
    let internal renumber (groups: int[][]) (offsets: int64[]) : int64[] =
        let out = Array.copy offsets
        for idx in groups do
            let sorted = idx |> Array.map (fun i -> offsets.[i]) |> Array.sort
            idx |> Array.iteri (fun r i -> out.[i] <- sorted.[r])
        out

    /// Solves `model` with `solver` for `seconds` under the options' workers, seed and cancellation, `callback` on
    /// every solution.
    let internal runModel (options: SolveOptions) (seconds: float) (solver: CpSolver) (model: CpModel) (callback: CpSolverSolutionCallback) : CpSolverStatus =
        solver.StringParameters <-
            String.Format(Globalization.CultureInfo.InvariantCulture,
                          "max_time_in_seconds:{0} num_workers:{1} random_seed:{2} log_search_progress:false",
                          // StopSearch before Solve is forgotten by Solve: a token cancelled already gets no search time
                          (if options.Cancellation.IsCancellationRequested then 0.0 else max 0.01 seconds), max 1 options.Workers, options.Seed)
        // Solve forgets a StopSearch that came before it started: once cancelled, keep stopping until Solve returns
        let gate = obj ()
        let mutable solving = true
        let stopUntilDone () =
            Threading.Tasks.Task.Run(fun () ->
                let mutable go = true
                while go do
                    lock gate (fun () -> if solving then solver.StopSearch() else go <- false)
                    if go then Thread.Sleep 20) |> ignore
        use _reg = options.Cancellation.Register(fun () -> stopUntilDone ())
        let status = solver.Solve(model, callback)
        lock gate (fun () -> solving <- false)
        status

    /// Solves one group of buffers; `floorPeak` is a peak every part reaches anyway (minimize mode).
    let private solvePart (options: SolveOptions) (seconds: float) (floorPeak: int64) (problem: Problem) (hint: Plan option)
                          (report: int64 -> int64 -> unit) : Part =
        let bs = problem.Buffers
        let g = Exact.granularity problem
        let lb = Bounds.lowerBound problem
        let upper =
            match options.Capacity, hint with
            | Some c, _ -> c
            | None, Some h -> max floorPeak (Plan.peak problem h) // a part below the global floor may reach it
            | None, None -> max floorPeak (Plan.peak problem (BestFit.plan problem))
        let upS = upper / g
        // the floor (a peak the whole problem reaches anyway) only lets a part stop early; clamped so the hint stays feasible
        let lowS =
            if options.Capacity.IsSome then (lb + g - 1L) / g
            else min upS ((max lb floorPeak + g - 1L) / g)
        // a pinned buffer (Gaps) above the capacity: no plan
        let pinnedAbove = bs |> Array.exists (fun b -> match b.Pinned with Some p -> p + b.Size > upS * g | None -> false)
        if lowS > upS || pinnedAbove then { Status = CpSolverStatus.Infeasible; Offsets = [||]; Bound = upper + 1L }
        else
        let model = CpModel()
        let peak = model.NewIntVar(lowS, upS, "peak")
        let k, x = offsets model bs g upS
        // one rectangle per piece: its steps by the bytes it holds, [x + lo, x + hi) (proofs/gaps.md)
        let axis = TimeAxis problem
        let yIntervals =
            axis.Pieces |> Array.mapi (fun k piece ->
                let i = axis.Owner.[k]
                let start = if piece.Lo = 0L then x.[i] else LinearExpr.Affine(x.[i], 1L, piece.Lo / g)
                model.NewFixedSizeIntervalVar(start, (piece.Hi - piece.Lo) / g, sprintf "y%d" k))
        let tIntervals =
            axis.Pieces |> Array.mapi (fun k piece ->
                model.NewFixedSizeIntervalVar(piece.Start, piece.End - piece.Start, sprintf "t%d" k))
        for i in 0 .. bs.Length - 1 do
            model.Add(LinearExpr.op_LessThanOrEqual(LinearExpr.Affine(x.[i], 1L, bs.[i].Size / g), (peak :> LinearExpr))) |> ignore
        let no2d = model.AddNoOverlap2D()
        for k in 0 .. axis.Pieces.Length - 1 do no2d.AddRectangle(tIntervals.[k], yIntervals.[k]) |> ignore
        // redundant: the pieces live together at one step are disjoint in address
        for clique in axis.Cliques do
            if clique.Length > 1 then model.AddNoOverlap(clique |> Array.map (fun k -> yIntervals.[k])) |> ignore
        // pieces that never share a byte keep one buffer above the other, MiniMalloc's rule, unless a window does not
        // start at its buffer's offset: each pair with such a buffer whose pieces meet is ordered by the rule itself,
        // one above the other by its distance
        if axis.HasRaisedWindows then
            let raised = Array.init bs.Length axis.IsRaised
            for i in 0 .. bs.Length - 1 do
                if raised.[i] then
                    for j in 0 .. bs.Length - 1 do
                        if j <> i && (not raised.[j] || i < j) then
                            match axis.Distance(i, j) with
                            | ValueSome up ->
                                let down = axis.Distance(j, i).Value
                                let above = model.NewBoolVar(sprintf "o%d_%d" i j)
                                model.Add(LinearExpr.op_GreaterThanOrEqual(x.[j], LinearExpr.Affine(x.[i], 1L, up / g))).OnlyEnforceIf(above) |> ignore
                                model.Add(LinearExpr.op_GreaterThanOrEqual(x.[i], LinearExpr.Affine(x.[j], 1L, down / g))).OnlyEnforceIf(above.Not()) |> ignore
                            | ValueNone -> ()
        // symmetry: identical buffers (same lifetime, size, alignment) are interchangeable, so order them by index
        let groups = identical problem (fun _ -> true)
        orderIdentical model groups bs x g
        // hint: a valid plan whose identical buffers are renumbered to respect the symmetry order
        match hint with
        | Some h ->
            let offsets = renumber groups h.Offsets
            if offsets |> Array.forall (fun o -> o % g = 0L) then
                for i in 0 .. bs.Length - 1 do
                    let v, a = k.[i]
                    model.AddHint(v, offsets.[i] / g / a)
                model.AddHint(peak, max lowS ((Plan.peak problem { Offsets = offsets } + g - 1L) / g))
        | None -> ()
        if options.Capacity.IsNone then model.Minimize(peak)
        use solver = new CpSolver()
        let status = runModel options seconds solver model (new Callback(report, peak, g))
        let found = status = CpSolverStatus.Optimal || status = CpSolverStatus.Feasible
        let offsets = if found then Array.init bs.Length (fun i -> let v, a = k.[i] in solver.Value(v) * a * g) else [||]
        let bound =
            match status with
            | CpSolverStatus.Infeasible -> upS * g + 1L
            | CpSolverStatus.Optimal when options.Capacity.IsNone -> solver.Value(peak) * g
            | _ when options.Capacity.IsNone -> max lowS (int64 (Math.Ceiling(solver.BestObjectiveBound))) * g
            | _ -> lowS * g
        { Status = status; Offsets = offsets; Bound = max bound lb }

    /// One CP-SAT run in the mode options.Capacity names (see solve).
    let private run (options: SolveOptions) (problem: Problem) : SolveResult =
        let watch = Stopwatch.StartNew()
        let bs = problem.Buffers
        let lb = Bounds.lowerBound problem
        let hint = options.Hint |> Option.filter (fun h -> Validate.isValid problem h)
        let parts = (TimeAxis problem).Components
        let globalFloor = lb
        let offsets = Array.zeroCreate<int64> bs.Length
        let mutable allFound = true
        let mutable infeasible = false
        let mutable bound = lb
        let mutable allOptimal = true
        // best peak so far over parts solved, for progress reports
        let mutable solvedPeak = 0L
        for part in parts do
            if options.Cancellation.IsCancellationRequested && not infeasible then allFound <- false
            elif not infeasible then
                let sub = { Buffers = part |> Array.map (fun i -> bs.[i]) }
                let subHint = hint |> Option.map (fun h -> { Offsets = part |> Array.map (fun i -> h.Offsets.[i]) })
                let left = Checked.seconds options.TimeLimit - watch.Elapsed.TotalSeconds
                let report p b =
                    match options.Progress with
                    | Some f -> f { Solver = "cp-sat"; Peak = max solvedPeak p; Bound = max bound b }
                    | None -> ()
                let r = solvePart options left globalFloor sub subHint report
                match r.Status with
                | CpSolverStatus.Infeasible ->
                    infeasible <- true
                    bound <- max bound r.Bound
                | CpSolverStatus.Optimal | CpSolverStatus.Feasible ->
                    part |> Array.iteri (fun j i -> offsets.[i] <- r.Offsets.[j])
                    solvedPeak <- max solvedPeak (Plan.peak sub { Offsets = r.Offsets })
                    bound <- max bound r.Bound
                    if r.Status <> CpSolverStatus.Optimal then allOptimal <- false
                | _ ->
                    allFound <- false
                    allOptimal <- false
                    bound <- max bound r.Bound
        let millis = watch.ElapsedMilliseconds
        if bs.Length = 0 then
            { Status = Optimal; Plan = Some { Offsets = [||] }; Peak = Some 0L; Bound = 0L; LowerBound = 0L; Millis = millis; Solver = "cp-sat" }
        elif infeasible then
            { Status = Infeasible; Plan = None; Peak = None; Bound = bound; LowerBound = lb; Millis = millis; Solver = "cp-sat" }
        elif not allFound then
            // minimize mode still has the hint (or best-fit's plan) as a valid answer
            match options.Capacity, hint |> Option.orElse (Some (BestFit.plan problem)) with
            | None, Some h ->
                let h = Checked.plan problem None h
                let p = Plan.peak problem h
                { Status = (if p <= bound then Optimal else Feasible); Plan = Some h; Peak = Some p; Bound = min bound p
                  LowerBound = lb; Millis = millis; Solver = "cp-sat" }
            | _ -> { Status = SolveStatus.Unknown; Plan = None; Peak = None; Bound = bound; LowerBound = lb; Millis = millis; Solver = "cp-sat" }
        else
            let plan = Checked.plan problem options.Capacity { Offsets = offsets }
            let peak = Plan.peak problem plan
            let bound = min bound peak
            let status = if peak <= bound || (allOptimal && options.Capacity.IsNone) then Optimal else Feasible
            let bound = if status = Optimal then peak else bound
            { Status = status; Plan = Some plan; Peak = Some peak; Bound = bound; LowerBound = lb; Millis = millis; Solver = "cp-sat" }

    /// Runs CP-SAT: minimizes the peak, or with options.Capacity decides whether the buffers fit.
    /// Honours the time limit, worker count, seed, cancellation, progress callback and hint. Every returned plan is valid.
    /// When minimizing, it first decides the lower bound (rounded up to the granularity) with a third of the time:
    /// the decision form is much stronger for CP-SAT than the optimization form, and the lower bound is usually optimal.
    /// With a capacity above the lower bound, it likewise tries the lower bound first (a plan there fits under any larger
    /// capacity).
    let solve (options: SolveOptions) (problem: Problem) : SolveResult =
        let g = Exact.granularity problem
        let atLower = ((Bounds.lowerBound problem + g - 1L) / g) * g
        match options.Capacity with
        | Some c when c <= atLower -> run options problem
        | Some c ->
            let watch = Stopwatch.StartNew()
            let first = run (Checked.withSeconds { options with Capacity = Some atLower } (Checked.seconds options.TimeLimit / 3.0)) problem
            match first.Plan with
            | Some plan -> { first with Plan = Some (Checked.plan problem (Some c) plan); Millis = watch.ElapsedMilliseconds }
            | None ->
                let left = Checked.seconds options.TimeLimit - watch.Elapsed.TotalSeconds
                let r = run (Checked.withSeconds options (if options.Cancellation.IsCancellationRequested then 0.0 else max 0.01 left)) problem
                { r with Millis = watch.ElapsedMilliseconds }
        | None ->
            let watch = Stopwatch.StartNew()
            let first = run (Checked.withSeconds { options with Capacity = Some atLower } (Checked.seconds options.TimeLimit / 3.0)) problem
            match first.Status, first.Plan with
            | (Optimal | Feasible), Some plan ->
                let peak = Plan.peak problem plan
                options.Progress |> Option.iter (fun f -> f { Solver = "cp-sat"; Peak = peak; Bound = peak })
                { first with Status = Optimal; Bound = peak; Peak = Some peak; Millis = watch.ElapsedMilliseconds }
            | _ when options.Cancellation.IsCancellationRequested ->
                run (Checked.withSeconds options 0.0) problem |> fun r -> { r with Millis = watch.ElapsedMilliseconds }
            | _ ->
                let left = Checked.seconds options.TimeLimit - watch.Elapsed.TotalSeconds
                let r = run (Checked.withSeconds options (max 0.01 left)) problem
                // a proof that the lower bound does not fit raises the bound by the granularity (proofs/exact-search.md, Lemma 1)
                let bound = if first.Status = Infeasible then max r.Bound (atLower + g) else r.Bound
                let r =
                    match r.Peak with
                    | Some p when p <= bound -> { r with Status = Optimal; Bound = p }
                    | Some p -> { r with Bound = min p bound }
                    | None -> { r with Bound = bound }
                { r with Millis = watch.ElapsedMilliseconds }
