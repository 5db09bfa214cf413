namespace Pgmo.Planner

/// The max-load lower bound: no plan's peak can be smaller than the largest total size of buffers live at one step.
[<RequireQualifiedAccess>]
module Bounds =

    /// The live load as a step function: (step, total bytes live from that step until the next entry), ascending steps.
    /// Computed by one sweep over the 2n sorted lifetime ends in O(n log n); frees at a step happen before allocations.
    let loadProfile (problem: Problem) : (int64 * int64)[] =
        let n = problem.Buffers.Length
        // events: (step, delta); at equal steps negative deltas (frees) come first
        let events = Array.zeroCreate (2 * n)
        problem.Buffers |> Array.iteri (fun i b ->
            events.[2 * i] <- struct (b.Lifetime.Start, b.Size)
            events.[2 * i + 1] <- struct (b.Lifetime.End, -b.Size))
        let events = events |> Array.sortWith (fun (struct (t1, d1)) (struct (t2, d2)) -> if t1 <> t2 then compare t1 t2 else compare d1 d2)
        let result = System.Collections.Generic.List<int64 * int64>()
        let mutable load = 0L
        let mutable i = 0
        while i < events.Length do
            let struct (t, _) = events.[i]
            while i < events.Length && (let struct (t2, _) = events.[i] in t2 = t) do
                let struct (_, d) = events.[i]
                load <- load + d
                i <- i + 1
            result.Add((t, load))
        result.ToArray()

    /// The max-load lower bound in bytes: the largest total size of buffers live at one step (0 for no buffers).
    let lowerBound (problem: Problem) : int64 =
        loadProfile problem |> Array.fold (fun m (_, load) -> max m load) 0L

    /// The steps at which the load reaches the lower bound.
    let peakSteps (problem: Problem) : int64[] =
        let profile = loadProfile problem
        let lb = profile |> Array.fold (fun m (_, load) -> max m load) 0L
        profile |> Array.filter (fun (_, load) -> load = lb && lb > 0L) |> Array.map fst
