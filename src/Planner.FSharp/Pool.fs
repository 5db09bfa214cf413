namespace Pgmo.Planner

/// One request to a caching allocator, in the order the program makes them. An id names a live block;
/// it may be used again after its Free.
type PoolEvent =
    /// A request for `size` bytes (size > 0) for block `id`.
    | Alloc of id: int * size: int64
    /// The release of block `id`.
    | Free of id: int

/// What the pool did with a sequence of requests.
type PoolTrace =
    { /// Total bytes of all device allocations: the pool's peak, since it never gives memory back.
      Reserved: int64
      /// Number of device allocations (cudaMalloc calls).
      DeviceAllocations: int
      /// Largest total of rounded request sizes live at once, in bytes (<= Reserved).
      PeakInUse: int64
      /// For each event, the virtual offset of the block it allocated (device allocations laid end to end in the
      /// order they were made), or -1 for a Free.
      Offsets: int64[]
      /// For each event, the device allocation (0-based, in creation order) holding its block, or -1 for a Free.
      DeviceAllocationOf: int[] }

/// The pool baseline run on a problem.
type PoolResult =
    { /// Total bytes of all device allocations: the pool's peak.
      Reserved: int64
      /// Number of device allocations.
      DeviceAllocations: int
      /// Largest total of rounded (and padded) request sizes live at once, in bytes.
      PeakInUse: int64
      /// Each buffer's offset in the virtual address space where device allocations lie end to end: the highest
      /// multiple of its alignment that keeps it inside its (rounded) chunk, so the padding lies below it. Valid for
      /// the problem, and Plan.peak = Reserved (the buffer that opened the last device allocation ends at its end)
      /// when that buffer's size is a multiple of its alignment; otherwise Plan.peak is below Reserved by less than
      /// its alignment (or, for an alignment above 512, by less than 512 plus its alignment).
      Plan: Plan }

/// An exact simulation of CuPy's memory pool (the `pool` baseline, CONTRACT.md "The pool baseline, exactly"):
/// requests are rounded up to 512 bytes; a request takes the smallest free chunk that fits (ties: the earliest device
/// allocation, then the lowest offset) and the rest is split off as a free chunk; a freed chunk coalesces with free
/// neighbours inside its device allocation; when nothing fits, a new device allocation of exactly the rounded size is
/// made, and memory is never given back. The peak is the reserved bytes. O(log n) per event.
[<RequireQualifiedAccess>]
module Pool =

    /// The pool's granularity in bytes: every request is rounded up to a multiple of it, so every offset inside a
    /// device allocation is a multiple of it.
    [<Literal>]
    let Granularity = 512L

    /// A request size rounded up to a multiple of 512 bytes.
    let round (size: int64) : int64 = Buffer.alignUp Granularity size

    /// The bytes requested for a buffer: its size plus, when its alignment does not divide 512, the padding that lets
    /// it start at a multiple of its alignment inside a 512-aligned chunk (alignment - gcd(alignment, 512), e.g.
    /// alignment - 512 for a power of two above 512), before rounding to 512.
    let requestSize (b: Buffer) : int64 =
        let a = max 1L b.Alignment
        let rec gcd x y = if y = 0L then x else gcd y (x % y)
        b.Size + (a - gcd a Granularity)

    /// Replays requests through the pool. Throws on a non-positive size, an Alloc of a live id or a Free of an id
    /// that is not live (the trace is wrong, not the pool).
    let simulateEvents (events: PoolEvent[]) : PoolTrace =
        // chunks, by index: device allocation, offset inside it, size, free?, neighbours inside the device allocation
        let seg = ResizeArray<int>()
        let off = ResizeArray<int64>()
        let len = ResizeArray<int64>()
        let isFree = ResizeArray<bool>()
        let prev = ResizeArray<int>()
        let next = ResizeArray<int>()
        let newChunk s o l p nx =
            seg.Add s; off.Add o; len.Add l; isFree.Add false; prev.Add p; next.Add nx
            seg.Count - 1
        // free chunks ordered by (size, device allocation, offset): the minimum at or above a size is the best fit
        let freeSet = System.Collections.Generic.SortedSet<struct (int64 * int * int64 * int)>()
        let key c = struct (len.[c], seg.[c], off.[c], c)
        let markFree c =
            isFree.[c] <- true
            freeSet.Add(key c) |> ignore
        let unmarkFree c =
            isFree.[c] <- false
            freeSet.Remove(key c) |> ignore
        let bases = ResizeArray<int64>()
        let live = System.Collections.Generic.Dictionary<int, int>()
        let offsets = Array.create events.Length -1L
        let owners = Array.create events.Length -1
        let mutable reserved = 0L
        let mutable inUse = 0L
        let mutable peakInUse = 0L
        for e in 0 .. events.Length - 1 do
            match events.[e] with
            | Alloc (id, size) ->
                if size <= 0L then invalidArg (nameof events) (sprintf "event %d: Alloc of id %d with non-positive size %d" e id size)
                if live.ContainsKey id then invalidArg (nameof events) (sprintf "event %d: id %d is already live" e id)
                let need = round size
                let fits =
                    if freeSet.Count = 0 then -1
                    else
                        let top = freeSet.Max
                        let struct (largest, _, _, _) = top
                        if largest < need then -1
                        else
                            let struct (_, _, _, c) = freeSet.GetViewBetween(struct (need, 0, 0L, 0), top).Min
                            c
                let chunk =
                    if fits < 0 then
                        let s = bases.Count
                        bases.Add reserved
                        reserved <- reserved + need
                        newChunk s 0L need -1 -1
                    else
                        unmarkFree fits
                        if len.[fits] > need then
                            let rest = newChunk seg.[fits] (off.[fits] + need) (len.[fits] - need) fits next.[fits]
                            if next.[fits] >= 0 then prev.[next.[fits]] <- rest
                            next.[fits] <- rest
                            len.[fits] <- need
                            markFree rest
                        fits
                live.[id] <- chunk
                offsets.[e] <- bases.[seg.[chunk]] + off.[chunk]
                owners.[e] <- seg.[chunk]
                inUse <- inUse + need
                if inUse > peakInUse then peakInUse <- inUse
            | Free id ->
                let chunk =
                    match live.TryGetValue id with
                    | true, c -> c
                    | _ -> invalidArg (nameof events) (sprintf "event %d: Free of id %d, which is not live" e id)
                live.Remove id |> ignore
                inUse <- inUse - len.[chunk]
                // absorb a free next neighbour, then let a free previous neighbour absorb the result
                let n = next.[chunk]
                if n >= 0 && isFree.[n] then
                    unmarkFree n
                    len.[chunk] <- len.[chunk] + len.[n]
                    next.[chunk] <- next.[n]
                    if next.[n] >= 0 then prev.[next.[n]] <- chunk
                let p = prev.[chunk]
                if p >= 0 && isFree.[p] then
                    unmarkFree p
                    len.[p] <- len.[p] + len.[chunk]
                    next.[p] <- next.[chunk]
                    if next.[chunk] >= 0 then prev.[next.[chunk]] <- p
                    markFree p
                else markFree chunk
        { Reserved = reserved; DeviceAllocations = bases.Count; PeakInUse = peakInUse
          Offsets = offsets; DeviceAllocationOf = owners }

    /// The request sequence of a problem: step by step, at each step the frees of buffers ending there (in problem
    /// order) before the allocations of buffers starting there (in problem order). Ids are buffer indices; sizes
    /// are `requestSize`.
    let events (problem: Problem) : PoolEvent[] =
        let bs = problem.Buffers
        let keys = Array.init (2 * bs.Length) (fun k ->
            let i = k / 2
            if k % 2 = 0 then struct (bs.[i].Lifetime.Start, 1, i) else struct (bs.[i].Lifetime.End, 0, i))
        Array.sortInPlace keys
        keys |> Array.map (fun (struct (_, kind, i)) -> if kind = 0 then Free i else Alloc(i, requestSize bs.[i]))

    /// Runs the pool on a problem: reserved bytes, device allocations, peak in use, and a valid aligned plan whose
    /// peak is the reserved bytes (see PoolResult.Plan for the exception). A buffer with alignment a sits at a multiple of a inside its chunk (whose start,
    /// the pointer the pool hands out, is a multiple of 512): padding from `requestSize` makes room for that.
    let simulate (problem: Problem) : PoolResult =
        let evs = events problem
        let trace = simulateEvents evs
        let offsets = Array.zeroCreate problem.Buffers.Length
        evs |> Array.iteri (fun e ev ->
            match ev with
            | Alloc (i, request) ->
                let b = problem.Buffers.[i]
                let a = max 1L b.Alignment
                let chunkLo = trace.Offsets.[e]
                let chunkHi = chunkLo + round request
                // at the top of its chunk, so the block that opened the last device allocation ends at Reserved
                let top = (chunkHi - b.Size) / a * a
                offsets.[i] <- if top >= chunkLo then top else Buffer.alignUp a chunkLo
            | Free _ -> ())
        { Reserved = trace.Reserved; DeviceAllocations = trace.DeviceAllocations; PeakInUse = trace.PeakInUse
          Plan = { Offsets = offsets } }

    /// The pool's plan of a problem (see simulate): its Plan.peak is the pool's reserved bytes when sizes are
    /// multiples of their alignments; the pool's charged peak is always (simulate problem).Reserved.
    let plan (problem: Problem) : Plan = (simulate problem).Plan
