module Pgmo.Planner.Tests.BoundsTests

open Expecto
open Pgmo.Planner

let tests =
    testList "Bounds" [
        testCase "half-open lifetimes that touch do not add up" <| fun () ->
            //  step: 0 1 2 3 4
            //  a     aaaa          [0,2) size 5
            //  b         bbbb      [2,4) size 7
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 2L 5L; Buffer.create "b" 2L 4L 7L ]
            Expect.equal (Bounds.lowerBound p) 7L "a is freed before b is allocated"

        testCase "overlapping lifetimes add up" <| fun () ->
            //  a  [0,3) 5 ; b [2,4) 7 ; c [3,5) 1  -> step 2: 12, step 3: 8
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 3L 5L; Buffer.create "b" 2L 4L 7L; Buffer.create "c" 3L 5L 1L ]
            Expect.equal (Bounds.lowerBound p) 12L "a and b are live at step 2"
            Expect.equal (Bounds.peakSteps p) [| 2L |] "only step 2 reaches it"

        testCase "the minimalloc example needs 12" <| fun () ->
            let p = Problem.ofBuffers [ Buffer.create "0" 0L 3L 4L; Buffer.create "1" 3L 9L 4L; Buffer.create "2" 0L 9L 4L
                                        Buffer.create "3" 9L 21L 4L; Buffer.create "4" 0L 21L 4L ]
            Expect.equal (Bounds.lowerBound p) 12L "three buffers of 4 live together"

        testPropertyWithConfig config "the sweep equals the brute-force maximum over steps" <| fun (SmallProblem p) ->
            Expect.equal (Bounds.lowerBound p) (bruteLowerBound p) "sweep = brute force"

        testPropertyWithConfig config "no valid plan goes below the lower bound" <| fun (SmallProblem p) ->
            let plan = stackPlan p
            Expect.isTrue (Validate.isValid p plan) "the stack plan is valid"
            Expect.isGreaterThanOrEqual (Plan.peak p plan) (Bounds.lowerBound p) "peak >= lower bound"
    ]
