module Pgmo.Planner.Tests.SearchTests

open Expecto
open Pgmo.Planner

/// No time limit: a budget of about `placements` placements of every buffer (in nodes) decides, so runs are
/// deterministic.
let private capped (placements: int) (seed: int) (p: Problem) =
    { Search.defaults with TimeLimit = System.TimeSpan.MaxValue; Seed = seed; Nodes = Some (int64 placements * int64 (max 1 p.Buffers.Length)) }

let private instantly = { Search.defaults with TimeLimit = System.TimeSpan.Zero }

let tests =
    testList "Search" [
        testCase "reaches the lower bound on a small mixed case" <| fun () ->
            //  step:   0 1
            //  a       aa          [0,1) size 4
            //  b       bbbb        [0,2) size 2
            //  c         cc        [1,2) size 4
            //  d         dd        [1,2) size 2
            // load 6 at step 0 and 8 at step 1: b, c, d stacked at step 1 is optimal
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 1L 4L; Buffer.create "b" 0L 2L 2L; Buffer.create "c" 1L 2L 4L; Buffer.create "d" 1L 2L 2L ]
            let peak, lb = checkPlan p (Search.plan (capped 200 1 p) p)
            Expect.equal peak lb "8 bytes"

        testCase "reaches the lower bound on a staircase" <| fun () ->
            //  step:   0 1 2 3
            //  a       aaaa        [0,2) size 3
            //  b         bbbb      [1,3) size 3
            //  c           cccc    [2,4) size 3
            //  d       dd          [0,1) size 3
            //  e             ee    [3,4) size 3
            // load 6 everywhere; optimum: a and c at 0, b, d and e at 3
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 2L 3L; Buffer.create "b" 1L 3L 3L; Buffer.create "c" 2L 4L 3L
                                        Buffer.create "d" 0L 1L 3L; Buffer.create "e" 3L 4L 3L ]
            let bfPeak, lb = checkPlan p (BestFit.plan p)
            let peak, _ = checkPlan p (Search.plan (capped 500 0 p) p)
            Expect.isLessThanOrEqual peak bfPeak "never worse than best-fit"
            Expect.equal peak lb "6 bytes"

        testCase "identical lifetimes reach the lower bound" <| fun () ->
            let p = Problem.ofBuffers [ for i in 0 .. 11 -> Buffer.create (string i) 2L 5L (int64 (i * 5 % 7 + 1)) ]
            let peak, lb = checkPlan p (Search.plan (capped 50 0 p) p)
            Expect.equal peak lb "one stack"

        testCase "disjoint lifetimes reach the lower bound" <| fun () ->
            let p = Problem.ofBuffers [ for i in 0 .. 11 -> Buffer.create (string i) (int64 i) (int64 i + 1L) (int64 (i + 1)) ]
            let peak, lb = checkPlan p (Search.plan (capped 50 0 p) p)
            Expect.equal peak lb "everything at 0"

        testCase "the empty problem has the empty plan" <| fun () ->
            Expect.equal (Search.plan instantly (Problem.ofBuffers [])).Offsets [||] "no offsets"

        testCase "is deterministic for a seed under an iteration cap" <| fun () ->
            let p = Problem.ofBuffers [ for i in 0 .. 59 -> Buffer.create (string i) (int64 ((i * 7) % 23)) (int64 ((i * 7) % 23 + 1 + (i * 11) % 9)) (int64 (1 + (i * 13) % 17)) ]
            let a = Search.plan (capped 300 7 p) p
            let b = Search.plan (capped 300 7 p) p
            Expect.equal a.Offsets b.Offsets "same seed, same cap, same plan"
            checkPlan p a |> ignore

        testCase "returns best-fit's plan or better at TimeLimit = 0" <| fun () ->
            let p = Problem.ofBuffers [ for i in 0 .. 59 -> Buffer.create (string i) (int64 ((i * 5) % 19)) (int64 ((i * 5) % 19 + 1 + (i * 3) % 7)) (int64 (1 + (i * 13) % 17)) ]
            let peak, _ = checkPlan p (Search.plan instantly p)
            Expect.isLessThanOrEqual peak (Plan.peak p (BestFit.plan p)) "at least as good as best-fit"

        testCase "stops at once when cancelled: the paper's best-fit plan, nothing after it" <| fun () ->
            use cts = new System.Threading.CancellationTokenSource()
            cts.Cancel()
            let p = Problem.ofBuffers [ for i in 0 .. 29 -> Buffer.create (string i) (int64 (i % 7)) (int64 (i % 7 + 3)) (int64 (1 + (i * 7) % 11)) ]
            let bestFit = BestFit.plan p
            let improved = Search.plan (capped 200 1 p) p
            Expect.isLessThan (Plan.peak p improved) (Plan.peak p bestFit) "a search that runs improves on best-fit here"
            let cancelled = Search.plan { Search.defaults with Cancellation = cts.Token } p
            Expect.equal cancelled bestFit "cancelled before it started: only the construction's first plan"
            checkPlan p cancelled |> ignore

        testPropertyWithConfig config "is valid at TimeLimit = 0" <| fun (SmallProblem p) ->
            checkPlan p (Search.plan instantly p) |> ignore

        testPropertyWithConfig config "is valid, not below the lower bound and not above best-fit with a small budget" <| fun (SmallProblem p) (seed: int) ->
            let peak, _ = checkPlan p (Search.plan (capped 30 seed p) p)
            Expect.isLessThanOrEqual peak (Plan.peak p (BestFit.plan p)) "search starts from best-fit"
    ]
