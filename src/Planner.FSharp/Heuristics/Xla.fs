namespace Pgmo.Planner

/// The order in which XLA's decreasing-size best-fit heap simulator considers buffers.
[<RequireQualifiedAccess>]
type XlaStrategy =
    /// `xla-spatial`: decreasing size, then decreasing duration.
    | Spatial
    /// `xla-temporal`: decreasing duration, then decreasing size.
    | Temporal

/// XLA's GlobalDecreasingSizeBestFitHeap: one algorithm, two orders. Each buffer takes the smallest gap that fits it
/// among the time-overlapping placed buffers (ties: the lowest), else goes on top of them.
[<RequireQualifiedAccess>]
module Xla =

    /// The algorithm's name on the command line: `xla-spatial` or `xla-temporal`.
    let name (strategy: XlaStrategy) : string =
        match strategy with
        | XlaStrategy.Spatial -> "xla-spatial"
        | XlaStrategy.Temporal -> "xla-temporal"

    /// The placement order of a strategy; remaining ties by earlier lifetime start, then by problem order.
    let order (strategy: XlaStrategy) (problem: Problem) : int[] =
        let duration (b: Buffer) = b.Lifetime.End - b.Lifetime.Start
        problem |> Placement.orderBy (fun a b ->
            let bySize = compare b.Size a.Size
            let byDuration = compare (duration b) (duration a)
            let c =
                match strategy with
                | XlaStrategy.Spatial -> if bySize <> 0 then bySize else byDuration
                | XlaStrategy.Temporal -> if byDuration <> 0 then byDuration else bySize
            if c <> 0 then c else compare a.Lifetime.Start b.Lifetime.Start)

    /// The plan of XLA's heap simulator with the given strategy on a time axis's problem: valid, aligned offsets in
    /// problem order.
    let planOn (strategy: XlaStrategy) (axis: TimeAxis) : Plan = Placement.placeOn axis Fit.Best true (order strategy axis.Problem)

    /// The plan of XLA's heap simulator with the given strategy: valid, aligned offsets in problem order.
    let plan (strategy: XlaStrategy) (problem: Problem) : Plan = planOn strategy (TimeAxis problem)
