module Pgmo.Planner.Tests.XlaTests

open Expecto
open Pgmo.Planner
open Pgmo.Planner.Tests.PlacementTests

let tests =
    testList "Xla" [
        testCase "the two strategies order differently" <| fun () ->
            //  step:      0 1 2 3 4 5 6 7
            //  big(8)     bb                    [0,1)
            //  long(4)    llllllllllllllll      [0,8)
            //  mid(4)         mmmm              [1,3)
            let p = Problem.ofBuffers [ Buffer.create "big" 0L 1L 8L; Buffer.create "long" 0L 8L 4L; Buffer.create "mid" 1L 3L 4L ]
            Expect.equal (Xla.order XlaStrategy.Spatial p) [| 0; 1; 2 |] "size first, then duration"
            Expect.equal (Xla.order XlaStrategy.Temporal p) [| 1; 2; 0 |] "duration first"
            // spatial: big 0, long meets big: 8, mid meets long only: gap 0..8 below it, best fit: 0
            Expect.equal (Xla.plan XlaStrategy.Spatial p).Offsets [| 0L; 8L; 0L |] "spatial offsets"
            // temporal: long 0, mid on top 4, big meets long: on top 4
            Expect.equal (Xla.plan XlaStrategy.Temporal p).Offsets [| 4L; 0L; 4L |] "temporal offsets"
            for s in [ XlaStrategy.Spatial; XlaStrategy.Temporal ] do
                Expect.equal (expectValid (Xla.name s) p (Xla.plan s p)) 12L "both reach the lower bound 12"

        testPropertyWithConfig config "valid and above the lower bound, both strategies" <| fun (SmallProblem p) ->
            for s in [ XlaStrategy.Spatial; XlaStrategy.Temporal ] do
                expectValid (Xla.name s) p (Xla.plan s p) |> ignore

        testPropertyWithConfig config "hits the lower bound on identical lifetimes" <| fun (SmallProblem p) ->
            let same = identicalLifetimes 2L 4L p
            for s in [ XlaStrategy.Spatial; XlaStrategy.Temporal ] do
                Expect.equal (expectValid (Xla.name s) same (Xla.plan s same)) (Bounds.lowerBound same) "a stack"
    ]
