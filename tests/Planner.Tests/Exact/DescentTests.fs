module Pgmo.Planner.Tests.DescentTests

open Expecto
open FsCheck
open FsCheck.FSharp
open Pgmo.Planner
open Pgmo.Planner.Tests.Reference

/// A tiny unaligned problem whose sizes are multiples of a granularity g in {2, 4, 8}, with a valid plan lifted by
/// d in [1, g - 1] bytes: a start whose peak is off the grid of canonical peaks.
type OffGrid = OffGrid of Problem * Plan

let private offGrid : Gen<OffGrid> =
    gen {
        let! g = Gen.elements [ 2L; 4L; 8L ]
        let! n = Gen.choose (1, 6)
        let! horizon = Gen.choose (1, 6)
        let! buffers =
            [ for i in 0 .. n - 1 ->
                gen {
                    let! start = Gen.choose (0, horizon - 1)
                    let! length = Gen.choose (1, horizon - start)
                    let! units = Gen.choose (1, 4)
                    return Buffer.create (string i) (int64 start) (int64 (start + length)) (int64 units * g)
                } ]
            |> Gen.sequenceToList
        let! d = Gen.choose (1, int g - 1)
        let p = Problem.ofBuffers buffers
        let start = BestFit.plan p
        return OffGrid(p, { Offsets = start.Offsets |> Array.map (fun o -> o + int64 d) })
    }

type private Arbitraries =
    static member OffGrid() : Arbitrary<OffGrid> = Arb.fromGen offGrid

let private offGridConfig = { config with arbitrary = [ typeof<Arbitraries> ]; maxTest = 100 }

/// The answer of a minimization is sound against the brute-force optimum: bound <= optimum <= peak, a valid plan,
/// and "optimal" only when the peak is the optimum.
let private expectSound (name: string) (p: Problem) (m: ExactMinimum) =
    let opt = bruteOptimum p
    let peak = expectValid name p m.Best
    Expect.equal peak m.Peak (sprintf "%s: the reported peak is the plan's" name)
    Expect.isLessThanOrEqual m.LowerBound opt (sprintf "%s: bound %d <= optimum %d" name m.LowerBound opt)
    Expect.isGreaterThanOrEqual m.Peak opt (sprintf "%s: peak >= optimum" name)
    if m.Optimal then Expect.equal m.Peak opt (sprintf "%s: claimed optimal, so the peak is the optimum" name)

/// The issue's example: granularity 256, a start plan with peak 1000, optimum 768, lower bound 512.
//  step:  0 1
//  a      a      [0,1) 256, offset a multiple of 512
//  b      b      [0,1) 256, offset a multiple of 512: a and b at 0 and 512, top 768
//  c        c    [1,2) 256, unaligned: at 744 in the start plan, top 1000
let private offGridExample =
    Problem.ofBuffers
        [ { Buffer.create "a" 0L 1L 256L with Alignment = 512L }
          { Buffer.create "b" 0L 1L 256L with Alignment = 512L }
          Buffer.create "c" 1L 2L 256L ]

let private offGridStart = { Offsets = [| 0L; 512L; 744L |] }

let private descent = { exactly with Nodes = Some 20_000L }

/// The descent from a start plan under options, collecting its reports.
let private descendFrom (options: SolveOptions) (start: Plan) (p: Problem) =
    let reports = System.Collections.Generic.List<SolveProgress>()
    let m = Descent.minimize { options with Hint = Some start; Progress = Some (fun r -> lock reports (fun () -> reports.Add r)) } p
    m, List.ofSeq reports

let private wat = Preorder.wat

let tests =
    testList "Descent" [
        testCase "finds 768 below an off-grid start of 1000 (granularity 256)" <| fun () ->
            let p = offGridExample
            Expect.equal (Exact.granularity p) 256L "g = 256"
            Expect.equal (Bounds.lowerBound p) 512L "lower bound 512"
            Expect.equal (Plan.peak p offGridStart) 1000L "the start's peak is 1000"
            Expect.isTrue (Validate.isValid p offGridStart) "the start is valid"
            for options, name in [ exactly, "unlimited"; descent, "20k nodes" ] do
                let m, _ = descendFrom options offGridStart p
                Expect.equal m.Peak 768L (sprintf "%s: the optimum, not the start's 1000" name)
                Expect.isTrue m.Optimal (sprintf "%s: proven optimal" name)
                expectSound name p m

        testPropertyWithConfig offGridConfig "the descent from an off-grid start is sound and finds the optimum" <| fun (OffGrid(p, start)) ->
            let m, _ = descendFrom descent start p
            expectSound "descent" p m
            Expect.equal m.Peak (bruteOptimum p) "tiny problems: the optimum within the node budget"
            // a tiny node budget leaves decisions unknown
            expectSound "30 nodes" p (fst (descendFrom { descent with Nodes = Some 30L } start p))
            expectSound "unlimited" p (fst (descendFrom exactly start p))

        testCase "the descent with two workers is sound on 30 seeded instances" <| fun () ->
            for seed in 1 .. 30 do
                let p = smallProblem seed (1 + seed % 8)
                let m, _ = descendFrom { descent with Workers = 2 } (BestFit.plan p) p
                expectSound (sprintf "seed %d" seed) p m

        testCase "one worker and a node budget: equal seeds give equal plans on D, the jittered sweeps included" <| fun () ->
            let file = System.IO.Path.Combine(repositoryRoot (), "datasets", "minimalloc", "D.1048576.csv")
            let p = match Csv.parseProblem file (System.IO.File.ReadAllText file) with Ok p -> p | Error e -> failwith e.Message
            let start = BestFit.plan p
            let run () =
                let m, reports = descendFrom { exactly with Nodes = Some 2_400_000L } start p
                m, reports |> List.map (fun r -> r.Solver)
            let (a, sa), (b, sb) = run (), run ()
            Expect.equal b.Best.Offsets a.Best.Offsets "the same plan"
            Expect.equal sb sa "the same improvements by the same solvers"
            Expect.isEmpty (Validate.plan p None a.Best) "valid"
            Expect.isLessThan a.Peak (Plan.peak p start) "below best-fit's peak"
            Expect.isGreaterThanOrEqual a.Peak (Bounds.lowerBound p) "not below the lower bound"
            Expect.isLessThanOrEqual a.Nodes 2_400_000L "within the node budget (the first phase at the bound takes 1.9M of it)"

        testCase "reports: the peak never rises, the bound never falls, bound <= peak" <| fun () ->
            for seed in 1 .. 20 do
                let p = smallProblem seed 8
                let m, reports = descendFrom descent (BestFit.plan p) p
                let reports = Array.ofList reports
                for k in 0 .. reports.Length - 1 do
                    let r = reports.[k]
                    Expect.isLessThanOrEqual r.Bound r.Peak (sprintf "seed %d: bound <= peak" seed)
                    if k > 0 then
                        Expect.isLessThanOrEqual r.Peak reports.[k - 1].Peak (sprintf "seed %d: the peak never rises" seed)
                        Expect.isGreaterThanOrEqual r.Bound reports.[k - 1].Bound (sprintf "seed %d: the bound never falls" seed)
                if reports.Length > 0 then
                    Expect.equal reports.[reports.Length - 1].Peak m.Peak (sprintf "seed %d: the last report is the answer" seed)

        testCase "capacities: multiples of g in [bound, peak), lowest first, with the bound and the top" <| fun () ->
            let caps = Descent.capacities 3 4L 10L 100L
            Expect.equal caps.[0] 12L "the bound rounded up to g"
            Expect.equal caps.[caps.Length - 1] 96L "the largest multiple of g below the peak"
            Expect.isTrue (caps |> Array.forall (fun c -> c % 4L = 0L && c >= 10L && c < 100L)) "multiples of g in [bound, peak)"
            Expect.equal caps (Array.sort (Array.distinct caps)) "sorted, distinct"
            Expect.isTrue (Array.contains 92L caps && Array.contains 84L caps) "galloping down from the top: 96 - 4, 96 - 12"
            Expect.isEmpty (Descent.capacities 3 4L 97L 100L) "no multiple of g in [97, 100)"

        testCase "the Luby sequence" <| fun () ->
            Expect.equal [ for i in 1L .. 15L -> Descent.luby i ] [ 1L; 1L; 2L; 1L; 1L; 2L; 4L; 1L; 1L; 2L; 1L; 1L; 2L; 4L; 8L ] "1 1 2 1 1 2 4 …"

        testList "schedule" [
            // one preorder, granularity 1, a first budget of 10 nodes, 2 spread points, a quarter of the nodes at the
            // bound, half of the rest on the sweeps: the band [10, 20)
            let schedule () = DescentSchedule([ wat ], 1L, 10L, 2, 0.25, 0.5, 7)
            testCase "the bound goes first, then the pairs above it by least budget, the sweeps by their share" <| fun () ->
                let s = schedule ()
                let first = (s.Pick(10L, 20L)).Value
                Expect.equal (first.Capacity, first.Jitter, first.Budget, first.AtBound) (10L, None, 10L, true) "the bound first, with the first budget"
                s.Done(first, 10L, false, false)
                let second = (s.Pick(10L, 20L)).Value
                // 10 nodes at the bound: more than a quarter of 10; the sweeps have had nothing of the rest
                Expect.isTrue second.Jitter.IsSome "then a jittered sweep"
                Expect.isGreaterThanOrEqual second.Capacity 15L "over the upper half of the band"
                Expect.equal second.Budget 20L "2 x first x luby 1"
                s.Done(second, 20L, false, false)
                let third = (s.Pick(10L, 20L)).Value
                Expect.equal (third.Jitter, third.AtBound) (None, false) "then a kept pair above the bound"
                Expect.equal third.Capacity 19L "the least-spent one, weighted towards the peak: the top"

            testCase "a turn that ran out doubles the pair's budget; a pruned one keeps it" <| fun () ->
                let s = schedule ()
                let c = (s.Pick(10L, 20L)).Value
                s.Done(c, 10L, false, false)
                Expect.equal (s.BudgetOf(10L, wat)) 20L "doubled"
                let s = schedule ()
                let c = (s.Pick(10L, 20L)).Value
                s.Done(c, 3L, true, false)
                Expect.equal (s.BudgetOf(10L, wat)) 10L "pruned: the same budget"

            testCase "a running pair is not picked twice; a pair whose search ended is never picked again" <| fun () ->
                let s = DescentSchedule([ wat ], 1L, 10L, 0, 1.0, 0.0, 1)
                // the band [10, 11): one capacity, one preorder
                let c = (s.Pick(10L, 11L)).Value
                Expect.isNone (s.Pick(10L, 11L)) "the only pair is running"
                s.Done(c, 10L, false, true)
                Expect.isNone (s.Pick(10L, 11L)) "its search ended without an answer: nothing left to run"
                Expect.equal s.Used 10L "its nodes counted"

            testCase "the first phase's nodes count at the bound" <| fun () ->
                let s = schedule ()
                s.Phase 100L
                Expect.equal (s.Used, s.BoundNodes) (100L, 100L) "all at the bound"
                Expect.equal (s.BudgetOf(10L, wat)) 10L "the bound's pairs go on from the first budget"
        ]

        testCase "a problem too large for the exact search keeps its start plan at once" <| fun () ->
            let p = Traces.chainOfSize 1 30_000
            Expect.isFalse (Descent.tractable p) "30k buffers: not tractable"
            let start = BestFit.plan p
            let m, _ = descendFrom exactly start p
            Expect.equal m.Peak (Plan.peak p start) "the start plan"
            Expect.equal m.Nodes 0L "no probe"
    ]
