namespace Pgmo.Planner

/// The max-load lower bound: no plan's peak can be smaller than the largest total size of buffers live at one step.
[<RequireQualifiedAccess>]
module Bounds =

    /// The live load as a step function: (step, total bytes live from that step until the next entry), ascending steps.
    /// One sweep over the sorted lifetime ends (Sweep.load), O(n log n); frees at a step happen before allocations.
    /// With gaps, the load of the buffers' pieces (Gaps.load: a gap frees the bytes outside its window).
    let loadProfile (problem: Problem) : (int64 * int64)[] =
        if Gaps.hasGaps problem then Gaps.load problem else Sweep.load problem

    /// The max-load lower bound in bytes: the largest total size of buffers live at one step (0 for no buffers); with
    /// gaps or pinned buffers, Gaps.lowerBound (the pieces' load, and every pinned buffer's top).
    let lowerBound (problem: Problem) : int64 =
        if Gaps.special problem then Gaps.lowerBound problem
        else loadProfile problem |> Array.fold (fun m (_, load) -> max m load) 0L

    /// The steps at which the load reaches the lower bound.
    let peakSteps (problem: Problem) : int64[] =
        let profile = loadProfile problem
        let lb = profile |> Array.fold (fun m (_, load) -> max m load) 0L
        profile |> Array.filter (fun (_, load) -> load = lb && lb > 0L) |> Array.map fst
