namespace Pgmo.Planner

/// Which caching allocator a pool follows (docs/cli.md, "The pool baseline, exactly", "The torch-pool baseline" and
/// "The torch-expandable baseline"). All hand out blocks of segments and share the mechanics of `CachingPool`: best
/// fit by (size, segment, offset), split, coalescing with free neighbours of the same segment. They differ in the
/// rules of the `PoolPolicy` module: rounding, which pool serves a size, the size of a new segment, when a block is
/// split, and whether a pool's segment grows by pages instead.
[<RequireQualifiedAccess>]
type PoolPolicy =
    /// CuPy's memory pool, the paper's baseline (`pool`): a new segment of exactly the rounded size when nothing fits,
    /// every rest split off.
    | CuPy
    /// PyTorch's CUDA caching allocator with its default settings (`torch-pool`): a small pool (rounded sizes up to
    /// 1 MiB, 2 MiB segments) and a large pool (20 MiB segments below 10 MiB, else the size rounded up to 2 MiB).
    | Torch
    /// PyTorch's CUDA caching allocator with `PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True` (`torch-expandable`):
    /// Torch's rounding and two pools, but each pool has one virtual segment that grows by mapping pages at the lowest
    /// addresses that make the request fit (2 MiB pages in the small pool, 20 MiB in the large); best fit inside it,
    /// where the free block next to unmapped space counts as large as it could grow; every rest of 512 B or more
    /// split off; pages unmapped only when the cache is emptied (`CachingPool.ReleaseCached`).
    | TorchExpandable
    /// The policy's name on the command line: `pool`, `torch-pool` or `torch-expandable`.
    member p.Name =
        match p with
        | CuPy -> "pool"
        | Torch -> "torch-pool"
        | TorchExpandable -> "torch-expandable"

/// The rules of each pool policy, in one place.
[<RequireQualifiedAccess>]
module PoolPolicy =

    /// Every request rounds up to a multiple of this (at least this), so every block offset is one too.
    [<Literal>]
    let BlockAlignment = 512L

    let private mib = 1024L * 1024L

    /// Every policy, in the order the command line lists them.
    let all : PoolPolicy list = [ PoolPolicy.CuPy; PoolPolicy.Torch; PoolPolicy.TorchExpandable ]

    /// The policy's name on the command line: `pool`, `torch-pool` or `torch-expandable`.
    let name (policy: PoolPolicy) : string = policy.Name

    /// The policy named (`pool`, `torch-pool`, `torch-expandable`), if any.
    let tryParse (name: string) : PoolPolicy option = all |> List.tryFind (fun p -> p.Name = name)

    /// A request of `size` bytes (> 0) rounded up to a multiple of 512 bytes: the bytes the block needs.
    let round (size: int64) : int64 = max BlockAlignment (Numbers.alignUp BlockAlignment size)

    /// The pool (0 or 1) that serves a rounded size: CuPy has one; PyTorch's small pool (0) takes sizes up to 1 MiB.
    let poolOf (policy: PoolPolicy) (rounded: int64) : int =
        match policy with
        | PoolPolicy.CuPy -> 0
        | PoolPolicy.Torch | PoolPolicy.TorchExpandable -> if rounded <= mib then 0 else 1

    /// True when each pool grows one segment by mapping pages (torch-expandable) instead of making new segments.
    let expandable (policy: PoolPolicy) : bool = policy = PoolPolicy.TorchExpandable

    /// The bytes an expandable segment of `pool` maps at a time: 2 MiB in the small pool, 20 MiB in the large one
    /// (PyTorch's kSmallBuffer and kLargeBuffer, c10/cuda/CUDACachingAllocator.cpp, Note [Expandable Segments]).
    let pageSize (pool: int) : int64 = if pool = 0 then 2L * mib else 20L * mib

    /// The size of the new segment made for a rounded size when no free block fits; for torch-expandable, the
    /// virtual address space of a pool's segment (2^35 pages: more than any device maps; a larger request gets a segment
    /// of its own size, rounded up to the page).
    let segmentSize (policy: PoolPolicy) (rounded: int64) : int64 =
        match policy with
        | PoolPolicy.CuPy -> rounded
        | PoolPolicy.Torch ->
            if rounded <= mib then 2L * mib
            elif rounded < 10L * mib then 20L * mib
            else Numbers.alignUp (2L * mib) rounded
        | PoolPolicy.TorchExpandable ->
            let page = pageSize (poolOf policy rounded)
            max (page <<< 35) (Numbers.alignUp page rounded)

    /// True when a free block of `pool` that is `rest` bytes larger than the rounded request is split (the rest stays
    /// free); false when the request takes the whole block. CuPy always splits; PyTorch when the rest is at least
    /// 512 B (small pool) or more than 1 MiB (large pool); with expandable segments when it is at least 512 B.
    let shouldSplit (policy: PoolPolicy) (pool: int) (rest: int64) : bool =
        match policy with
        | PoolPolicy.CuPy -> rest > 0L
        | PoolPolicy.Torch -> if pool = 0 then rest >= BlockAlignment else rest > mib
        | PoolPolicy.TorchExpandable -> rest >= BlockAlignment

/// A set of a `CachingPool`'s chunks, kept in order, for the pool's lookups in O(log n) without allocating: a treap
/// over chunk indices whose links live in arrays indexed by chunk (a chunk is in at most one set at a time, and its
/// key does not change while it is in one). The order is by (length, segment, offset) for the free chunks, so that
/// the first at or above a length is the best fit, or by (segment, offset) for the unmapped ones. (.NET's SortedSet
/// has no "first at or above": its GetViewBetween allocates a view per lookup.)
[<Sealed>]
type internal ChunkSet(byLength: bool, length: ResizeArray<int64>, segment: ResizeArray<int>, offset: ResizeArray<int64>) =
    // links.[2 c] and links.[2 c + 1]: chunk c's left and right child (-1: none)
    let links = ResizeArray<int>()
    let mutable root = -1
    let mutable count = 0
    // a fixed pseudo-random priority per chunk index (MurmurHash3's finalizer): the treap's shape, not its order
    let priority (c: int) =
        let mutable h = uint32 c
        h <- (h ^^^ (h >>> 16)) * 0x85ebca6bu
        h <- (h ^^^ (h >>> 13)) * 0xc2b2ae35u
        h ^^^ (h >>> 16)
    /// True when chunk a comes before chunk b.
    let before (a: int) (b: int) =
        if byLength && length.[a] <> length.[b] then length.[a] < length.[b]
        elif segment.[a] <> segment.[b] then segment.[a] < segment.[b]
        else offset.[a] < offset.[b]
    /// Inserts c below t; returns the subtree's new root (c rotated up while its priority is higher).
    let rec insert (t: int) (c: int) : int =
        if t < 0 then c
        else
            let side = if before c t then 0 else 1
            let s = insert links.[2 * t + side] c
            links.[2 * t + side] <- s
            if priority s > priority t then
                links.[2 * t + side] <- links.[2 * s + 1 - side]
                links.[2 * s + 1 - side] <- t
                s
            else t
    /// One subtree of all of a's chunks, then all of b's (a's all come first).
    let rec merge (a: int) (b: int) : int =
        if a < 0 then b
        elif b < 0 then a
        elif priority a > priority b then
            links.[2 * a + 1] <- merge links.[2 * a + 1] b
            a
        else
            links.[2 * b] <- merge a links.[2 * b]
            b
    let rec remove (t: int) (c: int) : int =
        if t < 0 then invalidOp (sprintf "chunk %d is not in the set" c)
        elif t = c then merge links.[2 * t] links.[2 * t + 1]
        else
            let side = if before c t then 0 else 1
            links.[2 * t + side] <- remove links.[2 * t + side] c
            t

    /// Adds chunk c (not in the set).
    member _.Add(c: int) =
        while links.Count <= 2 * c + 1 do links.Add -1
        links.[2 * c] <- -1
        links.[2 * c + 1] <- -1
        root <- insert root c
        count <- count + 1
    /// Removes chunk c (in the set).
    member _.Remove(c: int) =
        root <- remove root c
        count <- count - 1
    /// The first chunk of the set, or -1 when it is empty.
    member _.First : int =
        let mutable t, found = root, -1
        while t >= 0 do
            found <- t
            t <- links.[2 * t]
        found
    /// The first chunk of length at least `need` (by-length order), or -1: the best fit.
    member _.FirstAtLeast(need: int64) : int =
        let mutable t, found = root, -1
        while t >= 0 do
            if length.[t] >= need then
                found <- t
                t <- links.[2 * t]
            else t <- links.[2 * t + 1]
        found
    /// The chunk after chunk c (in the set) in the set's order, or -1.
    member _.After(c: int) : int =
        let mutable t, found = root, -1
        while t >= 0 do
            if before c t then
                found <- t
                t <- links.[2 * t]
            else t <- links.[2 * t + 1]
        found
    /// The chunks in the set's order.
    member s.ToArray() : int[] =
        let items = Array.zeroCreate count
        let mutable c, i = s.First, 0
        while c >= 0 do
            items.[i] <- c
            i <- i + 1
            c <- s.After c
        items

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
/// number. The one implementation of every pool: the planner simulates traces with it and the runtime's pool
/// allocators map its blocks to device memory.
///
/// Under torch-expandable a segment is a pool's virtual address range, a list of chunks that are handed out, free
/// (mapped) or unmapped; it grows as PyTorch's `try_allocate_expandable_block` does:
/// ```
///  [ used | free F | used | free T | unmapped ...............................]   a request larger than T and F
///  [ used | free F | used | T + new pages mapped | unmapped ..................]   maps the pages it lacks after T
/// ```
/// (the lowest unmapped range whose run with the free chunk before it is long enough, mapped in whole pages).
[<Sealed>]
type CachingPool(policy: PoolPolicy) =
    // chunks by index: segment (-1 once merged away), offset inside it, length, free?, mapped? (false: an expandable
    // segment's range without pages, neither free nor handed out), neighbours in the segment (-1 = none)
    let seg, off, len = ResizeArray<int>(), ResizeArray<int64>(), ResizeArray<int64>()
    let isFree, mapped = ResizeArray<bool>(), ResizeArray<bool>()
    let prev, next = ResizeArray<int>(), ResizeArray<int>()
    let dead = System.Collections.Generic.Stack<int>()   // chunk indices merged away, for reuse
    // free chunks of each pool ordered by (length, segment, offset): the first at or above a size is the best fit
    let freeSets = Array.init 2 (fun _ -> ChunkSet(true, len, seg, off))
    // unmapped chunks of each pool in address order (torch-expandable)
    let unmappedSets = Array.init 2 (fun _ -> ChunkSet(false, len, seg, off))
    let segmentSizes = ResizeArray<int64>()
    let segmentPools = ResizeArray<int>()
    let released = ResizeArray<bool>()
    let spans = ResizeArray<int64>()   // per segment: its size, or for an expandable one the end of its highest page ever mapped
    let expandable = PoolPolicy.expandable policy
    let mutable reserved = 0L
    let mutable inUse = 0L

    let newChunk s o l p nx =
        if dead.Count > 0 then
            let c = dead.Pop()
            seg.[c] <- s; off.[c] <- o; len.[c] <- l; isFree.[c] <- false; mapped.[c] <- true; prev.[c] <- p; next.[c] <- nx
            c
        else
            seg.Add s; off.Add o; len.Add l; isFree.Add false; mapped.Add true; prev.Add p; next.Add nx
            seg.Count - 1
    let markFree c =
        isFree.[c] <- true
        freeSets.[segmentPools.[seg.[c]]].Add c
    let unmarkFree c =
        isFree.[c] <- false
        freeSets.[segmentPools.[seg.[c]]].Remove c
    let markUnmapped c =
        mapped.[c] <- false
        unmappedSets.[segmentPools.[seg.[c]]].Add c
    let unmarkUnmapped c = unmappedSets.[segmentPools.[seg.[c]]].Remove c
    let bury c =
        seg.[c] <- -1
        dead.Push c
    /// Merges chunk `gone` into its previous neighbour `keep` (both out of their sets).
    let absorb keep gone =
        len.[keep] <- len.[keep] + len.[gone]
        next.[keep] <- next.[gone]
        if next.[gone] >= 0 then prev.[next.[gone]] <- keep
        bury gone
    /// Splits the chunk `c` after its first `bytes`: returns the new chunk holding the rest (same state, in no set).
    let splitAfter c bytes =
        let r = newChunk seg.[c] (off.[c] + bytes) (len.[c] - bytes) c next.[c]
        if next.[c] >= 0 then prev.[next.[c]] <- r
        next.[c] <- r
        len.[c] <- bytes
        r
    let newSegment pool bytes =
        let s = segmentSizes.Count
        segmentSizes.Add bytes
        segmentPools.Add pool
        released.Add false
        spans.Add (if expandable then 0L else bytes)
        s, newChunk s 0L bytes -1 -1
    /// The bytes a free chunk could hand out: its own, plus the unmapped range after it (torch-expandable).
    let expandableSize c = len.[c] + (let n = next.[c] in if n >= 0 && not mapped.[n] then len.[n] else 0L)
    /// The best-fit free chunk of a pool for a rounded size, or -1. Under torch-expandable, PyTorch's get_free_block
    /// passes over a chunk next to unmapped space while the next larger one could hand out less.
    let bestFit (pool: int) (need: int64) =
        let set = freeSets.[pool]
        let first = set.FirstAtLeast need
        if first < 0 || not expandable then first
        else
            let mutable best = first
            let mutable c = set.After first
            while c >= 0 && expandableSize c < expandableSize best do
                best <- c
                c <- set.After c
            best
    /// torch-expandable: how a request of `need` bytes grows the pool's segments, as PyTorch's find_expandable_block
    /// finds it (the lowest unmapped chunk, with the free chunk before it, whose run of free and unmapped chunks is
    /// long enough): the chunk the run starts at and the unmapped chunks it maps, with the bytes of each (whole pages,
    /// no more than the request lacks). None when no segment of the pool has such a run.
    let growth (pool: int) (need: int64) : (int * (int * int64) list) option =
        let allocatable c = c >= 0 && (isFree.[c] || not mapped.[c])
        let reaches start =
            let mutable c, total = start, 0L
            while total < need && allocatable c do
                total <- total + len.[c]
                c <- next.[c]
            total >= need
        let unmapped = unmappedSets.[pool]
        let mutable u, found = unmapped.First, -1
        while found < 0 && u >= 0 do
            let c = if prev.[u] >= 0 && isFree.[prev.[u]] then prev.[u] else u
            if reaches c then found <- c else u <- unmapped.After u
        (if found >= 0 then Some found else None)
        |> Option.map (fun start ->
            let page = PoolPolicy.pageSize pool
            let steps = ResizeArray<int * int64>()
            let mutable c, total = start, 0L
            while total < need do
                if mapped.[c] then total <- total + len.[c]
                else
                    let bytes = Numbers.alignUp page (min len.[c] (need - total))
                    steps.Add((c, bytes))
                    total <- total + bytes
                c <- next.[c]
            start, List.ofSeq steps)
    /// Maps the first `bytes` of the unmapped chunk `c` (a multiple of the page), merges them with the free chunks
    /// beside them and returns the free chunk that holds them.
    let mapChunk c bytes =
        unmarkUnmapped c
        if bytes < len.[c] then markUnmapped (splitAfter c bytes)
        mapped.[c] <- true
        reserved <- Checked.(+) reserved bytes
        spans.[seg.[c]] <- max spans.[seg.[c]] (off.[c] + len.[c])
        let mutable keep = c
        let p = prev.[c]
        if p >= 0 && isFree.[p] then
            unmarkFree p
            absorb p c
            keep <- p
        let n = next.[keep]
        if n >= 0 && isFree.[n] then
            unmarkFree n
            absorb keep n
        markFree keep
        keep
    /// torch-expandable: a free chunk of at least `need` bytes made by mapping pages (a new segment when no segment
    /// of the pool can grow), out of the free set.
    let grow (pool: int) (need: int64) =
        let start, steps =
            match growth pool need with
            | Some g -> g
            | None ->
                let _, c = newSegment pool (PoolPolicy.segmentSize policy need)
                markUnmapped c
                (growth pool need).Value
        let mutable c = start
        for (u, bytes) in steps do c <- mapChunk u bytes
        unmarkFree c
        c
    /// torch-expandable: unmaps the whole pages inside the free chunk `c` (PyTorch's unmap_block); returns the segment
    /// when that leaves it wholly unmapped, which is then given back (release_expandable_segment).
    let unmapChunk c =
        let s = seg.[c]
        let pool = segmentPools.[s]
        let page = PoolPolicy.pageSize pool
        let lo = Numbers.alignUp page off.[c]
        let hi = (off.[c] + len.[c]) / page * page
        if hi <= lo then None
        else
            unmarkFree c
            if hi < off.[c] + len.[c] then markFree (splitAfter c (hi - off.[c]))
            let c =
                if off.[c] < lo then
                    let m = splitAfter c (lo - off.[c])
                    markFree c
                    m
                else c
            reserved <- reserved - len.[c]
            let mutable keep = c
            let p = prev.[c]
            if p >= 0 && not mapped.[p] then
                unmarkUnmapped p
                absorb p c
                keep <- p
            let n = next.[keep]
            if n >= 0 && not mapped.[n] then
                unmarkUnmapped n
                absorb keep n
            if prev.[keep] < 0 && next.[keep] < 0 then
                released.[s] <- true
                bury keep
                Some s
            else
                markUnmapped keep
                None

    /// The policy this pool follows.
    member _.Policy = policy
    /// Bytes of the segments held now (the pool's reserved bytes); for torch-expandable, of the pages mapped now.
    member _.Reserved = reserved
    /// Bytes of the blocks handed out and not freed.
    member _.InUse = inUse
    /// Number of segments made so far (released ones included).
    member _.SegmentCount = segmentSizes.Count
    /// The size of segment `segment` in bytes (for torch-expandable, its virtual address space).
    member _.SegmentSize(segment: int) = segmentSizes.[segment]
    /// The bytes of segment `segment` that ever held blocks: its size, or for torch-expandable the end of its highest
    /// page ever mapped. Laid end to end, these spans hold every block.
    member _.SegmentSpan(segment: int) = spans.[segment]
    /// True when segment `segment` has been given back by `ReleaseCached`.
    member _.IsReleased(segment: int) = released.[segment]

    /// The bytes of new device memory a request of `size` bytes would take now: 0 when a cached free block fits, else
    /// a new segment's size or (torch-expandable) the pages it would map. Lets a caller under a memory limit release
    /// cached memory (`ReleaseCached`) before the request passes the limit.
    member _.NewSegmentBytes(size: int64) : int64 =
        let need = PoolPolicy.round size
        let pool = PoolPolicy.poolOf policy need
        if bestFit pool need >= 0 then 0L
        elif expandable then
            match growth pool need with
            | Some (_, steps) -> steps |> List.sumBy snd
            | None -> Numbers.alignUp (PoolPolicy.pageSize pool) need
        else PoolPolicy.segmentSize policy need

    /// A block for a request of `size` bytes (> 0): the best-fit free block of its pool (ties: earliest segment, then
    /// lowest offset), split when the policy says so; with none, a new segment, or for torch-expandable the pages the
    /// pool's segment lacks. Throws on a non-positive size.
    member _.Allocate(size: int64) : PoolBlock =
        if size <= 0L then invalidArg (nameof size) (sprintf "a pool request needs a positive size, got %d" size)
        let need = PoolPolicy.round size
        let pool = PoolPolicy.poolOf policy need
        let found = bestFit pool need
        let c =
            if found >= 0 then
                unmarkFree found
                found
            elif expandable then grow pool need
            else
                let bytes = PoolPolicy.segmentSize policy need
                reserved <- Checked.(+) reserved bytes
                snd (newSegment pool bytes)
        let rest = len.[c] - need
        if rest > 0L && PoolPolicy.shouldSplit policy pool rest then markFree (splitAfter c need)
        inUse <- inUse + len.[c]
        { Segment = seg.[c]; Offset = off.[c]; Length = len.[c]; Chunk = c }

    /// Takes a block back and merges it with the free neighbours of its segment. Throws when the block is not live.
    member _.Free(block: PoolBlock) : unit =
        let c = block.Chunk
        if c < 0 || c >= seg.Count || seg.[c] <> block.Segment || off.[c] <> block.Offset || isFree.[c] || not mapped.[c] then
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

    /// Gives back what the pool caches (what both allocators do under memory pressure and on empty_cache): every
    /// wholly free segment, or for torch-expandable every whole page inside a free block (a segment left without
    /// pages is given back). Returns the segments given back, in ascending order. Reserved bytes drop by what was
    /// given back.
    member _.ReleaseCached() : int[] =
        if expandable then
            [| for set in freeSets do yield! set.ToArray() |]
            |> Array.choose unmapChunk
            |> Array.sort
        else
            let whole = ResizeArray<int>()
            for set in freeSets do
                for c in set.ToArray() do
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
    { /// Largest reserved bytes (segments held, or pages mapped) at any time: the pool's peak (nothing is given back here).
      Reserved: int64
      /// Number of segments (device allocations, cudaMalloc calls) made.
      Segments: int
      /// Largest total of block lengths live at once, in bytes (<= Reserved).
      PeakInUse: int64
      /// For each event, the virtual offset of the block it allocated (segments laid end to end in the order they
      /// were made, each as long as its span: its size, or an expandable segment's pages), or -1 for a Free.
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

    /// The virtual offset of each segment's start: segments end to end in creation order, each as long as its span
    /// (its size; an expandable one's mapped pages).
    let private segmentStarts (pool: CachingPool) : int64[] =
        let starts = Array.zeroCreate (pool.SegmentCount + 1)
        for s in 0 .. pool.SegmentCount - 1 do starts.[s + 1] <- Checked.(+) starts.[s] (pool.SegmentSpan s)
        starts

    /// Replays requests through a pool of the policy. Throws on an Alloc of a live id or a Free of an id that is not
    /// live (the trace is wrong, not the pool).
    let simulateEvents (policy: PoolPolicy) (events: MemoryEvent[]) : PoolTrace =
        let pool = CachingPool(policy)
        let live = System.Collections.Generic.Dictionary<int, PoolBlock>()
        let inSegment = Array.create events.Length -1L
        let lengths = Array.zeroCreate events.Length
        let owners = Array.create events.Length -1
        let mutable peakInUse = 0L
        for e in 0 .. events.Length - 1 do
            match events.[e] with
            | Alloc (id, size) ->
                if live.ContainsKey id then invalidArg (nameof events) (sprintf "event %d: id %d is already live" e id)
                let block = pool.Allocate size
                live.[id] <- block
                inSegment.[e] <- block.Offset
                lengths.[e] <- block.Length
                owners.[e] <- block.Segment
                if pool.InUse > peakInUse then peakInUse <- pool.InUse
            | Free id ->
                match live.TryGetValue id with
                | true, block ->
                    live.Remove id |> ignore
                    pool.Free block
                | _ -> invalidArg (nameof events) (sprintf "event %d: Free of id %d, which is not live" e id)
        let starts = segmentStarts pool
        let offsets = Array.init events.Length (fun e -> if owners.[e] >= 0 then starts.[owners.[e]] + inSegment.[e] else -1L)
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
        // the requests of `events`, straight from the sweep: each buffer's block kept by its index
        let bs = problem.Buffers
        let pool = CachingPool(policy)
        let blocks = Array.zeroCreate<PoolBlock> bs.Length
        let mutable peakInUse = 0L
        for struct (_, kind, i) in Sweep.endpoints problem do
            if kind = Sweep.Ends then pool.Free blocks.[i]
            else
                blocks.[i] <- pool.Allocate(requestSize bs.[i])
                if pool.InUse > peakInUse then peakInUse <- pool.InUse
        let starts = segmentStarts pool
        let offsets = Array.zeroCreate bs.Length
        for i in 0 .. bs.Length - 1 do
            let b = bs.[i]
            let a = max 1L b.Alignment
            let blockLo = starts.[blocks.[i].Segment] + blocks.[i].Offset
            let blockHi = blockLo + blocks.[i].Length
            // at the top of its block, so the block that opened the last segment ends at Reserved
            let top = (blockHi - b.Size) / a * a
            offsets.[i] <- if top >= blockLo then top else Numbers.alignUp a blockLo
        { Reserved = pool.Reserved; Segments = pool.SegmentCount; PeakInUse = peakInUse
          Plan = { Offsets = offsets } }

    /// The pool's plan of a problem (see simulate); the pool's charged peak is always (simulate policy problem).Reserved.
    let plan (policy: PoolPolicy) (problem: Problem) : Plan = (simulate policy problem).Plan
