namespace Pgmo.Planner

open System
open System.Threading
open System.Threading.Tasks

/// An exact search over canonical placements in the spirit of MiniMalloc (Moffitt, ASPLOS 2023): depth-first,
/// each buffer at the lowest offset its placed time-neighbours allow, offsets non-decreasing along a branch,
/// with section inference, a gap dominance rule, hatless pruning and decomposition at steps no unplaced buffer crosses
/// (the inference: Propagation). Pure from outside: the only effect is reading the cancellation token. Soundness:
/// proofs/exact-search.md.
[<RequireQualifiedAccess>]
module Exact =

    /// The nodes each probe runs per turn when the probes of one decision take turns on one thread.
    [<Literal>]
    let Slice = 1000L

    /// The relative size of the random factor on the preorder's keys of a jittered probe.
    [<Literal>]
    let Jitter = 0.03

    /// Orders buffer indices by lowest offset, then by rank (the dynamic order of the search).
    [<Sealed>]
    type private ByLowest(minOff: int64[], rank: int[]) =
        interface System.Collections.Generic.IComparer<int> with
            member _.Compare(a, b) =
                let c = compare minOff.[a] minOff.[b]
                if c <> 0 then c else compare rank.[a] rank.[b]

    /// One level of the explicit search stack: a search node (its sorted candidates and the child it is trying) or
    /// the independent parts of a decomposition, solved one after the other.
    [<AllowNullLiteral>]
    type private Frame() =
        [<DefaultValue>] val mutable IsParts: bool
        // the node's context: sections [Lo, Hi), its buffers by preorder (Order) and their ranks (Rank)
        [<DefaultValue>] val mutable Lo: int
        [<DefaultValue>] val mutable Hi: int
        [<DefaultValue>] val mutable Order: int[]
        [<DefaultValue>] val mutable Rank: int[]
        // the node's unplaced buffers of the context, sorted by (lowest offset, rank): cand.[CandStart ..][.. CandCount)
        [<DefaultValue>] val mutable CandStart: int
        [<DefaultValue>] val mutable CandCount: int
        [<DefaultValue>] val mutable Next: int
        [<DefaultValue>] val mutable MinHeight: int64
        [<DefaultValue>] val mutable LastOff: int64
        [<DefaultValue>] val mutable LastRank: int
        // at least the largest unplaced total of a section in [Lo, Hi) (totals only fall along a branch)
        [<DefaultValue>] val mutable TotalBound: int64
        // the buffer placed for the child being searched (-1: none) and what undoes it
        [<DefaultValue>] val mutable Child: int
        [<DefaultValue>] val mutable OffMark: int
        [<DefaultValue>] val mutable SecMark: int
        [<DefaultValue>] val mutable Hatless: bool
        // a decomposition's parts (sections lo, hi, unplaced buffers) and the one being solved
        [<DefaultValue>] val mutable Parts: (int * int * int[])[]
        [<DefaultValue>] val mutable Part: int

    /// What the last finished subtree told its parent frame.
    [<Struct>]
    type private Outcome =
        /// Nothing yet (a frame just entered).
        | NoAnswer
        /// Every buffer of the subtree's context placed.
        | Found
        /// No completion in the subtree.
        | NotFound

    /// One decision in progress, under one preorder: a depth-first search over canonical placements kept on an
    /// explicit stack, so that it stops after a number of search nodes and later resumes exactly where it stopped
    /// (a restart would repeat the same deterministic search). The branch's state and inference are a Propagation;
    /// this is the stack machine that walks the branches. With `jitter` Some seed, every key of the preorder is
    /// multiplied by a random factor in [1 - Jitter, 1 + Jitter] per buffer, so that restarts with different seeds
    /// explore different orders (any order is sound). Used by one thread at a time.
    [<Sealed>]
    type Probe(exact: ExactProblem, capacity: int64, rules: ExactRules, preorder: Preorder, jitter: int option) =
        let prop = Propagation(exact, capacity, rules)
        let rules = prop.Rules
        let axis = exact.Axis
        let problem = axis.Problem
        let bs = problem.Buffers
        let n = bs.Length
        let pinned = axis.HasPins
        let sLo, sHi = axis.SpanLo, axis.SpanHi
        let size = bs |> Array.map (fun b -> b.Size)
        let overlaps = exact.Neighbours.Of
        let offset = prop.Offset
        let minOff = prop.MinOff
        let total = prop.Total
        let solution = Array.create n -1L
        let mutable nodes = 0L
        let frames = ResizeArray<Frame>()
        let mutable depth = 0
        let mutable cand = Array.zeroCreate<int> (max 16 (2 * n))
        let mutable candTop = 0
        let mutable answer = ValueNone

        /// The value of a preorder key for buffer i (larger first).
        let keyOf (key: PreorderKey) (i: int) : float =
            let width = float (bs.[i].Lifetime.End - bs.[i].Lifetime.Start)
            match key with
            | PreorderKey.Width -> width
            | PreorderKey.Area -> width * float size.[i]
            | PreorderKey.Total -> float (prop.MostIn(sLo.[i], sHi.[i]))
            | PreorderKey.Size -> float size.[i]
            | PreorderKey.Start -> float bs.[i].Lifetime.Start
            | PreorderKey.End -> float bs.[i].Lifetime.End
            | PreorderKey.Overlaps -> float overlaps.[i].Length
            | PreorderKey.Sections -> float (sHi.[i] - sLo.[i])

        let factor =
            match jitter with
            | None -> Array.create n 1.0
            | Some seed ->
                let rnd = Random(seed)
                Array.init n (fun _ -> 1.0 + Jitter * (2.0 * rnd.NextDouble() - 1.0))

        let keys = Array.ofList preorder.Keys

        let ensureRoom (count: int) =
            if candTop + count > cand.Length then
                let bigger = Array.zeroCreate<int> (max (2 * cand.Length) (candTop + count))
                Array.blit cand 0 bigger 0 candTop
                cand <- bigger

        let frameAt (d: int) =
            if d = frames.Count then frames.Add(Frame())
            frames.[d]

        /// Pushes a search node of the context (lo, hi, order, rank). Its candidates are the parent's minus the buffer
        /// just placed, re-sorted by insertion (only the placed buffer's neighbours moved up), or for a fresh context
        /// (parent null) the context's buffers sorted by (lowest offset, rank).
        let pushNode (lo: int) (hi: int) (order: int[]) (rank: int[]) (lastOff: int64) (lastRank: int) (parent: Frame) (placed: int) (totalBound: int64) =
            let f = frameAt depth
            f.TotalBound <- totalBound
            depth <- depth + 1
            f.IsParts <- false
            f.Lo <- lo
            f.Hi <- hi
            f.Order <- order
            f.Rank <- rank
            f.Next <- 0
            f.LastOff <- lastOff
            f.LastRank <- lastRank
            f.Child <- -1
            f.Parts <- null
            let start = candTop
            let mutable count = 0
            if isNull parent then
                ensureRoom order.Length
                for i in order do
                    if offset.[i] < 0L then
                        cand.[start + count] <- i
                        count <- count + 1
                Array.Sort(cand, start, count, ByLowest(minOff, rank))
            else
                ensureRoom parent.CandCount
                for x in parent.CandStart .. parent.CandStart + parent.CandCount - 1 do
                    let i = cand.[x]
                    if i <> placed then
                        // insertion into the sorted prefix
                        let ki = minOff.[i]
                        let ri = rank.[i]
                        let mutable y = start + count - 1
                        while y >= start && (let w = cand.[y] in minOff.[w] > ki || (minOff.[w] = ki && rank.[w] > ri)) do
                            cand.[y + 1] <- cand.[y]
                            y <- y - 1
                        cand.[y + 1] <- i
                        count <- count + 1
            f.CandStart <- start
            f.CandCount <- count
            candTop <- start + count
            let mutable minHeight = Int64.MaxValue
            for x in start .. start + count - 1 do
                let i = cand.[x]
                minHeight <- min minHeight (minOff.[i] + size.[i])
            f.MinHeight <- minHeight
            // a pinned buffer raised above its pin: no completion (its only offset is the pin)
            if pinned then
                for x in start .. start + count - 1 do
                    let i = cand.[x]
                    match bs.[i].Pinned with
                    | Some p when minOff.[i] > p -> f.Next <- count
                    | _ -> ()

        /// Pushes the parts of a decomposition (solved in turn by the main loop).
        let pushParts (list: (int * int * int[])[]) =
            let f = frameAt depth
            depth <- depth + 1
            f.IsParts <- true
            f.Parts <- list
            f.Part <- 0
            f.Child <- -1
            f.CandStart <- candTop
            f.CandCount <- 0

        let pop () =
            depth <- depth - 1
            candTop <- frames.[depth].CandStart

        /// A fresh context for a part: its buffers sorted by the preorder's keys (larger first, then index), and ranks.
        let context (buffers: int[]) : int[] * int[] =
            let keyed = buffers |> Array.map (fun i -> struct (i, keys |> Array.map (fun k -> factor.[i] * keyOf k i)))
            let order =
                keyed |> Array.sortWith (fun (struct (a, ka)) (struct (b, kb)) ->
                    let mutable c = 0
                    for q in 0 .. ka.Length - 1 do
                        if c = 0 then c <- compare kb.[q] ka.[q]
                    if c <> 0 then c else compare a b)
                |> Array.map (fun (struct (i, _)) -> i)
            let rank = Array.zeroCreate<int> n
            order |> Array.iteri (fun r i -> rank.[i] <- r)
            order, rank

        do
            if n = 0 then answer <- ValueSome(Fits { Offsets = [||] })
            elif prop.Overfull then answer <- ValueSome DoesNotFit
            else
                let all = Array.init n id
                pushParts (if rules.Decomposition then prop.Parts(0, prop.Sections, all) else [| 0, prop.Sections, all |])

        /// A probe of one capacity under one preorder, without jitter.
        new(exact: ExactProblem, capacity: int64, rules: ExactRules, preorder: Preorder) = Probe(exact, capacity, rules, preorder, None)

        /// Search nodes used so far (placements tried).
        member _.Nodes = nodes

        /// The problem searched.
        member _.Problem = problem

        /// The capacity decided.
        member _.Capacity = capacity

        /// The preorder of the search.
        member _.Preorder = preorder

        /// The answer once the search has one: Fits (a plan under the capacity, not yet validated), DoesNotFit (every
        /// branch explored) or Unknown (every branch explored where canonical placements are incomplete); None while
        /// it is unfinished.
        member _.Answer = match answer with ValueSome r -> Some r | ValueNone -> None

        /// Searches on until a decisive answer, until Nodes reaches `limit`, or until the token is cancelled
        /// (checked every 256 nodes); Unknown in the last two cases, after which Advance may be called again.
        member _.Advance(limit: int64, cancellation: CancellationToken) : ExactResult =
            let mutable ret = NoAnswer
            let mutable paused = false
            while answer.IsNone && not paused do
                if depth = 0 then
                    answer <- ValueSome(if ret = Found then Fits { Offsets = Array.copy solution }
                                        elif exact.Incomplete then Unknown else DoesNotFit)
                else
                let f = frames.[depth - 1]
                if f.IsParts then
                    if ret = NotFound then pop ()
                    else
                        if ret = Found then f.Part <- f.Part + 1
                        if f.Part >= f.Parts.Length then
                            ret <- Found
                            pop ()
                        else
                            ret <- NoAnswer
                            let a, z, inside = f.Parts.[f.Part]
                            let order, rank = context inside
                            pushNode a z order rank 0L -1 null -1 (prop.MostIn(a, z))
                else
                    let mutable searching = true
                    if f.Child >= 0 then
                        // back from the child placed last
                        let b = f.Child
                        f.Child <- -1
                        if rules.Decomposition then prop.Uncut b
                        prop.Unplace(b, f.OffMark, f.SecMark)
                        if ret = Found || (rules.Hatless && f.Hatless) then searching <- false
                        else ret <- NoAnswer
                    if searching then
                        let mutable pushed = false
                        while not pushed && not paused && f.Next < f.CandCount do
                            let b = cand.[f.CandStart + f.Next]
                            let off = minOff.[b]
                            if rules.Dominance && off >= f.MinHeight then f.Next <- f.CandCount // sorted by offset: the rest are dominated too
                            elif rules.CanonicalOnly && (off < f.LastOff || (off = f.LastOff && f.Rank.[b] < f.LastRank)) then f.Next <- f.Next + 1
                            elif off + size.[b] > capacity then f.Next <- f.Next + 1
                            elif nodes >= limit || ((nodes &&& 255L) = 0L && cancellation.IsCancellationRequested) then paused <- true
                            else
                                nodes <- nodes + 1L
                                f.Next <- f.Next + 1
                                let struct (offMark, secMark) = prop.Marks
                                prop.Place(b, off)
                                solution.[b] <- off
                                if prop.Check(f.Lo, f.Hi, f.TotalBound, b, off) then
                                    f.Child <- b
                                    f.OffMark <- offMark
                                    f.SecMark <- secMark
                                    f.Hatless <- not prop.Hat
                                    if rules.Decomposition && prop.Cut b then pushParts (prop.Parts(f.Lo, f.Hi, f.Order))
                                    else pushNode f.Lo f.Hi f.Order f.Rank off f.Rank.[b] f b prop.ChildBound
                                    pushed <- true
                                else prop.Unplace(b, offMark, secMark)
                        if not pushed && not paused then
                            // a node without candidates is a leaf: every buffer of its context is placed
                            ret <- (if f.CandCount = 0 then Found else NotFound)
                            pop ()
                    else pop ()
            match answer with
            | ValueSome r -> r
            | ValueNone -> Unknown

    let private checkPlan (problem: Problem) (capacity: int64) (plan: Plan) =
        match Validate.plan problem (Some capacity) plan with
        | [] -> plan
        | v :: _ -> failwithf "Exact search produced an invalid plan: %s" (Violation.describe v)

    /// Advances a probe by at most `nodes` more search nodes (see Probe.Advance); a Fits plan is validated under the
    /// probe's capacity (an invalid one throws). Returns the answer and the nodes this call used.
    let resume (probe: Probe) (nodes: int64) (cancellation: CancellationToken) : ExactResult * int64 =
        let before = probe.Nodes
        let limit = if nodes > Int64.MaxValue - before then Int64.MaxValue else before + nodes
        let r = probe.Advance(limit, cancellation)
        (match r with Fits plan -> Fits (checkPlan probe.Problem probe.Capacity plan) | r -> r), probe.Nodes - before

    /// The one driver of the exact search: advances the probes of one capacity until one answers decisively, until
    /// `nodes` nodes are spent in all, or until the token is cancelled, and returns the answer (Unknown in the last two
    /// cases, or when every probe ended without a proof) and the nodes spent. With `workers` >= 2, one thread per
    /// probe, each with an equal share of the nodes, the first decisive answer cancelling the others (which of two
    /// fitting searches wins may vary); with one worker the probes take turns on this thread, Slice nodes each, each
    /// resumed where it stopped (deterministic). Every Fits plan is validated.
    let rec drive (workers: int) (nodes: int64) (cancellation: CancellationToken) (probes: Probe[]) : ExactResult * int64 =
        driveInSlices Slice workers nodes cancellation probes

    /// drive with turns of `slice` nodes on one thread.
    and driveInSlices (slice: int64) (workers: int) (nodes: int64) (cancellation: CancellationToken) (probes: Probe[]) : ExactResult * int64 =
        if probes.Length = 0 then Unknown, 0L
        elif workers >= 2 && probes.Length >= 2 then
            // one thread per probe, each with its share of the nodes (all of them without a node budget)
            let each = if nodes = Int64.MaxValue then Int64.MaxValue else max 1L (nodes / int64 probes.Length)
            use cts = CancellationTokenSource.CreateLinkedTokenSource(cancellation)
            // dedicated threads, not the thread pool's: busy pool threads would hold up the timers that cancel the
            // run at its deadline (a 2 s search ran 4 s on 2 cores)
            let tasks =
                probes |> Array.map (fun probe ->
                    Task.Factory.StartNew((fun () ->
                        let r = resume probe each cts.Token
                        (match fst r with
                         | Unknown -> ()
                         | _ -> cts.Cancel())
                        r), TaskCreationOptions.LongRunning))
            try Task.WaitAll(tasks |> Array.map (fun t -> t :> Task))
            finally cts.Cancel()
            let results = tasks |> Array.map (fun t -> t.Result)
            let spent = results |> Array.sumBy snd
            (results |> Array.map fst |> Array.tryFind (function Unknown -> false | _ -> true) |> Option.defaultValue Unknown), spent
        else
            let mutable used = 0L
            let mutable result = None
            while result.IsNone do
                let mutable k = 0
                let mutable live = 0
                while result.IsNone && k < probes.Length do
                    let probe = probes.[k]
                    let room = nodes - used
                    if room <= 0L || cancellation.IsCancellationRequested then result <- Some Unknown
                    elif probe.Answer <> Some Unknown then
                        live <- live + 1
                        let r, spent = resume probe (min (max 1L slice) room) cancellation
                        used <- used + spent
                        match r with
                        | Unknown -> ()
                        | r -> result <- Some r
                    k <- k + 1
                // every probe ended without a proof (gaps whose distances are <= 0)
                if result.IsNone && live = 0 then result <- Some Unknown
            result.Value, used

    /// Decides whether the buffers of a prepared problem fit under the capacity (bytes) with one probe per preorder of
    /// the options (drive: options.Workers threads, options.Nodes nodes, options.Cancellation): Fits with a validated
    /// plan, DoesNotFit (proven) or Unknown, and the nodes spent.
    let decideOn (options: SolveOptions) (capacity: int64) (exact: ExactProblem) : ExactResult * int64 =
        let preorders = if options.Preorders.IsEmpty then Preorder.defaults else options.Preorders
        let probes = preorders |> List.map (fun p -> Probe(exact, capacity, options.Rules, p)) |> Array.ofList
        drive options.Workers (SolveOptions.nodesLeft options 0L) options.Cancellation probes

    /// Decides whether the buffers fit under the capacity (bytes): Fits with a validated plan, DoesNotFit (proven), or
    /// Unknown (see decideOn).
    let decide (options: SolveOptions) (capacity: int64) (problem: Problem) : ExactResult =
        fst (decideOn options capacity (ExactProblem problem))

    /// The plan a minimization starts from when given no hint: each buffer, largest first, at the lowest aligned
    /// offset free among its placed time neighbours (Placement.placeOn with Fit.First). Valid, O(n log n).
    let initialPlan (axis: TimeAxis) : Plan =
        let order = axis.Problem |> Placement.orderBy (fun a b -> let c = compare b.Size a.Size in if c <> 0 then c else compare a.Lifetime.Start b.Lifetime.Start)
        Placement.placeOn axis Fit.First true order

    /// The granularity of canonical peaks: every canonical offset and peak is a multiple of the gcd of all sizes and
    /// alignments, and with gaps and pins (Gaps) of the windows' bounds and the pinned offsets.
    let granularity (problem: Problem) : int64 =
        problem.Buffers
        |> Array.fold (fun g b ->
            let g = Numbers.gcd (Numbers.gcd g b.Size) (if b.Alignment > 1L then b.Alignment else 0L)
            let g = match b.Pinned with Some p -> Numbers.gcd g p | None -> g
            b.Gaps |> Array.fold (fun g gap -> match gap.Window with Some w -> Numbers.gcd (Numbers.gcd g w.Lo) w.Hi | None -> g) g) 0L
        |> max 1L
