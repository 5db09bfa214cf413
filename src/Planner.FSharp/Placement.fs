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
                let candidate = Buffer.alignUp alignment cursor
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
        if best >= 0L then best else Buffer.alignUp alignment cursor

    /// The union of some address ranges as sorted runs [Los.[j], His.[j]) that neither overlap nor touch.
    /// Only the union matters to `choose`, so a tree node keeps this instead of its buffers.
    [<Sealed; AllowNullLiteral>]
    type private Runs() =
        member val Los = ResizeArray<int64>() with get
        member val His = ResizeArray<int64>() with get
        /// Adds [lo, hi), merging every run it overlaps or touches.
        member this.Add(lo: int64, hi: int64) =
            let los, his = this.Los, this.His
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

    /// Places the buffers of `problem` in `order` (a permutation of its indices), each at the offset `choose fit`
    /// gives among the placed buffers overlapping it in time. Two trees over the compressed steps hold the placed
    /// buffers: a segment tree of lifetimes (stabbing at a buffer's start finds those live then) and a tree of starts
    /// (finds those starting strictly inside its lifetime). Every buffer a query reaches through a node overlaps it in
    /// time, so a node keeps only the union of its buffers' address ranges (Runs): stacked buffers collapse into one
    /// run. A placement costs O(log n + r log r) for r runs reached (r <= time-overlapping placed buffers).
    /// Returns a plan in problem order.
    let placeInOrder (fit: Fit) (order: int[]) (problem: Problem) : Plan =
        let bs = problem.Buffers
        let n = bs.Length
        if order.Length <> n then invalidArg (nameof order) "order must be a permutation of the buffer indices"
        let coords = Array.zeroCreate (2 * n)
        for i in 0 .. n - 1 do
            coords.[2 * i] <- bs.[i].Lifetime.Start
            coords.[2 * i + 1] <- bs.[i].Lifetime.End
        let coords = Array.distinct (Array.sort coords)
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
        let mutable los = Array.zeroCreate 16
        let mutable his = Array.zeroCreate 16
        let mutable count = 0
        let collect (runs: Runs) =
            if not (isNull runs) then
                let c = runs.Los.Count
                if count + c > los.Length then
                    let grown = max (2 * los.Length) (count + c)
                    System.Array.Resize(&los, grown)
                    System.Array.Resize(&his, grown)
                runs.Los.CopyTo(los, count)
                runs.His.CopyTo(his, count)
                count <- count + c
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
            System.Array.Sort(los, his, 0, count)
            let lo = choose fit b.Size (max 1L b.Alignment) los his count
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
