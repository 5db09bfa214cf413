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
            if lo > cursor then
                let candidate = Numbers.alignUp alignment cursor
                if candidate + size <= lo then
                    let gap = lo - cursor
                    match fit with
                    | Fit.First ->
                        best <- candidate
                        stop <- true
                    | Fit.Best ->
                        if gap < bestGap then
                            best <- candidate
                            bestGap <- gap
            if his.[i] > cursor then cursor <- his.[i]
            i <- i + 1
        if best >= 0L then best else Numbers.alignUp alignment cursor

    /// The union of some address ranges as sorted runs [Los.[j], His.[j]) that neither overlap nor touch (a run may be
    /// empty: it still separates the gaps on either side). Only the union matters to `choose`, so a tree node keeps
    /// this instead of its buffers. Gap j (j < Count) is the free space [His.[j - 1] (0 for j = 0), Los.[j]) below
    /// run j; gap Count is the unbounded space above the last run. The longest bounded gap of every block of
    /// `blockSize` gaps is cached (recomputed lazily from the first gap an Add moved) so that a search for a gap of
    /// some length skips blocks of shorter ones.
    [<Sealed; AllowNullLiteral>]
    type private Runs() =
        static let blockSize = 32
        let los = ResizeArray<int64>()
        let his = ResizeArray<int64>()
        let blockMax = ResizeArray<int64>()
        let mutable dirtyFrom = 0
        member _.Count = los.Count
        /// The runs' bottoms, ascending.
        member _.Los = los
        /// The runs' tops, ascending.
        member _.His = his
        /// Adds [lo, hi), merging every run it overlaps or touches.
        member _.Add(lo: int64, hi: int64) =
            // first run whose top reaches lo
            let mutable a, b = 0, his.Count
            while a < b do
                let m = (a + b) / 2
                if his.[m] < lo then a <- m + 1 else b <- m
            let j = a
            let mutable k = j
            while k < los.Count && los.[k] <= hi do k <- k + 1
            if k = j then
                los.Insert(j, lo)
                his.Insert(j, hi)
            else
                los.[j] <- min lo los.[j]
                his.[j] <- max hi his.[k - 1]
                if k - j > 1 then
                    los.RemoveRange(j + 1, k - j - 1)
                    his.RemoveRange(j + 1, k - j - 1)
            if j < dirtyFrom then dirtyFrom <- j
        member private _.GapLength(j: int) : int64 =
            if j = 0 then los.[0] else los.[j] - his.[j - 1]
        /// The first gap, in address order, that holds a window [x', x' + s) with x' >= x (s >= 1), as (start, end);
        /// the end of the unbounded top gap is Int64.MaxValue.
        member this.NextGap(x: int64, s: int64, start: byref<int64>, finish: byref<int64>) =
            let count = los.Count
            // refresh the cached block maxima
            let blocks = (count + blockSize - 1) / blockSize
            if dirtyFrom < count || blockMax.Count <> blocks then
                let first = min (dirtyFrom / blockSize) blockMax.Count
                if blockMax.Count > blocks then blockMax.RemoveRange(blocks, blockMax.Count - blocks)
                for blk in first .. blocks - 1 do
                    let mutable mx = 0L
                    for g in blk * blockSize .. min count ((blk + 1) * blockSize) - 1 do
                        let len = this.GapLength g
                        if len > mx then mx <- len
                    if blk < blockMax.Count then blockMax.[blk] <- mx else blockMax.Add mx
            dirtyFrom <- count
            // first gap whose end reaches x + s: the first run with lo >= x + s
            let need = x + s
            let mutable a, b = 0, count
            while a < b do
                let m = (a + b) / 2
                if los.[m] < need then a <- m + 1 else b <- m
            let mutable j = a
            let mutable found = false
            while not found && j < count do
                if j % blockSize = 0 && blockMax.[j / blockSize] < s then j <- j + blockSize
                elif this.GapLength j >= s then found <- true
                else j <- j + 1
            if found then
                start <- (if j = 0 then 0L else his.[j - 1])
                finish <- los.[j]
            else
                start <- (if count = 0 then 0L else his.[count - 1])
                finish <- System.Int64.MaxValue

    /// The offset `choose fit size alignment` gives for the union of the runs of nodes.[0 .. count - 1], found without
    /// visiting gaps shorter than the buffer: a gap of the union is the intersection of one gap of every node, so the
    /// search leapfrogs from node to node to the next window of `size` bytes free in all of them.
    let private chooseAmong (fit: Fit) (size: int64) (alignment: int64) (nodes: Runs[]) (count: int) : int64 =
        let s = max 1L size
        let mutable x = 0L
        let mutable best = -1L
        let mutable bestGap = System.Int64.MaxValue
        let mutable top = -1L
        let mutable c = 0L
        let mutable l = 0L
        while top < 0L do
            // the union gap holding a window of s bytes at or above x
            let mutable agreed = false
            let mutable lo = 0L
            let mutable hi = System.Int64.MaxValue
            while not agreed do
                agreed <- true
                lo <- 0L
                hi <- System.Int64.MaxValue
                for k in 0 .. count - 1 do
                    nodes.[k].NextGap(x, s, &c, &l)
                    if c > x then
                        x <- c
                        agreed <- false
                    if c > lo then lo <- c
                    if l < hi then hi <- l
            if hi = System.Int64.MaxValue then top <- lo
            else
                let candidate = Numbers.alignUp alignment lo
                if candidate + size <= hi then
                    match fit with
                    | Fit.First ->
                        best <- candidate
                        top <- lo
                    | Fit.Best ->
                        if hi - lo < bestGap then
                            best <- candidate
                            bestGap <- hi - lo
                x <- hi
        if best >= 0L then best else Numbers.alignUp alignment top

    /// Places the buffers of `problem` in `order` (a permutation of its indices), each at the offset `choose fit`
    /// gives among the placed buffers overlapping it in time. Two trees over the compressed steps hold the placed
    /// buffers: a segment tree of lifetimes (stabbing at a buffer's start finds those live then) and a tree of starts
    /// (finds those starting strictly inside its lifetime). Every buffer a query reaches through a node overlaps it in
    /// time, so a node keeps only the union of its buffers' address ranges (Runs): stacked buffers collapse into one
    /// run. First fit searches the O(log n) nodes reached together for the lowest gap at least as long as the buffer
    /// (chooseAmong), skipping blocks of shorter gaps; best fit sorts their runs and scans them (`choose`), costing
    /// O(log n + r log r) for r runs reached. Returns a plan in problem order.
    let placeInOrder (fit: Fit) (order: int[]) (problem: Problem) : Plan =
        let bs = problem.Buffers
        let n = bs.Length
        if order.Length <> n then invalidArg (nameof order) "order must be a permutation of the buffer indices"
        let coords = Sweep.steps problem
        let rankOf (t: int64) = System.Array.BinarySearch(coords, t)
        let m = max 1 coords.Length
        let mutable size = 1
        while size < m do size <- size * 2
        // lifetimes: a buffer covering leaves [a, b) is stored at the O(log n) canonical nodes of that range
        let cover : Runs[] = Array.zeroCreate (2 * size)
        // starts: a buffer starting at leaf a is stored at every ancestor of a
        let starts : Runs[] = Array.zeroCreate (2 * size)
        let add (tree: Runs[]) node lo hi =
            if isNull tree.[node] then tree.[node] <- Runs()
            tree.[node].Add(lo, hi)
        let offsets = Array.create n -1L
        let nodes : Runs[] = Array.zeroCreate 256
        let mutable count = 0
        let collect (runs: Runs) =
            if not (isNull runs) && runs.Count > 0 then
                nodes.[count] <- runs
                count <- count + 1
        let mutable los = Array.zeroCreate 16
        let mutable his = Array.zeroCreate 16
        for i in order do
            let b = bs.[i]
            if offsets.[i] >= 0L then invalidArg (nameof order) "order must not repeat an index"
            let a = rankOf b.Lifetime.Start
            let e = rankOf b.Lifetime.End
            count <- 0
            // placed buffers live at b's start: stab leaf a
            let mutable node = a + size
            while node >= 1 do
                collect cover.[node]
                node <- node / 2
            // placed buffers starting strictly inside b's lifetime: starts at leaves [a + 1, e)
            let mutable l = a + 1 + size
            let mutable r = e + size
            while l < r do
                if (l &&& 1) = 1 then (collect starts.[l]; l <- l + 1)
                if (r &&& 1) = 1 then (r <- r - 1; collect starts.[r])
                l <- l / 2
                r <- r / 2
            let lo =
                match fit with
                | Fit.First -> chooseAmong fit b.Size (max 1L b.Alignment) nodes count
                | Fit.Best ->
                    // best fit visits every gap anyway: sort the reached runs and scan them once
                    let mutable total = 0
                    for k in 0 .. count - 1 do total <- total + nodes.[k].Count
                    if total > los.Length then
                        los <- Array.zeroCreate (max total (2 * los.Length))
                        his <- Array.zeroCreate los.Length
                    let mutable at = 0
                    for k in 0 .. count - 1 do
                        nodes.[k].Los.CopyTo(los, at)
                        nodes.[k].His.CopyTo(his, at)
                        at <- at + nodes.[k].Count
                    System.Array.Sort(los, his, 0, total)
                    choose fit b.Size (max 1L b.Alignment) los his total
            let hi = lo + b.Size
            offsets.[i] <- lo
            // record b
            let mutable l = a + size
            let mutable r = e + size
            while l < r do
                if (l &&& 1) = 1 then (add cover l lo hi; l <- l + 1)
                if (r &&& 1) = 1 then (r <- r - 1; add cover r lo hi)
                l <- l / 2
                r <- r / 2
            let mutable node = a + size
            while node >= 1 do
                add starts node lo hi
                node <- node / 2
        { Offsets = offsets }

    /// The indices of a problem sorted by a comparison of buffers, ties broken by index: a deterministic order for placeInOrder.
    let orderBy (comparison: Buffer -> Buffer -> int) (problem: Problem) : int[] =
        let bs = problem.Buffers
        let order = Array.init bs.Length id
        System.Array.Sort(order, System.Comparison(fun x y ->
            let c = comparison bs.[x] bs.[y]
            if c <> 0 then c else compare x y))
        order
