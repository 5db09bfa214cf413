namespace Pgmo.Planner

/// The order of a sweep over time, decided in one place: every planner, bound, validator and pool that walks
/// half-open intervals of steps meets their endpoints in this order, so that "frees before allocations at one step"
/// is decided once. The index of a problem's time axis (TimeAxis) sweeps its pieces in this order; the pools sweep
/// whole lifetimes (`endpoints`).
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

    /// The kind of an endpoint that ends an interval (sorts before `Starts` at the same step).
    [<Literal>]
    let Ends = 0

    /// The kind of an endpoint that starts an interval.
    [<Literal>]
    let Starts = 1

    let private byStep =
        System.Comparison(fun (struct (t1: int64, k1: int, i1: int)) (struct (t2: int64, k2: int, i2: int)) ->
            if t1 <> t2 then compare t1 t2 elif k1 <> k2 then compare k1 k2 else compare i1 i2)

    /// The endpoints of the half-open intervals [starts.[i], ends.[i]) as (step, kind, index), sorted by step, then
    /// ends before starts, then index: the order in which a sweep over time meets them. O(n log n).
    let order (starts: int64[]) (ends: int64[]) : struct (int64 * int * int)[] =
        let n = starts.Length
        let endpoint j = if j % 2 = 0 then struct (starts.[j / 2], Starts, j / 2) else struct (ends.[j / 2], Ends, j / 2)
        // endpoint j is interval j / 2's start (j even) or end (j odd): among endpoints of one step and kind, j's order
        // is the intervals' order, so a sort by (step, kind), ties by j, is byStep's
        let lo = if n = 0 then 0L else min (Array.min starts) (Array.min ends)
        let hi = if n = 0 then 0L else max (Array.max starts) (Array.max ends)
        let packed =
            if hi - lo < 0L || hi - lo >= System.Int64.MaxValue / 2L then None
            else Numbers.tryOrderByKey (Array.init (2 * n) (fun j -> let struct (t, kind, _) = endpoint j in (t - lo) * 2L + int64 kind))
        match packed with
        | Some order -> order |> Array.map endpoint
        | None ->
            let keys = Array.init (2 * n) endpoint
            // a typed comparison: F#'s structural comparison of struct tuples is several times slower here
            System.Array.Sort(keys, byStep)
            keys

    /// Every lifetime's two endpoints as (step, kind, buffer index) in sweep order (see `order`): the request order of
    /// a pool, which holds a buffer's bytes over its whole lifetime. O(n log n).
    let endpoints (problem: Problem) : struct (int64 * int * int)[] =
        let bs = problem.Buffers
        order (bs |> Array.map (fun b -> b.Lifetime.Start)) (bs |> Array.map (fun b -> b.Lifetime.End))
