module Pgmo.Planner.Tests.BestFitTests

open Expecto
open Pgmo.Planner

let tests =
    testList "BestFit" [
        testCase "places the longest buffer first and fills the skyline" <| fun () ->
            //  step:   0 1 2 3
            //  a       aaaaaaaa    [0,4) size 4  longest: offset 0, skyline [0,4)@4
            //  b       bbbb        [0,2) size 2  next longest: at 4, skyline [0,2)@6 [2,4)@4
            //  c           cc      [2,3) size 1  c and d tie on length; d is larger: d at 4, skyline [2,3)@4 [3,4)@7
            //  d             dd    [3,4) size 3  lowest [2,3)@4 takes c at 4
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 4L 4L; Buffer.create "b" 0L 2L 2L; Buffer.create "c" 2L 3L 1L; Buffer.create "d" 3L 4L 3L ]
            let plan = BestFit.plan p
            Expect.equal plan.Offsets [| 0L; 4L; 4L; 4L |] "a at 0; b, c, d on top of a"
            let peak, lb = checkPlan p plan
            Expect.equal peak lb "optimal here"

        testCase "lifts a segment no buffer fits into" <| fun () ->
            //  step:   0 1 2
            //  a       aa          [0,1) size 8
            //  b         bbbb      [1,3) size 2
            //  c       cccc        [0,2) size 2
            // b and c tie on length and size: c starts earlier and goes first, at 0: skyline [0,2)@2 [2,3)@0.
            // lowest [2,3)@0: nothing lies inside it (b spans [1,3)), so it is lifted to 2 and merged: [0,3)@2.
            // b at 2: skyline [0,1)@2 [1,3)@4; the lowest [0,1)@2 takes a at 2.
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 1L 8L; Buffer.create "b" 1L 3L 2L; Buffer.create "c" 0L 2L 2L ]
            let plan = BestFit.plan p
            Expect.equal plan.Offsets [| 2L; 2L; 0L |] "c at 0, b and a at 2"
            let peak, lb = checkPlan p plan
            Expect.equal peak 10L "c under a: 2 + 8"
            Expect.equal lb 10L "a and c live together at step 0"

        testCase "rounds the segment height up to the buffer's alignment" <| fun () ->
            //  step:   0 1
            //  a       aaaa        [0,2) size 3
            //  b       bb          [0,1) size 4, alignment 4: the skyline is at 3, b goes to 4 (1 byte of padding)
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 2L 3L; { Buffer.create "b" 0L 1L 4L with Alignment = 4L } ]
            let plan = BestFit.plan p
            Expect.equal plan.Offsets [| 0L; 4L |] "b aligned up above a"
            let peak, lb = checkPlan p plan
            Expect.equal peak (lb + 1L) "one byte of padding above the lower bound"

        testCase "identical lifetimes stack to the lower bound" <| fun () ->
            let p = Problem.ofBuffers [ for i in 0 .. 9 -> Buffer.create (string i) 3L 7L (int64 (i * 7 % 5 + 1)) ]
            let peak, lb = checkPlan p (BestFit.plan p)
            Expect.equal peak lb "one stack is optimal"

        testCase "disjoint lifetimes all sit at offset 0" <| fun () ->
            let p = Problem.ofBuffers [ for i in 0 .. 9 -> Buffer.create (string i) (int64 (2 * i)) (int64 (2 * i + 2)) (int64 (i + 1)) ]
            let plan = BestFit.plan p
            Expect.isTrue (plan.Offsets |> Array.forall ((=) 0L)) "nothing overlaps, everything at 0"
            let peak, lb = checkPlan p plan
            Expect.equal peak lb "the largest buffer is the peak"

        testCase "nested lifetimes with equal sizes reach the lower bound" <| fun () ->
            //  a aaaaaaaa / b  bbbbbb / c   cccc / d    dd : longest first, each on top of the previous
            let p = Problem.ofBuffers [ for i in 0 .. 3 -> Buffer.create (string i) (int64 i) (int64 (8 - i)) 4L ]
            let plan = BestFit.plan p
            Expect.equal plan.Offsets [| 0L; 4L; 8L; 12L |] "a tower"
            let peak, lb = checkPlan p plan
            Expect.equal peak lb "optimal"

        testCase "the empty problem has the empty plan" <| fun () ->
            let p = Problem.ofBuffers []
            Expect.equal (BestFit.plan p).Offsets [||] "no offsets"

        testCase "planRanked rejects a ranking that is not a permutation" <| fun () ->
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 1L 1L; Buffer.create "b" 0L 1L 1L ]
            Expect.throws (fun () -> BestFit.planRanked [| 0; 0 |] p |> ignore) "duplicate rank"

        testPropertyWithConfig config "is valid and not below the lower bound" <| fun (SmallProblem p) ->
            checkPlan p (BestFit.plan p) |> ignore

        testPropertyWithConfig config "is valid under any ranking" <| fun (SmallProblem p) (seed: int) ->
            let rank = Array.init p.Buffers.Length id
            let rnd = System.Random seed
            for i in rank.Length - 1 .. -1 .. 1 do
                let j = rnd.Next(i + 1)
                let t = rank.[i] in rank.[i] <- rank.[j]; rank.[j] <- t
            checkPlan p (BestFit.planRanked rank p) |> ignore

        testPropertyWithConfig config "equals the optimum when all lifetimes are identical" <| fun (SmallProblem p) ->
            let p = { p with Buffers = p.Buffers |> Array.map (fun b -> { b with Lifetime = { Start = 0L; End = 3L }; Alignment = 1L }) }
            let peak, lb = checkPlan p (BestFit.plan p)
            Expect.equal peak lb "a single stack"

        testCase "plans a 20k-buffer chain" <| fun () ->
            let n = 20_000
            let p = Problem.ofBuffers [ for i in 0 .. n - 1 -> Buffer.create (string i) (int64 i) (int64 i + 2L) (int64 (16 + i % 7)) ]
            let peak, lb = checkPlan p (BestFit.plan p)
            Expect.isLessThanOrEqual peak (2L * lb) "two-high chain"
    ]
