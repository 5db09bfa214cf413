module Pgmo.Planner.Tests.StrongBoundsTests

open System.Threading
open Expecto
open Pgmo.Planner
open Pgmo.Planner.Tests.Reference

/// An optimum (13) above the max load (12), from alignment:
//  step:  0 1
//  a      aaaa   [0,2) size 7, offset even
//  b        bb   [1,2) size 5, offset even: a at 0 puts b at 8 (top 13), b at 0 puts a at 6 (top 13)
let private aligned =
    Problem.ofBuffers [ { Buffer.create "a" 0L 2L 7L with Alignment = 2L }; { Buffer.create "b" 1L 2L 5L with Alignment = 2L } ]

/// A seeded problem of 2–6 buffers whose offsets all need an alignment of 1, 2, 4 or 8: alignment often puts the
/// optimum above the max load, so the bound has something to prove.
let private alignedProblem (seed: int) : Problem =
    let rnd = System.Random(seed)
    let n = 2 + seed % 5
    let horizon = rnd.Next(2, 6)
    Problem.ofBuffers [
        for i in 0 .. n - 1 do
            let s = rnd.Next(0, horizon)
            let e = s + rnd.Next(1, horizon - s + 1)
            { Buffer.create (string i) (int64 s) (int64 e) (int64 (rnd.Next(1, 13))) with Alignment = int64 (pown 2 (rnd.Next(0, 4))) } ]

/// The brute-force check of one problem: max load (rounded up to the granularity) <= bound <= optimum, and with the
/// whole problem among the relaxations and enough nodes, bound = optimum.
let private checkAgainstBruteForce (label: string) (p: Problem) =
    let opt = bruteOptimum p
    let s = StrongBounds.compute StrongBounds.defaults p
    let g = Exact.granularity p
    Expect.equal s.MaxLoad (Bounds.lowerBound p) (sprintf "%s: the max load" label)
    Expect.isGreaterThanOrEqual s.Bound (((s.MaxLoad + g - 1L) / g) * g) (sprintf "%s: at least the rounded max load" label)
    Expect.isLessThanOrEqual s.Bound opt (sprintf "%s: never above the brute-force optimum" label)
    Expect.equal s.Bound opt (sprintf "%s: every step kept and enough nodes: the optimum" label)
    Expect.isTrue s.Optimal (sprintf "%s: the whole problem fits at the bound" label)
    // the plan that reaches the bound is valid: the bound is attained
    let m = minimizeExactly p
    Expect.isEmpty (Validate.plan p None m.Best) (sprintf "%s: a valid plan" label)
    Expect.equal m.Peak s.Bound (sprintf "%s: a plan reaches the bound" label)

let tests =
    testList "StrongBounds" [
        testCase "a relaxation keeps the chosen steps as consecutive indices" <| fun () ->
            //  step:  0 1 2 3 4
            //  a      aaaa         [0,2)
            //  b        bbbbbb     [1,4)
            //  c              cc   [4,5)
            //  kept steps 1 and 3: a -> [0,1), b -> [0,2), c live at neither: dropped
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 2L 3L; Buffer.create "b" 1L 4L 5L; Buffer.create "c" 4L 5L 9L ]
            let r, kept = StrongBounds.atSteps [| 1L; 3L |] p
            Expect.equal kept [| 0; 1 |] "c is dropped"
            Expect.equal (r.Buffers |> Array.map (fun b -> b.Id, b.Lifetime.Start, b.Lifetime.End, b.Size))
                         [| "a", 0L, 1L, 3L; "b", 0L, 2L, 5L |] "lifetimes in step indices, sizes kept"

        testCase "the max-load steps of a problem" <| fun () ->
            //  a [0,3) 5 ; b [2,4) 7 ; c [3,5) 1  -> loads 5, 12, 8, 1 at steps 0, 2, 3, 4
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 3L 5L; Buffer.create "b" 2L 4L 7L; Buffer.create "c" 3L 5L 1L ]
            Expect.equal (StrongBounds.stepsAtLevel 1.0 p) [| 2L |] "only step 2 reaches 12"
            Expect.equal (StrongBounds.stepsAtLevel 0.6 p) [| 2L; 3L |] "8 >= 7.2"
            Expect.equal (StrongBounds.stepsAtLevel 0.0 p) [| 0L; 2L; 3L; 4L; 5L |] "every step of the load profile"

        testPropertyWithConfig config "a valid plan of the problem is a valid plan of each relaxation, same peak or lower" <| fun (SmallProblem p) ->
            let plan = BestFit.plan p
            for level in [ 1.0; 0.9; 0.5; 0.0 ] do
                let r, kept = StrongBounds.atSteps (StrongBounds.stepsAtLevel level p) p
                let sub = { Offsets = kept |> Array.map (fun i -> plan.Offsets.[i]) }
                Expect.isEmpty (Validate.plan r None sub) (sprintf "level %g: the restricted plan is valid" level)
                Expect.isLessThanOrEqual (Plan.peak r sub) (Plan.peak p plan) (sprintf "level %g: peak" level)
                Expect.equal (Bounds.lowerBound r) (Bounds.lowerBound p) (sprintf "level %g: the max-load step is kept whole" level)

        testCase "alignment: the bound rises above the max load to the optimum" <| fun () ->
            let s = StrongBounds.compute StrongBounds.defaults aligned
            Expect.equal s.MaxLoad 12L "both live at step 1"
            Expect.equal s.Bound 13L "12 is refuted, 13 fits"
            Expect.exists s.Attempts (fun a -> a.Refuted = Some 12L) "some relaxation does not fit under 12"
            checkAgainstBruteForce "aligned" aligned

        testCase "on 60 seeded small problems: max load <= bound = brute-force optimum" <| fun () ->
            for seed in 1 .. 60 do
                checkAgainstBruteForce (sprintf "seed %d" seed) (smallProblem seed (1 + seed % 8))

        testCase "on 40 seeded aligned problems: the bound rises above the max load to the brute-force optimum" <| fun () ->
            let mutable raised = 0
            for seed in 1 .. 40 do
                let p = alignedProblem seed
                checkAgainstBruteForce (sprintf "aligned seed %d" seed) p
                let s = StrongBounds.compute StrongBounds.defaults p
                if s.Bound > ((s.MaxLoad + s.Granularity - 1L) / s.Granularity) * s.Granularity then raised <- raised + 1
            Expect.isGreaterThanOrEqual raised 10 "many of them need more than the rounded max load (14 of 40)"

        testCase "the same answer on every run (node limits, no clock)" <| fun () ->
            let p = smallProblem 17 8
            let options = { StrongBounds.defaults with Nodes = Some 50L }
            let a = StrongBounds.compute options p
            let b = StrongBounds.compute options p
            Expect.equal a.Bound b.Bound "same bound"
            Expect.equal (a.Attempts |> List.map (fun x -> x.Refuted, x.Outcome, x.Nodes))
                         (b.Attempts |> List.map (fun x -> x.Refuted, x.Outcome, x.Nodes)) "same attempts"

        testCase "a tiny node limit can only lower the bound, never past the max load" <| fun () ->
            for seed in 1 .. 30 do
                let p = smallProblem seed (1 + seed % 8)
                let full = StrongBounds.compute StrongBounds.defaults p
                let tiny = StrongBounds.compute { StrongBounds.defaults with Nodes = Some 1L } p
                Expect.isLessThanOrEqual tiny.Bound full.Bound (sprintf "seed %d: fewer nodes, no more proof" seed)
                Expect.isGreaterThanOrEqual tiny.Bound tiny.MaxLoad (sprintf "seed %d: at least the max load" seed)

        testCase "cancelled before it starts: the max load rounded up, nothing tried" <| fun () ->
            use cts = new CancellationTokenSource()
            cts.Cancel()
            let s = StrongBounds.compute { StrongBounds.defaults with Cancellation = cts.Token } aligned
            Expect.equal s.Bound 12L "no proof without search"
            Expect.all s.Attempts (fun a -> a.Outcome = Skipped) "every relaxation skipped"
            Expect.isFalse s.Optimal "no proof of optimality either"

        testCase "no buffers: bound 0" <| fun () ->
            let s = StrongBounds.compute StrongBounds.defaults (Problem.ofBuffers [])
            Expect.equal s.Bound 0L "empty"
            Expect.isEmpty s.Attempts "no steps, no relaxation"
    ]
