module Pgmo.Planner.Tests.FirstFitTests

open Expecto
open Pgmo.Planner
open Pgmo.Planner.Tests.PlacementTests

let tests =
    testList "FirstFit" ([
        testCase "takes the lowest gap free at allocation time" <| fun () ->
            //  step:    0 1 2 3 4
            //  a(4)     aa                [0,1)  at 0
            //  b(4)     bbbbbbbbbb        [0,5)  at 4
            //  c(8)     cccc              [0,2)  at 8
            //  d(2)       dddd            [1,3)  a freed at 1: lowest gap 0..4 -> 0
            //  e(6)         eeeeee        [2,5)  c freed at 2: gaps 2..4 (too small), 8..16 -> 8
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 1L 4L; Buffer.create "b" 0L 5L 4L; Buffer.create "c" 0L 2L 8L
                                        Buffer.create "d" 1L 3L 2L; Buffer.create "e" 2L 5L 6L ]
            let plan = FirstFit.plan p
            Expect.equal plan.Offsets [| 0L; 4L; 8L; 0L; 8L |] "hand-computed offsets"
            Expect.equal (expectValid "small" p plan) 16L "peak 16 = lower bound"

        testCase "fragmentation makes it exceed the lower bound" <| fun () ->
            //  step:    0 1 2
            //  a(4)     aa      [0,1) at 0
            //  b(4)     bbbb    [0,2) at 4
            //  c(8)       cc    [1,2) gap 0..4 too small: on top at 8; lower bound is 12
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 1L 4L; Buffer.create "b" 0L 2L 4L; Buffer.create "c" 1L 2L 8L ]
            let plan = FirstFit.plan p
            Expect.equal plan.Offsets [| 0L; 4L; 8L |] "c goes on top"
            Expect.equal (expectValid "frag" p plan) 16L "peak 16 > lower bound 12"
    ] @ baselineProperties "first-fit" FirstFit.plan)
