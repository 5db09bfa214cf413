namespace Pgmo.Planner

/// Which caching allocator a pool follows (docs/cli.md, "The pool baseline, exactly" and "The torch-pool baseline").
/// Both hand out blocks of segments (device allocations) and share the mechanics of `CachingPool`: best fit by
/// (size, segment, offset), split, coalescing with free neighbours of the same segment. They differ only in the
/// four rules of the `PoolPolicy` module: rounding, which pool serves a size, the size of a new segment and when a
/// block is split.
[<RequireQualifiedAccess>]
type PoolPolicy =
    /// CuPy's memory pool, the paper's baseline (`pool`): a new segment of exactly the rounded size when nothing fits,
    /// every rest split off.
    | CuPy
    /// PyTorch's CUDA caching allocator with its default settings (`torch-pool`): a small pool (rounded sizes up to
    /// 1 MiB, 2 MiB segments) and a large pool (20 MiB segments below 10 MiB, else the size rounded up to 2 MiB).
    | Torch
    /// The policy's name on the command line: `pool` or `torch-pool`.
    member p.Name =
        match p with
        | CuPy -> "pool"
        | Torch -> "torch-pool"

/// The rules of each pool policy, in one place.
[<RequireQualifiedAccess>]
module PoolPolicy =

    /// Every request rounds up to a multiple of this (at least this), so every block offset is one too.
    [<Literal>]
    let BlockAlignment = 512L

    let private mib = 1024L * 1024L

    /// The policy's name on the command line: `pool` or `torch-pool`.
    let name (policy: PoolPolicy) : string = policy.Name

    /// The policy named (`pool`, `torch-pool`), if any.
    let tryParse (name: string) : PoolPolicy option =
        match name with
        | "pool" -> Some PoolPolicy.CuPy
        | "torch-pool" -> Some PoolPolicy.Torch
        | _ -> None

    /// A request of `size` bytes (> 0) rounded up to a multiple of 512 bytes: the bytes the block needs.
    let round (size: int64) : int64 = max BlockAlignment (Numbers.alignUp BlockAlignment size)

    /// The pool (0 or 1) that serves a rounded size: CuPy has one; PyTorch's small pool (0) takes sizes up to 1 MiB.
    let poolOf (policy: PoolPolicy) (rounded: int64) : int =
        match policy with
        | PoolPolicy.CuPy -> 0
        | PoolPolicy.Torch -> if rounded <= mib then 0 else 1

    /// The size of the new segment made for a rounded size when no free block fits.
    let segmentSize (policy: PoolPolicy) (rounded: int64) : int64 =
        match policy with
        | PoolPolicy.CuPy -> rounded
        | PoolPolicy.Torch ->
            if rounded <= mib then 2L * mib
            elif rounded < 10L * mib then 20L * mib
            else Numbers.alignUp (2L * mib) rounded

    /// True when a free block of `pool` that is `rest` bytes larger than the rounded request is split (the rest stays
    /// free); false when the request takes the whole block. CuPy always splits; PyTorch when the rest is at least
    /// 512 B (small pool) or more than 1 MiB (large pool).
    let shouldSplit (policy: PoolPolicy) (pool: int) (rest: int64) : bool =
        match policy with
        | PoolPolicy.CuPy -> rest > 0L
        | PoolPolicy.Torch -> if pool = 0 then rest >= BlockAlignment else rest > mib

/// One block a `CachingPool` handed out.
[<Struct>]
type PoolBlock =
    { /// The segment holding it: 0-based, in creation order.
      Segment: int
      /// Its offset inside the segment, a multiple of 512.
      Offset: int64
      /// The bytes it takes: the rounded request, or the whole free block when the rest was not split off.
      Length: int64
      /// The pool's handle of the block (for Free).
      Chunk: int }

/// A caching allocator's state under a policy, incremental: every Allocate and Free is one event, O(log n) each.
/// Segments are numbered in creation order and never renumbered; a segment given back by `ReleaseCached` keeps its
/// number. The one implementation of both pools: the planner simulates traces with it and the runtime's pool
/// allocators map its blocks to device memory.
[<Sealed>]
type CachingPool(policy: PoolPolicy) =
    // chunks by index: segment (-1 once merged away), offset inside it, length, free?, neighbours in the segment (-1 = none)
    let seg, off, len = ResizeArray<int>(), ResizeArray<int64>(), ResizeArray<int64>()
    let isFree = ResizeArray<bool>()
    let prev, next = ResizeArray<int>(), ResizeArray<int>()
    let dead = System.Collections.Generic.Stack<int>()   // chunk indices merged away, for reuse
    // free chunks of each pool ordered by (length, segment, offset): the minimum at or above a size is the best fit
    let freeSets = Array.init 2 (fun _ -> System.Collections.Generic.SortedSet<struct (int64 * int * int64 * int)>())
    let segmentSizes = ResizeArray<int64>()
    let segmentPools = ResizeArray<int>()
    let released = ResizeArray<bool>()
    let mutable reserved = 0L
    let mutable inUse = 0L

    let newChunk s o l p nx =
        if dead.Count > 0 then
            let c = dead.Pop()
            seg.[c] <- s; off.[c] <- o; len.[c] <- l; isFree.[c] <- false; prev.[c] <- p; next.[c] <- nx
            c
        else
            seg.Add s; off.Add o; len.Add l; isFree.Add false; prev.Add p; next.Add nx
            seg.Count - 1
    let key c = struct (len.[c], seg.[c], off.[c], c)
    let markFree c =
        isFree.[c] <- true
        freeSets.[segmentPools.[seg.[c]]].Add(key c) |> ignore
    let unmarkFree c =
        isFree.[c] <- false
        freeSets.[segmentPools.[seg.[c]]].Remove(key c) |> ignore
    let bury c =
        seg.[c] <- -1
        dead.Push c
    /// Merges chunk `gone` into its previous neighbour `keep` (both out of the free sets).
    let absorb keep gone =
        len.[keep] <- len.[keep] + len.[gone]
        next.[keep] <- next.[gone]
        if next.[gone] >= 0 then prev.[next.[gone]] <- keep
        bury gone
    /// The best-fit free chunk of a pool for a rounded size, or -1.
    let bestFit (pool: int) (need: int64) =
        let set = freeSets.[pool]
        if set.Count = 0 then -1
        else
            let top = set.Max
            let struct (largest, _, _, _) = top
            if largest < need then -1
            else
                let struct (_, _, _, c) = set.GetViewBetween(struct (need, 0, 0L, 0), top).Min
                c

    /// The policy this pool follows.
    member _.Policy = policy
    /// Bytes of the segments held now (the pool's reserved bytes).
    member _.Reserved = reserved
    /// Bytes of the blocks handed out and not freed.
    member _.InUse = inUse
    /// Number of segments made so far (released ones included).
    member _.SegmentCount = segmentSizes.Count
    /// The size of segment `segment` in bytes.
    member _.SegmentSize(segment: int) = segmentSizes.[segment]
    /// True when segment `segment` has been given back by `ReleaseCached`.
    member _.IsReleased(segment: int) = released.[segment]

    /// The bytes a new segment would add if `size` bytes were requested now: 0 when a cached free block fits. Lets a
    /// caller under a memory limit release cached segments (`ReleaseCached`) before the request passes the limit.
    member _.NewSegmentBytes(size: int64) : int64 =
        let need = PoolPolicy.round size
        if bestFit (PoolPolicy.poolOf policy need) need >= 0 then 0L else PoolPolicy.segmentSize policy need

    /// A block for a request of `size` bytes (> 0): the best-fit free block of its pool (ties: earliest segment, then
    /// lowest offset), split when the policy says so; with none, a new segment. Throws on a non-positive size.
    member _.Allocate(size: int64) : PoolBlock =
        if size <= 0L then invalidArg (nameof size) (sprintf "a pool request needs a positive size, got %d" size)
        let need = PoolPolicy.round size
        let pool = PoolPolicy.poolOf policy need
        let found = bestFit pool need
        let c =
            if found >= 0 then
                unmarkFree found
                found
            else
                let bytes = PoolPolicy.segmentSize policy need
                let s = segmentSizes.Count
                segmentSizes.Add bytes
                segmentPools.Add pool
                released.Add false
                reserved <- Checked.(+) reserved bytes
                newChunk s 0L bytes -1 -1
        let rest = len.[c] - need
        if rest > 0L && PoolPolicy.shouldSplit policy pool rest then
            let r = newChunk seg.[c] (off.[c] + need) rest c next.[c]
            if next.[c] >= 0 then prev.[next.[c]] <- r
            next.[c] <- r
            len.[c] <- need
            markFree r
        inUse <- inUse + len.[c]
        { Segment = seg.[c]; Offset = off.[c]; Length = len.[c]; Chunk = c }

    /// Takes a block back and merges it with the free neighbours of its segment. Throws when the block is not live.
    member _.Free(block: PoolBlock) : unit =
        let c = block.Chunk
        if c < 0 || c >= seg.Count || seg.[c] <> block.Segment || off.[c] <> block.Offset || isFree.[c] then
            invalidArg (nameof block) (sprintf "no live block at segment %d, offset %d" block.Segment block.Offset)
        inUse <- inUse - len.[c]
        // absorb a free next neighbour, then let a free previous neighbour absorb the result
        let n = next.[c]
        if n >= 0 && isFree.[n] then
            unmarkFree n
            absorb c n
        let p = prev.[c]
        if p >= 0 && isFree.[p] then
            unmarkFree p
            absorb p c
            markFree p
        else markFree c

    /// Gives back every segment that is wholly free (what both allocators do under memory pressure); returns their
    /// numbers in ascending order. Reserved bytes drop by their sizes.
    member _.ReleaseCached() : int[] =
        let whole = ResizeArray<int>()
        for set in freeSets do
            for struct (_, _, _, c) in set do
                if prev.[c] < 0 && next.[c] < 0 then whole.Add c
        let segments = whole |> Seq.map (fun c -> seg.[c]) |> Seq.sort |> Array.ofSeq
        for c in whole do
            let s = seg.[c]
            unmarkFree c
            released.[s] <- true
            reserved <- reserved - segmentSizes.[s]
            bury c
        segments

/// What a pool did with a sequence of requests.
type PoolTrace =
    { /// Largest reserved bytes (segments held) at any time: the pool's peak (segments are never given back here).
      Reserved: int64
      /// Number of segments (device allocations, cudaMalloc calls) made.
      Segments: int
      /// Largest total of block lengths live at once, in bytes (<= Reserved).
      PeakInUse: int64
      /// For each event, the virtual offset of the block it allocated (segments laid end to end in the order they
      /// were made), or -1 for a Free.
      Offsets: int64[]
      /// For each event, the length of the block it allocated, or 0 for a Free.
      Lengths: int64[]
      /// For each event, the segment holding its block, or -1 for a Free.
      SegmentOf: int[] }

/// A pool run on a problem.
type PoolResult =
    { /// Bytes of all segments: the pool's peak, which it is charged.
      Reserved: int64
      /// Number of segments made.
      Segments: int
      /// Largest total of block lengths live at once, in bytes.
      PeakInUse: int64
      /// Each buffer's offset in the virtual address space where segments lie end to end: the highest multiple of its
      /// alignment that keeps it inside its block, so the padding lies below it. Valid for the problem; Plan.peak is at
      /// most Reserved (for CuPy equal to it when sizes are multiples of their alignments: the block that opened the
      /// last segment ends at its end).
      Plan: Plan }

/// The pools as planners: a problem's request sequence replayed through a `CachingPool`.
[<RequireQualifiedAccess>]
module Pool =

    /// The bytes requested for a buffer: its size plus, when its alignment does not divide 512, the padding that lets
    /// it start at a multiple of its alignment inside a 512-aligned block (alignment - gcd(alignment, 512), e.g.
    /// alignment - 512 for a power of two above 512), before rounding.
    let requestSize (b: Buffer) : int64 =
        let a = max 1L b.Alignment
        Checked.(+) b.Size (a - Numbers.gcd a PoolPolicy.BlockAlignment)

    /// Replays requests through a pool of the policy. Throws on an Alloc of a live id or a Free of an id that is not
    /// live (the trace is wrong, not the pool).
    let simulateEvents (policy: PoolPolicy) (events: MemoryEvent[]) : PoolTrace =
        let pool = CachingPool(policy)
        let bases = ResizeArray<int64>()
        let mutable top = 0L
        let live = System.Collections.Generic.Dictionary<int, PoolBlock>()
        let offsets = Array.create events.Length -1L
        let lengths = Array.zeroCreate events.Length
        let owners = Array.create events.Length -1
        let mutable peakInUse = 0L
        for e in 0 .. events.Length - 1 do
            match events.[e] with
            | Alloc (id, size) ->
                if live.ContainsKey id then invalidArg (nameof events) (sprintf "event %d: id %d is already live" e id)
                let block = pool.Allocate size
                while bases.Count < pool.SegmentCount do
                    let s = bases.Count
                    bases.Add top
                    top <- Checked.(+) top (pool.SegmentSize s)
                live.[id] <- block
                offsets.[e] <- bases.[block.Segment] + block.Offset
                lengths.[e] <- block.Length
                owners.[e] <- block.Segment
                if pool.InUse > peakInUse then peakInUse <- pool.InUse
            | Free id ->
                match live.TryGetValue id with
                | true, block ->
                    live.Remove id |> ignore
                    pool.Free block
                | _ -> invalidArg (nameof events) (sprintf "event %d: Free of id %d, which is not live" e id)
        { Reserved = pool.Reserved; Segments = pool.SegmentCount; PeakInUse = peakInUse
          Offsets = offsets; Lengths = lengths; SegmentOf = owners }

    /// The request sequence of a problem: step by step, at each step the frees of buffers ending there (in problem
    /// order) before the allocations of buffers starting there (in problem order). Ids are buffer indices; sizes
    /// are `requestSize`.
    let events (problem: Problem) : MemoryEvent[] =
        let bs = problem.Buffers
        Sweep.endpoints problem
        |> Array.map (fun (struct (_, kind, i)) ->
            if kind = Sweep.Ends then MemoryEvent.Free i else MemoryEvent.Alloc(i, requestSize bs.[i]))

    /// Runs a pool on a problem: reserved bytes, segments, peak in use, and a valid aligned plan (see PoolResult.Plan).
    /// A buffer with alignment a sits at a multiple of a inside its block (whose start is a multiple of 512): padding
    /// from `requestSize` makes room for that.
    let simulate (policy: PoolPolicy) (problem: Problem) : PoolResult =
        let evs = events problem
        let trace = simulateEvents policy evs
        let offsets = Array.zeroCreate problem.Buffers.Length
        evs |> Array.iteri (fun e ev ->
            match ev with
            | Alloc (i, _) ->
                let b = problem.Buffers.[i]
                let a = max 1L b.Alignment
                let blockLo = trace.Offsets.[e]
                let blockHi = blockLo + trace.Lengths.[e]
                // at the top of its block, so the block that opened the last segment ends at Reserved
                let top = (blockHi - b.Size) / a * a
                offsets.[i] <- if top >= blockLo then top else Numbers.alignUp a blockLo
            | Free _ -> ())
        { Reserved = trace.Reserved; Segments = trace.Segments; PeakInUse = trace.PeakInUse
          Plan = { Offsets = offsets } }

    /// The pool's plan of a problem (see simulate); the pool's charged peak is always (simulate policy problem).Reserved.
    let plan (policy: PoolPolicy) (problem: Problem) : Plan = (simulate policy problem).Plan
