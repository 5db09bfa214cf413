module Pgmo.Planner.Tests.SweepTests

open Expecto
open Pgmo.Planner
open Pgmo.Planner.Tests.Generators

let private p =
    //  step:   0 1 2 3 4 5
    //  a       [---)            [0, 2)
    //  b         [-----)        [1, 4)
    //  c           [-)          [2, 3)
    //  d                 [-)    [5, 6)   alone: its own component
    Problem.ofBuffers [ Buffer.create "a" 0L 2L 1L; Buffer.create "b" 1L 4L 2L; Buffer.create "c" 2L 3L 4L; Buffer.create "d" 5L 6L 8L ]

let tests =
    testList "Sweep" [
        testCase "endpoints: by step, ends before starts" <| fun () ->
            let order = Sweep.endpoints p |> Array.map (fun (struct (t, kind, i)) -> t, (if kind = Sweep.Ends then "end" else "start"), i)
            Expect.equal order.[2 .. 3] [| 2L, "end", 0; 2L, "start", 2 |] "at step 2, a ends before c starts"

        testCase "sections, overlaps, components and cliques of a small diagram" <| fun () ->
            let s = Sweep.sections p
            Expect.equal s.Steps [| 0L; 1L; 2L; 3L; 4L; 5L; 6L |] "every endpoint once"
            Expect.equal (s.Lo, s.Hi) ([| 0; 1; 2; 5 |], [| 2; 4; 3; 6 |]) "section ranges"
            Expect.equal s.Members [| [| 0 |]; [| 0; 1 |]; [| 1; 2 |]; [| 1 |]; [||]; [| 3 |] |] "who is live in each section"
            let o = (Sweep.overlaps p 100L (fun () -> false)).Value |> Array.map Array.sort
            Expect.equal o [| [| 1 |]; [| 0; 2 |]; [| 1 |]; [||] |] "a-b and b-c; a and c do not overlap"
            Expect.isNone (Sweep.overlaps p 1L (fun () -> false)) "more pairs than the cap"
            Expect.equal (Sweep.components p) [| [| 0; 1; 2 |]; [| 3 |] |] "no lifetime crosses step 4 or 5"
            Expect.equal (Sweep.cliques p) [| [| 0; 1 |]; [| 1; 2 |]; [| 3 |] |] "the maximal live sets"
            Expect.equal (Bounds.lowerBound p) 8L "d alone is the largest load"

        testPropertyWithConfig config "overlaps are exactly the pairs of lifetimes that share a step" <| fun (SmallProblem q) ->
            let bs = q.Buffers
            let o = (Sweep.overlaps q System.Int64.MaxValue (fun () -> false)).Value
            for i in 0 .. bs.Length - 1 do
                let expected = [| for j in 0 .. bs.Length - 1 do if j <> i && Buffer.overlapsInTime bs.[i] bs.[j] then j |]
                Expect.equal (Array.sort o.[i]) expected (sprintf "neighbours of %d" i)
            Expect.equal (Sweep.load q |> Array.fold (fun m (_, l) -> max m l) 0L) (bruteLowerBound q) "the largest load is the lower bound"
    ]
