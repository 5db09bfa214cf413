namespace Pgmo.Planner

open System
open System.Threading

/// Settings of the exact search. Every rule can be switched off (for tests and benchmarks); the defaults are the fast ones.
type ExactOptions =
    { /// Most search nodes over all restarts before giving up with Unknown (Int64.MaxValue: no limit).
      NodeLimit: int64
      /// Cancels the search; it then returns Unknown (or the best plan found by minimize).
      Cancellation: CancellationToken
      /// Static preorders, one search each, interleaved (Slice nodes per turn, each resumed where it stopped); letters of descending keys:
      /// W width (lifetime length), A area, T largest section total, Z size, S start, E end, O overlaps, C sections.
      Preorders: string list
      /// Only canonical placements: offsets never decrease along a branch (ties by preorder).
      CanonicalOnly: bool
      /// Prunes when, in some time section, the floor plus the unplaced sizes exceed the capacity.
      SectionInference: bool
      /// Prunes a placement that leaves a gap below it where an unplaced buffer fits entirely.
      Dominance: bool
      /// Solves independently the parts of the time axis that no unplaced buffer crosses.
      Decomposition: bool
      /// Also prunes when, in a section whose buffers' lowest offsets changed, the unplaced buffers whose lowest offset
      /// is at least h do not fit between h and the capacity, for some h (stronger than SectionInference, costlier).
      StaircaseInference: bool
      /// Prunes the later siblings of a buffer whose placement left no unplaced time-neighbour (hatless) when its
      /// subtree fails: in every completion it sits at the same offset, so it was the canonical next one.
      Hatless: bool
      /// Nodes each preorder's search runs per turn before the next one's (interleaved, each resumed where it stopped).
      Slice: int64
      /// 0: the preorders' keys as they are. Otherwise the seed of a random factor in [1 - Jitter, 1 + Jitter] per
      /// buffer on every key, so that restarts with different seeds explore different orders (any order is sound).
      Seed: int
      /// The relative size of the random factor on the keys when Seed is not 0.
      Jitter: float }

/// The answer of the exact decision procedure at one capacity.
type ExactResult =
    /// A valid plan whose peak is at most the capacity.
    | Fits of Plan
    /// Proven: no valid plan has a peak at most the capacity.
    | DoesNotFit
    /// The node limit or the cancellation stopped the search first.
    | Unknown

/// The answer of the exact minimization.
type ExactMinimum =
    { /// The best plan found (always at least the upper-bound plan).
      Best: Plan
      /// Its peak in bytes.
      Peak: int64
      /// A proven lower bound on every valid plan's peak (at least the max-load lower bound).
      LowerBound: int64
      /// True when Peak = LowerBound, i.e. Best is proven optimal.
      Optimal: bool
      /// Search nodes used.
      Nodes: int64 }

/// An exact search over canonical placements in the spirit of MiniMalloc (Moffitt, ASPLOS 2023): depth-first,
/// each buffer at the lowest offset its placed time-neighbours allow, offsets non-decreasing along a branch,
/// with section inference, a gap dominance rule, hatless pruning and decomposition at steps no unplaced buffer crosses.
/// Pure from outside: the only effect is reading the cancellation token. Soundness: proofs/exact-search.md.
[<RequireQualifiedAccess>]
module Exact =

    /// All rules on, three preorders, 1000-node slices, no node limit, no cancellation.
    let defaults =
        { NodeLimit = Int64.MaxValue
          Cancellation = CancellationToken.None
          Preorders = [ "WAT"; "TAW"; "TWA" ]
          CanonicalOnly = true
          SectionInference = true
          Dominance = true
          Decomposition = true
          StaircaseInference = false
          Hatless = true
          Slice = 1000L
          Seed = 0
          Jitter = 0.1 }

    /// The data of one problem that every decision on it shares: its time axis (sections, each buffer's pieces and
    /// their sections) and the buffers whose pieces meet each buffer's, with their distances (TimeAxis.Neighbours).
    /// Built once per problem (O(n log n + meeting pairs + section memberships)) and read only after.
    [<Sealed>]
    type Prepared(axis: TimeAxis) =
        let problem = axis.Problem
        // a placed buffer raises a neighbour by their distance (its size without gaps), and the sections, cut at every
        // piece endpoint, count the bytes each piece holds (proofs/gaps.md, G3)
        let neighbours = (axis.Neighbours(Int64.MaxValue, fun () -> false)).Value
        let sizes = problem.Buffers |> Array.map (fun b -> b.Size)
        let aligns = problem.Buffers |> Array.map (fun b -> max 1L b.Alignment)
        let members = axis.Members
        /// The prepared data of a problem (of its time axis).
        new(problem: Problem) = Prepared(TimeAxis problem)
        /// The problem.
        member _.Problem = problem
        /// Its time axis.
        member _.Axis = axis
        member internal _.Members = members
        member internal _.Overlaps = neighbours.Of
        /// Above.[b].[q]: how far above b its neighbour Overlaps.[b].[q] must start (b's size without gaps).
        member internal _.Above = neighbours.Above
        /// True when some buffer has gaps: the staircase rule (which counts whole sizes) and hatless pruning are off.
        member internal _.Gapped = axis.HasGaps
        /// True when some distance is <= 0: a buffer may sit below one of lower offset, which canonical placements
        /// miss, so an exhausted search proves nothing (proofs/gaps.md, G3).
        member internal _.Incomplete = neighbours.Above |> Array.exists (Array.exists (fun d -> d <= 0L))
        /// True when some buffer is pinned.
        member internal _.Pinned = axis.HasPins
        member internal _.Sizes = sizes
        member internal _.Aligns = aligns

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

    [<Literal>]
    let private NoAnswer = 0

    [<Literal>]
    let private Found = 1

    [<Literal>]
    let private NotFound = 2

    /// One decision in progress, under one preorder: a depth-first search over canonical placements kept on an
    /// explicit stack, so that it stops after a number of search nodes and later resumes exactly where it stopped
    /// (a restart would repeat the same deterministic search). Used by one thread at a time.
    [<Sealed>]
    type Probe(prepared: Prepared, capacity: int64, options: ExactOptions, preorder: string) =
        let opts = if prepared.Gapped then { options with StaircaseInference = false; Hatless = false } else options
        let pinned = prepared.Pinned
        let above = prepared.Above
        let problem = prepared.Problem
        let bs = problem.Buffers
        let n = bs.Length
        let axis = prepared.Axis
        let nSec = max 0 (axis.Steps.Length - 1)
        let sLo = axis.SpanLo
        let sHi = axis.SpanHi
        // each buffer's pieces: their sections and the bytes they hold there
        let first, pieces = axis.First, axis.Pieces
        let pLo, pHi = axis.StartRank, axis.EndRank
        let size = prepared.Sizes
        let align = prepared.Aligns
        let secBuffers = prepared.Members
        let overlaps = prepared.Overlaps
        let offset = Array.create n -1L
        let solution = Array.create n -1L
        // a pinned buffer's only offset is its pin: a node where it was raised above is dead
        let minOff = bs |> Array.map (fun b -> defaultArg b.Pinned 0L)
        let floor = Array.zeroCreate<int64> nSec
        // the unplaced bytes of each section
        let total =
            let t = Array.zeroCreate<int64> nSec
            for k in 0 .. pieces.Length - 1 do
                for sct in pLo.[k] .. pHi.[k] - 1 do t.[sct] <- t.[sct] + (pieces.[k].Hi - pieces.[k].Lo)
            t
        // cuts.[k]: unplaced buffers live in both section k and section k + 1
        let cuts =
            let c = Array.zeroCreate<int> (max 0 (nSec - 1))
            for i in 0 .. n - 1 do
                for k in sLo.[i] .. sHi.[i] - 2 do c.[k] <- c.[k] + 1
            c
        let offTrail = ResizeArray<struct (int * int64)>()
        let secTrail = ResizeArray<struct (int * int64)>()
        let mutable affLo = 0
        let mutable affHi = 0
        let lows = Array.zeroCreate<int64> (max 1 n)
        let sizes = Array.zeroCreate<int64> (max 1 n)
        let mutable staircaseFail = false
        let mutable hat = false
        let mutable nodes = 0L
        let frames = ResizeArray<Frame>()
        let mutable depth = 0
        let mutable cand = Array.zeroCreate<int> (max 16 (2 * n))
        let mutable candTop = 0
        let mutable answer = ValueNone
        let mutable childBound = 0L

        /// The sort keys of one preorder letter for buffer i (larger first).
        let keyOf (c: char) (i: int) : float =
            let width = float (bs.[i].Lifetime.End - bs.[i].Lifetime.Start)
            match c with
            | 'W' | 'L' -> width
            | 'A' -> width * float size.[i]
            | 'T' -> (let mutable m = 0L in (for s in sLo.[i] .. sHi.[i] - 1 do m <- max m total.[s]); float m)
            | 'Z' -> float size.[i]
            | 'S' -> float bs.[i].Lifetime.Start
            | 'E' -> float bs.[i].Lifetime.End
            | 'O' -> float overlaps.[i].Length
            | 'C' -> float (sHi.[i] - sLo.[i])
            | _ -> 0.0

        let factor =
            if opts.Seed = 0 then Array.create n 1.0
            else
                let rnd = Random(opts.Seed)
                Array.init n (fun _ -> 1.0 + opts.Jitter * (2.0 * rnd.NextDouble() - 1.0))

        /// keyOf times the buffer's random factor (1 without a seed).
        let key (c: char) (i: int) : float = factor.[i] * keyOf c i

        /// The zero-cut parts of sections [lo, hi): (lo, hi, unplaced buffers in it).
        let parts (lo: int) (hi: int) (candidates: int[]) : (int * int * int[])[] =
            let bounds = ResizeArray<int>([ lo ])
            for k in lo .. hi - 2 do
                if cuts.[k] = 0 then bounds.Add(k + 1)
            bounds.Add hi
            [| for p in 0 .. bounds.Count - 2 do
                let a, b = bounds.[p], bounds.[p + 1]
                let inside = candidates |> Array.filter (fun i -> offset.[i] < 0L && sLo.[i] < b && a < sHi.[i])
                if inside.Length > 0 then a, b, inside |]

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
            let keys = buffers |> Array.map (fun i -> struct (i, preorder |> Seq.map (fun ch -> key ch i) |> Array.ofSeq))
            let order =
                keys |> Array.sortWith (fun (struct (a, ka)) (struct (b, kb)) ->
                    let mutable c = 0
                    for q in 0 .. ka.Length - 1 do
                        if c = 0 then c <- compare kb.[q] ka.[q]
                    if c <> 0 then c else compare a b)
                |> Array.map (fun (struct (i, _)) -> i)
            let rank = Array.zeroCreate<int> n
            order |> Array.iteri (fun r i -> rank.[i] <- r)
            order, rank

        let place (b: int) (off: int64) =
            staircaseFail <- false
            hat <- false
            offset.[b] <- off
            solution.[b] <- off
            // the sections of the buffers whose lowest offset rose: every such buffer is live with b, so their
            // spans and b's form one run of sections [affLo, affHi)
            affLo <- sLo.[b]
            affHi <- sLo.[b]
            let js = overlaps.[b]
            let ab = above.[b]
            for q in 0 .. js.Length - 1 do
                let j = js.[q]
                let top = off + ab.[q]
                if offset.[j] < 0L then
                    hat <- true
                    if minOff.[j] < top then
                        offTrail.Add(struct (j, minOff.[j]))
                        minOff.[j] <- Numbers.alignUp align.[j] top
                        if sLo.[j] < affLo then affLo <- sLo.[j]
                        if sHi.[j] > affHi then affHi <- sHi.[j]
            if affHi > affLo && affHi < sHi.[b] then affHi <- sHi.[b]
            if not (opts.SectionInference || opts.StaircaseInference) then affHi <- affLo
            // later buffers' bytes in a section of b's pieces lie above b's bytes there (proofs/gaps.md, G3)
            for k in first.[b] .. first.[b + 1] - 1 do
                let pieceTop = off + pieces.[k].Hi
                let bytes = pieces.[k].Hi - pieces.[k].Lo
                for sct in pLo.[k] .. pHi.[k] - 1 do
                    secTrail.Add(struct (sct, floor.[sct]))
                    floor.[sct] <- pieceTop
                    total.[sct] <- total.[sct] - bytes
            // a section's floor is at least the lowest offset any of its unplaced buffers can take
            for sct in affLo .. affHi - 1 do
                // the least lowest offset of the section's unplaced buffers; the scan stops at one not above the floor
                let fl = floor.[sct]
                let ms = secBuffers.[sct]
                let mutable m = Int64.MaxValue
                let mutable x = 0
                while x < ms.Length do
                    let j = ms.[x]
                    if offset.[j] < 0L && minOff.[j] < m then
                        m <- minOff.[j]
                        if m <= fl then x <- ms.Length
                    x <- x + 1
                if m <> Int64.MaxValue && fl < m then
                    secTrail.Add(struct (sct, floor.[sct]))
                    floor.[sct] <- m
                // staircase: the unplaced buffers whose lowest offset is >= h lie disjointly in [h, capacity)
                if opts.StaircaseInference && not staircaseFail then
                    let f = max off floor.[sct]
                    let mutable count = 0
                    for j in secBuffers.[sct] do
                        if offset.[j] < 0L then
                            lows.[count] <- max f minOff.[j]
                            sizes.[count] <- size.[j]
                            count <- count + 1
                    if count > 1 then
                        Array.Sort(lows, sizes, 0, count)
                        let mutable sum = 0L
                        let mutable q = count - 1
                        while q >= 0 && not staircaseFail do
                            sum <- sum + sizes.[q]
                            if lows.[q] + sum > capacity then staircaseFail <- true
                            q <- q - 1

        let unplace (b: int) (offMark: int) (secMark: int) =
            for t in secTrail.Count - 1 .. -1 .. secMark do
                let struct (sct, v) = secTrail.[t]
                floor.[sct] <- v
            secTrail.RemoveRange(secMark, secTrail.Count - secMark)
            for t in offTrail.Count - 1 .. -1 .. offMark do
                let struct (j, v) = offTrail.[t]
                minOff.[j] <- v
            offTrail.RemoveRange(offMark, offTrail.Count - offMark)
            for k in first.[b] .. first.[b + 1] - 1 do
                let bytes = pieces.[k].Hi - pieces.[k].Lo
                for sct in pLo.[k] .. pHi.[k] - 1 do total.[sct] <- total.[sct] + bytes
            offset.[b] <- -1L

        /// Section inference after placing b at off under the node f (proofs/exact-search.md, Lemma 3). Only the
        /// sections whose floor or total changed (b's and the affected ones) can newly fail floor + total <= capacity;
        /// off + total <= capacity is checked on the whole context only when off + f.TotalBound exceeds the capacity,
        /// and that scan leaves the exact largest total in childBound.
        let check (f: Frame) (b: int) (off: int64) : bool =
            let mutable ok = not staircaseFail
            childBound <- f.TotalBound
            if not opts.SectionInference then
                let mutable sct = f.Lo
                while ok && sct < f.Hi do
                    if total.[sct] > 0L && max off floor.[sct] > capacity then ok <- false
                    sct <- sct + 1
            else
                let inline fails sct = total.[sct] > 0L && max off floor.[sct] + total.[sct] > capacity
                let mutable sct = sLo.[b]
                while ok && sct < sHi.[b] do
                    if fails sct then ok <- false
                    sct <- sct + 1
                sct <- affLo
                while ok && sct < affHi do
                    if fails sct then ok <- false
                    sct <- sct + 1
                if ok && off + f.TotalBound > capacity then
                    let mutable most = 0L
                    sct <- f.Lo
                    while ok && sct < f.Hi do
                        let t = total.[sct]
                        if t > 0L && max off floor.[sct] + t > capacity then ok <- false
                        if t > most then most <- t
                        sct <- sct + 1
                    childBound <- most
            ok

        /// Removes b's crossings from the cuts; true when some boundary in b's span has no unplaced crossing left.
        let cut (b: int) : bool =
            let mutable split = false
            for k in sLo.[b] .. sHi.[b] - 2 do
                cuts.[k] <- cuts.[k] - 1
                if cuts.[k] = 0 then split <- true
            split

        let uncut (b: int) =
            for k in sLo.[b] .. sHi.[b] - 2 do cuts.[k] <- cuts.[k] + 1

        do
            if n = 0 then answer <- ValueSome(Fits { Offsets = [||] })
            elif total |> Array.exists (fun t -> t > capacity) then answer <- ValueSome DoesNotFit
            else
                let all = Array.init n id
                pushParts (if opts.Decomposition then parts 0 nSec all else [| 0, nSec, all |])

        /// Search nodes used so far (placements tried).
        member _.Nodes = nodes

        /// The problem searched.
        member _.Problem = problem

        /// The answer once the search has one: Fits (a plan under the capacity, not yet validated) or DoesNotFit
        /// (every branch explored); None while it is unfinished.
        member _.Answer = match answer with ValueSome r -> Some r | ValueNone -> None

        /// Searches on until a decisive answer, until Nodes reaches `limit`, or until the token is cancelled
        /// (checked every 256 nodes); Unknown in the last two cases, after which Advance may be called again.
        member _.Advance(limit: int64, cancellation: CancellationToken) : ExactResult =
            let mutable ret = NoAnswer
            let mutable paused = false
            while answer.IsNone && not paused do
                if depth = 0 then
                    answer <- ValueSome(if ret = Found then Fits { Offsets = Array.copy solution }
                                        elif prepared.Incomplete then Unknown else DoesNotFit)
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
                            let mutable most = 0L
                            for sct in a .. z - 1 do most <- max most total.[sct]
                            pushNode a z order rank 0L -1 null -1 most
                else
                    let mutable searching = true
                    if f.Child >= 0 then
                        // back from the child placed last
                        let b = f.Child
                        f.Child <- -1
                        if opts.Decomposition then uncut b
                        unplace b f.OffMark f.SecMark
                        if ret = Found || (opts.Hatless && f.Hatless) then searching <- false
                        else ret <- NoAnswer
                    if searching then
                        let mutable pushed = false
                        while not pushed && not paused && f.Next < f.CandCount do
                            let b = cand.[f.CandStart + f.Next]
                            let off = minOff.[b]
                            if opts.Dominance && off >= f.MinHeight then f.Next <- f.CandCount // sorted by offset: the rest are dominated too
                            elif opts.CanonicalOnly && (off < f.LastOff || (off = f.LastOff && f.Rank.[b] < f.LastRank)) then f.Next <- f.Next + 1
                            elif off + size.[b] > capacity then f.Next <- f.Next + 1
                            elif nodes >= limit || ((nodes &&& 255L) = 0L && cancellation.IsCancellationRequested) then paused <- true
                            else
                                nodes <- nodes + 1L
                                f.Next <- f.Next + 1
                                let offMark, secMark = offTrail.Count, secTrail.Count
                                place b off
                                if check f b off then
                                    f.Child <- b
                                    f.OffMark <- offMark
                                    f.SecMark <- secMark
                                    f.Hatless <- not hat
                                    if opts.Decomposition && cut b then pushParts (parts f.Lo f.Hi f.Order)
                                    else pushNode f.Lo f.Hi f.Order f.Rank off f.Rank.[b] f b childBound
                                    pushed <- true
                                else unplace b offMark secMark
                        if not pushed && not paused then
                            // a node without candidates is a leaf: every buffer of its context is placed
                            ret <- (if f.CandCount = 0 then Found else NotFound)
                            pop ()
                    else pop ()
            match answer with
            | ValueSome r -> r
            | ValueNone -> Unknown

    /// Interleaves one probe per preorder, `options.Slice` nodes per turn, each resumed where it stopped, until one
    /// answers decisively, options.NodeLimit nodes are spent in all or the search is cancelled.
    let private run (options: ExactOptions) (capacity: int64) (prepared: Prepared) : ExactResult * int64 =
        let preorders = if options.Preorders.IsEmpty then [ "WAT" ] else options.Preorders
        let probes = preorders |> List.map (fun p -> Probe(prepared, capacity, options, p)) |> Array.ofList
        let slice = max 1L options.Slice
        let mutable used = 0L
        let mutable result = None
        while result.IsNone do
            let mutable k = 0
            while result.IsNone && k < probes.Length do
                let probe = probes.[k]
                let room = options.NodeLimit - used
                if room <= 0L || options.Cancellation.IsCancellationRequested then result <- Some Unknown
                else
                    let before = probe.Nodes
                    let r = probe.Advance(before + min slice room, options.Cancellation)
                    used <- used + (probe.Nodes - before)
                    match r with
                    | Unknown when probe.Answer.IsSome -> result <- Some Unknown // exhausted without a proof (gaps)
                    | Unknown -> ()
                    | r -> result <- Some r
                k <- k + 1
        result.Value, used

    /// The plan the minimization starts from when given no hint: each buffer, largest first, at the lowest aligned
    /// offset free among its placed time neighbours (Placement.placeInOrder with Fit.First). Valid, O(n log n).
    let initialPlan (problem: Problem) : Plan =
        let order = problem |> Placement.orderBy (fun a b -> let c = compare b.Size a.Size in if c <> 0 then c else compare a.Lifetime.Start b.Lifetime.Start)
        Placement.placeInOrder Fit.First order problem

    let private checkPlan (problem: Problem) (capacity: int64) (plan: Plan) =
        match Validate.plan problem (Some capacity) plan with
        | [] -> plan
        | v :: _ -> failwithf "Exact search produced an invalid plan: %s" (Violation.describe v)

    /// Decides whether the buffers fit under the capacity (bytes): Fits with a validated plan, DoesNotFit (proven), or Unknown.
    let decide (options: ExactOptions) (capacity: int64) (problem: Problem) : ExactResult =
        match fst (run options capacity (Prepared problem)) with
        | Fits plan -> Fits (checkPlan problem capacity plan)
        | r -> r

    /// Like decide, also returning the search nodes used.
    let decideCounting (options: ExactOptions) (capacity: int64) (problem: Problem) : ExactResult * int64 =
        let r, nodes = run options capacity (Prepared problem)
        (match r with Fits plan -> Fits (checkPlan problem capacity plan) | r -> r), nodes

    /// Advances a probe by at most `nodes` more search nodes (see Probe.Advance); a Fits plan is validated under the
    /// probe's capacity (an invalid one throws). Returns the answer and the nodes this call used.
    let resume (probe: Probe) (capacity: int64) (nodes: int64) (cancellation: CancellationToken) : ExactResult * int64 =
        let before = probe.Nodes
        let limit = if nodes > Int64.MaxValue - before then Int64.MaxValue else before + nodes
        let r = probe.Advance(limit, cancellation)
        (match r with Fits plan -> Fits (checkPlan probe.Problem capacity plan) | r -> r), probe.Nodes - before

    /// Decides a capacity with one search per preorder in parallel threads (a portfolio: the first decisive answer
    /// cancels the others); with one preorder, the sequential search. Sound like decide; which plan wins a race between
    /// two fitting searches may vary from run to run.
    let decideParallel (options: ExactOptions) (capacity: int64) (problem: Problem) : ExactResult =
        if options.Preorders.Length <= 1 then decide options capacity problem
        else
            use cts = CancellationTokenSource.CreateLinkedTokenSource(options.Cancellation)
            let tasks =
                options.Preorders
                |> List.map (fun preorder ->
                    System.Threading.Tasks.Task.Run(fun () ->
                        let r = decide { options with Preorders = [ preorder ]; Cancellation = cts.Token } capacity problem
                        (match r with
                         | Unknown -> ()
                         | _ -> cts.Cancel())
                        r))
                |> Array.ofList
            System.Threading.Tasks.Task.WaitAll(tasks |> Array.map (fun t -> t :> System.Threading.Tasks.Task))
            tasks |> Array.map (fun t -> t.Result)
            |> Array.tryFind (function Unknown -> false | _ -> true)
            |> Option.defaultValue Unknown

    /// The granularity of canonical peaks: every canonical offset and peak is a multiple of the gcd of all sizes and
    /// alignments, and with gaps and pins (Gaps) of the windows' bounds and the pinned offsets.
    let granularity (problem: Problem) : int64 =
        problem.Buffers
        |> Array.fold (fun g b ->
            let g = Numbers.gcd (Numbers.gcd g b.Size) (if b.Alignment > 1L then b.Alignment else 0L)
            let g = match b.Pinned with Some p -> Numbers.gcd g p | None -> g
            b.Gaps |> Array.fold (fun g gap -> match gap.Window with Some w -> Numbers.gcd (Numbers.gcd g w.Lo) w.Hi | None -> g) g) 0L
        |> max 1L

    /// Minimizes the peak, reporting (best peak, proven bound) after every decision: the lower bound first, then bisection
    /// on the capacity between the proven lower bound and the best peak (from the hint or first fit). Rounds with a doubling
    /// node budget per decision (options.NodeLimit when finite: one round). Stops when optimal or cancelled.
    /// The decision procedure is a parameter (decide: options -> capacity -> problem -> result and nodes used), so that a
    /// caller can run a parallel portfolio; it must be sound (Fits only with a valid plan, DoesNotFit only with a proof).
    let minimizeWith (decide: ExactOptions -> int64 -> Problem -> ExactResult * int64) (options: ExactOptions) (hint: Plan option)
                     (progress: int64 -> int64 -> unit) (problem: Problem) : ExactMinimum =
        let start =
            match hint with
            | Some h when Validate.isValid problem h -> h
            | _ -> initialPlan problem
        let g = granularity problem
        let roundUp v = ((v + g - 1L) / g) * g
        // every canonical peak, hence the optimum, is a multiple of g: below a peak p the next candidate is the largest
        // multiple of g under p (not p - g, which misses it when p is off the grid), and a proof that c does not fit
        // moves the bound to the next multiple of g above c, `above c` (proofs/exact-search.md, Lemma 1)
        let below p = ((p - 1L) / g) * g
        let above c = (c / g) * g + g
        let mutable best = start
        let mutable peak = Plan.peak problem start
        let mutable lower = roundUp (Bounds.lowerBound problem)
        let mutable nodes = 0L
        let finite = options.NodeLimit <> Int64.MaxValue
        let mutable limit = if finite then options.NodeLimit else 100_000L
        let mutable rounds = true
        progress peak (min lower peak)
        while rounds && lower < peak && not options.Cancellation.IsCancellationRequested do
            // bisection on [lo, peak): lo only moves up; a proof of DoesNotFit also moves the proven lower bound
            let mutable lo = lower
            let mutable first = true
            // a round where no decision ran out of nodes cannot gain from a larger budget (an exhausted search that
            // proves nothing, as with gaps whose distances are <= 0, answers Unknown every time)
            let mutable cut = false
            while lo < peak && not options.Cancellation.IsCancellationRequested do
                let cap = if first then lo else min (below peak) (roundUp (lo + (below peak - lo) / 2L))
                first <- false
                // the lower bound is the usual optimum: it gets four times the budget of a bisection step
                let budget = if cap = lower && limit < Int64.MaxValue / 4L then 4L * limit else limit
                let r, used = decide { options with NodeLimit = budget } cap problem
                nodes <- nodes + used
                match r with
                | Fits plan ->
                    best <- plan
                    peak <- Plan.peak problem plan
                | DoesNotFit ->
                    lower <- max lower (above cap)
                    lo <- above cap
                | Unknown ->
                    if used >= budget then cut <- true
                    lo <- above cap
                progress peak (min lower peak)
            if finite || not cut then rounds <- false else limit <- limit * 4L
        { Best = best; Peak = peak; LowerBound = min lower peak; Optimal = lower >= peak; Nodes = nodes }

    /// Minimizes the peak with the sequential decision procedure (see minimizeWith).
    let minimizeWithProgress (options: ExactOptions) (hint: Plan option) (progress: int64 -> int64 -> unit) (problem: Problem) : ExactMinimum =
        minimizeWith decideCounting options hint progress problem

    /// Minimizes the peak (see minimizeWith) without progress reports.
    let minimize (options: ExactOptions) (hint: Plan option) (problem: Problem) : ExactMinimum =
        minimizeWithProgress options hint (fun _ _ -> ()) problem
