module Pgmo.Planner.Tests.PlacementTests

open Expecto
open Pgmo.Planner

let private choose fit size alignment (ranges: (int64 * int64) list) =
    let los = ranges |> List.map fst |> Array.ofList
    let his = ranges |> List.map snd |> Array.ofList
    Placement.choose fit size alignment los his los.Length

/// The placement rule written plainly, apart from Placement's code: the gaps below each range of the union of the
/// address ranges, then the lowest that fits (first fit) or the shortest that fits, the lowest among equals (best
/// fit); on top of every range, aligned, when none fits.
let referenceChoose (fit: Fit) (size: int64) (alignment: int64) (ranges: (int64 * int64) list) : int64 =
    let align x = if alignment <= 1L then x else (x + alignment - 1L) / alignment * alignment
    let gaps, top =
        ranges |> List.sort |> List.fold (fun (gaps, top) (lo, hi) -> (if lo > top then (top, lo) :: gaps else gaps), max top hi) ([], 0L)
    match gaps |> List.rev |> List.filter (fun (g0, g1) -> align g0 + size <= g1) with
    | [] -> align top
    | (g0, _) :: _ when fit = Fit.First -> align g0
    | fitting -> fitting |> List.minBy (fun (g0, g1) -> g1 - g0, g0) |> fst |> align

/// The reference placement: for each buffer in order, every placed buffer is checked for a time overlap (O(n^2)),
/// and referenceChoose picks the offset.
let referencePlace (fit: Fit) (order: int[]) (p: Problem) : Plan =
    let offsets = Array.create p.Buffers.Length -1L
    for i in order do
        let b = p.Buffers.[i]
        let ranges =
            [ for j in 0 .. p.Buffers.Length - 1 do
                if offsets.[j] >= 0L && Buffer.overlapsInTime b p.Buffers.[j] then offsets.[j], offsets.[j] + p.Buffers.[j].Size ]
        offsets.[i] <- referenceChoose fit b.Size (max 1L b.Alignment) ranges
    { Offsets = offsets }

let tests =
    testList "Placement" [
        testPropertyWithConfig config "orderByKey is orderBy on the key, for keys near and far apart" <| fun (SmallProblem q) (far: bool) ->
            let key (b: Buffer) = if far then b.Lifetime.Start * 4_000_000_000_000_000L else b.Lifetime.Start
            Expect.equal (Placement.orderByKey key q) (Placement.orderBy (fun a b -> compare (key a) (key b)) q) "the same order"

        testCase "choose: best fit takes the smallest gap, first fit the lowest" <| fun () ->
            //  address: 0..10 used, 10..30 free (20), 30..40 used, 40..48 free (8), 48..50 used
            let ranges = [ 0L, 10L; 30L, 40L; 48L, 50L ]
            Expect.equal (choose Fit.Best 8L 1L ranges) 40L "the 8-byte gap is the tightest"
            Expect.equal (choose Fit.First 8L 1L ranges) 10L "the 20-byte gap is the lowest"
            Expect.equal (choose Fit.Best 21L 1L ranges) 50L "nothing fits 21: on top"

        testCase "choose: best fit breaks a tie of gap lengths by the lowest gap" <| fun () ->
            //  address: 0..10 used, 10..18 free (8), 18..30 used, 30..38 free (8), 38..40 used, 40..45 free (5)
            let ranges = [ 0L, 10L; 18L, 30L; 38L, 40L; 45L, 46L ]
            Expect.equal (choose Fit.Best 6L 1L ranges) 10L "two 8-byte gaps fit 6: the lower one"
            Expect.equal (choose Fit.Best 8L 1L ranges) 10L "two exact fits: the lower one"
            for fit in [ Fit.Best; Fit.First ] do
                for size in 0L .. 12L do
                    Expect.equal (choose fit size 1L ranges) (referenceChoose fit size 1L ranges) (sprintf "%A %d: as the reference" fit size)

        testCase "choose: nested and overlapping ranges leave no false gap" <| fun () ->
            //  [0,100) contains [10,20); [90,120) overlaps its end; gap 120..130
            let ranges = [ 0L, 100L; 10L, 20L; 90L, 120L; 130L, 131L ]
            Expect.equal (choose Fit.First 10L 1L ranges) 120L "the only gap is 120..130"
            Expect.equal (choose Fit.Best 11L 1L ranges) 131L "11 does not fit in it"

        testCase "choose: alignment shrinks a gap and rounds the top" <| fun () ->
            //  gap 3..12 holds 8 bytes at 4 only with alignment 4; with alignment 8 its aligned start is 8: no fit
            let ranges = [ 0L, 3L; 12L, 13L ]
            Expect.equal (choose Fit.First 8L 4L ranges) 4L "aligned to 4 inside the gap"
            Expect.equal (choose Fit.First 8L 8L ranges) 16L "aligned to 8 it goes on top, at 16"
            Expect.equal (choose Fit.First 1L 16L []) 0L "an empty heap starts at 0"

        testCase "placeInOrder only sees buffers overlapping in time" <| fun () ->
            //  step:  0 1 2 3 4 5
            //  a      aaaa            [0,2) 4
            //  b          bbbb        [2,4) 4   (touches a: half-open, no overlap)
            //  c        cccccc        [1,4) 4
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 2L 4L; Buffer.create "b" 2L 4L 4L; Buffer.create "c" 1L 4L 4L ]
            let plan = Placement.placeInOrder Fit.First [| 0; 1; 2 |] p
            Expect.equal plan.Offsets [| 0L; 0L; 4L |] "b reuses a's addresses, c sits above both"
            expectValid "touching" p plan |> ignore

        testPropertyWithConfig config "the interval trees find exactly what the O(n^2) reference finds" <| fun (SmallProblem p) (seed: int) ->
            let rng = System.Random(seed)
            let order = Array.init p.Buffers.Length id |> Array.sortBy (fun _ -> rng.Next())
            for fit in [ Fit.Best; Fit.First ] do
                let plan = Placement.placeInOrder fit order p
                Expect.equal plan (referencePlace fit order p) (sprintf "%A: same offsets as the reference" fit)
                expectValid (sprintf "%A" fit) p plan |> ignore

        testCase "the interval trees match the reference on a 2000-buffer trace" <| fun () ->
            let p = Traces.residual 5 400 3
            let order = Greedy.order p
            Expect.equal (Placement.placeInOrder Fit.Best order p) (referencePlace Fit.Best order p) "same offsets"

        testCase "the interval trees match the reference on large random problems with many small gaps" <| fun () ->
            // enough placed buffers per tree node that the cached blocks of gap lengths get skipped
            for seed in 1 .. 6 do
                let rng = System.Random(seed)
                let horizon = 10 + rng.Next(200)
                let bs =
                    [ for i in 0 .. 1499 do
                        let start = rng.Next(horizon)
                        let length = 1 + rng.Next(max 1 (if rng.Next(4) = 0 then horizon - start else 6))
                        let size = if rng.Next(20) = 0 then 0L else int64 (1 + rng.Next(if rng.Next(3) = 0 then 200 else 8))
                        let alignment = [| 1L; 1L; 1L; 2L; 8L; 32L |].[rng.Next(6)]
                        { Buffer.create (string i) (int64 start) (int64 (start + length)) size with Alignment = alignment } ]
                let p = Problem.ofBuffers bs
                let orders = [ Greedy.order p; Xla.order XlaStrategy.Temporal p; Array.init bs.Length id |> Array.sortBy (fun _ -> rng.Next()) ]
                for order in orders do
                    for fit in [ Fit.Best; Fit.First ] do
                        Expect.equal (Placement.placeInOrder fit order p) (referencePlace fit order p) (sprintf "seed %d, %A: same offsets" seed fit)

        testCase "the interval trees match the reference on a trace in every baseline's order" <| fun () ->
            let p = Traces.chain 7 400
            for fit, order in [ Fit.Best, Xla.order XlaStrategy.Spatial p; Fit.Best, Xla.order XlaStrategy.Temporal p; Fit.First, FirstFit.order p ] do
                Expect.equal (Placement.placeInOrder fit order p) (referencePlace fit order p) (sprintf "%A: same offsets" fit)

        testPropertyWithConfig config "every baseline's order matches the reference on small problems" <| fun (SmallProblem p) (DnnProblem q) ->
            // allocation order takes the path without the tree of starts; buffers live from the first step read it
            for problem in [ p; q ] do
                for fit, order in [ Fit.Best, Greedy.order problem; Fit.Best, Xla.order XlaStrategy.Spatial problem
                                    Fit.Best, Xla.order XlaStrategy.Temporal problem; Fit.First, FirstFit.order problem
                                    Fit.Best, FirstFit.order problem; Fit.First, Greedy.order problem ] do
                    let plan = Placement.placeInOrder fit order problem
                    Expect.equal plan (referencePlace fit order problem) (sprintf "%A: same offsets as the reference" fit)
                    expectValid (sprintf "%A" fit) problem plan |> ignore

        testCase "a node with hundreds of gapped runs: chunks split, and one range merges runs across chunks" <| fun () ->
            //  step:    0 1 2 3
            //  P_i      [-----)        size 1, even addresses 0, 2, .., 398 (placed alternately with F_i)
            //  F_i        [-)          size 1, odd addresses 1, 3, .., 399
            //  S_i          [-)        size 1: the odd addresses again (F_i has ended), all starting at step 2
            //  B              [-)      size 400 at 0: covers every run of the starts at steps 2..3 in one range
            //  Q          [-----)      overlaps them all: on top, at 400
            let pillars = [ for i in 0 .. 199 -> Buffer.create (sprintf "P%d" i) 0L 3L 1L ]
            let fillers = [ for i in 0 .. 199 -> Buffer.create (sprintf "F%d" i) 1L 2L 1L ]
            let singles = [ for i in 0 .. 199 -> Buffer.create (sprintf "S%d" i) 2L 3L 1L ]
            let p = Problem.ofBuffers (pillars @ fillers @ singles @ [ Buffer.create "B" 3L 4L 400L; Buffer.create "Q" 1L 4L 1L ])
            let order = [| for i in 0 .. 199 do yield i; yield 200 + i
                           for i in 0 .. 199 do yield 400 + i
                           yield 600; yield 601 |]
            for fit in [ Fit.First; Fit.Best ] do
                let plan = Placement.placeInOrder fit order p
                Expect.equal plan (referencePlace fit order p) (sprintf "%A: same offsets as the reference" fit)
                Expect.equal plan.Offsets.[0 .. 199] [| for i in 0L .. 199L -> 2L * i |] (sprintf "%A: pillars at even addresses" fit)
                Expect.equal plan.Offsets.[400 .. 599] [| for i in 0L .. 199L -> 2L * i + 1L |] (sprintf "%A: singles in the fillers' addresses" fit)
                Expect.equal plan.Offsets.[600 .. 601] [| 0L; 400L |] (sprintf "%A: B at 0, Q on top" fit)
                let peak = expectValid (sprintf "%A" fit) p plan
                Expect.equal peak (Bounds.lowerBound p) (sprintf "%A: the peak is the lower bound, 401" fit)

        testPropertyWithConfig config "placement in any order is valid for both fits" <| fun (SmallProblem p) (seed: int) ->
            let rng = System.Random(seed)
            let order = Array.init p.Buffers.Length id |> Array.sortBy (fun _ -> rng.Next())
            for fit in [ Fit.Best; Fit.First ] do
                expectValid (sprintf "%A" fit) p (Placement.placeInOrder fit order p) |> ignore
    ]
