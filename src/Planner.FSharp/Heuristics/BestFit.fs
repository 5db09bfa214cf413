namespace Pgmo.Planner

open System.Collections.Generic

/// The skyline best-fit heuristic of Sekiyama et al. 2018 (after Burke et al.'s best-fit for 2D strip packing).
///
/// A skyline over time holds, for every step, the height below which addresses are taken for good. It starts as one
/// segment over all steps at height 0. Repeatedly the lowest segment (leftmost on ties) [a, b) at height h is taken;
/// among the unplaced buffers whose whole lifetime lies inside [a, b) the best is placed at h, and its span of the
/// segment is raised to its top. When no buffer fits, the segment is lifted to the lower of its neighbours' heights and
/// merged with it. Neighbouring segments never have equal heights.
///
/// Alignment: a buffer is placed at h rounded up to its alignment; the padding between h and that offset is lost on
/// its whole span (the skyline only rises), so an aligned buffer may leave a hole. Candidates are not filtered or
/// ranked by padding: the paper's rule is kept and alignment only moves the chosen buffer up.
[<RequireQualifiedAccess>]
module BestFit =

    /// The rank-independent part of the best-fit index, built once per problem and shared by every ranking:
    /// positions are the buffers in start order; the block of positions [j 2^k, (j+1) 2^k) at level k holds its
    /// buffers sorted by (end, index). O(n log n) memory and time.
    type internal Shape(axis: TimeAxis) =
        let problem = axis.Problem
        let bs = problem.Buffers
        let n = bs.Length
        let starts = bs |> Array.map (fun b -> b.Lifetime.Start)
        let ends = bs |> Array.map (fun b -> b.Lifetime.End)
        let byStart = problem |> Placement.orderByKey (fun b -> b.Lifetime.Start)
        let startPos = Array.zeroCreate n
        do byStart |> Array.iteri (fun p x -> startPos.[x] <- p)
        let levels =
            let mutable k = 1
            while (1 <<< (k - 1)) < n do k <- k + 1
            k
        let elems = Array.zeroCreate<int[]> levels
        // where.[x * levels + k]: x's index inside its level-k block (a buffer's levels side by side: a removal reads
        // one or two cache lines, not one per level)
        let where = Array.zeroCreate<int> (n * levels)
        do
            elems.[0] <- Array.copy byStart
            for k in 1 .. levels - 1 do
                let src = elems.[k - 1]
                let dst = Array.zeroCreate n
                let half = 1 <<< (k - 1)
                let mutable off = 0
                while off < n do
                    let stop = min (off + (1 <<< k)) n
                    let mid = min (off + half) n
                    let mutable i, j, o = off, mid, off
                    while o < stop do
                        if j >= stop || (i < mid && (ends.[src.[i]] < ends.[src.[j]] || (ends.[src.[i]] = ends.[src.[j]] && src.[i] < src.[j]))) then
                            dst.[o] <- src.[i]
                            i <- i + 1
                        else
                            dst.[o] <- src.[j]
                            j <- j + 1
                        o <- o + 1
                    off <- off + (1 <<< k)
                elems.[k] <- dst
            for k in 0 .. levels - 1 do
                let e = elems.[k]
                for o in 0 .. n - 1 do where.[e.[o] * levels + k] <- o - ((o >>> k) <<< k)
        member _.Problem = problem
        member _.Axis = axis
        member _.Count = n
        member _.Levels = levels
        member _.Starts = starts
        member _.Ends = ends
        member _.SortedStarts = byStart |> Array.map (fun x -> starts.[x])
        member _.StartPos = startPos
        member _.Elems = elems
        /// Where.[x * Levels + k]: the index of buffer x inside its level-k block of Elems.
        member _.Where = where
        member _.MinStart = if n = 0 then 0L else Array.min starts
        member _.MaxEnd = if n = 0 then 0L else Array.max ends

    /// Answers "the best-ranked unplaced buffer with start >= a and end <= b" and removes buffers: each block of the
    /// shape carries an iterative min-segment tree of ranks (removed = Int32.MaxValue). A query takes O(log n)
    /// canonical blocks, each a binary search on end plus a prefix-min: O(log² n); a removal O(log² n).
    type private Index(shape: Shape, rank: int[]) =
        let n = shape.Count
        let levels = shape.Levels
        let ends = shape.Ends
        let sortedStarts = shape.SortedStarts
        let elems = shape.Elems
        let blockLength k off = min (1 <<< k) (n - off)
        // trees.[k]: per block of length len at offset off, the tree in 2 off + 1 .. 2 off + 2 len, leaves at 2 off + len + i
        let trees =
            Array.init levels (fun k ->
                let e = elems.[k]
                let t = Array.create (2 * n) System.Int32.MaxValue
                let mutable off = 0
                while off < n do
                    let len = blockLength k off
                    let b = 2 * off
                    for i in 0 .. len - 1 do t.[b + len + i] <- rank.[e.[off + i]]
                    for i in len - 1 .. -1 .. 1 do t.[b + i] <- min t.[b + 2 * i] t.[b + 2 * i + 1]
                    off <- off + (1 <<< k)
                t)

        /// The first position whose start is >= s.
        let firstStartAtLeast (s: int64) =
            let mutable lo, hi = 0, n
            while lo < hi do
                let m = (lo + hi) >>> 1
                if sortedStarts.[m] < s then lo <- m + 1 else hi <- m
            lo

        /// The min rank in block (k, j) among buffers whose end is <= b.
        let blockMin k j (b: int64) =
            let off = j <<< k
            let len = blockLength k off
            let e = elems.[k]
            let mutable lo, hi = 0, len
            while lo < hi do
                let m = (lo + hi) >>> 1
                if ends.[e.[off + m]] <= b then lo <- m + 1 else hi <- m
            let t = trees.[k]
            let bas = 2 * off
            let mutable res = System.Int32.MaxValue
            let mutable l = len
            let mutable r = lo + len
            while l < r do
                if l &&& 1 = 1 then
                    res <- min res t.[bas + l]
                    l <- l + 1
                if r &&& 1 = 1 then
                    r <- r - 1
                    res <- min res t.[bas + r]
                l <- l >>> 1
                r <- r >>> 1
            res

        /// The smallest rank of an unplaced buffer with a <= start and end <= b, or Int32.MaxValue when none.
        member _.Best(a: int64, b: int64) =
            let mutable l = firstStartAtLeast a
            let mutable r = firstStartAtLeast b
            let mutable k = 0
            let mutable res = System.Int32.MaxValue
            while l < r do
                if l &&& 1 = 1 then
                    res <- min res (blockMin k l b)
                    l <- l + 1
                if r &&& 1 = 1 then
                    r <- r - 1
                    res <- min res (blockMin k r b)
                l <- l >>> 1
                r <- r >>> 1
                k <- k + 1
            res

        /// Marks buffer x as placed.
        member _.Remove(x: int) =
            let p = shape.StartPos.[x]
            let where = shape.Where
            for k in 0 .. levels - 1 do
                let off = (p >>> k) <<< k
                let len = blockLength k off
                let t = trees.[k]
                let bas = 2 * off
                let mutable q = where.[x * levels + k] + len
                t.[bas + q] <- System.Int32.MaxValue
                // up the block's tree while the minimum changes (above, x's rank was not the minimum)
                let mutable changed = true
                while changed && q > 1 do
                    q <- q >>> 1
                    let m = min t.[bas + 2 * q] t.[bas + 2 * q + 1]
                    if t.[bas + q] = m then changed <- false else t.[bas + q] <- m

    /// Best-fit on a shape with a ranking (a permutation, 0 = preferred): writes offsets and returns true, or returns
    /// false as soon as a top exceeds `limit` (offsets then partly written).

    /// The skyline parts [Starts.[j], Ends.[j]) at Heights.[j], j < Count, that one placement leaves over its segment,
    /// in step order: room for `capacity` (two per piece of the buffer, and one).
    [<Sealed>]
    type private Parts(capacity: int) =
        member val Starts : int64[] = Array.zeroCreate capacity
        member val Ends : int64[] = Array.zeroCreate capacity
        member val Heights : int64[] = Array.zeroCreate capacity
        member val Count = 0 with get, set
        /// Appends [s, e) at `height`, merged with the last part when their heights are equal; an empty interval adds
        /// nothing.
        member this.Emit(s: int64, e: int64, height: int64) =
            if s < e then
                let c = this.Count
                if c > 0 && this.Heights.[c - 1] = height then this.Ends.[c - 1] <- e
                else
                    this.Starts.[c] <- s
                    this.Ends.[c] <- e
                    this.Heights.[c] <- height
                    this.Count <- c + 1
    let internal place (shape: Shape) (rank: int[]) (limit: int64) (offsets: int64[]) : bool =
        let bs = shape.Problem.Buffers
        let n = shape.Count
        let byRank = Array.create n -1
        rank |> Array.iteri (fun i r ->
            if r < 0 || r >= n || byRank.[r] >= 0 then invalidArg (nameof rank) "ranks must be a permutation of 0 .. n-1"
            byRank.[r] <- i)
        let index = Index(shape, rank)
        // the skyline: a doubly linked list of segments; a segment id is never reused after it dies
        let segStart = ResizeArray<int64>()
        let segEnd = ResizeArray<int64>()
        let segHeight = ResizeArray<int64>()
        let prev = ResizeArray<int>()
        let next = ResizeArray<int>()
        let alive = ResizeArray<bool>()
        let queue = PriorityQueue<int, struct (int64 * int64)>()
        let create s e h p q =
            let id = segStart.Count
            segStart.Add s; segEnd.Add e; segHeight.Add h; prev.Add p; next.Add q; alive.Add true
            if p >= 0 then next.[p] <- id
            if q >= 0 then prev.[q] <- id
            queue.Enqueue(id, struct (h, s))
            id
        if n > 0 then create shape.MinStart shape.MaxEnd 0L -1 -1 |> ignore
        let mutable placed = 0
        let mutable ok = true
        let axis = shape.Axis
        let gapped = axis.HasGaps
        let first, pieces = if gapped then axis.First, axis.Pieces else null, null
        let mutable most = 1
        if gapped then for x in 0 .. n - 1 do most <- max most (first.[x + 1] - first.[x])
        let parts = Parts(2 * most + 1)
        while ok && placed < n do
            let seg = queue.Dequeue()
            if alive.[seg] then
                alive.[seg] <- false
                let a, b, h, p, q = segStart.[seg], segEnd.[seg], segHeight.[seg], prev.[seg], next.[seg]
                let best = index.Best(a, b)
                if best <> System.Int32.MaxValue then
                    let x = byRank.[best]
                    let buf = bs.[x]
                    let off = Numbers.alignUp buf.Alignment h
                    let top = Checked.(+) off buf.Size
                    offsets.[x] <- off
                    if top > limit then ok <- false
                    index.Remove x
                    placed <- placed + 1
                    // the segment's steps from a to b: at h, but each piece of x raised to off + its top byte (the
                    // bytes below a raised window count as taken); equal neighbours merged
                    parts.Count <- 0
                    if gapped then
                        let mutable t = a
                        for k in first.[x] .. first.[x + 1] - 1 do
                            let piece = pieces.[k]
                            parts.Emit(t, piece.Start, h)
                            parts.Emit(piece.Start, piece.End, off + piece.Hi)
                            t <- piece.End
                        parts.Emit(t, b, h)
                    else
                        // without gaps the one piece is the lifetime, all bytes (read from the buffer at hand)
                        parts.Emit(a, buf.Lifetime.Start, h)
                        parts.Emit(buf.Lifetime.Start, buf.Lifetime.End, top)
                        parts.Emit(buf.Lifetime.End, b, h)
                    let starts, ends, heights = parts.Starts, parts.Ends, parts.Heights
                    let mutable startAt, before = starts.[0], p
                    if p >= 0 && segHeight.[p] = heights.[0] then
                        alive.[p] <- false
                        startAt <- segStart.[p]
                        before <- prev.[p]
                    let last = parts.Count - 1
                    let mutable endAt, after = ends.[last], q
                    if q >= 0 && segHeight.[q] = heights.[last] then
                        alive.[q] <- false
                        endAt <- segEnd.[q]
                        after <- next.[q]
                    let mutable link = before
                    for j in 0 .. last do
                        let sj = if j = 0 then startAt else starts.[j]
                        let ej = if j = last then endAt else ends.[j]
                        link <- create sj ej heights.[j] link (if j = last then after else -1)
                else
                    if p < 0 && q < 0 then failwith "BestFit: a segment over all steps admits no buffer"
                    let hp = if p >= 0 then segHeight.[p] else System.Int64.MaxValue
                    let hq = if q >= 0 then segHeight.[q] else System.Int64.MaxValue
                    let lifted = min hp hq
                    let mutable s, pp = a, p
                    if hp = lifted then
                        alive.[p] <- false
                        s <- segStart.[p]
                        pp <- prev.[p]
                    let mutable e, qq = b, q
                    if hq = lifted then
                        alive.[q] <- false
                        e <- segEnd.[q]
                        qq <- next.[q]
                    create s e lifted pp qq |> ignore
        ok

    /// The skyline's plan with a given preference on a time axis: rank.[i] is buffer i's place in the preference
    /// order (0 = placed first among candidates); ranks must be a permutation of 0 .. n-1. Honours gaps (a piece raises
    /// the skyline only on its own steps), not pins. O(n log² n).
    let internal skyline (rank: int[]) (axis: TimeAxis) : Plan =
        if rank.Length <> axis.Buffers then invalidArg (nameof rank) "one rank per buffer"
        let offsets = Array.zeroCreate axis.Buffers
        place (Shape axis) rank System.Int64.MaxValue offsets |> ignore
        { Offsets = offsets }

    /// Best-fit with a given preference: rank.[i] is buffer i's place in the preference order (0 = placed first
    /// among candidates); ranks must be a permutation of 0 .. n-1. Returns a valid plan (pins kept: Placement.keepPins).
    /// O(n log² n).
    let planRanked (rank: int[]) (problem: Problem) : Plan =
        let axis = TimeAxis problem
        Placement.keepPins axis (skyline rank axis)

    /// The ranks of the buffers under a comparison (negative = first preferred); ties beyond it go by problem order.
    let ranksBy (compare: Buffer -> Buffer -> int) (problem: Problem) : int[] =
        let order = problem |> Placement.orderBy compare
        let rank = Array.zeroCreate order.Length
        order |> Array.iteri (fun r x -> rank.[x] <- r)
        rank

    /// Best-fit preferring buffers by a comparison (negative = first preferred); ties beyond it go by problem order.
    let planWith (compare: Buffer -> Buffer -> int) (problem: Problem) : Plan =
        planRanked (ranksBy compare problem) problem

    /// The paper's rule on two buffers' lifetime lengths, sizes and starts (negative = x first): the one place it is
    /// written, for paperRule and paperRanks.
    let inline private comparePaper (lx: int64) (sx: int64) (tx: int64) (ly: int64) (sy: int64) (ty: int64) : int =
        if lx <> ly then compare ly lx
        elif sx <> sy then compare sy sx
        else compare tx ty

    /// The paper's rule: longest lifetime first, then largest size, then earliest start (then problem order).
    let paperRule (x: Buffer) (y: Buffer) : int =
        comparePaper (x.Lifetime.End - x.Lifetime.Start) x.Size x.Lifetime.Start
                     (y.Lifetime.End - y.Lifetime.Start) y.Size y.Lifetime.Start

    /// A buffer's keys under paperRule, and its index for ties.
    [<Struct>]
    type private PaperKey = { Length: int64; Size: int64; Start: int64; Index: int }

    /// paperRule on keys, ties by index.
    [<Sealed>]
    type private PaperOrder() =
        interface IComparer<PaperKey> with
            member _.Compare(x, y) =
                let c = comparePaper x.Length x.Size x.Start y.Length y.Size y.Start
                if c <> 0 then c else compare x.Index y.Index

    /// The ranks of `ranksBy paperRule`, from one sort of the buffers' keys (no comparison reads a buffer).
    let paperRanks (problem: Problem) : int[] =
        let bs = problem.Buffers
        let keys =
            bs |> Array.mapi (fun i b ->
                { Length = b.Lifetime.End - b.Lifetime.Start; Size = b.Size; Start = b.Lifetime.Start; Index = i })
        System.Array.Sort(keys, PaperOrder())
        let rank = Array.zeroCreate bs.Length
        keys |> Array.iteri (fun r k -> rank.[k.Index] <- r)
        rank

    /// The paper's best-fit plan of a time axis's problem (paperRule): valid, O(n log² n) time, O(n log n) memory.
    /// Gaps free the skyline on their steps, so later buffers use the bytes they free; pinned buffers stay at their
    /// pins and the others come down around them (Placement.keepPins).
    let planOn (axis: TimeAxis) : Plan =
        Placement.keepPins axis (skyline (paperRanks axis.Problem) axis)

    /// The paper's best-fit plan (planOn the problem's time axis).
    let plan (problem: Problem) : Plan = planOn (TimeAxis problem)
