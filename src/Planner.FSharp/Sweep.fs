namespace Pgmo.Planner

/// The time axis of a problem, swept once: every planner, bound, validator and pool that walks lifetimes in time
/// order takes its order from here, so that "frees before allocations at one step" (half-open lifetimes) is decided
/// in one place.
///
/// ```
///  step:      0   1   2   3   4
///  a          [-------)               a = [0, 2)
///  b              [-----------)       b = [1, 4)
///  c                  [---)           c = [2, 3)
///  endpoints: s a, s b, e a, s c, e c, e b     (at step 2 a ends before c starts: a and c never overlap)
/// ```
[<RequireQualifiedAccess>]
module Sweep =

    /// The kind of an endpoint that ends a lifetime (sorts before `Starts` at the same step).
    [<Literal>]
    let Ends = 0

    /// The kind of an endpoint that starts a lifetime.
    [<Literal>]
    let Starts = 1

    /// Every lifetime's two endpoints as (step, kind, buffer index), sorted by step, then ends before starts, then
    /// buffer index: the order in which a sweep over time meets them. O(n log n).
    let endpoints (problem: Problem) : struct (int64 * int * int)[] =
        let bs = problem.Buffers
        let keys = Array.zeroCreate (2 * bs.Length)
        for i in 0 .. bs.Length - 1 do
            keys.[2 * i] <- struct (bs.[i].Lifetime.Start, Starts, i)
            keys.[2 * i + 1] <- struct (bs.[i].Lifetime.End, Ends, i)
        Array.sortInPlace keys
        keys
