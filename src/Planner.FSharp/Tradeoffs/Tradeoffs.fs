namespace Pgmo.Planner

/// What to do with a buffer saved for backward: keep it on the device, offload it to the host over its idle window,
/// or drop it there and recompute it before its first backward use.
[<RequireQualifiedAccess>]
type Trade =
    | Keep
    | Offload
    | Recompute

/// A buffer saved for backward that may be traded: its index in the problem, its idle window (the half-open steps from
/// its last forward use to its first backward use, inside its lifetime and clear of its gaps), the microseconds its
/// recompute takes (None: it cannot be recomputed) and Needs, the buffers its recompute reads (its checkpoints: they
/// must hold their bytes while it is recomputed; empty when it cannot be recomputed). On the idle window an offloaded
/// or recomputed buffer holds no device bytes: it gets a gap without a window there (Gaps), which every planner honours.
///
/// The recompute rule (conservative; proofs/tradeoffs.md): a candidate is recomputed only when none of its Needs is
/// traded, either way; equivalently, a buffer that a recomputed candidate needs is not traded. A candidate whose Needs
/// name its own buffer cannot be recomputed.
type Candidate = { Buffer: int; Idle: Lifetime; RecomputeUs: float option; Needs: int[] }

/// The trade-off planner's parameters. Offload costs 2 × size ÷ BandwidthBytesPerUs (the copy out and the copy back);
/// recompute costs the candidate's RecomputeUs (the runtime: its element passes × size ÷ the device's elementwise
/// bandwidth). Neither is overlapped with compute: the runtime copies and recomputes synchronously, between ops.
type TradeOptions =
    { /// The device memory limit the plan's peak must stay within, in bytes.
      Limit: int64
      /// Host↔device bandwidth in bytes per microsecond (e.g. 10_000 = 10 GB/s).
      BandwidthBytesPerUs: float
      /// May buffers be offloaded?
      Offload: bool
      /// May buffers be recomputed (candidates with RecomputeUs)?
      Recompute: bool
      /// The layout of a problem with gaps (BestFit.plan by default).
      Layout: Problem -> Plan }

/// The trade-offs chosen and the plan of the problem they give.
type TradePlan =
    { /// The problem with a gap on the idle window of every traded buffer.
      Problem: Problem
      /// Its plan (TradeOptions.Layout).
      Plan: Plan
      /// The plan's peak in bytes.
      Peak: int64
      /// The peak of the layout without trade-offs, in bytes.
      PeakWithout: int64
      /// The traded candidates and what each does (Keep never appears), in candidate order.
      Choices: (Candidate * Trade)[]
      /// The modelled extra time of a step, in microseconds: the sum of the choices' costs.
      ExtraUs: float
      /// True when Peak <= Limit.
      Fits: bool }

/// Offload and recompute chosen together with the layout: the trade-offs that add the least time while the gap-aware
/// plan's peak stays within a limit. Pure. Its exact reference, for small problems, is TradeoffsCpSat
/// (Pgmo.Planner.Optimal: one CP-SAT model over the choices and the offsets).
///
/// ```
///  step:      0   1   2   3   4   5
///  x (8 B)    [###|...|...|###)          saved for backward: idle [1, 3) → offloaded, a gap without a window
///  y (8 B)        [#######)              lives on [1, 3): shares x's bytes; the peak falls from 16 to 8
/// ```
[<RequireQualifiedAccess>]
module Tradeoffs =

    /// The default options at limit `limit`: 10 GB/s, offload and recompute both allowed, best-fit layout.
    let defaults (limit: int64) : TradeOptions =
        { Limit = limit; BandwidthBytesPerUs = 10_000.0; Offload = true; Recompute = true; Layout = BestFit.plan }

    /// The modelled microseconds `trade` adds for candidate `c` of `problem` (infinity when not possible: recompute
    /// without RecomputeUs).
    let cost (options: TradeOptions) (problem: Problem) (c: Candidate) (trade: Trade) : float =
        match trade with
        | Trade.Keep -> 0.0
        | Trade.Offload -> 2.0 * float problem.Buffers.[c.Buffer].Size / options.BandwidthBytesPerUs
        | Trade.Recompute -> defaultArg c.RecomputeUs infinity

    /// The trades the options allow for candidate `c` besides Keep: offload when allowed, recompute when allowed, `c`
    /// has a RecomputeUs and its Needs do not name its own buffer.
    let allowed (options: TradeOptions) (c: Candidate) : Trade list =
        [ if options.Offload then Trade.Offload
          if options.Recompute && c.RecomputeUs.IsSome && not (Array.contains c.Buffer c.Needs) then Trade.Recompute ]

    /// The trades the options allow for candidate `c` with their costs, cheapest first (offload wins ties).
    let private trades (options: TradeOptions) (problem: Problem) (c: Candidate) : (Trade * float) list =
        allowed options c
        |> List.map (fun t -> t, cost options problem c t)
        |> List.sortBy snd

    /// The cheapest trade the options allow for candidate `c` with its cost, if any (offload wins ties), regardless
    /// of the recompute rule (which depends on the other choices).
    let cheapest (options: TradeOptions) (problem: Problem) (c: Candidate) : (Trade * float) option =
        trades options problem c |> List.tryHead

    /// Why `choices` break the recompute rule, if they do: a recomputed candidate that needs a traded buffer (its own
    /// included). Keep choices count as not traded.
    let conflict (choices: (Candidate * Trade) seq) : string option =
        let traded = choices |> Seq.filter (fun (_, t) -> t <> Trade.Keep) |> Seq.map (fun (c, _) -> c.Buffer) |> Set.ofSeq
        choices |> Seq.tryPick (fun (c, t) ->
            if t <> Trade.Recompute then None
            else c.Needs |> Array.tryFind traded.Contains
                 |> Option.map (fun n -> sprintf "buffer %d is recomputed from buffer %d, which is traded too" c.Buffer n))

    /// Why candidate `c` cannot be traded in `problem`, if it cannot: a buffer outside the problem, an empty idle
    /// window, a window outside the lifetime, or one that meets a gap.
    let check (problem: Problem) (c: Candidate) : string option =
        if c.Buffer < 0 || c.Buffer >= problem.Buffers.Length then Some (sprintf "candidate names buffer %d, outside the problem's %d" c.Buffer problem.Buffers.Length)
        else
            let b = problem.Buffers.[c.Buffer]
            if c.Idle.End <= c.Idle.Start then Some (sprintf "buffer %s: empty idle window [%d, %d)" b.Id c.Idle.Start c.Idle.End)
            elif c.Idle.Start < b.Lifetime.Start || c.Idle.End > b.Lifetime.End then
                Some (sprintf "buffer %s: idle window [%d, %d) outside its lifetime [%d, %d)" b.Id c.Idle.Start c.Idle.End b.Lifetime.Start b.Lifetime.End)
            elif b.Gaps |> Array.exists (fun g -> g.Steps.Start < c.Idle.End && c.Idle.Start < g.Steps.End) then
                Some (sprintf "buffer %s: idle window [%d, %d) meets one of its gaps" b.Id c.Idle.Start c.Idle.End)
            else None

    /// `problem` with a gap without a window on the idle window of every traded choice (Keep adds nothing). Throws
    /// ArgumentException for a candidate `check` rejects, a buffer traded twice, or choices that break the recompute
    /// rule (`conflict`).
    let apply (problem: Problem) (choices: (Candidate * Trade) seq) : Problem =
        let choices = Seq.toArray choices
        match conflict choices with
        | Some why -> invalidArg (nameof choices) why
        | None -> ()
        let buffers = Array.copy problem.Buffers
        let traded = System.Collections.Generic.HashSet<int>()
        for (c, trade) in choices do
            if trade <> Trade.Keep then
                match check problem c with
                | Some why -> invalidArg (nameof choices) why
                | None ->
                    if not (traded.Add c.Buffer) then invalidArg (nameof choices) (sprintf "buffer %s is traded twice" buffers.[c.Buffer].Id)
                    let b = buffers.[c.Buffer]
                    let gaps = Array.append b.Gaps [| { Steps = c.Idle; Window = None } |] |> Array.sortBy (fun g -> g.Steps.Start)
                    buffers.[c.Buffer] <- { b with Gaps = gaps }
        { Buffers = buffers }

    /// The load over compressed steps: cuts (ascending distinct steps) and load.[k] = bytes held on [cuts.[k], cuts.[k+1]).
    let private loadOn (problem: Problem) (extra: int64 seq) : int64[] * int64[] =
        let pieces = problem.Buffers |> Array.map Gaps.pieces
        let cuts =
            seq { for ps in pieces do for p in ps do yield p.Start; yield p.End
                  yield! extra }
            |> Seq.distinct |> Seq.toArray |> Array.sort
        let index (t: int64) = System.Array.BinarySearch(cuts, t)
        let diff = Array.zeroCreate<int64> (cuts.Length + 1)
        for ps in pieces do
            for p in ps do
                diff.[index p.Start] <- diff.[index p.Start] + (p.Hi - p.Lo)
                diff.[index p.End] <- diff.[index p.End] - (p.Hi - p.Lo)
        let load = Array.zeroCreate<int64> (max 0 (cuts.Length - 1))
        let mutable run = 0L
        for k in 0 .. load.Length - 1 do
            run <- run + diff.[k]
            load.[k] <- run
        cuts, load

    /// The candidates a planner considers: those `check` accepts, one per buffer, with a trade the options allow.
    let usable (options: TradeOptions) (problem: Problem) (candidates: Candidate[]) : Candidate[] =
        candidates
        |> Array.filter (fun c -> (check problem c).IsNone)
        |> Array.distinctBy (fun c -> c.Buffer)
        |> Array.filter (fun c -> not (trades options problem c).IsEmpty)

    /// The cheapest trades of the candidates `picked` traded together, if the rule allows any: each its cheapest trade,
    /// where recompute is allowed only when none of its Needs is among the picked buffers (the assignment of a subset
    /// that an enumeration of subsets needs: the tests' reference).
    let assign (options: TradeOptions) (problem: Problem) (picked: Candidate[]) : ((Candidate * Trade)[] * float) option =
        let buffers = picked |> Array.map (fun c -> c.Buffer) |> Set.ofArray
        let each =
            picked |> Array.map (fun c ->
                trades options problem c
                |> List.tryFind (fun (t, _) -> t <> Trade.Recompute || c.Needs |> Array.forall (buffers.Contains >> not))
                |> Option.map (fun (t, us) -> (c, t), us))
        if each |> Array.exists Option.isNone then None
        else
            let each = each |> Array.map Option.get
            Some (Array.map fst each, Array.sumBy snd each)

    /// One greedy choice with repair: trades taken under `phase` (options that may allow fewer trades), re-costed
    /// under `options` at the end. (1) While the largest load exceeds the limit, trade the candidate whose idle window
    /// covers that step with the most bytes saved per microsecond, each its cheapest trade the recompute rule allows
    /// given the choices so far (a candidate whose cheapest trade conflicts may take its other one). (2) Lay the
    /// problem out; while the plan's peak exceeds the limit, trade the best such candidate covering the most loaded step
    /// where a buffer above the limit lives (else any candidate meeting such a buffer, else the best left: a new layout
    /// may fit). In (1) and (2), when the only candidates left are needed by recomputed choices, those choices switch to
    /// offload where the phase allows it (which frees what they need). (3) Untrade, dearest first, every choice the
    /// limit does not need. (4) Switch each choice to a cheaper trade `options` allow where the rule now allows one
    /// (same gaps, same plan). The choices always keep the recompute rule.
    let private greedy (options: TradeOptions) (phase: TradeOptions) (basePlan: Plan, basePeak: int64) (problem: Problem) (candidates: Candidate[]) : TradePlan =
        let usable = usable options problem candidates
        let size (c: Candidate) = problem.Buffers.[c.Buffer].Size
        // the choices so far, the buffers they trade, and how many recomputed choices need each buffer
        let chosen : (Trade * float) option[] = Array.create usable.Length None
        let traded = System.Collections.Generic.HashSet<int>()
        let needed = System.Collections.Generic.Dictionary<int, int>()
        let isChosen k = chosen.[k].IsSome
        let choose k (t: Trade, us: float) =
            let c = usable.[k]
            chosen.[k] <- Some (t, us)
            traded.Add c.Buffer |> ignore
            if t = Trade.Recompute then
                for n in Array.distinct c.Needs do needed.[n] <- (match needed.TryGetValue n with | true, m -> m | _ -> 0) + 1
        let unchoose k =
            let c = usable.[k]
            match chosen.[k] with
            | Some (Trade.Recompute, _) ->
                for n in Array.distinct c.Needs do
                    let m = needed.[n] - 1
                    if m = 0 then needed.Remove n |> ignore else needed.[n] <- m
            | _ -> ()
            chosen.[k] <- None
            traded.Remove c.Buffer |> ignore
        // the cheapest trade `o` and the rule allow for candidate k now (k not chosen)
        let allowedUnder (o: TradeOptions) k =
            let c = usable.[k]
            if needed.ContainsKey c.Buffer then None
            else trades o problem c |> List.tryFind (fun (t, _) -> t <> Trade.Recompute || c.Needs |> Array.forall (traded.Contains >> not))
        let allowed = allowedUnder phase
        let score (k: int) (us: float) = if us <= 0.0 then infinity else float (size usable.[k]) / us
        let best (eligible: int -> bool) =
            let mutable pick, pickScore = -1, 0.0
            for k in 0 .. usable.Length - 1 do
                if not (isChosen k) && eligible k then
                    match allowed k with
                    | Some (_, us) ->
                        let s = score k us
                        if pick < 0 || s > pickScore || (s = pickScore && size usable.[k] > size usable.[pick]) then
                            pick <- k
                            pickScore <- s
                    | None -> ()
            pick
        // the largest eligible candidate left only because recomputed choices need it: they switch to offload
        let unblock (eligible: int -> bool) =
            if not phase.Offload then false
            else
                let blocked = [ for k in 0 .. usable.Length - 1 do if not (isChosen k) && eligible k && needed.ContainsKey usable.[k].Buffer then yield k ]
                match blocked |> List.sortByDescending (fun k -> size usable.[k]) with
                | [] -> false
                | k :: _ ->
                    let b = usable.[k].Buffer
                    for r in 0 .. usable.Length - 1 do
                        match chosen.[r] with
                        | Some (Trade.Recompute, _) when Array.contains b usable.[r].Needs ->
                            unchoose r
                            choose r (Trade.Offload, cost options problem usable.[r] Trade.Offload)
                        | _ -> ()
                    true
        let choices () = [| for k in 0 .. usable.Length - 1 do match chosen.[k] with Some (t, _) -> yield usable.[k], t | None -> () |]
        let problemOf () = apply problem (choices ())
        let layout (p: Problem) = let plan = options.Layout p in plan, Plan.peak p plan
        let finish (p: Problem) (pl: Plan) (peak: int64) =
            { Problem = p; Plan = pl; Peak = peak; PeakWithout = basePeak; Choices = choices ()
              ExtraUs = chosen |> Array.sumBy (function Some (_, us) -> us | None -> 0.0)
              Fits = peak <= options.Limit }
        if basePeak <= options.Limit || usable.Length = 0 then finish problem basePlan basePeak
        else
            // (1) the load
            let cuts, load = loadOn problem (usable |> Seq.collect (fun c -> [ c.Idle.Start; c.Idle.End ]))
            let at (t: int64) = System.Array.BinarySearch(cuts, t)
            let covers (k: int) (seg: int) = let c = usable.[k] in at c.Idle.Start <= seg && seg < at c.Idle.End
            let take k =
                choose k (allowed k).Value
                let c = usable.[k]
                for s in at c.Idle.Start .. at c.Idle.End - 1 do load.[s] <- load.[s] - size c
            let mutable stuck = false
            while not stuck && load.Length > 0 && Array.max load > options.Limit do
                let seg = Array.findIndex (fun l -> l = Array.max load) load
                match best (fun k -> covers k seg) with
                | k when k >= 0 -> take k
                | _ -> if not (unblock (fun k -> covers k seg)) then stuck <- true
            // (2) the layout, and repair
            let mutable current = problemOf ()
            let mutable pl, peak = layout current
            let mutable go = true
            while go && peak > options.Limit do
                let above = [ for i in 0 .. current.Buffers.Length - 1 do if pl.Offsets.[i] + current.Buffers.[i].Size > options.Limit then yield i ]
                let segs = above |> List.collect (fun i -> Gaps.pieces current.Buffers.[i] |> List.ofArray |> List.collect (fun p -> [ at p.Start .. at p.End - 1 ])) |> List.distinct
                let meets k = segs |> List.exists (covers k)
                let k =
                    match segs |> List.sortByDescending (fun s -> load.[s]) with
                    | seg :: _ when best (fun k -> covers k seg) >= 0 -> best (fun k -> covers k seg)
                    | _ ->
                        match best meets with
                        | k when k >= 0 -> k
                        | _ -> best (fun _ -> true)   // another layout may fit: untrading (3) drops what it does not need
                if k >= 0 then
                    take k
                    current <- problemOf ()
                    let p2, k2 = layout current
                    pl <- p2; peak <- k2
                elif not (unblock meets || unblock (fun _ -> true)) then go <- false
            // (3) untrade what the limit does not need, dearest first
            if peak <= options.Limit then
                let order = [ 0 .. usable.Length - 1 ] |> List.filter isChosen |> List.sortByDescending (fun k -> snd chosen.[k].Value)
                for k in order do
                    let was = chosen.[k].Value
                    unchoose k
                    let trial = problemOf ()
                    let p2, k2 = layout trial
                    if k2 <= options.Limit then
                        current <- trial
                        pl <- p2
                        peak <- k2
                    else choose k was
                // (4) a cheaper trade where the rule allows one now: the same gaps, so the same plan
                for k in [ 0 .. usable.Length - 1 ] |> List.filter isChosen |> List.sortByDescending (fun k -> snd chosen.[k].Value) do
                    let was = chosen.[k].Value
                    unchoose k
                    match allowedUnder options k with
                    | Some (t, us) when us < snd was -> choose k (t, us)
                    | _ -> choose k was
                current <- problemOf ()
            finish current pl peak

    /// The budgets of the search after the greedy (`cheapestCover`, `fitWithin`), counted rather than timed so that an
    /// input gives the same plan on any machine.
    module private Budget =
        /// Steps of the search over sets of candidates: nodes, and the candidates its bound scans.
        [<Literal>]
        let CoverSteps = 500_000L
        /// Buffers placed by its layouts (options.Layout of n buffers counts n).
        [<Literal>]
        let LayoutWork = 20_000L
        /// Nodes of the exact decisions and searches its layouts fall back on, in all, and of one exact decision.
        [<Literal>]
        let FallbackNodes = 3_000_000L
        [<Literal>]
        let DecisionNodes = 200_000L
        /// Nodes of one Search after an exact decision that ran out of nodes.
        [<Literal>]
        let SearchNodes = 2_000L
        /// The largest problem whose layouts fall back on them (above it a few thousand nodes do not pay).
        [<Literal>]
        let FallbackBuffers = 256

    /// A layout of `problem` with the gaps of `choices` within the limit, if one is found: options.Layout; where its
    /// peak is above the limit, the load is not and the problem has at most FallbackBuffers buffers, the exact search
    /// deciding whether the buffers fit the limit (Exact.decideOn, DecisionNodes nodes) and, where it runs out of nodes,
    /// Search (SearchNodes nodes), both on one thread (deterministic). Layouts are charged to `work` (buffers placed)
    /// and the fallbacks to `nodes`; none is tried once its budget is spent.
    let private fitWithin (options: TradeOptions) (problem: Problem) (work: int64 ref) (nodes: int64 ref) (choices: (Candidate * Trade)[]) : (Problem * Plan * int64) option =
        if work.Value >= Budget.LayoutWork then None
        else
            let q = apply problem choices
            work.Value <- work.Value + int64 (max 1 q.Buffers.Length)
            let plan = options.Layout q
            let peak = Plan.peak q plan
            let within (plan: Plan) = let peak = Plan.peak q plan in if peak <= options.Limit then Some (q, plan, peak) else None
            if peak <= options.Limit then Some (q, plan, peak)
            elif q.Buffers.Length <= Budget.FallbackBuffers && nodes.Value < Budget.FallbackNodes && Bounds.lowerBound q <= options.Limit then
                let settings = { SolveOptions.defaults with TimeLimit = System.TimeSpan.MaxValue; Workers = 1 }
                let decision = { settings with Nodes = Some (min Budget.DecisionNodes (Budget.FallbackNodes - nodes.Value)) }
                let result, spent = Exact.decideOn decision options.Limit (ExactProblem q)
                nodes.Value <- nodes.Value + spent
                match result with
                | Fits plan -> within plan
                | DoesNotFit -> None
                | ExactResult.Unknown when nodes.Value + Budget.SearchNodes <= Budget.FallbackNodes ->
                    nodes.Value <- nodes.Value + Budget.SearchNodes
                    within (Search.plan { settings with Nodes = Some Budget.SearchNodes } q)
                | _ -> None
            else None

    /// The cheapest set of candidates found whose trades fit (`fit`), if one is cheaper than `incumbent` us: a best-first
    /// branch and bound over sets of candidates. Each candidate is costed at its cheapest trade, which bounds its cost
    /// under the rule from below. Candidates are ordered cheapest per byte first; a set grows by the next candidate in
    /// that order, taken only where it frees a step whose load is still above the limit, or passed over. A set's bound is
    /// its cost plus, for the step that needs the most, the cheapest way to free what the steps above the limit still
    /// need with the candidates not yet passed (fractional: cheapest per byte first, the last one in part); sets are
    /// taken in the order of their bounds and cut at the best cost found. A set whose load fits is priced under the rule
    /// (`assign`) and goes back into the queue at that price; when it comes out again it is laid out by `fit`, and if
    /// that fits it is the answer (nothing left is cheaper), else each set with one candidate more is queued (a layout
    /// may need more than the load). Every set is priced once. Stops when Budget.CoverSteps are spent or `spent` says so.
    let private cheapestCover (options: TradeOptions) (problem: Problem) (usable: Candidate[]) (fit: (Candidate * Trade)[] -> (Problem * Plan * int64) option)
                              (spent: unit -> bool) (incumbent: float) : ((Candidate * Trade)[] * (Problem * Plan * int64) * float) option =
        let m = usable.Length
        let size k = problem.Buffers.[usable.[k].Buffer].Size
        let least = usable |> Array.map (fun c -> match trades options problem c with (_, us) :: _ -> us | [] -> infinity)
        let cuts, load = loadOn problem (usable |> Seq.collect (fun c -> [ c.Idle.Start; c.Idle.End ]))
        let at (t: int64) = System.Array.BinarySearch(cuts, t)
        // the steps above the limit, and what each still needs freed
        let over = [| for s in 0 .. load.Length - 1 do if load.[s] > options.Limit then yield s |]
        let residual = over |> Array.map (fun s -> load.[s] - options.Limit)
        let order =
            [| 0 .. m - 1 |] |> Array.sortWith (fun a b ->
                let c = compare (least.[a] * float (size b)) (least.[b] * float (size a))
                if c <> 0 then c else let c = compare (size b) (size a) in if c <> 0 then c else compare a b)
        // covered.[j]: the steps above the limit that the candidate at position j covers; coveredBy.[d]: the positions covering step d
        let covered = order |> Array.map (fun k ->
            let lo, hi = at usable.[k].Idle.Start, at usable.[k].Idle.End
            [| for d in 0 .. over.Length - 1 do if lo <= over.[d] && over.[d] < hi then yield d |])
        let coveredBy = Array.init over.Length (fun _ -> ResizeArray<int>())
        covered |> Array.iteri (fun j ds -> for d in ds do coveredBy.[d].Add j)
        let coveredBy = coveredBy |> Array.map (fun l -> l.ToArray())
        let initial = Array.copy residual
        let mutable steps = 0L
        let mutable best = incumbent
        let mutable found = None
        let mutable above = 0
        let cheaper (us: float) = us < (if System.Double.IsPositiveInfinity best then best else best - 1e-9 * max 1.0 best)
        // the least cost to free what the steps above the limit still need with the candidates at positions >= i
        let bound (i: int) =
            let mutable worst = 0.0
            let mutable d = 0
            while d < over.Length && worst < infinity do
                if residual.[d] > 0L then
                    let js = coveredBy.[d]
                    let mutable x = System.Array.BinarySearch(js, i)
                    if x < 0 then x <- ~~~x
                    let mutable need = residual.[d]
                    let mutable us = 0.0
                    while x < js.Length && need > 0L do
                        let k = order.[js.[x]]
                        if size k >= need then
                            us <- us + least.[k] * float need / float (size k)
                            need <- 0L
                        else
                            us <- us + least.[k]
                            need <- need - size k
                        x <- x + 1
                        steps <- steps + 1L
                    if need > 0L then worst <- infinity elif us > worst then worst <- us
                d <- d + 1
            worst
        let shift (j: int) (bytes: int64) =
            for d in covered.[j] do
                let was = residual.[d]
                residual.[d] <- was + bytes
                if was > 0L && residual.[d] <= 0L then above <- above - 1
                elif was <= 0L && residual.[d] > 0L then above <- above + 1
        // the residuals of a node: positions `picked` taken
        let restore (picked: int list) =
            Array.blit initial 0 residual 0 residual.Length
            above <- initial |> Array.sumBy (fun r -> if r > 0L then 1 else 0)
            for j in picked do shift j (-(size order.[j]))
        // best first by the node's bound (ties: the older node first). A node: the next position (-1: a set whose load
        // fits, grown from one whose layout did not), the positions taken (newest first), their least cost, and its
        // cost under the rule once known (NaN before)
        let queue = System.Collections.Generic.PriorityQueue<struct (int * int list * float * float), struct (float * int64)>()
        let mutable pushed = 0L
        let push (node: struct (int * int list * float * float)) (key: float) =
            if cheaper key then
                pushed <- pushed + 1L
                queue.Enqueue(node, struct (key, pushed))
        let seen = System.Collections.Generic.HashSet<string>()
        let fresh (picked: int list) = seen.Add(picked |> List.sort |> List.map string |> String.concat ",")
        // a set whose load is above the limit: the next position taken (only where it frees a step still above the
        // limit) or not
        let children (i: int) (picked: int list) (low: float) =
            if i < m then
                let k = order.[i]
                if covered.[i] |> Array.exists (fun d -> residual.[d] > 0L) then
                    shift i (-(size k))
                    push (struct (i + 1, i :: picked, low + least.[k], nan)) (low + least.[k] + bound (i + 1))
                    shift i (size k)
                push (struct (i + 1, picked, low, nan)) (low + bound (i + 1))
        // a set whose load fits but whose layout does not: each set with one more candidate
        let grow (picked: int list) (low: float) =
            for j in 0 .. m - 1 do
                if not (List.contains j picked) then push (struct (-1, j :: picked, low + least.[order.[j]], nan)) (low + least.[order.[j]])
        restore []
        push (struct (0, [], 0.0, nan)) (bound 0)
        let mutable go = true
        while go && queue.Count > 0 && steps < Budget.CoverSteps && not (spent ()) do
            let mutable node = Unchecked.defaultof<_>
            let mutable key = Unchecked.defaultof<struct (float * int64)>
            queue.TryDequeue(&node, &key) |> ignore
            let struct (i, picked, low, priced) = node
            let struct (k, _) = key
            steps <- steps + 1L
            if not (cheaper k) then go <- false
            else
                restore picked
                if above > 0 then children i picked low
                elif System.Double.IsNaN priced then
                    // its cost under the rule may be above its bound: back in the queue at that cost, once
                    if fresh picked then
                        match assign options problem [| for j in picked -> usable.[order.[j]] |] with
                        | Some (_, us) -> push (struct (i, picked, low, us)) us
                        | None -> ()   // a candidate that may only be recomputed needs a traded buffer: so do the larger sets
                else
                    let choices, us = (assign options problem [| for j in picked |> List.map (fun j -> order.[j]) |> List.sort -> usable.[j] |]).Value
                    match fit choices with
                    | Some laid ->
                        best <- us
                        found <- Some (choices, laid, us)
                        go <- false   // nothing left in the queue is cheaper
                    | None -> grow picked low
        found

    /// Drops, dearest first, every choice the limit does not need: each time the rest re-assigned their cheapest trades
    /// under the rule (`assign`, which may now allow a recompute) and laid out by `fit`.
    let private untrade (options: TradeOptions) (problem: Problem) (fit: (Candidate * Trade)[] -> (Problem * Plan * int64) option)
                        (choices: (Candidate * Trade)[], laid: Problem * Plan * int64, us: float) =
        let mutable current = choices, laid, us
        for (c, _) in choices |> Array.sortByDescending (fun (c, t) -> cost options problem c t) do
            let now, _, nowUs = current
            if now |> Array.exists (fun (d, _) -> d.Buffer = c.Buffer) then
                let rest = now |> Array.filter (fun (d, _) -> d.Buffer <> c.Buffer) |> Array.map fst
                match assign options problem rest with
                | Some (fewer, fewerUs) when fewerUs <= nowUs ->
                    match fit fewer with
                    | Some l -> current <- fewer, l, fewerUs
                    | None -> ()
                | _ -> ()
        current

    /// The search after the greedy in the trades `o` allows, from the greedy's answer `from` (costed under `o`): the
    /// branch and bound over sets of candidates (`cheapestCover`) with `from` as the incumbent (where `from` does not
    /// fit, its choices laid out by `fitWithin`, if that fits), then the choices the limit does not need dropped
    /// (`untrade`). The answer, if it fits and is cheaper than `from` or `from` does not fit.
    let private improve (o: TradeOptions) (problem: Problem) (candidates: Candidate[]) (from: TradePlan) : TradePlan option =
        let usable = usable o problem candidates
        let work = ref 0L
        let fit = fitWithin o problem work (ref 0L)
        let start =
            if from.Fits then Some (from.Choices, (from.Problem, from.Plan, from.Peak), from.ExtraUs)
            else fit from.Choices |> Option.map (fun laid -> from.Choices, laid, from.ExtraUs)
        let incumbent = match start with Some (_, _, us) -> us | None -> infinity
        let found =
            match cheapestCover o problem usable fit (fun () -> work.Value >= Budget.LayoutWork) incumbent with
            | Some found -> Some (untrade o problem fit found)
            // the greedy untraded its answer with o.Layout already: again only where fitWithin may fall back
            | None when problem.Buffers.Length <= Budget.FallbackBuffers || not from.Fits -> start |> Option.map (untrade o problem fit)
            | None -> None
        match found with
        | Some (choices, (q, pl, peak), us) when not from.Fits || us < from.ExtraUs ->
            Some { from with Problem = q; Plan = pl; Peak = peak; Choices = choices; ExtraUs = us; Fits = true }
        | _ -> None

    /// The trade-offs that add the least modelled time found, within bounded work, for the plan's peak to fit the limit.
    /// (1) The greedy choice with repair (`greedy`), run with the trades the options allow and, when they allow both,
    /// also with offload alone and with recompute alone (each re-costed with both at the end). (2) The search after it
    /// (`improve`): a best-first branch and bound over sets of candidates cheaper than the cheapest greedy run that fits,
    /// each set whose load fits laid out by options.Layout and, on problems of at most Budget.FallbackBuffers buffers
    /// where that is above the limit, by the exact search deciding the limit, then Search (`cheapestCover`,
    /// `fitWithin`); then the choices the limit does not need dropped (`untrade`). When the options allow both trades,
    /// the search runs again with offload alone from the greedy run with offload alone, as `plan` with offload alone runs
    /// it, and its answer's choices take their cheapest trades under the rule (`assign`). The answer: the cheapest that
    /// fits, else the greedy run of least peak (the first of equals). With both allowed it therefore fits wherever `plan`
    /// with offload alone does, at no more modelled time. Fits is false when nothing found fits. Candidates `check`
    /// rejects are skipped. The choices always keep the recompute rule (`conflict` finds nothing). Deterministic: every
    /// budget counts work, none time.
    let plan (options: TradeOptions) (problem: Problem) (candidates: Candidate[]) : TradePlan =
        let basePlan = options.Layout problem
        let baseline = basePlan, Plan.peak problem basePlan
        let both = options.Offload && options.Recompute
        let offloadAlone = { options with Recompute = false }
        let phases = [ options; if both then offloadAlone; { options with Offload = false } ]
        let results = phases |> List.map (fun phase -> greedy options phase baseline problem candidates)
        let cheapestOf (answers: TradePlan list) =
            match answers |> List.filter (fun r -> r.Fits) with
            | [] -> answers |> List.minBy (fun r -> r.Peak)
            | fits -> fits |> List.minBy (fun r -> r.ExtraUs)
        let greedyBest = cheapestOf results
        if snd baseline <= options.Limit then greedyBest
        else
            let searched = improve options problem candidates greedyBest
            let searchedOffloadAlone =
                if not both then None
                else
                    // the greedy run with offload alone before its re-costing: `plan` with offload alone starts from it
                    let run = results.[1]
                    let choices = [| for (c, _) in run.Choices -> c, Trade.Offload |]
                    let from = { run with Choices = choices; ExtraUs = choices |> Array.sumBy (fun (c, t) -> cost offloadAlone problem c t) }
                    improve offloadAlone problem candidates from
                    |> Option.bind (fun r ->
                        assign options problem (Array.map fst r.Choices) |> Option.map (fun (choices, us) -> { r with Choices = choices; ExtraUs = us }))
            cheapestOf (greedyBest :: List.choose id [ searched; searchedOffloadAlone ])

/// The trade-off planner for C# callers: plain .NET types at the boundary.
[<AbstractClass; Sealed>]
type TradePlanner =
    /// A candidate: buffer `buffer` of the problem, idle on the half-open steps `idle`, recomputable in
    /// `recomputeUs` microseconds (null: not recomputable) from the buffers `needs` (null: none).
    static member Candidate(buffer: int, idle: Lifetime, recomputeUs: System.Nullable<float>, needs: int[]) : Candidate =
        { Buffer = buffer; Idle = idle; RecomputeUs = Option.ofNullable recomputeUs; Needs = (if isNull needs then [||] else needs) }

    /// Tradeoffs.plan at limit `limit` bytes, bandwidth `bandwidthBytesPerUs`, the trades allowed, laid out by `layout`.
    static member Plan(problem: Problem, candidates: Candidate[], limit: int64, bandwidthBytesPerUs: float, offload: bool, recompute: bool,
                       layout: System.Func<Problem, Plan>) : TradePlan =
        let options = { Limit = limit; BandwidthBytesPerUs = bandwidthBytesPerUs; Offload = offload; Recompute = recompute; Layout = layout.Invoke }
        Tradeoffs.plan options problem candidates

    /// The modelled microseconds of trading `candidate` of `problem` by `trade` at `bandwidthBytesPerUs`.
    static member Cost(problem: Problem, candidate: Candidate, trade: Trade, bandwidthBytesPerUs: float) : float =
        Tradeoffs.cost { Tradeoffs.defaults 0L with BandwidthBytesPerUs = bandwidthBytesPerUs } problem candidate trade
