module Pgmo.Planner.Tests.NetworkTracePoolTests

open System.IO
open Expecto
open Pgmo.Planner

/// `plan --algorithm pool`, `torch-pool` and `torch-expandable` on the profiled network traces of datasets/traces
/// (ResNet-50, GoogLeNet, Inception-v3, VGG-16, AlexNet at three batch sizes): the registry algorithm the command runs
/// charges exactly the reserved bytes of the reference pools written from the policy text (PoolTests.referencePool
/// and PoolTests.referenceExpandable, plain lists of chunks with no shared code), and puts every block where the
/// reference does.
/// The network traces of datasets/traces whose file names match `pattern` (e.g. "*.csv"), sorted.
let traceFiles (pattern: string) : string[] =
    Directory.GetFiles(Path.Combine(Reference.repositoryRoot (), "datasets", "traces"), pattern) |> Array.sort

/// The problem of a trace file (the test fails on a read error).
let traceProblem (file: string) : Problem =
    match Csv.parseProblem file (File.ReadAllText file) with
    | Ok p -> p
    | Error e -> failwithf "%s:%d %s" e.File e.Line e.Message

let tests =
    testList "Pools on the network traces" [
        for file in traceFiles "*.csv" do
            let name = Path.GetFileNameWithoutExtension file
            for policy in PoolPolicy.all do
                testCase (sprintf "%s: %s matches the reference pool" name policy.Name) <| fun () ->
                    let problem = traceProblem file
                    let algorithm = Algorithms.tryFind policy.Name |> Option.get
                    let planned = algorithm.Plan(problem, Algorithms.defaults)
                    let events = Pool.events problem
                    let offsets, reserved = PoolTests.reference policy events
                    Expect.equal planned.Peak reserved "the charged peak is the reference's reserved bytes"
                    Expect.equal (Pool.simulateEvents policy events).Offsets offsets "every block where the reference puts it"
                    let peak = expectValid policy.Name problem planned.Plan
                    Expect.isLessThanOrEqual peak reserved "the plan fits the reserved bytes"
    ]
