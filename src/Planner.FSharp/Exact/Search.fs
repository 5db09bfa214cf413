namespace Pgmo.Planner


open System.Threading

/// Heuristic search for a low peak, in three stages on one budget (SolveOptions: a time limit, a budget of work, a
/// cancellation). Always returns a valid plan, the best found.
///
/// 1. Construction: best-fit (the paper's rule, then fixed orders) and the lowest-fit placement of the same orders
///    (each buffer, in order, at the lowest aligned offset free among the placed pieces it meets: Placement.place).
/// 2. Exact: the descent by capacity decisions of the exact search (Descent.run) from the best plan, with most of the
///    remaining budget.
/// 3. Local search over best-fit rankings: buffers above the lower bound move forward ("squeaky wheel"), random swaps;
///    a move is kept when the cost (peak, then total height above the lower bound) is not worse; after a long
///    stagnation it restarts from a perturbed copy of the best ranking.
/// Every stage stops at the lower bound. No stage's schedule depends on the size of the budget (the descent's first
/// phase is a number of nodes, and no stage is given a share of the time to leave some to the next), so what a
/// long run finds by second k, a k-second run finds too, up to the machine's noise.
///
/// Work is counted in nodes: a placement of n buffers costs n, a search node of the exact search one. Under a node
/// budget (options.Nodes) with a time limit that is not reached, the search is deterministic given the seed: the
/// same plan on any machine. It reads a Stopwatch for its time limit (the only impure thing it does).
[<RequireQualifiedAccess>]
module Search =

    /// 5 s, seed 1, no node budget, no cancellation (SolveOptions.defaults).
    let defaults = SolveOptions.defaults

    /// When to stop: the run's Deadline (time, nodes, cancellation), shared by the stages of one search.
    type private Budget(options: SolveOptions, n: int) =
        let deadline = Deadline(options)
        member _.Deadline = deadline
        /// Counts one placement of every buffer.
        member _.Tick() = deadline.Spend(int64 (max 1 n))
        /// The time left of the budget (zero when spent).
        member _.Remaining = deadline.Remaining
        /// True when time or nodes are up or the search was cancelled.
        member _.OutOfTime = deadline.Expired
        /// True when no further evaluation may start.
        member _.Exhausted = deadline.Expired
        /// The longest one full best-fit placement took so far (measured by `Timed`).
        member val Placement = System.TimeSpan.Zero with get, set
        /// True when another evaluation may start: the nodes left hold one more placement and the time left one more
        /// full best-fit placement, so that at scale (a placement of 100k buffers takes a good part of a second) the
        /// last one does not overrun the limit.
        member this.Affords = not this.Exhausted && deadline.NodesLeft >= int64 n && this.Remaining >= this.Placement
        /// Runs a full best-fit placement, keeping its duration in Placement.
        member this.Timed(place: unit -> 'a) : 'a =
            let start = deadline.Elapsed
            let result = place ()
            let took = deadline.Elapsed - start
            if took > this.Placement then this.Placement <- took
            result

    /// The greedy "lowest feasible offset in a given order" placement (Placement.place with Fit.First, pins first,
    /// hints tried), and the cost the search minimizes.
    type private OrderPlacer(axis: TimeAxis, budget: Budget) =
        let n = axis.Buffers
        let sizes = axis.Problem.Buffers |> Array.map (fun b -> b.Size)
        member val LowerBound = Bounds.lowerBoundOn axis

        /// Places every buffer in `order` and writes their offsets. Returns false, leaving offsets partly written,
        /// when some top exceeds `limit` or time runs out.
        member this.Place(order: int[], offsets: int64[], limit: int64) : bool =
            Placement.place axis Fit.First true order offsets limit (fun () -> budget.OutOfTime)

        /// (peak, total of tops above the lower bound) of complete offsets: the cost the search minimizes.
        member this.Cost(offsets: int64[]) : struct (int64 * int64) =
            let lb = this.LowerBound
            let mutable peak = 0L
            let mutable over = 0L
            for i in 0 .. n - 1 do
                let top = Checked.(+) offsets.[i] sizes.[i]
                if top > peak then peak <- top
                // saturates: only the order of costs matters
                if top > lb then over <- (if over > System.Int64.MaxValue - (top - lb) then System.Int64.MaxValue else over + (top - lb))
            struct (peak, over)

    let private better (struct (p1: int64, o1: int64)) (struct (p2: int64, o2: int64)) = p1 < p2 || (p1 = p2 && o1 < o2)

    /// Orders tried by the construction stage: sort keys on (size, length, area, start), larger first unless noted.
    let private orderKeys : (Buffer -> Buffer -> int) list =
        let len (b: Buffer) = b.Lifetime.End - b.Lifetime.Start
        let area (b: Buffer) = b.Size * len b
        let desc f (x: Buffer) (y: Buffer) = compare (f y) (f x)
        let thenBy c1 c2 x y = let c = c1 x y in if c <> 0 then c else c2 x y
        let asc f (x: Buffer) (y: Buffer) = compare (f x) (f y)
        [ thenBy (desc area) (thenBy (desc (fun b -> b.Size)) (desc len))
          thenBy (desc (fun b -> b.Size)) (thenBy (desc len) (asc (fun b -> b.Lifetime.Start)))
          thenBy (desc len) (desc (fun b -> b.Size))
          thenBy (asc (fun b -> b.Lifetime.Start)) (desc (fun b -> b.Size))
          thenBy (desc (fun b -> b.Lifetime.End)) (desc (fun b -> b.Size)) ]

    /// The search state shared by the stages: the best plan found (always valid) and its cost.
    type private State(axis: TimeAxis, options: SolveOptions) =
        let problem = axis.Problem
        member val Budget = Budget(options, axis.Buffers)
        member val Random = System.Random(options.Seed)
        member val Placer = Unchecked.defaultof<OrderPlacer> with get, set
        member val Best = { Offsets = Array.zeroCreate problem.Buffers.Length } with get, set
        member val BestCost = struct (System.Int64.MaxValue, System.Int64.MaxValue) with get, set
        member val BestOrder : int[] = [||] with get, set
        /// Keeps a valid plan (and the greedy order that gave it, if any) when it is better than the best.
        member this.Offer(offsets: int64[], cost, order: int[]) =
            if better cost this.BestCost then
                this.Best <- { Offsets = Array.copy offsets }
                this.BestCost <- cost
                if order.Length > 0 then this.BestOrder <- Array.copy order
        /// Keeps a skyline plan (BestFit.place: gaps honoured, pins not) once its pinned buffers are at their pins
        /// (Placement.keepPins; the plan itself without pins), when it is better than the best.
        member this.OfferSkyline(offsets: int64[], cost, order: int[]) =
            if axis.HasPins then
                let kept = (Placement.keepPins axis { Offsets = offsets }).Offsets
                this.Offer(kept, this.Placer.Cost kept, order)
            else this.Offer(offsets, cost, order)
        member this.Done = (let struct (p, _) = this.BestCost in p <= this.Placer.LowerBound)

    let private orderOfRanks (rank: int[]) =
        let order = Array.zeroCreate rank.Length
        rank |> Array.iteri (fun i r -> order.[r] <- i)
        order

    let private ranksOfOrder (order: int[]) (rank: int[]) =
        order |> Array.iteri (fun r i -> rank.[i] <- r)

    /// Stage 1: best-fit under the paper's rule (always, even with no time left) and under the fixed orders, then
    /// the greedy under the same orders. The best best-fit ranking seeds stage 2.
    let private construct (problem: Problem) (state: State) (shape: BestFit.Shape) =
        let g = state.Placer
        let n = problem.Buffers.Length
        let offsets = Array.zeroCreate n
        // each order is sorted only when its turn comes within the budget (a sort of 100k buffers takes tens of ms)
        let keys = BestFit.paperRule :: orderKeys
        let orders = Array.zeroCreate<int[]> keys.Length
        let order k = (if isNull orders.[k] then orders.[k] <- orderOfRanks (BestFit.ranksBy keys.[k] problem)); orders.[k]
        for k in 0 .. keys.Length - 1 do
            if k = 0 || (not state.Done && state.Budget.Affords) then
                state.Budget.Tick()
                let order = order k
                let rank = Array.zeroCreate n
                ranksOfOrder order rank
                state.Budget.Timed(fun () -> BestFit.place shape rank System.Int64.MaxValue offsets) |> ignore
                state.OfferSkyline(offsets, g.Cost offsets, order)
        let seed = state.BestOrder
        for k in 0 .. keys.Length - 1 do
            if not state.Done && state.Budget.Affords then
                let order = order k
                state.Budget.Tick()
                let struct (limit, _) = state.BestCost
                if g.Place(order, offsets, limit) then state.Offer(offsets, g.Cost offsets, [||])
        seed

    /// Stage 3: iterated local search over the best-fit ranking. Moves: a buffer above the lower bound (half the
    /// time: at the peak) moves to a random earlier rank (squeaky wheel), or two random ranks swap. A move is kept
    /// when (peak, total height above the lower bound) is not worse; decoding stops early at a top above the current
    /// peak. After `patience` moves without progress the search restarts from the best ranking with a few swaps.
    let private improve (problem: Problem) (state: State) (shape: BestFit.Shape) (seed: int[]) =
        let n = problem.Buffers.Length
        let g = state.Placer
        let rnd = state.Random
        let sizes = problem.Buffers |> Array.map (fun b -> b.Size)
        if n >= 2 && seed.Length = n && not state.Done && state.Budget.Affords then
            let order = Array.copy seed
            let bestOrder = Array.copy seed
            let rank = Array.zeroCreate n
            let current = Array.zeroCreate n
            ranksOfOrder order rank
            BestFit.place shape rank System.Int64.MaxValue current |> ignore
            let mutable cost = g.Cost current
            let mutable bestCost = cost
            let candidate = Array.zeroCreate n
            let trial = Array.zeroCreate n
            let mutable stagnation = 0
            let patience = max 5000 (50 * n)
            let high = ResizeArray<int>()
            while not state.Done && state.Budget.Affords do
                state.Budget.Tick()
                Array.blit order 0 trial 0 n
                let struct (peak, _) = cost
                if rnd.Next 10 < 6 then
                    high.Clear()
                    let threshold = if rnd.Next 2 = 0 then peak - 1L else g.LowerBound
                    for p in 1 .. n - 1 do
                        if current.[order.[p]] + sizes.[order.[p]] > threshold then high.Add p
                if high.Count > 0 then
                    let p = high.[rnd.Next high.Count]
                    let q = rnd.Next p
                    let x = trial.[p]
                    System.Array.Copy(trial, q, trial, q + 1, p - q)
                    trial.[q] <- x
                    high.Clear()
                else
                    let p, q = rnd.Next n, rnd.Next n
                    let x = trial.[p]
                    trial.[p] <- trial.[q]
                    trial.[q] <- x
                ranksOfOrder trial rank
                let mutable improved = false
                if BestFit.place shape rank peak candidate then
                    let c = g.Cost candidate
                    if not (better cost c) then
                        improved <- better c cost
                        Array.blit trial 0 order 0 n
                        Array.blit candidate 0 current 0 n
                        cost <- c
                        state.OfferSkyline(current, cost, [||])
                        if better cost bestCost then
                            bestCost <- cost
                            Array.blit order 0 bestOrder 0 n
                stagnation <- if improved then 0 else stagnation + 1
                if stagnation > patience && state.Budget.Affords then
                    // restart from the best ranking, perturbed by a few random swaps
                    stagnation <- 0
                    Array.blit bestOrder 0 order 0 n
                    for _ in 1 .. 1 + rnd.Next (max 1 (n / 50)) do
                        let p, q = rnd.Next n, rnd.Next n
                        let x = order.[p]
                        order.[p] <- order.[q]
                        order.[q] <- x
                    ranksOfOrder order rank
                    BestFit.place shape rank System.Int64.MaxValue current |> ignore
                    cost <- g.Cost current

    /// Stage 2: the descent by capacity decisions of the exact search (Descent.run) from the best plan so far, with
    /// `share` of the remaining time and nodes, on up to two threads (under a node budget: one thread, so that the
    /// run stays deterministic). Skipped where the exact search is not tractable (Descent.tractable).
    let private exact (axis: TimeAxis) (state: State) (options: SolveOptions) (share: float) =
        if not state.Done && not state.Budget.Exhausted && Descent.tractableOn axis then
            let deadline = state.Budget.Deadline
            let descent =
                { deadline.Share(share, options.Cancellation) with
                    Workers = (if options.Nodes.IsSome then 1 else min 2 System.Environment.ProcessorCount)
                    Hint = None; Progress = None }
            let m = Descent.run descent (Incumbent(axis.Problem, state.Best, fun _ _ _ -> ())) axis
            deadline.Spend m.Nodes
            state.Offer(m.Best.Offsets, state.Placer.Cost m.Best.Offsets, [||])

    /// The best plan found within the options' budget for the problem of a time axis: always valid; its peak is never
    /// below Bounds.lowerBound. Stages run in turn on one shared budget: construction (best-fit, greedy orders), the
    /// exact search with the remaining time, then local search over best-fit rankings with what is left.
    let planOn (options: SolveOptions) (axis: TimeAxis) : Plan =
        let problem = axis.Problem
        if problem.Buffers.Length = 0 then { Offsets = [||] }
        else
            let state = State(axis, options)
            state.Placer <- OrderPlacer(axis, state.Budget)
            let shape = BestFit.Shape axis
            let seed = construct problem state shape
            exact axis state options 1.0
            improve problem state shape seed
            state.Best

    /// The best plan found within the options' budget (planOn the problem's time axis).
    let plan (options: SolveOptions) (problem: Problem) : Plan = planOn options (TimeAxis problem)
