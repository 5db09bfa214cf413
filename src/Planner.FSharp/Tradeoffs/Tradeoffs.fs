namespace Pgmo.Planner

/// What to do with a buffer saved for backward: keep it on the device, offload it to the host over its idle window,
/// or drop it there and recompute it before its first backward use.
[<RequireQualifiedAccess>]
type Trade =
    | Keep
    | Offload
    | Recompute

/// A buffer saved for backward that may be traded: its index in the problem, its idle window (the half-open steps from
/// its last forward use to its first backward use, inside its lifetime and clear of its gaps) and the microseconds
/// its segment's forward pass takes (None: it cannot be recomputed). On the idle window an offloaded or recomputed
/// buffer holds no device bytes: it gets a gap without a window there (Gaps), which every planner honours.
type Candidate = { Buffer: int; Idle: Lifetime; RecomputeUs: float option }

/// The trade-off planner's parameters. Offload costs 2 × size ÷ BandwidthBytesPerUs (the copy out and the copy back,
/// not overlapped with compute: the CPU accelerator copies synchronously, and a CUDA copy stream's overlap is not
/// modelled, so the figure is an upper bound there); recompute costs the candidate's RecomputeUs.
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

    /// The trades the options allow for candidate `c` besides Keep: offload when allowed, recompute when allowed and
    /// `c` has a RecomputeUs.
    let allowed (options: TradeOptions) (c: Candidate) : Trade list =
        [ if options.Offload then Trade.Offload
          if options.Recompute && c.RecomputeUs.IsSome then Trade.Recompute ]

    /// The cheapest trade the options allow for candidate `c` with its cost, if any (offload wins ties).
    let cheapest (options: TradeOptions) (problem: Problem) (c: Candidate) : (Trade * float) option =
        allowed options c
        |> List.map (fun t -> t, cost options problem c t)
        |> List.sortBy snd
        |> List.tryHead

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

    /// The candidates a planner considers: those `check` accepts, the first per buffer, that the options allow to
    /// trade, each with its cheapest trade and that trade's cost.
    let usable (options: TradeOptions) (problem: Problem) (candidates: Candidate[]) : (Candidate * Trade * float)[] =
        candidates
        |> Array.filter (fun c -> (check problem c).IsNone)
        |> Array.distinctBy (fun c -> c.Buffer)
        |> Array.choose (fun c -> cheapest options problem c |> Option.map (fun (t, us) -> c, t, us))

    /// `problem` with a gap without a window on the idle window of every traded choice (Keep adds nothing). Throws
    /// ArgumentException for a candidate `check` rejects or a buffer traded twice.
    let apply (problem: Problem) (choices: (Candidate * Trade) seq) : Problem =
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

    /// The greedy choice with repair. (1) While the largest load exceeds the limit, trade the candidate whose idle
    /// window covers that step with the most bytes saved per microsecond. (2) Lay the problem out; while the plan's
    /// peak exceeds the limit, trade the best such candidate covering the most loaded step where a buffer above the
    /// limit lives (else any candidate meeting such a buffer, else the best left: a new layout may fit). (3) Untrade, dearest first, every choice the limit does
    /// not need. Fits is false when no candidate is left to help. Candidates `check` rejects are skipped.
    let plan (options: TradeOptions) (problem: Problem) (candidates: Candidate[]) : TradePlan =
        let usable = usable options problem candidates
        let size (c: Candidate) = problem.Buffers.[c.Buffer].Size
        let score (c: Candidate, _, us: float) = if us <= 0.0 then infinity else float (size c) / us
        let chosen = Array.zeroCreate<bool> usable.Length
        let problemOf () = apply problem [ for k in 0 .. usable.Length - 1 do if chosen.[k] then let c, t, _ = usable.[k] in yield c, t ]
        let layout (p: Problem) = let plan = options.Layout p in plan, Plan.peak p plan
        let best (eligible: int -> bool) =
            let mutable pick = -1
            for k in 0 .. usable.Length - 1 do
                if not chosen.[k] && eligible k then
                    if pick < 0 || score usable.[k] > score usable.[pick]
                       || (score usable.[k] = score usable.[pick] && size (let c, _, _ = usable.[k] in c) > size (let c, _, _ = usable.[pick] in c)) then
                        pick <- k
            pick
        let basePlan, basePeak = layout problem
        let finish (p: Problem) (pl: Plan) (peak: int64) =
            let choices = [| for k in 0 .. usable.Length - 1 do if chosen.[k] then let c, t, _ = usable.[k] in yield c, t |]
            { Problem = p; Plan = pl; Peak = peak; PeakWithout = basePeak; Choices = choices
              ExtraUs = [| for k in 0 .. usable.Length - 1 do if chosen.[k] then let _, _, us = usable.[k] in yield us |] |> Array.sum
              Fits = peak <= options.Limit }
        if basePeak <= options.Limit || usable.Length = 0 then finish problem basePlan basePeak
        else
            // (1) the load
            let cuts, load = loadOn problem (usable |> Seq.collect (fun (c, _, _) -> [ c.Idle.Start; c.Idle.End ]))
            let at (t: int64) = System.Array.BinarySearch(cuts, t)
            let covers (k: int) (seg: int) = let c, _, _ = usable.[k] in at c.Idle.Start <= seg && seg < at c.Idle.End
            let mutable stuck = false
            while not stuck && load.Length > 0 && Array.max load > options.Limit do
                let seg = Array.findIndex (fun l -> l = Array.max load) load
                let k = best (fun k -> covers k seg)
                if k < 0 then stuck <- true
                else
                    chosen.[k] <- true
                    let c, _, _ = usable.[k]
                    for s in at c.Idle.Start .. at c.Idle.End - 1 do load.[s] <- load.[s] - size c
            // (2) the layout, and repair
            let mutable current = problemOf ()
            let mutable pl, peak = layout current
            let mutable go = true
            while go && peak > options.Limit do
                let above = [ for i in 0 .. current.Buffers.Length - 1 do if pl.Offsets.[i] + current.Buffers.[i].Size > options.Limit then yield i ]
                let segs = above |> List.collect (fun i -> Gaps.pieces current.Buffers.[i] |> List.ofArray |> List.collect (fun p -> [ at p.Start .. at p.End - 1 ])) |> List.distinct
                let k =
                    match segs |> List.sortByDescending (fun s -> load.[s]) with
                    | seg :: _ when best (fun k -> covers k seg) >= 0 -> best (fun k -> covers k seg)
                    | _ ->
                        match best (fun k -> segs |> List.exists (covers k)) with
                        | k when k >= 0 -> k
                        | _ -> best (fun _ -> true)   // another layout may fit: untrading (3) drops what it does not need
                if k < 0 then go <- false
                else
                    chosen.[k] <- true
                    let c, _, _ = usable.[k]
                    for s in at c.Idle.Start .. at c.Idle.End - 1 do load.[s] <- load.[s] - size c
                    current <- problemOf ()
                    let p2, k2 = layout current
                    pl <- p2; peak <- k2
            // (3) untrade what the limit does not need, dearest first
            if peak <= options.Limit then
                let order = [ 0 .. usable.Length - 1 ] |> List.filter (fun k -> chosen.[k]) |> List.sortByDescending (fun k -> let _, _, us = usable.[k] in us)
                for k in order do
                    chosen.[k] <- false
                    let trial = problemOf ()
                    let p2, k2 = layout trial
                    if k2 <= options.Limit then
                        current <- trial
                        pl <- p2
                        peak <- k2
                    else chosen.[k] <- true
            finish current pl peak

/// The trade-off planner for C# callers: plain .NET types at the boundary.
[<AbstractClass; Sealed>]
type TradePlanner =
    /// A candidate: buffer `buffer` of the problem, idle on the half-open steps `idle`, recomputable in
    /// `recomputeUs` microseconds (null: not recomputable).
    static member Candidate(buffer: int, idle: Lifetime, recomputeUs: System.Nullable<float>) : Candidate =
        { Buffer = buffer; Idle = idle; RecomputeUs = Option.ofNullable recomputeUs }

    /// Tradeoffs.plan at limit `limit` bytes, bandwidth `bandwidthBytesPerUs`, the trades allowed, laid out by `layout`.
    static member Plan(problem: Problem, candidates: Candidate[], limit: int64, bandwidthBytesPerUs: float, offload: bool, recompute: bool,
                       layout: System.Func<Problem, Plan>) : TradePlan =
        let options = { Limit = limit; BandwidthBytesPerUs = bandwidthBytesPerUs; Offload = offload; Recompute = recompute; Layout = layout.Invoke }
        Tradeoffs.plan options problem candidates

    /// The modelled microseconds of trading `candidate` of `problem` by `trade` at `bandwidthBytesPerUs`.
    static member Cost(problem: Problem, candidate: Candidate, trade: Trade, bandwidthBytesPerUs: float) : float =
        Tradeoffs.cost { Tradeoffs.defaults 0L with BandwidthBytesPerUs = bandwidthBytesPerUs } problem candidate trade
