namespace Pgmo.Planner

/// How a buffer picks among the address gaps left by the placed buffers that overlap it in time.
[<RequireQualifiedAccess>]
type Fit =
    /// The smallest gap that fits (ties: the lowest), else on top: TFLite's and XLA's rule.
    | Best
    /// The lowest gap that fits, else on top: what a first-fit malloc does.
    | First

/// The shared primitive of the offline baselines: place buffers one at a time, in a given order, each at the lowest
/// feasible aligned offset of the gap its Fit picks among the already-placed buffers that overlap it in time.
[<RequireQualifiedAccess>]
module Placement =

    /// The rule of `choose` for one gap: the free space [cursor, lo) met in address order against the best gap so far
    /// (`best` = -1 when none yet, `bestGap` its length). A fitting gap becomes the best when the Fit prefers it.
    /// Returns true when the scan may stop: first fit at its first fitting gap, best fit at one exactly as long as
    /// the buffer (no fitting gap is shorter, and a tie goes to the lowest).
    let private consider (fit: Fit) (size: int64) (alignment: int64) (cursor: int64) (lo: int64)
                         (best: byref<int64>) (bestGap: byref<int64>) : bool =
        let candidate = Numbers.alignUp alignment cursor
        if candidate > lo - size then false
        else
            match fit with
            | Fit.First ->
                best <- candidate
                true
            | Fit.Best ->
                let gap = lo - cursor
                if gap < bestGap then
                    best <- candidate
                    bestGap <- gap
                    gap = max 1L size
                else false

    /// The offset chosen for a buffer of `size` bytes and `alignment` among occupied address ranges [los.[i], his.[i])
    /// for i < count, sorted by lo ascending (ranges may overlap or nest). A gap is the free space between the top of
    /// everything below it and the next range; it fits when its aligned start plus size stays within it. Best picks
    /// the fitting gap of smallest length (ties: the lowest), First the lowest; when none fits the buffer goes on top
    /// of every range, aligned. The result is a multiple of alignment and >= 0.
    let choose (fit: Fit) (size: int64) (alignment: int64) (los: int64[]) (his: int64[]) (count: int) : int64 =
        let mutable cursor = 0L          // top of everything below the current range
        let mutable best = -1L
        let mutable bestGap = System.Int64.MaxValue
        let mutable i = 0
        let mutable stop = false
        while i < count && not stop do
            let lo = los.[i]
            if lo > cursor then stop <- consider fit size alignment cursor lo &best &bestGap
            if his.[i] > cursor then cursor <- his.[i]
            i <- i + 1
        if best >= 0L then best else Numbers.alignUp alignment cursor

    /// Moves items.[from .. from + count - 1] to items.[dest ..], the two ranges possibly overlapping, item by item:
    /// the moves inside a chunk are short (at most 64 items), and Array.Copy of overlapping ranges of one array calls
    /// out of managed code to the C library's memmove.
    let private move (items: int64[]) (from: int) (dest: int) (count: int) =
        if dest > from then
            for k = count - 1 downto 0 do items.[dest + k] <- items.[from + k]
        else
            for k = 0 to count - 1 do items.[dest + k] <- items.[from + k]

    /// A piece of a Runs: up to Runs' capacity of consecutive runs, with the longest gap between two of its own runs.
    /// Its arrays start with room for `room` runs and double when full (most tree nodes keep a few runs: stacked
    /// buffers collapse into one), so that the trees of a large problem do not allocate a full chunk per node.
    [<Sealed>]
    type private Chunk(room: int) =
        member val Los : int64[] = Array.zeroCreate room with get, set
        member val His : int64[] = Array.zeroCreate room with get, set
        member val Count = 0 with get, set
        /// The longest gap below runs 1 .. Count - 1 of this chunk (0 when it has fewer than two runs).
        member val MaxGap = 0L with get, set
        /// Recomputes MaxGap.
        member this.Refresh() =
            let mutable mx = 0L
            for i in 1 .. this.Count - 1 do
                let g = this.Los.[i] - this.His.[i - 1]
                if g > mx then mx <- g
            this.MaxGap <- mx
        /// Inserts the run [lo, hi) at position `at`, between the runs around it (the chunk holds fewer runs than
        /// Runs' capacity, `most`, and MaxGap is up to date), making room when its arrays are full, and updates
        /// MaxGap: the run splits one inner gap into two no longer (a full Refresh only when that gap was the
        /// longest) or, at either end, adds one.
        member this.InsertAt(at: int, lo: int64, hi: int64, most: int) =
            let count = this.Count
            if count = this.Los.Length then
                let room = min most (2 * this.Los.Length)
                let los, his = Array.zeroCreate room, Array.zeroCreate room
                System.Array.Copy(this.Los, los, count)
                System.Array.Copy(this.His, his, count)
                this.Los <- los
                this.His <- his
            let split = if at > 0 && at < count then this.Los.[at] - this.His.[at - 1] else -1L
            move this.Los at (at + 1) (count - at)
            move this.His at (at + 1) (count - at)
            this.Los.[at] <- lo
            this.His.[at] <- hi
            this.Count <- count + 1
            if count = 0 then this.MaxGap <- 0L
            elif at = 0 then this.MaxGap <- max this.MaxGap (this.Los.[1] - hi)
            elif at = count then this.MaxGap <- max this.MaxGap (lo - this.His.[at - 1])
            elif split = this.MaxGap then this.Refresh()

    /// The union of some address ranges as sorted runs that neither overlap nor touch (a run may be empty: it still
    /// separates the gaps on either side). Only the union matters to `choose`, so a tree node keeps this instead of its
    /// buffers. Gap j is the free space below run j, from the top of run j - 1 (0 for the first run); above the last
    /// run lies the unbounded top gap. The runs are kept in chunks of at most `capacity`, each knowing its longest
    /// inner gap, so that an Add touches one or two chunks and a search for a gap of some length skips chunks of
    /// shorter ones.
    [<Sealed; AllowNullLiteral>]
    type private Runs() =
        static let capacity = 64
        static let firstRoom = 4
        let chunks = ResizeArray<Chunk>()
        let mutable count = 0
        /// The number of runs.
        member _.Count = count
        /// The first chunk whose last run's top reaches y (chunks.Count when none).
        member private _.ChunkReaching(y: int64) =
            let mutable a, b = 0, chunks.Count
            while a < b do
                let m = (a + b) / 2
                let c = chunks.[m]
                if c.His.[c.Count - 1] < y then a <- m + 1 else b <- m
            a
        /// Adds [lo, hi), merging every run it overlaps or touches.
        member this.Add(lo: int64, hi: int64) =
            let ci = this.ChunkReaching lo
            if ci = chunks.Count then
                // above every run
                if ci = 0 || chunks.[ci - 1].Count = capacity then chunks.Add(Chunk(firstRoom))
                let c = chunks.[chunks.Count - 1]
                c.InsertAt(c.Count, lo, hi, capacity)
                count <- count + 1
            else
                let c = chunks.[ci]
                // first run of c whose top reaches lo
                let mutable a, b = 0, c.Count
                while a < b do
                    let m = (a + b) / 2
                    if c.His.[m] < lo then a <- m + 1 else b <- m
                let j = a
                if c.Los.[j] > hi then
                    // no run met: insert at j, splitting a full chunk
                    if c.Count = capacity then
                        let half = capacity / 2
                        let right = Chunk(capacity)
                        System.Array.Copy(c.Los, half, right.Los, 0, capacity - half)
                        System.Array.Copy(c.His, half, right.His, 0, capacity - half)
                        right.Count <- capacity - half
                        c.Count <- half
                        chunks.Insert(ci + 1, right)
                        c.Refresh()
                        right.Refresh()
                        if j <= half then c.InsertAt(j, lo, hi, capacity)
                        else right.InsertAt(j - half, lo, hi, capacity)
                    else c.InsertAt(j, lo, hi, capacity)
                    count <- count + 1
                else
                    // merge run j with every later run starting at or below hi, possibly across chunks
                    let mutable top = max hi c.His.[j]
                    c.Los.[j] <- min lo c.Los.[j]
                    let mutable k = j + 1
                    while k < c.Count && c.Los.[k] <= hi do
                        top <- max top c.His.[k]
                        k <- k + 1
                    let removed = k - j - 1
                    move c.Los k (j + 1) (c.Count - k)
                    move c.His k (j + 1) (c.Count - k)
                    c.Count <- c.Count - removed
                    count <- count - removed
                    if k = c.Count + removed then
                        // the merge may go on into the next chunks
                        let mutable more = true
                        while more && ci + 1 < chunks.Count do
                            let d = chunks.[ci + 1]
                            let mutable q = 0
                            while q < d.Count && d.Los.[q] <= hi do
                                top <- max top d.His.[q]
                                q <- q + 1
                            if q = d.Count then
                                chunks.RemoveAt(ci + 1)
                                count <- count - q
                            else
                                move d.Los q 0 (d.Count - q)
                                move d.His q 0 (d.Count - q)
                                d.Count <- d.Count - q
                                count <- count - q
                                d.Refresh()
                                more <- false
                    c.His.[j] <- top
                    c.Refresh()
        /// The chunks, in address order (read by the merged scan of `chooseMerged`; never empty ones).
        member _.Chunks : ResizeArray<Chunk> = chunks
        /// The first gap, in address order, that holds a window [x', x' + s) with x' >= x (s >= 1), as (start, end);
        /// the end of the unbounded top gap is Int64.MaxValue.
        member this.NextGap(x: int64, s: int64, start: byref<int64>, finish: byref<int64>) =
            // the first gap whose end reaches x + s lies below the first run with lo >= x + s
            let need = x + s
            let mutable a, b = 0, chunks.Count
            while a < b do
                let m = (a + b) / 2
                let c = chunks.[m]
                if c.Los.[c.Count - 1] < need then a <- m + 1 else b <- m
            let mutable ci = a
            let mutable found = false
            if ci < chunks.Count then
                let c = chunks.[ci]
                let mutable a, b = 0, c.Count
                while a < b do
                    let m = (a + b) / 2
                    if c.Los.[m] < need then a <- m + 1 else b <- m
                let mutable i = a
                while not found && ci < chunks.Count do
                    let c = chunks.[ci]
                    if i = 0 then
                        let below = if ci = 0 then 0L else (let p = chunks.[ci - 1] in p.His.[p.Count - 1])
                        if c.Los.[0] - below >= s then
                            found <- true
                            start <- below
                            finish <- c.Los.[0]
                        else i <- 1
                    if not found then
                        if c.MaxGap >= s then
                            while not found && i < c.Count do
                                if c.Los.[i] - c.His.[i - 1] >= s then
                                    found <- true
                                    start <- c.His.[i - 1]
                                    finish <- c.Los.[i]
                                else i <- i + 1
                        if not found then
                            ci <- ci + 1
                            i <- 0
            if not found then
                start <- (if chunks.Count = 0 then 0L else (let p = chunks.[chunks.Count - 1] in p.His.[p.Count - 1]))
                finish <- System.Int64.MaxValue

    /// The tree nodes one buffer's pieces reach, Nodes.[0 .. Count - 1], each with the window Windows.[k] of the
    /// piece that reached it, and per node the scratch of the searches among them: the gap found last (GapStarts and
    /// GapLasts, its start and the last offset free for the node's window in it: chooseAmong), and the cursor (chunk,
    /// run), the bottom of the run under it and a heap of the nodes by it (chooseMerged). Reused from buffer to
    /// buffer; grows by doubling.
    [<Sealed>]
    type private Reached() =
        member val Nodes : Runs[] = Array.zeroCreate 256 with get, set
        member val Windows : int64[] = Array.zeroCreate 256 with get, set
        member val Count = 0 with get, set
        member val GapStarts : int64[] = Array.zeroCreate 256 with get, set
        member val GapLasts : int64[] = Array.zeroCreate 256 with get, set
        member val Chunk : int[] = Array.zeroCreate 256 with get, set
        member val Run : int[] = Array.zeroCreate 256 with get, set
        member val Bottom : int64[] = Array.zeroCreate 256 with get, set
        member val Heap : int[] = Array.zeroCreate 256 with get, set
        /// Adds a node reached with window `w`, when it holds runs.
        member this.Add(runs: Runs, w: int64) =
            if not (isNull runs) && runs.Count > 0 then
                let count = this.Count
                if count = this.Nodes.Length then
                    let grown = 2 * count
                    let nodes = Array.zeroCreate grown
                    let windows = Array.zeroCreate grown
                    System.Array.Copy(this.Nodes, nodes, count)
                    System.Array.Copy(this.Windows, windows, count)
                    this.Nodes <- nodes
                    this.Windows <- windows
                    this.GapStarts <- Array.zeroCreate grown
                    this.GapLasts <- Array.zeroCreate grown
                    this.Chunk <- Array.zeroCreate grown
                    this.Run <- Array.zeroCreate grown
                    this.Bottom <- Array.zeroCreate grown
                    this.Heap <- Array.zeroCreate grown
                this.Nodes.[count] <- runs
                this.Windows.[count] <- w
                this.Count <- count + 1

    /// The offset `choose fit size alignment` gives for a buffer of `size` bytes whose piece seen by node k takes
    /// windows.[k] bytes from the buffer's offset up (<= size): an offset x is free in node k when [x, x + windows.[k])
    /// lies in one of its gaps, and a gap of the buffer is an interval of offsets free in every node, seen as
    /// [lo, last free offset + size) by `consider`. Found without visiting gaps too short for the buffer: the search
    /// leapfrogs from node to node to the next offset free in all of them. Each node's gap found last is kept in the
    /// scratch of `reached` (its start and its last free offset for the node's window) and reused while it still
    /// holds the next window (the runs do not change during one call).
    let private chooseAmong (fit: Fit) (size: int64) (alignment: int64) (reached: Reached) : int64 =
        let nodes, windows, count = reached.Nodes, reached.Windows, reached.Count
        let starts, lasts = reached.GapStarts, reached.GapLasts
        // a buffer of no bytes still takes a gap of one (as in `choose`)
        let span = max 1L size
        let mutable x = 0L
        let mutable best = -1L
        let mutable bestGap = System.Int64.MaxValue
        let mutable top = -1L
        for k in 0 .. count - 1 do
            starts.[k] <- System.Int64.MaxValue
            lasts.[k] <- System.Int64.MinValue
        while top < 0L do
            // the offsets from x on free in every node: [lo, last], last the least of the nodes' last free offsets
            // (Int64.MaxValue: every node's gap is its unbounded top gap), found in node `limiting`
            let mutable agreed = false
            let mutable lo = 0L
            let mutable last = System.Int64.MaxValue
            let mutable limiting = -1
            while not agreed do
                agreed <- true
                lo <- 0L
                last <- System.Int64.MaxValue
                limiting <- -1
                for k in 0 .. count - 1 do
                    // a node's cached gap, when it holds [x, x + w), is the first gap at or above x that holds a window
                    if starts.[k] > x || lasts.[k] < x then
                        let w = max 1L windows.[k]
                        let mutable finish = 0L
                        nodes.[k].NextGap(x, w, &starts.[k], &finish)
                        lasts.[k] <- if finish = System.Int64.MaxValue then finish else finish - w
                    let c = starts.[k]
                    if c > x then
                        x <- c
                        agreed <- false
                    if c > lo then lo <- c
                    let f = lasts.[k]
                    if f < last then
                        last <- f
                        limiting <- k
            if last = System.Int64.MaxValue then top <- lo
            else
                // the gap as a buffer of `size` sees it
                let hi = if last > System.Int64.MaxValue - span then System.Int64.MaxValue - 1L else last + span
                if consider fit size alignment lo hi &best &bestGap then top <- lo
                // no offset below the limiting node's gap end is free past this gap
                x <- last + max 1L windows.[limiting]
        if best >= 0L then best else Numbers.alignUp alignment top

    /// The offset `choose fit size alignment` gives for a buffer of `size` bytes whose piece seen by node k takes
    /// windows.[k] bytes from its offset up (each node non-empty): the same scan in address order as `choose`, over a
    /// k-way merge of the nodes' sorted runs instead of a sort of all of them, each run [lo, hi) of node k taken as
    /// [lo + size - windows.[k], hi) (the offsets it forbids to the buffer are those it forbids to the node's window).
    /// A node's runs that lie under the top reached so far are skipped without entering the heap (a whole chunk at
    /// once when its last run does), so stacked runs cost one comparison each. O(r log k) for r runs reached in k
    /// nodes, less where the scan stops at a gap exactly as long as the buffer (best fit) or at the first that fits
    /// (first fit).
    let private chooseMerged (fit: Fit) (size: int64) (alignment: int64) (reached: Reached) : int64 =
        let nodes, windows, count = reached.Nodes, reached.Windows, reached.Count
        let chunkOf = reached.Chunk
        let runOf = reached.Run
        let bottom = reached.Bottom
        let heap = reached.Heap
        let mutable heapCount = 0
        for k in 0 .. count - 1 do
            chunkOf.[k] <- 0
            runOf.[k] <- 0
            let key = nodes.[k].Chunks.[0].Los.[0] + (size - windows.[k])
            bottom.[k] <- key
            // sift up
            let mutable j = heapCount
            heapCount <- heapCount + 1
            while j > 0 && bottom.[heap.[(j - 1) / 2]] > key do
                heap.[j] <- heap.[(j - 1) / 2]
                j <- (j - 1) / 2
            heap.[j] <- k
        let mutable cursor = 0L          // top of everything below the next run
        let mutable best = -1L
        let mutable bestGap = System.Int64.MaxValue
        while heapCount > 0 do
            let k = heap.[0]
            let chunks = nodes.[k].Chunks
            let mutable ci = chunkOf.[k]
            let mutable c = chunks.[ci]
            let mutable i = runOf.[k]
            let lo = bottom.[k]
            if lo > cursor && consider fit size alignment cursor lo &best &bestGap then heapCount <- 0
            if heapCount > 0 then
                if c.His.[i] > cursor then cursor <- c.His.[i]
                // the node's next run above the cursor
                i <- i + 1
                let mutable more = true
                let mutable go = true
                while go do
                    if i = c.Count || c.His.[c.Count - 1] <= cursor then
                        ci <- ci + 1
                        if ci = chunks.Count then
                            more <- false
                            go <- false
                        else
                            c <- chunks.[ci]
                            i <- 0
                    elif c.His.[i] <= cursor then i <- i + 1
                    else go <- false
                if more then
                    chunkOf.[k] <- ci
                    runOf.[k] <- i
                    bottom.[k] <- c.Los.[i] + (size - windows.[k])
                else
                    heapCount <- heapCount - 1
                    heap.[0] <- heap.[heapCount]
                if heapCount > 0 then
                    // restore the heap order from the root down: the root's node has a larger bottom now
                    let k = heap.[0]
                    let key = bottom.[k]
                    let mutable j = 0
                    let mutable go = true
                    while go do
                        let l = 2 * j + 1
                        if l >= heapCount then go <- false
                        else
                            let c = if l + 1 < heapCount && bottom.[heap.[l + 1]] < bottom.[heap.[l]] then l + 1 else l
                            if bottom.[heap.[c]] < key then
                                heap.[j] <- heap.[c]
                                j <- c
                            else go <- false
                    heap.[j] <- k
        if best >= 0L then best else Numbers.alignUp alignment cursor

    /// True when [x, x + w) lies in one gap of every node k (w = windows.[k]).
    let private freeAt (x: int64) (reached: Reached) : bool =
        let nodes, windows, count = reached.Nodes, reached.Windows, reached.Count
        let mutable ok = true
        let mutable k = 0
        while ok && k < count do
            let mutable start = 0L
            let mutable finish = 0L
            nodes.[k].NextGap(x, max 1L windows.[k], &start, &finish)
            if start > x then ok <- false
            k <- k + 1
        ok

    /// Places the buffers of the axis's problem: the pinned ones at their pins, then the others in `order` (a
    /// permutation of the buffer indices; pinned buffers in it are skipped), each at its hint when `useHints` and the
    /// hint is aligned and free, else at the offset `choose fit` gives among the placed pieces that meet its own in
    /// time. Writes offsets in problem order; returns false (offsets partly written) as soon as a top exceeds `limit`,
    /// or when `stop` says so (asked every 256 buffers).
    ///
    /// The pieces (TimeAxis) are what is placed: a piece that keeps bytes [lo, hi) of its buffer is taken as holding
    /// [0, hi) (the bytes below a raised window stay unused), so that any two pieces of two buffers forbid each
    /// other an interval containing the placed one's offset: pieces that never share a byte then also keep one
    /// buffer above the other, MiniMalloc's rule (proofs/gaps.md). Two trees over the compressed steps hold the
    /// placed pieces: a segment tree of their steps (stabbing at a piece's start finds those live then) and a tree of
    /// starts (finds those starting strictly inside it; for a piece live from the first step, all those starting
    /// before its end). Every piece a query reaches through a node meets the querying piece in time, so a node keeps
    /// only the union of its pieces' address ranges (Runs): stacked buffers collapse into one run. First fit searches
    /// the O(log n) nodes reached by the buffer's pieces together for the lowest offset free in all (chooseAmong),
    /// skipping chunks of shorter gaps; best fit scans their runs in address order through a k-way merge
    /// (chooseMerged), O(log n + r log k) for r runs reached in k nodes. When the pieces come in order of their
    /// starts (allocation order), the tree of starts is not kept.
    let place (axis: TimeAxis) (fit: Fit) (useHints: bool) (order: int[]) (offsets: int64[]) (limit: int64) (stop: unit -> bool) : bool =
        let bs = axis.Problem.Buffers
        let n = bs.Length
        if order.Length <> n then invalidArg (nameof order) "order must be a permutation of the buffer indices"
        let first, pieces = axis.First, axis.Pieces
        let startRank, endRank = axis.StartRank, axis.EndRank
        let m = max 1 axis.Steps.Length
        let mutable size = 1
        while size < m do size <- size * 2
        // piece steps: a piece covering leaves [a, b) is stored at the O(log n) canonical nodes of that range
        let cover : Runs[] = Array.zeroCreate (2 * size)
        // starts: a piece starting at leaf a is stored at every ancestor of a
        let starts : Runs[] = Array.zeroCreate (2 * size)
        let add (tree: Runs[]) node lo hi =
            if isNull tree.[node] then tree.[node] <- Runs()
            tree.[node].Add(lo, hi)
        let placed = Array.zeroCreate<bool> n
        let reached = Reached()
        // the pinned buffers first, then the order's
        let sequence = Array.append (Array.init n id |> Array.filter (fun i -> bs.[i].Pinned.IsSome)) (order |> Array.filter (fun i -> bs.[i].Pinned.IsNone))
        // pieces met in order of their starts: no placed piece starts inside a later one, the tree of starts stays unread
        let byStart =
            let mutable sorted = true
            let mutable last = System.Int64.MinValue
            for i in sequence do
                for k in first.[i] .. first.[i + 1] - 1 do
                    if pieces.[k].Start < last then sorted <- false
                    last <- pieces.[k].Start
            sorted
        let mutable ok = true
        let mutable done' = 0
        let mutable p = 0
        while ok && p < sequence.Length do
            let i = sequence.[p]
            let b = bs.[i]
            if placed.[i] then invalidArg (nameof order) "order must not repeat an index"
            placed.[i] <- true
            let lo =
                match b.Pinned with
                | Some pin -> pin
                | None ->
                    reached.Count <- 0
                    for k in first.[i] .. first.[i + 1] - 1 do
                        let a = startRank.[k]
                        let e = endRank.[k]
                        let w = pieces.[k].Hi
                        // placed pieces live at the piece's start: stab leaf a. At the first step, those are the ones
                        // starting there: the tree of starts over leaves [0, e) holds them all, in fewer and denser nodes
                        let fromFirst = a = 0 && not byStart
                        let mutable node = if fromFirst then 0 else a + size
                        while node >= 1 do
                            reached.Add(cover.[node], w)
                            node <- node / 2
                        // placed pieces starting strictly inside it: starts at leaves [a + 1, e)
                        let mutable l = if byStart then size elif fromFirst then size else a + 1 + size
                        let mutable r = if byStart then size else e + size
                        while l < r do
                            if (l &&& 1) = 1 then (reached.Add(starts.[l], w); l <- l + 1)
                            if (r &&& 1) = 1 then (r <- r - 1; reached.Add(starts.[r], w))
                            l <- l / 2
                            r <- r / 2
                    let alignment = max 1L b.Alignment
                    match b.Hint with
                    | Some h when useHints && h >= 0L && h % alignment = 0L && freeAt h reached -> h
                    | _ ->
                        match fit with
                        | Fit.First -> chooseAmong fit b.Size alignment reached
                        | Fit.Best ->
                            // best fit visits every gap at least as long as the buffer, and at scale most are: one scan
                            // of the reached runs in address order beats searching the nodes together
                            chooseMerged fit b.Size alignment reached
            offsets.[i] <- lo
            if lo > limit - b.Size then ok <- false
            // record the buffer's pieces
            for k in first.[i] .. first.[i + 1] - 1 do
                let hi = Checked.(+) lo pieces.[k].Hi
                let mutable l = startRank.[k] + size
                let mutable r = endRank.[k] + size
                while l < r do
                    if (l &&& 1) = 1 then (add cover l lo hi; l <- l + 1)
                    if (r &&& 1) = 1 then (r <- r - 1; add cover r lo hi)
                    l <- l / 2
                    r <- r / 2
                let mutable node = if byStart then 0 else startRank.[k] + size
                while node >= 1 do
                    add starts node lo hi
                    node <- node / 2
            p <- p + 1
            done' <- done' + 1
            if done' &&& 255 = 0 && stop () then ok <- false
        ok

    /// The plan of `place` with no limit: the pinned buffers at their pins, the others in `order`, each at its hint
    /// when `useHints` and the hint is aligned and free, else where `choose fit` puts it among the placed pieces
    /// that meet its own. Valid; a plan in problem order.
    let placeOn (axis: TimeAxis) (fit: Fit) (useHints: bool) (order: int[]) : Plan =
        let offsets = Array.zeroCreate axis.Buffers
        place axis fit useHints order offsets System.Int64.MaxValue (fun () -> false) |> ignore
        { Offsets = offsets }

    /// Places the buffers of `problem` in `order` (a permutation of its indices), hints first (placeOn its time axis).
    let placeInOrder (fit: Fit) (order: int[]) (problem: Problem) : Plan = placeOn (TimeAxis problem) fit true order

    /// Gravity: every buffer by ascending offset of `plan` at the lowest offset free among those placed before it
    /// (pinned buffers first, at their pins). Without pins no buffer moves up (proofs/gaps.md, Lemma G2), so the peak
    /// never grows; a plan of the problem with its gaps live (Gaps.plain) comes down into the bytes the gaps free.
    let lower (axis: TimeAxis) (plan: Plan) : Plan =
        let order = Array.init axis.Buffers id
        System.Array.Sort(order, System.Comparison(fun x y ->
            let c = compare plan.Offsets.[x] plan.Offsets.[y]
            if c <> 0 then c else compare x y))
        placeOn axis Fit.First false order

    /// A plan that keeps every pin from one that may not (an online pool's or the skyline's, which know no pins):
    /// `lower` when some buffer is pinned, else the plan itself.
    let keepPins (axis: TimeAxis) (plan: Plan) : Plan = if axis.HasPins then lower axis plan else plan

    /// The indices of a problem sorted by a comparison of buffers, ties broken by index: a deterministic order for placeInOrder.
    let orderBy (comparison: Buffer -> Buffer -> int) (problem: Problem) : int[] =
        let bs = problem.Buffers
        let order = Array.init bs.Length id
        System.Array.Sort(order, System.Comparison(fun x y ->
            let c = comparison bs.[x] bs.[y]
            if c <> 0 then c else compare x y))
        order

    /// The indices of a problem sorted by an integer key of buffers, ties broken by index: the order `orderBy`
    /// gives for a comparison of keys, from one sort of int64s where they fit (Numbers.tryOrderByKey).
    let orderByKey (key: Buffer -> int64) (problem: Problem) : int[] =
        match Numbers.tryOrderByKey (problem.Buffers |> Array.map key) with
        | Some order -> order
        | None -> problem |> orderBy (fun a b -> compare (key a) (key b))
