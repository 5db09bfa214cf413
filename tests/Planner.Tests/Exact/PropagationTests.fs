/// The exact search's inference alone (Propagation), apart from the stack machine that walks the branches.
module Pgmo.Planner.Tests.PropagationTests

open Expecto
open Pgmo.Planner

/// The state a branch changes, copied.
let private snapshot (p: Propagation) = Array.copy p.Offset, Array.copy p.MinOff, Array.copy p.Floor, Array.copy p.Total

let private propagation (capacity: int64) (p: Problem) = Propagation(ExactProblem p, capacity, ExactRules.defaults)

let tests =
    testList "Propagation" [
        testCase "a neighbour's lowest offset rises by the distance, aligned; a buffer apart in time stays" <| fun () ->
            //  step:  0 1 2
            //  a      aaa          [0, 2) 5 B
            //  b        bbb        [1, 3) 4 B, alignment 4
            //  c          c        [2, 3) 2 B
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 2L 5L; { Buffer.create "b" 1L 3L 4L with Alignment = 4L }; Buffer.create "c" 2L 3L 2L ]
            let prop = propagation 100L p
            prop.Place(0, 0L)
            Expect.equal prop.MinOff.[1] 8L "b above a: 0 + 5, rounded up to 4"
            Expect.equal prop.MinOff.[2] 0L "c never meets a"
            Expect.isTrue prop.Hat "a had an unplaced neighbour"
            Expect.equal prop.Floor.[0] 5L "a's sections are full to its top"

        testCase "section inference refuses a placement that leaves a section too little room" <| fun () ->
            //  step:  0 1
            //  a      aa     [0, 2) 4 B
            //  b      b      [0, 1) 4 B
            //  c       c     [1, 2) 4 B    capacity 8: a must sit at 0 or 4, and the others in the rest
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 2L 4L; Buffer.create "b" 0L 1L 4L; Buffer.create "c" 1L 2L 4L ]
            let prop = propagation 8L p
            Expect.isFalse prop.Overfull "8 bytes live at each step"
            let struct (om, sm) = prop.Marks
            prop.Place(0, 2L)
            Expect.isFalse (prop.Check(0, prop.Sections, prop.MostIn(0, prop.Sections), 0, 2L)) "a at 2 leaves b 2 bytes below and 2 above"
            prop.Unplace(0, om, sm)
            prop.Place(0, 0L)
            Expect.isTrue (prop.Check(0, prop.Sections, prop.MostIn(0, prop.Sections), 0, 0L)) "a at 0 leaves 4 bytes above it at each step"

        testCase "a section holding more than the capacity: overfull" <| fun () ->
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 1L 5L; Buffer.create "b" 0L 1L 5L ]
            Expect.isTrue (propagation 9L p).Overfull "10 bytes at step 0"

        testCase "cuts: placing the buffer that crosses a step splits the axis there" <| fun () ->
            //  step:  0 1 2 3
            //  a      aaaaaaa    [0, 3) crosses steps 1 and 2
            //  b      b          [0, 1)
            //  c          c      [2, 3)
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 3L 1L; Buffer.create "b" 0L 1L 1L; Buffer.create "c" 2L 3L 1L ]
            let prop = propagation 10L p
            let all = [| 0; 1; 2 |]
            Expect.equal (prop.Parts(0, prop.Sections, all)).Length 1 "a holds the axis together"
            prop.Place(0, 0L)
            Expect.isTrue (prop.Cut 0) "no unplaced buffer crosses steps 1 and 2 now"
            Expect.equal (prop.Parts(0, prop.Sections, all) |> Array.map (fun (_, _, inside) -> inside)) [| [| 1 |]; [| 2 |] |] "b and c apart"
            prop.Uncut 0
            Expect.equal (prop.Parts(0, prop.Sections, [| 1; 2 |])).Length 1 "uncut: the cuts are back"

        testPropertyWithConfig config "placing and unplacing restores every offset, lowest offset, floor and total" <| fun (SmallProblem p) ->
            let n = p.Buffers.Length
            let prop = propagation (p.Buffers |> Array.sumBy (fun b -> b.Size + b.Alignment)) p
            let before = snapshot prop
            // place every buffer in index order at its lowest offset, then undo in reverse
            let marks =
                [ for b in 0 .. n - 1 ->
                    let struct (om, sm) = prop.Marks
                    prop.Place(b, prop.MinOff.[b])
                    b, om, sm ]
            for b, om, sm in List.rev marks do prop.Unplace(b, om, sm)
            Expect.equal (snapshot prop) before "the branch undone leaves the state as it was"
    ]
