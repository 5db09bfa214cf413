namespace Pgmo.Planner.Optimal

open System
open System.Diagnostics
open Google.OrTools.Sat
open Pgmo.Planner

/// The answer of the exact trade-off reference (TradeoffsCpSat.solve).
type TradeSolution =
    { /// The cheapest choice found, as the heuristic (Tradeoffs.plan) gives one: the problem with the choices' gaps
      /// (Tradeoffs.apply), a plan of it that has passed the validator (within the limit when Fits), its peak, the
      /// choices and their modelled extra time. When no choice that fits is known: the heuristic's answer if it fits,
      /// else the untraded problem laid out by TradeOptions.Layout, with Fits false.
      Plan: TradePlan
      /// Optimal: Plan fits and no choice with less modelled extra time fits (proven). Feasible: Plan fits, not proven
      /// the cheapest. Infeasible: proven that no choice fits the limit. Unknown: the time limit came first and no
      /// choice that fits is known.
      Status: SolveStatus
      /// A proven lower bound on the modelled extra time of every choice that fits, in microseconds (infinity when
      /// Infeasible).
      BoundUs: float
      /// Wall-clock milliseconds, the heuristic's start included.
      Millis: int64 }
    /// True when Plan is proven the cheapest choice that fits.
    member this.Proven = this.Status = SolveStatus.Optimal

/// The exact reference of the trade-off planner (issue 17): offload, recompute and the layout chosen together by one
/// CP-SAT model, for small problems. Every usable candidate (Tradeoffs.usable) takes one of the trades the options
/// allow or none (one Boolean per trade, at most one true; "traded" is their disjunction). Every buffer takes one
/// offset in [0, limit - size] (aligned; a pinned buffer its pin). Every piece of a buffer (Gaps.pieces) is a rectangle
/// of steps × bytes, as in CpSat's layout model; a candidate's pieces are cut at its idle window, and the part on the
/// window is optional, present exactly when the candidate is kept: a traded buffer holds no bytes there, which is the
/// gap Tradeoffs.apply gives it. One NoOverlap2D over all rectangles, a redundant NoOverlap per maximal set of
/// rectangles live together, MiniMalloc's ordering for the pairs with a raised window (for each trade state of the
/// pair), identical untraded buffers ordered by index. Objective: the sum of the trades' costs (Tradeoffs.cost),
/// minimized. The heuristic's answer is the hint.
///
/// ```
///  step:      0   1   2   3   4
///  x (8 B)    [###|ooo|ooo|###)      x's idle window [1, 3): the rectangle o is present iff x is kept
///  y (8 B)        [#######)          at a limit of 8 B, y fits only where x's o is absent: x traded
/// ```
[<RequireQualifiedAccess>]
module TradeoffsCpSat =

    /// Objective units per microsecond: the least power of two up to 2^30 that makes every cost a whole number of
    /// units (the objective is then exact), else 2^30 with each cost rounded (exact: false); lowered where the total
    /// would pass 2^52 units.
    let private units (costs: float[]) : float * bool =
        let total = costs |> Array.sumBy abs
        let top = if total <= 1.0 then 30 else max 0 (min 30 (int (Math.Floor(52.0 - Math.Log2 total))))
        let whole (s: float) = costs |> Array.forall (fun c -> let v = c * s in Math.Round v = v)
        match [ 0 .. top ] |> List.tryFind (fun k -> whole (2.0 ** float k)) with
        | Some k -> 2.0 ** float k, true
        | None -> 2.0 ** float top, false

    /// The maximal sets of intervals [s, e) live together (those live at a start that some of them ends before the
    /// next start), as indices; sets of one left out.
    let private cliques (spans: (int64 * int64)[]) : int[][] =
        let starts = spans |> Array.map fst |> Array.distinct |> Array.sort
        let liveAt (t: int64) = [| for r in 0 .. spans.Length - 1 do if fst spans.[r] <= t && t < snd spans.[r] then yield r |]
        [| for k in 0 .. starts.Length - 1 do
             let live = liveAt starts.[k]
             let next = if k + 1 < starts.Length then Some starts.[k + 1] else None
             let maximal = match next with Some t -> live |> Array.exists (fun r -> snd spans.[r] <= t) | None -> true
             if maximal && live.Length > 1 then yield live |]

    /// solve under rules on recompute: each pair (r, n) of buffer indices says that buffer r may be recomputed only if
    /// buffer n is not traded (n is read to recompute r: the buffers a candidate's recompute needs give the pairs
    /// (candidate's buffer, need)). One clause per pair: not recompute(r) or not traded(n); a pair whose r cannot be
    /// recomputed or whose n is not a usable candidate adds nothing. The heuristic's answer is the hint and the
    /// fallback only where it keeps the rules. Throws ArgumentException for a pair naming a buffer outside the problem.
    let solveWith (settings: SolveOptions) (options: TradeOptions) (conflicts: (int * int) seq) (problem: Problem) (candidates: Candidate[]) : TradeSolution =
        let watch = Stopwatch.StartNew()
        let bs = problem.Buffers
        let n = bs.Length
        let conflicts = Seq.toArray conflicts
        for (r, m) in conflicts do
            if r < 0 || r >= n || m < 0 || m >= n then invalidArg (nameof conflicts) (sprintf "the pair (%d, %d) names a buffer outside the problem's %d" r m n)
        let usable = Tradeoffs.usable options problem candidates
        let index = Array.create n -1
        usable |> Array.iteri (fun u c -> index.[c.Buffer] <- u)
        let respects (choices: (Candidate * Trade)[]) =
            let traded = choices |> Array.map (fun (c, _) -> c.Buffer) |> Set.ofArray
            let recomputed = choices |> Array.choose (fun (c, t) -> if t = Trade.Recompute then Some c.Buffer else None) |> Set.ofArray
            conflicts |> Array.forall (fun (r, m) -> not (recomputed.Contains r && traded.Contains m))
        // the heuristic: the hint, and the answer when CP-SAT finds nothing better
        let heuristic = Tradeoffs.plan options problem candidates
        let fallback =
            if heuristic.Fits && respects heuristic.Choices then heuristic
            else
                let plan = options.Layout problem
                let peak = Plan.peak problem plan
                { heuristic with Problem = problem; Plan = plan; Peak = peak; Choices = [||]; ExtraUs = 0.0; Fits = peak <= options.Limit }
        let fallback = { fallback with Plan = Checked.plan fallback.Problem (if fallback.Fits then Some options.Limit else None) fallback.Plan }
        let answer status plan boundUs = { Plan = plan; Status = status; BoundUs = boundUs; Millis = watch.ElapsedMilliseconds }
        let g = Exact.granularity problem
        let top = if options.Limit < 0L then -1L else options.Limit / g // the limit in units of g, rounded down
        let tooBig (b: Buffer) = b.Size / g > top || (match b.Pinned with Some p -> p + b.Size > options.Limit | None -> false)
        if bs |> Array.exists tooBig then
            if fallback.Fits then failwith "a buffer above the limit, yet the heuristic fits"
            answer Infeasible fallback infinity
        else
        let model = CpModel()
        let k, x = CpSat.offsets model bs g top
        // the choice: one Boolean per trade allowed, at most one; traded = their disjunction; kept = not traded
        let trades =
            usable |> Array.mapi (fun u c ->
                Tradeoffs.allowed options c |> List.map (fun t -> t, model.NewBoolVar(sprintf "%A%d" t u)) |> Array.ofList)
        let traded : ILiteral[] =
            trades |> Array.mapi (fun u ts ->
                match ts with
                | [| _, v |] -> v :> ILiteral
                | _ ->
                    let t = model.NewBoolVar(sprintf "traded%d" u)
                    model.AddAtMostOne(ts |> Array.map (fun (_, v) -> v :> ILiteral)) |> ignore
                    model.AddBoolOr([| yield t.Not(); for (_, v) in ts -> v :> ILiteral |]) |> ignore
                    for (_, v) in ts do model.AddImplication(v, t) |> ignore
                    t :> ILiteral)
        let kept = traded |> Array.map (fun t -> t.Not())
        // the rule on recompute: one clause per pair
        for (r, m) in conflicts do
            if index.[r] >= 0 && index.[m] >= 0 then
                match trades.[index.[r]] |> Array.tryFind (fun (t, _) -> t = Trade.Recompute) with
                | Some (_, recompute) -> model.AddBoolOr([| recompute.Not(); traded.[index.[m]].Not() |]) |> ignore
                | None -> ()
        // the rectangles: each piece cut at the buffer's idle window, the part on it present iff kept
        let rects = ResizeArray<int64 * int64 * IntervalVar * IntervalVar>()
        for i in 0 .. n - 1 do
            for piece in Gaps.pieces bs.[i] do
                let parts =
                    match index.[i] with
                    | u when u >= 0 ->
                        let idle = usable.[u].Idle
                        [ piece.Start, min piece.End idle.Start, None
                          max piece.Start idle.Start, min piece.End idle.End, Some kept.[u]
                          max piece.Start idle.End, piece.End, None ]
                    | _ -> [ piece.Start, piece.End, None ]
                for (s, e, presence) in parts do
                    if s < e then
                        let start = if piece.Lo = 0L then x.[i] else LinearExpr.Affine(x.[i], 1L, piece.Lo / g)
                        let height = (piece.Hi - piece.Lo) / g
                        let name = sprintf "%d_%d" i rects.Count
                        match presence with
                        | None -> rects.Add((s, e, model.NewFixedSizeIntervalVar(s, e - s, "t" + name), model.NewFixedSizeIntervalVar(start, height, "y" + name)))
                        | Some lit ->
                            rects.Add((s, e, model.NewOptionalFixedSizeIntervalVar(s, e - s, lit, "t" + name),
                                       model.NewOptionalFixedSizeIntervalVar(start, height, lit, "y" + name)))
        let no2d = model.AddNoOverlap2D()
        for (_, _, t, y) in rects do no2d.AddRectangle(t, y) |> ignore
        // redundant: the rectangles live together at one step are disjoint in address
        for clique in cliques (rects |> Seq.map (fun (s, e, _, _) -> s, e) |> Array.ofSeq) do
            model.AddNoOverlap(clique |> Array.map (fun r -> let _, _, _, y = rects.[r] in y)) |> ignore
        // a buffer with a raised window: each pair whose pieces meet is ordered by MiniMalloc's rule itself, in each
        // trade state of the pair (CpSat's model, proofs/gaps.md)
        let states (i: int) : (Piece[] * ILiteral[])[] =
            match index.[i] with
            | u when u >= 0 ->
                [| Gaps.pieces bs.[i], [| kept.[u] |]
                   Gaps.pieces (Tradeoffs.apply problem [ usable.[u], Trade.Offload ]).Buffers.[i], [| traded.[u] |] |]
            | _ -> [| Gaps.pieces bs.[i], [||] |]
        let raised = Array.init n (fun i -> Gaps.pieces bs.[i] |> Array.exists (fun p -> p.Lo > 0L))
        for i in 0 .. n - 1 do
            if raised.[i] then
                for j in 0 .. n - 1 do
                    if j <> i && (not raised.[j] || i < j) then
                        let above = lazy (model.NewBoolVar(sprintf "o%d_%d" i j))
                        for (pi, li) in states i do
                            for (pj, lj) in states j do
                                match Gaps.distanceOf pi pj with
                                | ValueSome up ->
                                    let down = (Gaps.distanceOf pj pi).Value
                                    let a = above.Force()
                                    model.Add(LinearExpr.op_GreaterThanOrEqual(x.[j], LinearExpr.Affine(x.[i], 1L, up / g)))
                                        .OnlyEnforceIf(Array.concat [ [| a :> ILiteral |]; li; lj ]) |> ignore
                                    model.Add(LinearExpr.op_GreaterThanOrEqual(x.[i], LinearExpr.Affine(x.[j], 1L, down / g)))
                                        .OnlyEnforceIf(Array.concat [ [| a.Not() |]; li; lj ]) |> ignore
                                | ValueNone -> ()
        // symmetry: identical buffers that are not candidates are interchangeable
        let groups = CpSat.identical problem (fun i -> index.[i] < 0)
        CpSat.orderIdentical model groups bs x g
        // the objective: the trades' costs in whole units
        let choices = [| for u in 0 .. usable.Length - 1 do for (t, v) in trades.[u] -> usable.[u], t, v |]
        let costs = choices |> Array.map (fun (c, t, _) -> Tradeoffs.cost options problem c t)
        let scale, exact = units costs
        // with rounded costs, a choice's objective is within half a unit per trade of its cost
        let slack = if exact then 0.0 else 0.5 * float usable.Length / scale
        model.Minimize(LinearExpr.WeightedSum(choices |> Array.map (fun (_, _, v) -> v :> ILiteral), costs |> Array.map (fun c -> int64 (Math.Round(c * scale)))))
        // the hint: the heuristic's choices and offsets (identical buffers renumbered to the symmetry order)
        if fallback.Fits then
            let offsets = CpSat.renumber groups fallback.Plan.Offsets
            if offsets |> Array.forall (fun o -> o % g = 0L) then
                for i in 0 .. n - 1 do
                    let v, a = k.[i]
                    model.AddHint(v, offsets.[i] / g / a)
                for (c, t, v) in choices do
                    model.AddHint(v, fallback.Choices |> Array.exists (fun (c2, t2) -> c2.Buffer = c.Buffer && t2 = t))
        use solver = new CpSolver()
        let seconds = Checked.seconds settings.TimeLimit - watch.Elapsed.TotalSeconds
        let status = CpSat.runModel settings seconds solver model null
        let boundUs () = solver.BestObjectiveBound / scale - slack
        match status with
        | CpSolverStatus.Optimal | CpSolverStatus.Feasible ->
            let picked = [| for (c, t, v) in choices do if solver.BooleanValue(v) then yield c, t |]
            let p = Tradeoffs.apply problem picked
            let plan = Checked.plan p (Some options.Limit) { Offsets = Array.init n (fun i -> let v, a = k.[i] in solver.Value(v) * a * g) }
            let found =
                { fallback with Problem = p; Plan = plan; Peak = Plan.peak p plan; Choices = picked
                                ExtraUs = picked |> Array.sumBy (fun (c, t) -> Tradeoffs.cost options problem c t); Fits = true }
            if not (respects picked) then failwith "CP-SAT broke a rule on recompute"
            if status = CpSolverStatus.Optimal then answer Optimal found (if exact then found.ExtraUs else boundUs ())
            else
                let best = if fallback.Fits && fallback.ExtraUs < found.ExtraUs then fallback else found
                answer Feasible best (boundUs ())
        | CpSolverStatus.Infeasible ->
            if fallback.Fits then failwith "CP-SAT proved that no choice fits, yet the heuristic's does"
            answer Infeasible fallback infinity
        | CpSolverStatus.ModelInvalid -> failwithf "invalid trade-off model: %s" (model.Validate())
        | _ -> answer (if fallback.Fits then Feasible else SolveStatus.Unknown) fallback (boundUs ())

    /// The cheapest trade-offs that fit options.Limit, with a proof when the time allows, under the candidates' own
    /// recompute rule (solveWith the pairs (candidate's buffer, need) of every candidate's Needs). Honours
    /// settings.TimeLimit (the heuristic's start included), Workers, Seed and Cancellation; the rest of settings is
    /// unused. Every plan returned has passed the validator. For small problems: tens of buffers.
    let solve (settings: SolveOptions) (options: TradeOptions) (problem: Problem) (candidates: Candidate[]) : TradeSolution =
        solveWith settings options [ for c in candidates do for need in c.Needs -> c.Buffer, need ] problem candidates
