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
        let keys = Array.zeroCreate (2 * n)
        if n > 0 then
            let mutable lo = System.Int64.MaxValue
            let mutable hi = System.Int64.MinValue
            for i in 0 .. n - 1 do
                lo <- min lo (min starts.[i] ends.[i])
                hi <- max hi (max starts.[i] ends.[i])
            let range = hi - lo   // negative when it overflows
            if range >= 0L && range < (System.Int64.MaxValue / 2L - 1L) / int64 n then
                // one sort of plain int64s, ((step - lo) × 2 + kind) × n + index: the same order as byStep's, several
                // times faster than sorting the struct tuples with a comparison
                let wide = int64 n
                let packed = Array.zeroCreate (2 * n)
                for i in 0 .. n - 1 do
                    packed.[2 * i] <- ((starts.[i] - lo) * 2L + int64 Starts) * wide + int64 i
                    packed.[2 * i + 1] <- ((ends.[i] - lo) * 2L + int64 Ends) * wide + int64 i
                System.Array.Sort packed
                for k in 0 .. packed.Length - 1 do
                    let c = packed.[k]
                    let i = int (c % wide)
                    let rest = c / wide
                    keys.[k] <- struct (lo + rest / 2L, int (rest % 2L), i)
            else
                for i in 0 .. n - 1 do
                    keys.[2 * i] <- struct (starts.[i], Starts, i)
                    keys.[2 * i + 1] <- struct (ends.[i], Ends, i)
                // a typed comparison: F#'s structural comparison of struct tuples is several times slower here
                System.Array.Sort(keys, byStep)
        keys

    /// Every lifetime's two endpoints as (step, kind, buffer index) in sweep order (see `order`): the request order of
    /// a pool, which holds a buffer's bytes over its whole lifetime. O(n log n).
    let endpoints (problem: Problem) : struct (int64 * int * int)[] =
        let bs = problem.Buffers
        order (bs |> Array.map (fun b -> b.Lifetime.Start)) (bs |> Array.map (fun b -> b.Lifetime.End))
