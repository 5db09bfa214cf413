namespace Pgmo.Planner

/// The max-load lower bound: no plan's peak can be smaller than the largest total of bytes the buffers' pieces hold at
/// one step, nor than a pinned buffer's top (proofs/lower-bound.md, proofs/gaps.md Lemma G1).
[<RequireQualifiedAccess>]
module Bounds =

    /// The load as a step function: (step, bytes the pieces hold from that step until the next entry), ascending
    /// steps (TimeAxis.Load: one sweep over the pieces' ends, O(n log n); frees at a step happen before allocations;
    /// a gap frees the bytes outside its window).
    let loadProfile (problem: Problem) : (int64 * int64)[] = (TimeAxis problem).Load

    /// The lower bound of a problem's time axis in bytes: its largest load at one step, and every pinned buffer's top
    /// (its pinned offset plus its size); 0 for no buffers.
    let lowerBoundOn (axis: TimeAxis) : int64 =
        let mutable m = axis.MaxLoad
        if axis.HasPins then
            for b in axis.Problem.Buffers do
                match b.Pinned with
                | Some o -> m <- max m (Checked.(+) o b.Size)
                | None -> ()
        m

    /// The max-load lower bound in bytes (lowerBoundOn the problem's time axis).
    let lowerBound (problem: Problem) : int64 = lowerBoundOn (TimeAxis problem)

    /// The steps at which the load reaches the lower bound.
    let peakSteps (problem: Problem) : int64[] =
        let profile = loadProfile problem
        let lb = profile |> Array.fold (fun m (_, load) -> max m load) 0L
        profile |> Array.filter (fun (_, load) -> load = lb && lb > 0L) |> Array.map fst
