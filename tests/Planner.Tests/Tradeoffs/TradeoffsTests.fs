/// The trade-off planner: offload and recompute chosen with the layout under a limit, against the exact reference on
/// tiny problems, and the recorded trace's marks as gaps (StepTrace).
module Pgmo.Planner.Tests.TradeoffsTests

open System
open Expecto
open Pgmo.Planner
open Pgmo.Planner.Tests.Generators

/// A problem of `n` buffers from seed `seed`, candidates (buffers of at least two steps, two in three of them, each
/// with a random idle window inside its lifetime, some recomputable) and a limit between the fully traded lower bound
/// and the untraded best-fit peak.
let private traded (seed: int) (n: int) : Problem * Candidate[] * int64 =
    let rnd = Random(seed)
    let horizon = rnd.Next(2, 12)
    let p =
        Problem.ofBuffers [ for i in 0 .. n - 1 ->
                                let s = rnd.Next(0, horizon - 1)
                                let e = rnd.Next(s + 1, horizon + 1)
                                { Buffer.create (string i) (int64 s) (int64 e) (int64 (8 * rnd.Next(1, 9))) with Alignment = (if rnd.Next 4 = 0 then 16L else 1L) } ]
    let candidates =
        [| for i in 0 .. n - 1 do
            let b = p.Buffers.[i]
            if rnd.Next 3 > 0 && b.Lifetime.End - b.Lifetime.Start >= 2L then
                let a = rnd.Next(int b.Lifetime.Start, int b.Lifetime.End - 1)
                let z = rnd.Next(a + 1, int b.Lifetime.End + 1)
                let us = [| None; Some 0.0; Some 0.5; Some 3.0 |].[rnd.Next 4]
                yield { Buffer = i; Idle = { Start = int64 a; End = int64 z }; RecomputeUs = us } |]
    let all = Tradeoffs.apply p (candidates |> Array.map (fun c -> c, Trade.Offload))
    let low, high = Bounds.lowerBound all, Plan.peak p (BestFit.plan p)
    p, candidates, low + int64 (rnd.NextDouble() * float (max 0L (high - low)))

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
            let c = { Buffer = 0; Idle = { Start = 1L; End = 3L }; RecomputeUs = None }
            let r = Tradeoffs.plan (options 8L) p [| c |]
            Expect.equal r.PeakWithout 16L "without trade-offs x and y stack"
            Expect.isTrue r.Fits "offloading x fits 8 B"
            Expect.equal r.Choices [| c, Trade.Offload |] "x is offloaded"
            Expect.equal r.Plan.Offsets [| 0L; 0L |] "y takes x's bytes"
            Expect.equal r.ExtraUs 1.0 "2 × 8 B at 16 B/us"
            Expect.isEmpty (Validate.plan r.Problem (Some 8L) r.Plan) "the plan is valid with its gaps"

        testCase "the cheaper trade wins, and recompute is only taken where allowed" <| fun () ->
            let p = Problem.ofBuffers [ Buffer.create "x" 0L 4L 64L; Buffer.create "y" 1L 3L 64L ]
            let c = { Buffer = 0; Idle = { Start = 1L; End = 3L }; RecomputeUs = Some 2.0 }
            let r = Tradeoffs.plan (options 64L) p [| c |]
            Expect.equal r.Choices [| c, Trade.Recompute |] "recompute (2 us) beats offload (8 us)"
            let r = Tradeoffs.plan { options 64L with Recompute = false } p [| c |]
            Expect.equal r.Choices [| c, Trade.Offload |] "offload only"
            Expect.equal r.ExtraUs 8.0 "2 × 64 B at 16 B/us"

        testCase "a limit that needs nothing trades nothing; one below every trade does not fit" <| fun () ->
            let p = Problem.ofBuffers [ Buffer.create "x" 0L 4L 8L; Buffer.create "y" 1L 3L 8L ]
            let c = { Buffer = 0; Idle = { Start = 1L; End = 3L }; RecomputeUs = None }
            let r = Tradeoffs.plan (options 16L) p [| c |]
            Expect.isEmpty r.Choices "nothing traded"
            Expect.isTrue r.Fits "fits"
            let r = Tradeoffs.plan (options 7L) p [| c |]
            Expect.isFalse r.Fits "y alone needs 8 B"

        testCase "candidates that meet a gap or leave the lifetime are rejected" <| fun () ->
            let x = { Buffer.create "x" 0L 6L 8L with Gaps = [| { Steps = { Start = 2L; End = 3L }; Window = None } |] }
            let p = Problem.ofBuffers [ x ]
            Expect.isSome (Tradeoffs.check p { Buffer = 0; Idle = { Start = 1L; End = 4L }; RecomputeUs = None }) "meets the gap"
            Expect.isSome (Tradeoffs.check p { Buffer = 0; Idle = { Start = 4L; End = 7L }; RecomputeUs = None }) "past the lifetime"
            Expect.isSome (Tradeoffs.check p { Buffer = 1; Idle = { Start = 0L; End = 1L }; RecomputeUs = None }) "no such buffer"
            Expect.isNone (Tradeoffs.check p { Buffer = 0; Idle = { Start = 3L; End = 6L }; RecomputeUs = None }) "after the gap"
            let q = Tradeoffs.apply p [ { Buffer = 0; Idle = { Start = 3L; End = 6L }; RecomputeUs = None }, Trade.Offload ]
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
            Expect.floatClose Accuracy.high r.ExtraUs (r.Choices |> Array.sumBy (fun (c, t) -> Tradeoffs.cost (options limit) p c t)) "extra time = the choices' costs"

        testPropertyWithConfig { Generators.config with maxTest = 60 } "against the exact reference: it fits only where the reference does, never cheaper" <| fun (seed: int) ->
            let p, candidates, limit = traded seed (1 + abs (seed % 7))
            let r = Tradeoffs.plan { options limit with Layout = fun q -> let b, _, _ = exactMinimum q in b } p candidates
            match Tradeoffs.exact (options limit) exactMinimum p candidates with
            | Some (e, proven) ->
                Expect.isEmpty (Validate.plan e.Problem (Some limit) e.Plan) "the reference's plan is valid within the limit"
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
