namespace Pgmo.Planner

/// TFLite's greedy-by-size planner (`greedy-size`): buffers in decreasing size, each in the smallest gap that fits it
/// among the time-overlapping placed buffers, else on top of them.
[<RequireQualifiedAccess>]
module Greedy =

    /// The placement order: decreasing size; ties by earlier lifetime start, then by problem order.
    let order (problem: Problem) : int[] =
        problem |> Placement.orderBy (fun a b ->
            let c = compare b.Size a.Size
            if c <> 0 then c else compare a.Lifetime.Start b.Lifetime.Start)

    /// The greedy-by-size plan of a time axis's problem: a valid, aligned offset for every buffer, in problem order.
    let planOn (axis: TimeAxis) : Plan = Placement.placeOn axis Fit.Best true (order axis.Problem)

    /// The greedy-by-size plan: a valid, aligned offset for every buffer, in problem order.
    let plan (problem: Problem) : Plan = planOn (TimeAxis problem)
