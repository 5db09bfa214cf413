module Pgmo.Planner.Tests.GreedyTests

open Expecto
open Pgmo.Planner
open Pgmo.Planner.Tests.PlacementTests

/// Every problem whose lifetimes are all identical or pairwise disjoint: provably reached lower bound.
let private identical = Problem.ofBuffers [ for i in 0 .. 5 -> Buffer.create (string i) 3L 7L (int64 (8 * (i + 1))) ]
let private disjoint = Problem.ofBuffers [ for i in 0 .. 5 -> Buffer.create (string i) (int64 i) (int64 i + 1L) (int64 (100 - i)) ]

let tests =
    testList "Greedy" ([
        testCase "exact offsets on a small case" <| fun () ->
            //  step:   0 1 2 3 4 5
            //  a(8)    aaaa              [0,2)
            //  b(6)        bbbbbb        [2,5)
            //  c(4)    cccccc            [0,3)
            //  d(2)            dddd      [4,6)
            //  order a, b, c, d. a at 0; b does not meet a: 0; c meets a and b: on top at 8;
            //  d meets b only (c ended at 3): the gap above b? none below 6, so on top of b at 6.
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 2L 8L; Buffer.create "b" 2L 5L 6L
                                        Buffer.create "c" 0L 3L 4L; Buffer.create "d" 4L 6L 2L ]
            let plan = Greedy.plan p
            Expect.equal plan.Offsets [| 0L; 0L; 8L; 6L |] "hand-computed offsets"
            let peak = expectValid "small" p plan
            Expect.equal peak 12L "peak 12 = lower bound (a + c)"

        testCase "takes the smallest gap, not the lowest" <| fun () ->
            //  step:    0 1 2 3
            //  x(10)    xxxxxx        [0,3)
            //  y(9)     yy            [0,1)   at 10
            //  z(8)     zzzzzz        [0,3)   at 19
            //  u(7)         uuuu      [1,3)   gap 10..19 (9 bytes) is the only one: 10
            //  w(3)           ww      [2,3)   gaps: 17..19 (2 bytes) too small; on top at 27
            let p = Problem.ofBuffers [ Buffer.create "x" 0L 3L 10L; Buffer.create "y" 0L 1L 9L; Buffer.create "z" 0L 3L 8L
                                        Buffer.create "u" 1L 3L 7L; Buffer.create "w" 2L 3L 3L ]
            let plan = Greedy.plan p
            Expect.equal plan.Offsets [| 0L; 10L; 19L; 10L; 27L |] "hand-computed offsets"
            expectValid "gaps" p plan |> ignore

        testCase "ties in size go by earlier start" <| fun () ->
            let p = Problem.ofBuffers [ Buffer.create "late" 5L 9L 4L; Buffer.create "early" 0L 6L 4L ]
            Expect.equal (Greedy.order p) [| 1; 0 |] "the earlier-starting buffer first"
            Expect.equal (Greedy.plan p).Offsets [| 4L; 0L |] "early at 0, late on top"

        testCase "identical lifetimes reach the lower bound" <| fun () ->
            Expect.equal (expectValid "identical" identical (Greedy.plan identical)) (Bounds.lowerBound identical) "stacked exactly"

        testCase "disjoint lifetimes reach the lower bound" <| fun () ->
            Expect.equal (expectValid "disjoint" disjoint (Greedy.plan disjoint)) (Bounds.lowerBound disjoint) "all at 0"
    ] @ baselineProperties "greedy" Greedy.plan)
