module Pgmo.Planner.Tests.BestFitTests

open Expecto
open Pgmo.Planner

/// The skyline best-fit written from its description alone (BestFit's module comment), for problems without gaps or
/// pins: a list of segments (start, end, height); the lowest, leftmost on ties, takes the best-ranked unplaced buffer
/// whose lifetime lies inside it, at its height rounded up to the alignment, or is lifted to its lower neighbour; equal
/// neighbours merge. O(n^2) and more, for small problems.
let referenceSkyline (rank: int[]) (p: Problem) : int64[] =
    let bs = p.Buffers
    let n = bs.Length
    let offsets = Array.zeroCreate n
    if n > 0 then
        let placed = Array.zeroCreate n
        let lo = bs |> Array.map (fun b -> b.Lifetime.Start) |> Array.min
        let hi = bs |> Array.map (fun b -> b.Lifetime.End) |> Array.max
        let mutable segments = [ (lo, hi, 0L) ]
        let merge segs =
            segs |> List.fold (fun acc (s, e, h) ->
                match acc with
                | (s0, _, h0) :: rest when h0 = h -> (s0, e, h) :: rest
                | _ -> (s, e, h) :: acc) [] |> List.rev
        let mutable left = n
        while left > 0 do
            let (a, b, h) = segments |> List.minBy (fun (s, _, h) -> h, s)
            let fits = [ for i in 0 .. n - 1 do if not placed.[i] && bs.[i].Lifetime.Start >= a && bs.[i].Lifetime.End <= b then yield i ]
            match fits with
            | [] ->
                let heights = segments |> List.pairwise |> List.choose (fun ((s1, e1, h1), (s2, e2, h2)) ->
                                  if e1 = a then Some h1 elif s2 = b then Some h2 else None)
                let lifted = List.min heights
                segments <- merge (segments |> List.map (fun (s, e, h') -> if s = a then (s, e, lifted) else (s, e, h')))
            | _ ->
                let x = fits |> List.minBy (fun i -> rank.[i])
                let buf = bs.[x]
                let off = Numbers.alignUp buf.Alignment h
                offsets.[x] <- off
                placed.[x] <- true
                left <- left - 1
                let parts = [ (a, buf.Lifetime.Start, h); (buf.Lifetime.Start, buf.Lifetime.End, off + buf.Size); (buf.Lifetime.End, b, h) ]
                            |> List.filter (fun (s, e, _) -> s < e)
                segments <- merge (segments |> List.collect (fun (s, e, h') -> if s = a then parts else [ (s, e, h') ]))
    offsets

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

        testPropertyWithConfig config "places every buffer where the reference skyline does, under any ranking" <| fun (SmallProblem p) (seed: int) ->
            let p = Problem.ofBuffers (p.Buffers |> Array.map (fun b -> { b with Gaps = [||]; Pinned = None; Hint = None }))
            let rnd = System.Random seed
            let shuffled = Array.init p.Buffers.Length id |> Array.sortBy (fun _ -> rnd.Next())
            let rank = Array.zeroCreate shuffled.Length
            shuffled |> Array.iteri (fun r x -> rank.[x] <- r)
            Expect.equal (BestFit.planRanked rank p).Offsets (referenceSkyline rank p) "random ranks: the reference's offsets"
            Expect.equal (BestFit.plan p).Offsets (referenceSkyline (BestFit.ranksBy BestFit.paperRule p) p) "the paper's rule: the reference's offsets"

        testCase "places every buffer where the reference skyline does on a 761-buffer trace" <| fun () ->
            // enough buffers that the index has ten levels and removals stop partway up their blocks' trees
            let p = Traces.chain 3 150
            let rank = BestFit.paperRanks p
            Expect.equal (BestFit.plan p).Offsets (referenceSkyline rank p) "the reference's offsets"

        testPropertyWithConfig config "paperRanks is ranksBy paperRule" <| fun (SmallProblem p) (DnnProblem q) ->
            for problem in [ p; q ] do
                Expect.equal (BestFit.paperRanks problem) (BestFit.ranksBy BestFit.paperRule problem) "the same ranks"

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
