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

    /// The greedy choice with repair (`greedy`), run with the trades the options allow and, when they allow both, also
    /// with offload alone and with recompute alone (each re-costed with both at the end): the cheapest result that
    /// fits, else the one of least peak (the first of equals). With both allowed it therefore fits wherever offload
    /// alone does, at no more modelled time. Fits is false when no candidate is left to help. Candidates `check`
    /// rejects are skipped. The choices always keep the recompute rule (`conflict` finds nothing).
    let plan (options: TradeOptions) (problem: Problem) (candidates: Candidate[]) : TradePlan =
        let basePlan = options.Layout problem
        let baseline = basePlan, Plan.peak problem basePlan
        let phases =
            [ options
              if options.Offload && options.Recompute then
                  { options with Recompute = false }
                  { options with Offload = false } ]
        let results = phases |> List.map (fun phase -> greedy options phase baseline problem candidates)
        match results |> List.filter (fun r -> r.Fits) with
        | [] -> results |> List.minBy (fun r -> r.Peak)
        | fits -> fits |> List.minBy (fun r -> r.ExtraUs)

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
