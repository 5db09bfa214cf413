/// The trade-off planner: offload and recompute chosen with the layout under a limit, against the exact reference on
/// tiny problems, and the recorded trace's marks as gaps (StepTrace).
module Pgmo.Planner.Tests.TradeoffsTests

open System
open Expecto
open Pgmo.Planner
open Pgmo.Planner.Tests.Generators

let private traded = TradeoffSamples.draw

let private options limit = { Tradeoffs.defaults limit with BandwidthBytesPerUs = 16.0 }

let private exactMinimum (p: Problem) =
    let m = Reference.minimizeExactly p
    m.Best, m.Peak, m.LowerBound

let tests =
    testList "Tradeoffs" [
        testCase "offloading x over its idle window lets y share its bytes (the diagram)" <| fun () ->
            //  step:      0   1   2   3   4
            //  x (8 B)    [###|...|...|###)     idle [1, 3)
            //  y (8 B)        [#######)
            let x = Buffer.create "x" 0L 4L 8L
            let y = Buffer.create "y" 1L 3L 8L
            let p = Problem.ofBuffers [ x; y ]
            let c = { Buffer = 0; Idle = { Start = 1L; End = 3L }; RecomputeUs = None; Needs = [||] }
            let r = Tradeoffs.plan (options 8L) p [| c |]
            Expect.equal r.PeakWithout 16L "without trade-offs x and y stack"
            Expect.isTrue r.Fits "offloading x fits 8 B"
            Expect.equal r.Choices [| c, Trade.Offload |] "x is offloaded"
            Expect.equal r.Plan.Offsets [| 0L; 0L |] "y takes x's bytes"
            Expect.equal r.ExtraUs 1.0 "2 × 8 B at 16 B/us"
            Expect.isEmpty (Validate.plan r.Problem (Some 8L) r.Plan) "the plan is valid with its gaps"

        testCase "the cheaper trade wins, and recompute is only taken where allowed" <| fun () ->
            let p = Problem.ofBuffers [ Buffer.create "x" 0L 4L 64L; Buffer.create "y" 1L 3L 64L ]
            let c = { Buffer = 0; Idle = { Start = 1L; End = 3L }; RecomputeUs = Some 2.0; Needs = [||] }
            let r = Tradeoffs.plan (options 64L) p [| c |]
            Expect.equal r.Choices [| c, Trade.Recompute |] "recompute (2 us) beats offload (8 us)"
            let r = Tradeoffs.plan { options 64L with Recompute = false } p [| c |]
            Expect.equal r.Choices [| c, Trade.Offload |] "offload only"
            Expect.equal r.ExtraUs 8.0 "2 × 64 B at 16 B/us"

        testCase "recompute keeps its checkpoint: a buffer a recomputed candidate needs is not traded" <| fun () ->
            //  step:      0   1   2   3
            //  x (64 B)   [###|...|...|###)      recomputed from y over [1, 3), or offloaded
            //  y (64 B)   [###|...|...|###)      x's checkpoint; offload only
            //  z (64 B)       [#######)          (128 B in the second problem)
            let problem z = Problem.ofBuffers [ Buffer.create "x" 0L 4L 64L; Buffer.create "y" 0L 4L 64L; Buffer.create "z" 1L 3L z ]
            let p = problem 64L
            // laid out exactly (best-fit stacks z under x and y here)
            let options limit = { options limit with Layout = fun q -> let b, _, _ = exactMinimum q in b }
            let x = { Buffer = 0; Idle = { Start = 1L; End = 3L }; RecomputeUs = Some 1.0; Needs = [| 1 |] }
            let y = { Buffer = 1; Idle = { Start = 1L; End = 3L }; RecomputeUs = None; Needs = [||] }
            let r = Tradeoffs.plan (options 128L) p [| x; y |]
            Expect.equal r.Choices [| x, Trade.Recompute |] "one trade fits 128 B: x recomputed (1 us against 8 us)"
            let p = problem 128L
            let r = Tradeoffs.plan (options 128L) p [| x; y |]
            Expect.isTrue r.Fits "both traded fit 128 B"
            Expect.equal r.Choices [| x, Trade.Offload; y, Trade.Offload |] "y traded: x may not be recomputed from it, so both are offloaded"
            Expect.equal r.ExtraUs 16.0 "2 × 2 × 64 B at 16 B/us"
            let r = Tradeoffs.plan { options 128L with Offload = false } p [| x; y |]
            Expect.isFalse r.Fits "recompute alone frees x only"
            Expect.isNone (Tradeoffs.conflict r.Choices) "and keeps the rule"
            Expect.isSome (Tradeoffs.conflict [ x, Trade.Recompute; y, Trade.Offload ]) "x recomputed from an offloaded y breaks the rule"
            Expect.throws (fun () -> Tradeoffs.apply p [ x, Trade.Recompute; y, Trade.Offload ] |> ignore) "apply refuses it"
            match Tradeoffs.exact (options 128L) exactMinimum p [| x; y |] with
            | Some (e, _) -> Expect.equal e.Choices [| x, Trade.Offload; y, Trade.Offload |] "the exact reference offloads both too"
            | None -> failtest "the exact reference fits 128 B"
            let self = { x with Needs = [| 0 |] }
            Expect.equal (Tradeoffs.cheapest (options 128L) p self) (Some (Trade.Offload, 8.0)) "a candidate that needs itself is not recomputed"

        testCase "a limit that needs nothing trades nothing; one below every trade does not fit" <| fun () ->
            let p = Problem.ofBuffers [ Buffer.create "x" 0L 4L 8L; Buffer.create "y" 1L 3L 8L ]
            let c = { Buffer = 0; Idle = { Start = 1L; End = 3L }; RecomputeUs = None; Needs = [||] }
            let r = Tradeoffs.plan (options 16L) p [| c |]
            Expect.isEmpty r.Choices "nothing traded"
            Expect.isTrue r.Fits "fits"
            let r = Tradeoffs.plan (options 7L) p [| c |]
            Expect.isFalse r.Fits "y alone needs 8 B"

        testCase "candidates that meet a gap or leave the lifetime are rejected" <| fun () ->
            let x = { Buffer.create "x" 0L 6L 8L with Gaps = [| { Steps = { Start = 2L; End = 3L }; Window = None } |] }
            let p = Problem.ofBuffers [ x ]
            Expect.isSome (Tradeoffs.check p { Buffer = 0; Idle = { Start = 1L; End = 4L }; RecomputeUs = None; Needs = [||] }) "meets the gap"
            Expect.isSome (Tradeoffs.check p { Buffer = 0; Idle = { Start = 4L; End = 7L }; RecomputeUs = None; Needs = [||] }) "past the lifetime"
            Expect.isSome (Tradeoffs.check p { Buffer = 1; Idle = { Start = 0L; End = 1L }; RecomputeUs = None; Needs = [||] }) "no such buffer"
            Expect.isNone (Tradeoffs.check p { Buffer = 0; Idle = { Start = 3L; End = 6L }; RecomputeUs = None; Needs = [||] }) "after the gap"
            let q = Tradeoffs.apply p [ { Buffer = 0; Idle = { Start = 3L; End = 6L }; RecomputeUs = None; Needs = [||] }, Trade.Offload ]
            Expect.equal q.Buffers.[0].Gaps.Length 2 "two gaps, sorted"

        testPropertyWithConfig { Generators.config with maxTest = 150 } "the plan is valid with its gaps, its peak within the limit whenever it fits" <| fun (seed: int) ->
            let p, candidates, limit = traded seed (1 + abs (seed % 40))
            let r = Tradeoffs.plan (options limit) p candidates
            Expect.isEmpty (Validate.plan r.Problem None r.Plan |> List.map Violation.describe) "valid with its gaps"
            Expect.equal r.Problem (Tradeoffs.apply p r.Choices) "the problem is the input with the choices' gaps"
            Expect.equal r.Peak (Plan.peak r.Problem r.Plan) "the peak is the plan's"
            Expect.equal r.Fits (r.Peak <= limit) "fits = peak within the limit"
            if r.Fits then Expect.isEmpty (Validate.plan r.Problem (Some limit) r.Plan) "within the limit, by the validator"
            Expect.isTrue (r.Peak >= Bounds.lowerBound r.Problem) "peak >= lower bound"
            Expect.isNone (Tradeoffs.conflict r.Choices) "no recomputed choice needs a traded buffer"
            Expect.floatClose Accuracy.high r.ExtraUs (r.Choices |> Array.sumBy (fun (c, t) -> Tradeoffs.cost (options limit) p c t)) "extra time = the choices' costs"

        testPropertyWithConfig { Generators.config with maxTest = 150 } "with both trades it fits wherever offload alone does, at no more modelled time" <| fun (seed: int) ->
            let p, candidates, limit = traded seed (1 + abs (seed % 40))
            let offload = Tradeoffs.plan { options limit with Recompute = false } p candidates
            let both = Tradeoffs.plan (options limit) p candidates
            if offload.Fits then
                Expect.isTrue both.Fits "both fits"
                Expect.isLessThanOrEqual both.ExtraUs (offload.ExtraUs + 1e-9) "at no more modelled time"

        testPropertyWithConfig { Generators.config with maxTest = 60 } "against the exact reference: it fits only where the reference does, never cheaper" <| fun (seed: int) ->
            let p, candidates, limit = traded seed (1 + abs (seed % 7))
            let r = Tradeoffs.plan { options limit with Layout = fun q -> let b, _, _ = exactMinimum q in b } p candidates
            match Tradeoffs.exact (options limit) exactMinimum p candidates with
            | Some (e, proven) ->
                Expect.isEmpty (Validate.plan e.Problem (Some limit) e.Plan) "the reference's plan is valid within the limit"
                Expect.isNone (Tradeoffs.conflict e.Choices) "the reference keeps the recompute rule"
                if proven && r.Fits then Expect.isGreaterThanOrEqual r.ExtraUs (e.ExtraUs - 1e-9) "the heuristic never beats the proven optimum"
            | None -> Expect.isFalse r.Fits "no subset fits, so the heuristic cannot"

        testCase "StepTrace: marks give the buffer its gap, and its bytes to another buffer (the diagram)" <| fun () ->
            // events: 0 a+  1 b+  (a away)  2 c+  3 c-  4 d+  (a back)  5 d-  6 a-   (b freed never: lives to the end)
            let events = [| MemoryEvent.Alloc(0, 256L); MemoryEvent.Alloc(1, 256L); MemoryEvent.Alloc(2, 256L); MemoryEvent.Free 2
                            MemoryEvent.Alloc(3, 256L); MemoryEvent.Free 3; MemoryEvent.Free 0 |]
            let marks = [| { Buffer = 0; Step = 2L; Back = false }; { Buffer = 0; Step = 5L; Back = true } |]
            let p = StepTrace.problem 256L [||] events marks
            Expect.equal p.Buffers.[0].Gaps [| { Steps = { Start = 2L; End = 4L }; Window = None } |] "a's gap is [2, 4): it holds its bytes again on step 4"
            Expect.equal (Bounds.lowerBound p) 768L "a, b and d on step 4"
            let plan = BestFit.plan p
            Expect.isEmpty (Validate.plan p None plan) "valid"
            Expect.equal plan.Offsets.[2] plan.Offsets.[0] "c takes a's bytes"
            Expect.notEqual plan.Offsets.[3] plan.Offsets.[0] "d, live while a is copied back, does not"
            Expect.equal (StepTrace.gap 2L 3L) { Start = 2L; End = 2L } "back right after away: an empty gap"
    ]
