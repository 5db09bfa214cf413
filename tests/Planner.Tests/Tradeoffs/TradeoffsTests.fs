/// The trade-off planner: offload and recompute chosen with the layout under a limit; the exact reference (CP-SAT,
/// TradeoffsCpSat) against the subset enumeration (Reference.tradeoffsBySubsets) and the heuristic on seeded samples;
/// the recorded trace's marks as gaps (StepTrace).
module Pgmo.Planner.Tests.TradeoffsTests

open System
open Expecto
open Pgmo.Planner
open Pgmo.Planner.Optimal
open Pgmo.Planner.Tests.Generators

let private traded = TradeoffSamples.draw

let private options limit = { Tradeoffs.defaults limit with BandwidthBytesPerUs = 16.0 }

/// The exact minimizer as a layout: the least peak's plan.
let private exactMinimum (p: Problem) =
    let m = Reference.minimizeExactly p
    m.Best, m.Peak, m.LowerBound

/// CP-SAT on one worker (deterministic), with far more time than these problems need (milliseconds each).
let private cpSat = { SolveOptions.defaults with Workers = 1; TimeLimit = TimeSpan.FromSeconds 60.0 }

/// The checks every answer of the CP-SAT reference passes: a plan that fits is valid within the limit, its problem is
/// the input with the choices' gaps, its cost the choices' costs; Optimal and Feasible fit, the others do not.
let private expectSound (what: string) (options: TradeOptions) (p: Problem) (s: TradeSolution) =
    let r = s.Plan
    Expect.isEmpty (Validate.plan r.Problem None r.Plan |> List.map Violation.describe) (what + ": valid with its gaps")
    Expect.equal r.Problem (Tradeoffs.apply p r.Choices) (what + ": the problem is the input with the choices' gaps")
    Expect.equal r.Peak (Plan.peak r.Problem r.Plan) (what + ": the peak is the plan's")
    Expect.floatClose Accuracy.high r.ExtraUs (r.Choices |> Array.sumBy (fun (c, t) -> Tradeoffs.cost options p c t)) (what + ": extra time = the choices' costs")
    Expect.equal r.Fits (r.Peak <= options.Limit) (what + ": fits = peak within the limit")
    match s.Status with
    | Optimal | Feasible ->
        Expect.isTrue r.Fits (what + ": an answer fits")
        Expect.isEmpty (Validate.plan r.Problem (Some options.Limit) r.Plan |> List.map Violation.describe) (what + ": within the limit, by the validator")
        Expect.isLessThanOrEqual s.BoundUs (r.ExtraUs + 1e-9) (what + ": the bound is below the cost")
    | Infeasible | SolveStatus.Unknown -> Expect.isFalse r.Fits (what + ": no answer, no fit")

/// A sample with windows: each buffer that is not a candidate and lives 3 steps or more gets, one time in two, a gap
/// strictly inside its lifetime that keeps a random window of its bytes (multiples of 8, or none); None unless some
/// window is raised (does not start at the buffer's offset: MiniMalloc's rule is then more than non-overlap). The limit
/// lies halfway between the lower bound with everything traded and the untraded best-fit peak.
let private withWindows (seed: int) (n: int) =
    let p, candidates, _ = traded seed n
    let rnd = Random(seed)
    let traded = candidates |> Array.map (fun c -> c.Buffer) |> Set.ofArray
    let window (b: Buffer) =
        let s = rnd.Next(int b.Lifetime.Start + 1, int b.Lifetime.End - 1)
        let e = rnd.Next(s + 1, int b.Lifetime.End)
        let units = int (b.Size / 8L)
        let lo = rnd.Next(0, units + 1)
        let hi = rnd.Next(lo, units + 1)
        { b with Gaps = [| { Steps = { Start = int64 s; End = int64 e }; Window = (if hi > lo then Some { Lo = 8L * int64 lo; Hi = 8L * int64 hi } else None) } |] }
    let q =
        { Buffers = p.Buffers |> Array.mapi (fun i b ->
            if not (traded.Contains i) && b.Lifetime.End - b.Lifetime.Start >= 3L && rnd.Next 2 = 0 then window b else b) }
    if q.Buffers |> Array.exists (fun b -> b.Gaps |> Array.exists (fun g -> match g.Window with Some w -> w.Lo > 0L | None -> false)) then
        let all = Tradeoffs.apply q (candidates |> Array.map (fun c -> c, Trade.Offload))
        let low, high = Bounds.lowerBound all, Plan.peak q (BestFit.plan q)
        Some (q, candidates, (low + high) / 2L)
    else None

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
            match Reference.tradeoffsBySubsets (options 128L) p [| x; y |] with
            | Some (e, _) -> Expect.equal e.Choices [| x, Trade.Offload; y, Trade.Offload |] "the exact reference offloads both too"
            | None -> failtest "the exact reference fits 128 B"
            let self = { x with Needs = [| 0 |] }
            Expect.equal (Tradeoffs.cheapest (options 128L) p self) (Some (Trade.Offload, 8.0)) "a candidate that needs itself is not recomputed"

        testCase "the search after the greedy finds one trade that frees both steps above the limit, where the greedy takes two" <| fun () ->
            //  step:      0   1   2   3
            //  a (16 B)   [###|...|###|###)      idle [1, 2), recompute 1 us: the most bytes per us at step 1
            //  c (16 B)   [###|###|...|###)      idle [2, 3), recompute 1 us: the most bytes per us at step 2
            //  b (16 B)   [###|...|...|###)      idle [1, 3), recompute 1.5 us: frees both steps
            //  y1, y2         [##][##)           16 B each on steps 1 and 2: 64 B there, the limit 48 B
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 4L 16L; Buffer.create "c" 0L 4L 16L; Buffer.create "b" 0L 4L 16L
                                        Buffer.create "y1" 1L 2L 16L; Buffer.create "y2" 2L 3L 16L ]
            let a = { Buffer = 0; Idle = { Start = 1L; End = 2L }; RecomputeUs = Some 1.0; Needs = [||] }
            let c = { Buffer = 1; Idle = { Start = 2L; End = 3L }; RecomputeUs = Some 1.0; Needs = [||] }
            let b = { Buffer = 2; Idle = { Start = 1L; End = 3L }; RecomputeUs = Some 1.5; Needs = [||] }
            let greedyTakes = Tradeoffs.apply p [ a, Trade.Recompute; c, Trade.Recompute ]
            Expect.equal (Plan.peak greedyTakes (BestFit.plan greedyTakes)) 48L "a and c, the greedy's choice step by step (2 us), fit too"
            let r = Tradeoffs.plan (options 48L) p [| a; c; b |]
            Expect.isTrue r.Fits "fits 48 B"
            Expect.equal r.Choices [| b, Trade.Recompute |] "b alone"
            Expect.equal r.ExtraUs 1.5 "1.5 us, not 2"
            Expect.isEmpty (Validate.plan r.Problem (Some 48L) r.Plan) "valid within the limit"

        testCase "where best-fit does not fit the choices, the exact search decides the limit and lays them out" <| fun () ->
            // the problem of the checkpoint test with z of 128 B: x and y offloaded, best-fit stacks z above them
            let p = Problem.ofBuffers [ Buffer.create "x" 0L 4L 64L; Buffer.create "y" 0L 4L 64L; Buffer.create "z" 1L 3L 128L ]
            let x = { Buffer = 0; Idle = { Start = 1L; End = 3L }; RecomputeUs = Some 1.0; Needs = [| 1 |] }
            let y = { Buffer = 1; Idle = { Start = 1L; End = 3L }; RecomputeUs = None; Needs = [||] }
            let both = Tradeoffs.apply p [ x, Trade.Offload; y, Trade.Offload ]
            Expect.isGreaterThan (Plan.peak both (BestFit.plan both)) 128L "best-fit does not fit 128 B"
            let r = Tradeoffs.plan (options 128L) p [| x; y |]
            Expect.isTrue r.Fits "fits 128 B"
            Expect.equal r.Choices [| x, Trade.Offload; y, Trade.Offload |] "both offloaded"
            Expect.isEmpty (Validate.plan r.Problem (Some 128L) r.Plan) "valid within the limit"

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

        testCase "CP-SAT trades x over its idle window so that y shares its bytes (the diagram), proven" <| fun () ->
            let p = Problem.ofBuffers [ Buffer.create "x" 0L 4L 8L; Buffer.create "y" 1L 3L 8L ]
            let c = { Buffer = 0; Idle = { Start = 1L; End = 3L }; RecomputeUs = Some 3.0; Needs = [||] }
            let s = TradeoffsCpSat.solve cpSat (options 8L) p [| c |]
            expectSound "diagram" (options 8L) p s
            Expect.equal s.Status Optimal "proven"
            Expect.equal s.Plan.Choices [| c, Trade.Offload |] "x is offloaded (1 us), not recomputed (3 us)"
            Expect.equal s.Plan.ExtraUs 1.0 "2 × 8 B at 16 B/us"
            Expect.equal s.BoundUs 1.0 "the bound meets the cost"
            let s = TradeoffsCpSat.solve cpSat (options 16L) p [| c |]
            Expect.equal (s.Status, s.Plan.Choices) (Optimal, [||]) "at 16 B nothing is traded"
            // 10 GB/s: 2 × 8 B cost 0.0016 us, no whole number of 2^-k us, so the objective rounds (to 2^-30 us)
            let s = TradeoffsCpSat.solve cpSat (Tradeoffs.defaults 8L) p [| c |]
            expectSound "10 GB/s" (Tradeoffs.defaults 8L) p s
            Expect.equal (s.Status, s.Plan.Choices) (Optimal, [| c, Trade.Offload |]) "rounded costs: still offload, proven"
            Expect.floatClose Accuracy.high s.Plan.ExtraUs 0.0016 "the cost is the exact one"
            Expect.isGreaterThan s.BoundUs (0.0016 - 1e-9) "the bound, less the rounding's slack, is within 1e-9 us of the cost"

        testCase "CP-SAT with no time: every answer is still sound (a heuristic's that fits, or none)" <| fun () ->
            for seed in 1 .. 10 do
                let p, candidates, limit = traded seed 20
                let s = TradeoffsCpSat.solve { cpSat with TimeLimit = TimeSpan.Zero } (options limit) p candidates
                expectSound (sprintf "seed %d" seed) (options limit) p s

        testCase "CP-SAT against the subset enumeration on 120 seeded samples of 1-7 buffers: the same optimum; the heuristic never cheaper, and within 10 % wherever CP-SAT fits" <| fun () ->
            let mutable compared = 0
            for seed in 1 .. 120 do
                let p, candidates, limit = traded seed (1 + seed % 7)
                let o = options limit
                let s = TradeoffsCpSat.solve cpSat o p candidates
                let what = sprintf "seed %d" seed
                expectSound what o p s
                Expect.isTrue (s.Status = Optimal || s.Status = Infeasible) (what + ": CP-SAT proves its answer on 7 buffers")
                match Reference.tradeoffsBySubsets o p candidates with
                | Some (e, proven) ->
                    Expect.equal s.Status Optimal (what + ": a subset fits, so CP-SAT finds a choice")
                    Expect.isLessThanOrEqual s.Plan.ExtraUs (e.ExtraUs + 1e-9) (what + ": no dearer than a subset that fits")
                    if proven then
                        compared <- compared + 1
                        Expect.floatClose Accuracy.high s.Plan.ExtraUs e.ExtraUs (what + ": the same least extra time")
                | None -> Expect.equal s.Status Infeasible (what + ": no subset fits, so CP-SAT proves none does")
                let h = Tradeoffs.plan o p candidates
                if h.Fits then
                    Expect.equal s.Status Optimal (what + ": the heuristic fits, so CP-SAT finds a choice")
                    Expect.isGreaterThanOrEqual h.ExtraUs (s.Plan.ExtraUs - 1e-9) (what + ": the heuristic is never cheaper than the proven optimum")
                if s.Status = Optimal then
                    Expect.isTrue h.Fits (what + ": the heuristic fits wherever CP-SAT does")
                    Expect.isLessThanOrEqual h.ExtraUs (1.10 * s.Plan.ExtraUs + 1e-9) (what + ": issue 17's target, at most 10 % above the proven optimum")
            Expect.isGreaterThan compared 100 "most samples are compared"

        testCase "CP-SAT keeps MiniMalloc's rule where a window is raised: rectangles apart are not enough (in each trade state)" <| fun () ->
            //  step:        0        1        2
            //  a (16 B)   [0, 4)  [8, 16)  [0, 16)     two gaps with windows, the second raised
            //  b (4 B)    [0, 4)  [0, 4)               idle [1, 2)
            // b at a's offset + 4 meets no byte of a, yet breaks the rule (above a on step 0, below it on step 1): kept,
            // b needs a peak of 20; offloaded on step 1, b sits above a's window on step 0 alone and 16 B fit
            let a = { Buffer.create "a" 0L 3L 16L with
                        Gaps = [| { Steps = { Start = 0L; End = 1L }; Window = Some { Lo = 0L; Hi = 4L } }
                                  { Steps = { Start = 1L; End = 2L }; Window = Some { Lo = 8L; Hi = 16L } } |] }
            let p = Problem.ofBuffers [ a; Buffer.create "b" 0L 2L 4L ]
            let c = { Buffer = 1; Idle = { Start = 1L; End = 2L }; RecomputeUs = None; Needs = [||] }
            Expect.equal (Reference.minimizeExactly p).Peak 20L "the rule's optimum without trade-offs"
            let s = TradeoffsCpSat.solve cpSat (options 16L) p [| c |]
            expectSound "16 B" (options 16L) p s
            Expect.equal (s.Status, s.Plan.Choices) (Optimal, [| c, Trade.Offload |]) "16 B: b is offloaded"
            let s = TradeoffsCpSat.solve cpSat (options 20L) p [| c |]
            expectSound "20 B" (options 20L) p s
            Expect.equal (s.Status, s.Plan.Choices) (Optimal, [||]) "20 B: nothing traded"
            Expect.equal (TradeoffsCpSat.solve cpSat (options 19L) p [||]).Status Infeasible "19 B without candidates: proven not to fit"

        testCase "CP-SAT against the subset enumeration with windows, some raised" <| fun () ->
            let mutable compared = 0
            for seed in 1 .. 400 do
                match withWindows seed 8 with
                | Some (p, candidates, limit) when compared < 40 ->
                    let o = options limit
                    let s = TradeoffsCpSat.solve cpSat o p candidates
                    let what = sprintf "seed %d" seed
                    expectSound what o p s
                    match Reference.tradeoffsBySubsets o p candidates with
                    | Some (e, true) ->
                        compared <- compared + 1
                        Expect.equal s.Status Optimal (what + ": proven")
                        Expect.floatClose Accuracy.high s.Plan.ExtraUs e.ExtraUs (what + ": the same least extra time")
                    | Some (_, false) -> Expect.notEqual s.Status Infeasible (what + ": a subset fits")
                    | None -> Expect.equal s.Status Infeasible (what + ": no subset fits")
                | _ -> ()
            Expect.equal compared 40 "40 samples with windows compared"

        testCase "CP-SAT proves that nothing fits below the lower bound with everything traded, or below a buffer" <| fun () ->
            for seed in 1 .. 40 do
                let p, candidates, _ = traded seed (1 + seed % 12)
                let all = Tradeoffs.apply p (candidates |> Array.map (fun c -> c, Trade.Offload))
                let below = Bounds.lowerBound all - 1L
                for limit in [ below; (p.Buffers |> Array.map (fun b -> b.Size) |> Array.max) - 1L ] |> List.distinct do
                    let s = TradeoffsCpSat.solve cpSat (options limit) p candidates
                    let what = sprintf "seed %d limit %d" seed limit
                    expectSound what (options limit) p s
                    Expect.equal s.Status Infeasible (what + ": proven not to fit")
                    Expect.isFalse s.Plan.Fits (what + ": reported as not fitting")
                    Expect.isFalse (Tradeoffs.plan (options limit) p candidates).Fits (what + ": nor does the heuristic")

        testCase "CP-SAT honours a rule on recompute: one clause per (recomputed, needed) pair" <| fun () ->
            //  step:      0   1   2   3   4   5
            //  x (8 B)    [###|...|...|###)          idle [1, 3), recompute 0 us (reads y)
            //  y (8 B)    [###|...|...|###)          idle [1, 3), recompute 0.5 us
            //  z (16 B)       [#######)              lives on [1, 3): fits 16 B only with x and y both traded
            let p = Problem.ofBuffers [ Buffer.create "x" 0L 4L 8L; Buffer.create "y" 0L 4L 8L; Buffer.create "z" 1L 3L 16L ]
            let cx = { Buffer = 0; Idle = { Start = 1L; End = 3L }; RecomputeUs = Some 0.0; Needs = [||] }
            let cy = { Buffer = 1; Idle = { Start = 1L; End = 3L }; RecomputeUs = Some 0.5; Needs = [||] }
            let o = options 16L
            let free = TradeoffsCpSat.solve cpSat o p [| cx; cy |]
            Expect.equal (free.Status, free.Plan.Choices, free.Plan.ExtraUs) (Optimal, [| cx, Trade.Recompute; cy, Trade.Recompute |], 0.5) "without the rule both are recomputed"
            let ruled = TradeoffsCpSat.solveWith cpSat o [ 0, 1 ] p [| cx; cy |]
            expectSound "x needs y" o p ruled
            Expect.equal (ruled.Status, ruled.Plan.Choices, ruled.Plan.ExtraUs) (Optimal, [| cx, Trade.Offload; cy, Trade.Recompute |], 1.5) "x reads y, which is traded: x is offloaded (1 us)"
            let recomputeOnly = { o with Offload = false }
            Expect.equal (TradeoffsCpSat.solveWith cpSat recomputeOnly [ 0, 1 ] p [| cx; cy |]).Status Infeasible "recompute only: x cannot be traded, so z does not fit"
            Expect.equal (TradeoffsCpSat.solveWith cpSat recomputeOnly [ 0, 2 ] p [| cx; cy |]).Status Optimal "a need that is never traded (z) binds nothing"
            Expect.throws (fun () -> TradeoffsCpSat.solveWith cpSat o [ 0, 3 ] p [| cx; cy |] |> ignore) "a pair outside the problem is rejected"

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
            match Reference.tradeoffsBySubsets (options limit) p candidates with
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
