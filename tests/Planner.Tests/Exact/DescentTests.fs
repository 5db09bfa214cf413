module Pgmo.Planner.Tests.DescentTests

open Expecto
open FsCheck
open FsCheck.FSharp
open Pgmo.Planner
open Pgmo.Planner.Tests.Generators
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

let private descent = { Descent.defaults with NodeLimit = 20_000L }

let tests =
    testList "Descent" [
        testCase "the bisection finds 768 below an off-grid start of 1000 (granularity 256)" <| fun () ->
            let p = offGridExample
            Expect.equal (Exact.granularity p) 256L "g = 256"
            Expect.equal (Bounds.lowerBound p) 512L "lower bound 512"
            Expect.equal (Plan.peak p offGridStart) 1000L "the start's peak is 1000"
            Expect.isTrue (Validate.isValid p offGridStart) "the start is valid"
            let m = Exact.minimize Exact.defaults (Some offGridStart) p
            Expect.equal m.Peak 768L "the optimum, not the start's 1000"
            Expect.isTrue m.Optimal "proven optimal"
            expectSound "exact" p m

        testCase "the descent finds 768 below the same off-grid start" <| fun () ->
            let m = Descent.minimize descent offGridStart (fun _ _ _ -> ()) offGridExample
            Expect.equal m.Peak 768L "the optimum"
            Expect.isTrue m.Optimal "proven optimal"
            expectSound "descent" offGridExample m

        testPropertyWithConfig offGridConfig "Exact.minimize from an off-grid start is sound against brute force" <| fun (OffGrid(p, start)) ->
            expectSound "unlimited" p (Exact.minimize Exact.defaults (Some start) p)
            // a tiny node budget leaves decisions unknown, so the bisection itself moves
            expectSound "30 nodes" p (Exact.minimize { Exact.defaults with NodeLimit = 30L } (Some start) p)

        testPropertyWithConfig offGridConfig "the descent from an off-grid start is sound and finds the optimum" <| fun (OffGrid(p, start)) ->
            let m = Descent.minimize descent start (fun _ _ _ -> ()) p
            expectSound "descent" p m
            Expect.equal m.Peak (bruteOptimum p) "tiny problems: the optimum within the node limit"
            expectSound "50 nodes" p (Descent.minimize { descent with NodeLimit = 50L } start (fun _ _ _ -> ()) p)

        testCase "the descent with two workers is sound on 30 seeded instances" <| fun () ->
            for seed in 1 .. 30 do
                let p = smallProblem seed (1 + seed % 8)
                let m = Descent.minimize { Descent.defaults with Workers = 2; NodeLimit = 20_000L } (BestFit.plan p) (fun _ _ _ -> ()) p
                expectSound (sprintf "seed %d" seed) p m

        testCase "one worker and a node limit: equal seeds give equal plans on D, the jittered sweeps included" <| fun () ->
            let file = System.IO.Path.Combine(repositoryRoot (), "datasets", "minimalloc", "D.1048576.csv")
            let p = match Csv.parseProblem file (System.IO.File.ReadAllText file) with Ok p -> p | Error e -> failwith e.Message
            let start = BestFit.plan p
            let run () =
                let solvers = ResizeArray<string>()
                let m = Descent.minimize { Descent.defaults with NodeLimit = 300_000L } start (fun s _ _ -> solvers.Add s) p
                m, List.ofSeq solvers
            let (a, sa), (b, sb) = run (), run ()
            Expect.equal b.Best.Offsets a.Best.Offsets "the same plan"
            Expect.equal sb sa "the same improvements by the same solvers"
            Expect.isEmpty (Validate.plan p None a.Best) "valid"
            Expect.isLessThan a.Peak (Plan.peak p start) "below best-fit's peak"
            Expect.isGreaterThanOrEqual a.Peak (Bounds.lowerBound p) "not below the lower bound"

        testCase "reports: the peak never rises, the bound never falls, bound <= peak" <| fun () ->
            let reports = System.Collections.Generic.List<string * int64 * int64>()
            for seed in 1 .. 20 do
                reports.Clear()
                let p = smallProblem seed 8
                let m = Descent.minimize descent (BestFit.plan p) (fun s peak bound -> reports.Add((s, peak, bound))) p
                for k in 0 .. reports.Count - 1 do
                    let _, peak, bound = reports.[k]
                    Expect.isLessThanOrEqual bound peak (sprintf "seed %d: bound <= peak" seed)
                    if k > 0 then
                        let _, peak0, bound0 = reports.[k - 1]
                        Expect.isLessThanOrEqual peak peak0 (sprintf "seed %d: the peak never rises" seed)
                        Expect.isGreaterThanOrEqual bound bound0 (sprintf "seed %d: the bound never falls" seed)
                if reports.Count > 0 then
                    let _, peak, _ = reports.[reports.Count - 1]
                    Expect.equal peak m.Peak (sprintf "seed %d: the last report is the answer" seed)

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

        testCase "a problem too large for the exact search keeps its start plan at once" <| fun () ->
            let p = Traces.chainOfSize 1 30_000
            Expect.isFalse (Descent.tractable p) "30k buffers: not tractable"
            let start = BestFit.plan p
            let m = Descent.minimize Descent.defaults start (fun _ _ _ -> ()) p
            Expect.equal m.Peak (Plan.peak p start) "the start plan"
            Expect.equal m.Nodes 0L "no probe"
    ]
