namespace Pgmo.Planner

/// An online first-fit malloc (`first-fit`): buffers in allocation order take the lowest free address gap at that time.
[<RequireQualifiedAccess>]
module FirstFit =

    /// Allocation order: by lifetime start, then by problem order. Every buffer placed before one starting at step s
    /// started at or before s, so the placed buffers that overlap it in time are exactly those live at s: the
    /// offline placement in this order is the online allocator.
    let order (problem: Problem) : int[] =
        problem |> Placement.orderByKey (fun b -> b.Lifetime.Start)

    /// The first-fit plan of a time axis's problem: valid, aligned offsets in problem order.
    let planOn (axis: TimeAxis) : Plan = Placement.placeOn axis Fit.First true (order axis.Problem)

    /// The first-fit plan: valid, aligned offsets in problem order.
    let plan (problem: Problem) : Plan = planOn (TimeAxis problem)
