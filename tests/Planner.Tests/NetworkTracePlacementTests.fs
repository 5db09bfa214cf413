module Pgmo.Planner.Tests.NetworkTracePlacementTests

open System.IO
open Expecto
open Pgmo.Planner
open Pgmo.Planner.Tests.Generators

/// The interval trees of Placement.placeInOrder on the profiled network traces of datasets/traces (batch 32 of each
/// network): in every baseline's order they put every buffer exactly where the O(n^2) reference placement
/// (PlacementTests.referencePlace, which checks every placed buffer for a time overlap) puts it.
let tests =
    let folder = Path.Combine(OptimalTests.repositoryRoot (), "datasets", "traces")
    testList "Placement on the network traces" [
        for file in Directory.GetFiles(folder, "*-b32.csv") |> Array.sort do
            let name = Path.GetFileNameWithoutExtension file
            testCase (sprintf "%s: every baseline's order places like the reference" name) <| fun () ->
                let problem =
                    match Csv.parseProblem file (File.ReadAllText file) with
                    | Ok p -> p
                    | Error e -> failwithf "%s:%d %s" e.File e.Line e.Message
                for label, fit, order in [ "greedy-size", Fit.Best, Greedy.order problem
                                           "xla-spatial", Fit.Best, Xla.order XlaStrategy.Spatial problem
                                           "xla-temporal", Fit.Best, Xla.order XlaStrategy.Temporal problem
                                           "first-fit", Fit.First, FirstFit.order problem ] do
                    let plan = Placement.placeInOrder fit order problem
                    Expect.equal plan (PlacementTests.referencePlace fit order problem) (sprintf "%s: same offsets as the reference" label)
                    let peak = expectValid label problem plan
                    Expect.isGreaterThanOrEqual peak (Bounds.lowerBound problem) (sprintf "%s: not below the lower bound" label)
    ]
