module Pgmo.Planner.Tests.TracesTests

open Expecto
open Pgmo.Planner

/// True when the problem obeys the CSV contract: unique ids, size > 0, 0 <= start < end.
let private wellFormed (p: Problem) =
    let ids = p.Buffers |> Array.map (fun b -> b.Id)
    Array.distinct ids = ids
    && p.Buffers |> Array.forall (fun b -> b.Size > 0L && 0L <= b.Lifetime.Start && b.Lifetime.Start < b.Lifetime.End)

let tests =
    testList "Traces" [
        testCase "the same seed gives the same trace; another seed another" <| fun () ->
            Expect.equal (Traces.chain 5 30) (Traces.chain 5 30) "chain is deterministic"
            Expect.equal (Traces.residual 5 30 3) (Traces.residual 5 30 3) "residual is deterministic"
            Expect.notEqual (Traces.chain 5 30) (Traces.chain 6 30) "the seed matters"

        testCase "a fixed seed keeps its first sizes (generator stability across runs)" <| fun () ->
            let p = Traces.chain 1 3
            Expect.equal (p.Buffers |> Array.map (fun b -> b.Id) |> Array.take 4) [| "0.weight"; "1.weight"; "2.weight"; "0.activation" |] "weights first"
            Expect.isTrue (p.Buffers |> Array.forall (fun b -> b.Size % 256L = 0L && b.Size >= 256L && b.Size <= (4L <<< 20))) "256-byte multiples, 256 B to 4 MiB"

        testCase "traces are well-formed problems with the DNN shape" <| fun () ->
            for p in [ Traces.chain 1 1; Traces.chain 2 50; Traces.residual 3 50 2; Traces.residual 4 7 1; Traces.chainOfSize 9 1000 ] do
                Expect.isTrue (wellFormed p) "unique ids, positive sizes, start < end"
            let l = 40
            let p = Traces.chain 11 l
            let finish = 2L + 2L * int64 l
            let weights = p.Buffers |> Array.filter (fun b -> b.Id.EndsWith ".weight")
            Expect.equal weights.Length l "one weight per layer"
            Expect.isTrue (weights |> Array.forall (fun b -> b.Lifetime = { Start = 0L; End = finish })) "weights live throughout"
            let acts = p.Buffers |> Array.filter (fun b -> b.Id.EndsWith ".activation")
            Expect.isTrue (acts |> Array.forall (fun b -> b.Lifetime.End = 2L * int64 l + 2L - b.Lifetime.Start)) "activations live until their backward step"
            let peak = Bounds.peakSteps p
            // activations pile up in forward; early in backward, weight gradients pile up while activations go
            Expect.isTrue (peak |> Array.forall (fun t -> int64 l <= t && t <= int64 (l + l / 2))) "memory peaks early in the backward pass"
            let r = Traces.residual 11 l 4
            Expect.equal (r.Buffers |> Array.filter (fun b -> b.Id.EndsWith ".skipgrad")).Length (l / 4 - 1) "a skip gradient per block after the first"

        testCase "every registered algorithm but search plans a trace validly" <| fun () ->
            let p = Traces.residual 21 60 2
            for a in Algorithms.planners |> List.filter (fun a -> a.Name <> "search") do
                let planned = a.Plan(p, Algorithms.defaults)
                let peak = expectValid a.Name p planned.Plan
                Expect.isGreaterThanOrEqual planned.Peak peak (sprintf "%s: the charged peak is at least the plan's" a.Name)
    ]
