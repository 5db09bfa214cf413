module Pgmo.Planner.Tests.NetworkTracePlacementTests

open Expecto
open Pgmo.Planner

/// The interval trees of Placement.placeInOrder on the batch-32 network traces of datasets/traces: in every
/// baseline's order they put every buffer exactly where the O(n^2) reference placement (PlacementTests.referencePlace)
/// puts it.
let tests =
    testList "Placement on the network traces" [
        for file in NetworkTracePoolTests.traceFiles "*-b32.csv" do
            testCase (sprintf "%s: every baseline's order places like the reference" (System.IO.Path.GetFileNameWithoutExtension file)) <| fun () ->
                let problem = NetworkTracePoolTests.traceProblem file
                for label, fit, order in [ "greedy-size", Fit.Best, Greedy.order problem
                                           "xla-spatial", Fit.Best, Xla.order XlaStrategy.Spatial problem
                                           "xla-temporal", Fit.Best, Xla.order XlaStrategy.Temporal problem
                                           "first-fit", Fit.First, FirstFit.order problem ] do
                    let plan = Placement.placeInOrder fit order problem
                    Expect.equal plan (PlacementTests.referencePlace fit order problem) (sprintf "%s: same offsets as the reference" label)
                    let peak = expectValid label problem plan
                    Expect.isGreaterThanOrEqual peak (Bounds.lowerBound problem) (sprintf "%s: not below the lower bound" label)
    ]
