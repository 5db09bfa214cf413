module Pgmo.Planner.Tests.TimeAxisTests

open Expecto
open Pgmo.Planner

let private p =
    //  step:   0 1 2 3 4 5
    //  a       [---)            [0, 2)
    //  b         [-----)        [1, 4)
    //  c           [-)          [2, 3)
    //  d                 [-)    [5, 6)   alone: its own component
    Problem.ofBuffers [ Buffer.create "a" 0L 2L 1L; Buffer.create "b" 1L 4L 2L; Buffer.create "c" 2L 3L 4L; Buffer.create "d" 5L 6L 8L ]

/// The example of TimeAxis's documentation: a (8 B) frees its bytes on step 2, b (4 B) lives on [1, 4), c (2 B) on [5, 6).
let private gapped =
    Problem.ofBuffers [
        { Buffer.create "a" 0L 5L 8L with Gaps = [| { Steps = { Start = 2L; End = 3L }; Window = None } |] }
        Buffer.create "b" 1L 4L 4L
        Buffer.create "c" 5L 6L 2L ]

let tests =
    testList "TimeAxis" [
        testCase "endpoints: by step, ends before starts" <| fun () ->
            let order = Sweep.endpoints p |> Array.map (fun (struct (t, kind, i)) -> t, (if kind = Sweep.Ends then "end" else "start"), i)
            Expect.equal order.[2 .. 3] [| 2L, "end", 0; 2L, "start", 2 |] "at step 2, a ends before c starts"

        testPropertyWithConfig config "Sweep.order is the sort by step, ends first, then index, near and far apart" <| fun (SmallProblem q) (far: bool) ->
            let scale (t: int64) = if far then t * 3_000_000_000_000_000L else t
            let starts = q.Buffers |> Array.map (fun b -> scale b.Lifetime.Start)
            let ends = q.Buffers |> Array.map (fun b -> scale b.Lifetime.End)
            let expected =
                Array.append (starts |> Array.mapi (fun i t -> struct (t, Sweep.Starts, i))) (ends |> Array.mapi (fun i t -> struct (t, Sweep.Ends, i)))
                |> Array.sortWith (fun (struct (t1: int64, k1: int, i1: int)) (struct (t2, k2, i2)) ->
                    if t1 <> t2 then compare t1 t2 elif k1 <> k2 then compare k1 k2 else compare i1 i2)
            Expect.equal (Sweep.order starts ends) expected "the same endpoints in the same order"

        testCase "sections, neighbours, components and cliques of a small diagram" <| fun () ->
            let axis = TimeAxis p
            Expect.equal axis.Steps [| 0L; 1L; 2L; 3L; 4L; 5L; 6L |] "every endpoint once"
            Expect.equal (axis.SpanLo, axis.SpanHi) ([| 0; 1; 2; 5 |], [| 2; 4; 3; 6 |]) "section ranges"
            Expect.equal axis.Members [| [| 0 |]; [| 0; 1 |]; [| 1; 2 |]; [| 1 |]; [||]; [| 3 |] |] "who is live in each section"
            let nb = (axis.Neighbours(100L, fun () -> false)).Value
            Expect.equal (nb.Of |> Array.map Array.sort) [| [| 1 |]; [| 0; 2 |]; [| 1 |]; [||] |] "a-b and b-c; a and c do not overlap"
            Expect.equal nb.Above.[1] [| 2L; 2L |] "without gaps, b's distance to either neighbour is its size"
            Expect.isNone (axis.Neighbours(1L, fun () -> false)) "more pairs than the cap"
            Expect.equal axis.Components [| [| 0; 1; 2 |]; [| 3 |] |] "no lifetime crosses step 4 or 5"
            Expect.equal axis.Cliques [| [| 0; 1 |]; [| 1; 2 |]; [| 3 |] |] "the maximal live sets (one piece per buffer)"
            Expect.equal (Bounds.lowerBound p) 8L "d alone is the largest load"

        testCase "the documented example: pieces, steps and load of a gapped buffer" <| fun () ->
            let axis = TimeAxis gapped
            Expect.equal axis.First [| 0; 2; 3; 4 |] "a is two pieces, b and c one each"
            Expect.equal axis.Pieces [| { Start = 0L; End = 2L; Lo = 0L; Hi = 8L }; { Start = 3L; End = 5L; Lo = 0L; Hi = 8L }
                                        { Start = 1L; End = 4L; Lo = 0L; Hi = 4L }; { Start = 5L; End = 6L; Lo = 0L; Hi = 2L } |]
                "a's pieces skip its gap; whole bytes outside it"
            Expect.equal axis.Owner [| 0; 0; 1; 2 |] "the pieces' buffers"
            Expect.equal axis.Load [| 0L, 8L; 1L, 12L; 2L, 4L; 3L, 12L; 4L, 8L; 5L, 2L; 6L, 0L |] "the load at each step"
            Expect.equal (Bounds.lowerBound gapped) 12L "the lower bound"
            Expect.equal (axis.SpanLo.[0], axis.SpanHi.[0]) (0, 5) "a spans its lifetime, gap included"
            Expect.equal (axis.Distance(0, 1), axis.Distance(1, 0)) (ValueSome 8L, ValueSome 4L) "a and b meet outside a's gap"
            Expect.isFalse axis.HasRaisedWindows "no window"

        testPropertyWithConfig config "neighbours are exactly the pairs of lifetimes that share a step" <| fun (SmallProblem q) ->
            let bs = q.Buffers
            let axis = TimeAxis q
            let nb = (axis.Neighbours(System.Int64.MaxValue, fun () -> false)).Value
            for i in 0 .. bs.Length - 1 do
                let expected = [| for j in 0 .. bs.Length - 1 do if j <> i && Buffer.overlapsInTime bs.[i] bs.[j] then j |]
                Expect.equal (Array.sort nb.Of.[i]) expected (sprintf "neighbours of %d" i)
            Expect.equal axis.MaxLoad (bruteLowerBound q) "the largest load is the lower bound"

        // dense endpoints (a trace's event counts) take the table; spread far apart they take the sort: the same axis
        testPropertyWithConfig config "steps and ranks are the same from the table and from the sort" <| fun (SmallProblem q) ->
            let spread = 1_000_000_007L
            let far = { q with Buffers = q.Buffers |> Array.map (fun b ->
                            { b with Lifetime = { Start = b.Lifetime.Start * spread - 5L; End = b.Lifetime.End * spread - 5L } }) }
            let near, apart = TimeAxis q, TimeAxis far
            Expect.equal (apart.Steps |> Array.map (fun t -> (t + 5L) / spread)) near.Steps "the same steps"
            Expect.equal (apart.SpanLo, apart.SpanHi) (near.SpanLo, near.SpanHi) "the same spans"
            Expect.equal (apart.StartRank, apart.EndRank) (near.StartRank, near.EndRank) "the same piece ranks"
            for t in near.Steps do
                Expect.equal (near.Rank t) (System.Array.BinarySearch(near.Steps, t)) "an endpoint's rank"
                // a step between endpoints, and one past the last: the binary search's complement, from either path
                Expect.equal (near.Rank (t + 1L) < 0) (System.Array.BinarySearch(near.Steps, t + 1L) < 0) "a step that is no endpoint"
                Expect.equal (apart.Rank (t * spread - 4L)) (System.Array.BinarySearch(apart.Steps, t * spread - 4L)) "no endpoint, far apart"
    ]
