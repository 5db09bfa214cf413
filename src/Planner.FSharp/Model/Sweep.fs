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
        let mutable lo = System.Int64.MaxValue
        let mutable hi = System.Int64.MinValue
        for i in 0 .. n - 1 do
            lo <- min lo (min starts.[i] ends.[i])
            hi <- max hi (max starts.[i] ends.[i])
        // endpoint j is interval j / 2's start (j even) or end (j odd): among endpoints of one step and kind, j's order
        // is the intervals' order, so a sort by (step, kind), ties by j, is byStep's
        let order =
            if n = 0 || hi - lo < 0L || hi - lo >= System.Int64.MaxValue / 2L then None
            else
                let keys = Array.zeroCreate (2 * n)
                for i in 0 .. n - 1 do
                    keys.[2 * i] <- (starts.[i] - lo) * 2L + int64 Starts
                    keys.[2 * i + 1] <- (ends.[i] - lo) * 2L + int64 Ends
                Numbers.tryOrderByKey keys
        let result = Array.zeroCreate (2 * n)
        match order with
        | Some order ->
            for k in 0 .. order.Length - 1 do
                let j = order.[k]
                let i = j / 2
                result.[k] <- if j % 2 = 0 then struct (starts.[i], Starts, i) else struct (ends.[i], Ends, i)
        | None ->
            for i in 0 .. n - 1 do
                result.[2 * i] <- struct (starts.[i], Starts, i)
                result.[2 * i + 1] <- struct (ends.[i], Ends, i)
            // a typed comparison: F#'s structural comparison of struct tuples is several times slower here
            System.Array.Sort(result, byStep)
        result

    /// Every lifetime's two endpoints as (step, kind, buffer index) in sweep order (see `order`): the request order of
    /// a pool, which holds a buffer's bytes over its whole lifetime. O(n log n).
    let endpoints (problem: Problem) : struct (int64 * int * int)[] =
        let bs = problem.Buffers
        order (bs |> Array.map (fun b -> b.Lifetime.Start)) (bs |> Array.map (fun b -> b.Lifetime.End))
