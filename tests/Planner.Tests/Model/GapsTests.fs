/// MiniMalloc's full format: the reader's aliases, hints, gaps and pinned offsets, and every planner against brute
/// force on small problems with gaps and pins.
module Pgmo.Planner.Tests.GapsTests

open System
open System.IO
open Expecto
open Pgmo.Planner
open Pgmo.Planner.Optimal
open Pgmo.Planner.Tests.Reference

let private parse (text: string) =
    Csv.parseProblem "g.csv" text |> Result.defaultWith (fun e -> failwithf "%s:%d %s" e.File e.Line e.Message)

let private expectError = Reference.expectError

/// The bytes a buffer holds at step t relative to its offset, by the definition of a gap (not by Gaps.pieces).
let private windowAt (b: Buffer) (t: int64) : (int64 * int64) option =
    if t < b.Lifetime.Start || t >= b.Lifetime.End then None
    else
        match b.Gaps |> Array.tryFind (fun g -> g.Steps.Start <= t && t < g.Steps.End) with
        | None -> Some (0L, b.Size)
        | Some { Window = Some w } when w.Hi > w.Lo -> Some (w.Lo, w.Hi)
        | Some _ -> None

let private commonSteps (a: Buffer) (b: Buffer) =
    [ for t in max a.Lifetime.Start b.Lifetime.Start .. min a.Lifetime.End b.Lifetime.End - 1L do
        match windowAt a t, windowAt b t with
        | Some wa, Some wb -> yield wa, wb
        | _ -> () ]

/// MiniMalloc's rule step by step: at every step both hold bytes, b's bytes lie above a's, or at every such step a's lie above b's.
let private orderedPair (a: Buffer) (oa: int64) (b: Buffer) (ob: int64) =
    let common = commonSteps a b
    common |> List.forall (fun ((_, ahi), (blo, _)) -> ob + blo >= oa + ahi)
    || common |> List.forall (fun ((alo, _), (_, bhi)) -> oa + alo >= ob + bhi)

/// The bytes of a and b never meet at one step.
let private pixelPair (a: Buffer) (oa: int64) (b: Buffer) (ob: int64) =
    commonSteps a b |> List.forall (fun ((alo, ahi), (blo, bhi)) -> oa + ahi <= ob + blo || ob + bhi <= oa + alo)

let private bruteValid (pair: Buffer -> int64 -> Buffer -> int64 -> bool) (p: Problem) (offsets: int64[]) =
    let bs = p.Buffers
    Array.forall2 (fun (b: Buffer) o -> o >= 0L && o % max 1L b.Alignment = 0L && (b.Pinned.IsNone || b.Pinned = Some o)) bs offsets
    && Seq.forall (fun (i, j) -> pair bs.[i] offsets.[i] bs.[j] offsets.[j])
                  (seq { for i in 0 .. bs.Length - 1 do for j in i + 1 .. bs.Length - 1 -> i, j })

/// The optimum by enumerating every aligned offset below the stacked peak (pins fixed), with MiniMalloc's rule.
let private bruteOptimum (p: Problem) : int64 =
    let bs = p.Buffers
    let n = bs.Length
    let limit = bs |> Array.sumBy (fun b -> b.Size + b.Alignment + defaultArg b.Pinned 0L)
    let offsets = Array.zeroCreate<int64> n
    let mutable best = Int64.MaxValue
    let rec go i peak =
        if peak < best then
            if i = n then best <- peak
            else
                let b = bs.[i]
                let choices = match b.Pinned with Some o -> [ o ] | None -> [ 0L .. max 1L b.Alignment .. limit ]
                for o in choices do
                    if o + b.Size < best && Seq.forall (fun j -> orderedPair bs.[j] offsets.[j] b o) (seq { 0 .. i - 1 }) then
                        offsets.[i] <- o
                        go (i + 1) (max peak (o + b.Size))
    go 0 0L
    best

/// A seeded small problem with gaps (with and without windows), some pinned buffers (never clashing) and hints.
let gapProblem (seed: int) (n: int) (pins: bool) : Problem =
    let rnd = Random(seed)
    let horizon = rnd.Next(2, 9)
    let buffers = ResizeArray<Buffer>()
    for i in 0 .. n - 1 do
        let s = rnd.Next(0, horizon)
        let e = s + rnd.Next(1, horizon - s + 1)
        let size = int64 (rnd.Next(1, 7))
        let align = if rnd.Next 5 = 0 then 2L else 1L
        let gaps =
            if e - s >= 2 && rnd.Next 3 > 0 then
                let gs = rnd.Next(s, e)
                let ge = rnd.Next(gs + 1, e + 1)
                let window =
                    if rnd.Next 2 = 0 then None
                    else
                        let lo = int64 (rnd.Next(0, int size + 1))
                        Some { Lo = lo; Hi = lo + int64 (rnd.Next(0, int size - int lo + 1)) }
                [| { Steps = { Start = int64 gs; End = int64 ge }; Window = window } |]
            else [||]
        let hint = if rnd.Next 4 = 0 then Some (align * int64 (rnd.Next(0, 6))) else None
        let b = { Buffer.create (string i) (int64 s) (int64 e) size with Alignment = align; Gaps = gaps; Hint = hint }
        let pinned =
            if pins && rnd.Next 4 = 0 then
                let o = align * int64 (rnd.Next(0, 5))
                let clash = buffers |> Seq.exists (fun a -> a.Pinned.IsSome && not (orderedPair a a.Pinned.Value b o))
                if clash then None else Some o
            else None
        buffers.Add { b with Pinned = pinned }
    Problem.ofBuffers buffers

let private datasetProblem (name: string) =
    let path = Path.Combine(Reference.repositoryRoot (), "datasets", "minimalloc-format", name)
    match Csv.parseProblem path (File.ReadAllText path) with
    | Ok p -> p
    | Error e -> failwithf "%s:%d %s" e.File e.Line e.Message

let private pinsKept (name: string) (p: Problem) (plan: Plan) =
    Expect.isEmpty (Validate.plan p None plan |> List.map Violation.describe) (sprintf "%s: the plan is valid" name)
    p.Buffers |> Array.iteri (fun i b ->
        match b.Pinned with
        | Some o -> Expect.equal plan.Offsets.[i] o (sprintf "%s: buffer %s stays at its pin" name b.Id)
        | None -> ())
    Expect.isGreaterThanOrEqual (Plan.peak p plan) (Bounds.lowerBound p) (sprintf "%s: peak >= lower bound" name)

let private solveOptions = { SolveOptions.defaults with Workers = 1; TimeLimit = TimeSpan.FromSeconds 10.0 }

let tests =
    testList "Gaps" [
        testList "reading" [
            testCase "aliases: buffer_id, begin and an inclusive end" <| fun () ->
                let p = parse "buffer_id,begin,end,size\nx,2,4,8\n"
                Expect.equal p.Buffers.[0] (Buffer.create "x" 2L 5L 8L) "end 4 is upper 5"
                let q = parse "buffer,start,upper,size\nx,2,5,8\n"
                Expect.equal q.Buffers.[0] (Buffer.create "x" 2L 5L 8L) "buffer and start"
                let r = parse "id,lower,upper,size\nx,2,5,8\n"
                Expect.equal r p "lower/upper as before"

            testCase "gaps, windows, hints and pins" <| fun () ->
                let p = parse "id,lower,upper,size,alignment,hint,gaps,offset\nx,0,10,8,2,4,6-8 1-3@2:6,4\ny,0,3,2,1,-1,,-1\nz,0,3,2,1,,,\n"
                let x = p.Buffers.[0]
                Expect.equal x.Gaps [| { Steps = { Start = 1L; End = 3L }; Window = Some { Lo = 2L; Hi = 6L } }
                                       { Steps = { Start = 6L; End = 8L }; Window = None } |] "gaps sorted, window kept"
                Expect.equal (x.Hint, x.Pinned) (Some 4L, Some 4L) "hint and pin"
                Expect.equal (p.Buffers.[1].Hint, p.Buffers.[1].Pinned) (None, None) "-1 is none"
                Expect.equal (p.Buffers.[2].Hint, p.Buffers.[2].Pinned) (None, None) "empty is none"

            testCase "gaps after an end column are inclusive too" <| fun () ->
                let p = parse "id,begin,end,size,gaps\nx,0,9,8,3-6@0:2\n"
                Expect.equal p.Buffers.[0].Gaps [| { Steps = { Start = 3L; End = 7L }; Window = Some { Lo = 0L; Hi = 2L } } |] "3-6 is [3, 7)"

            testCase "the example in both spellings is one problem" <| fun () ->
                Expect.equal (datasetProblem "gaps-inclusive.csv") (datasetProblem "gaps.csv") "begin/end and lower/upper agree"

            testPropertyWithConfig Generators.config "problems with gaps, hints and pins round-trip" <| fun (seed: int) ->
                let p = gapProblem seed (1 + abs (seed % 6)) true
                Expect.equal (Csv.writeProblem p |> Csv.parseProblem "rt.csv") (Ok p) "write then parse"
                let plan = BestFit.plan p
                Expect.equal (Csv.writePlan p plan |> Csv.parsePlan "rt.csv") (Ok ({ p with Buffers = p.Buffers |> Array.map (fun b -> { b with Pinned = None }) }, plan))
                    "a plan keeps gaps and hints; its offsets take the offset column"

            testList "bad input" [
                testCase "gap outside the lifetime" <| fun () -> expectError "id,lower,upper,size,gaps\nx,2,6,4,1-3\n" 2 "outside the lifetime [2, 6)"
                testCase "gap past the end" <| fun () -> expectError "id,lower,upper,size,gaps\nx,2,6,4,3-7\n" 2 "outside the lifetime"
                testCase "malformed gap" <| fun () -> expectError "id,lower,upper,size,gaps\nx,0,6,4,3\n" 2 "'3' is malformed"
                testCase "three steps" <| fun () -> expectError "id,lower,upper,size,gaps\nx,0,6,4,1-2-3\n" 2 "malformed"
                testCase "non-numeric gap" <| fun () -> expectError "id,lower,upper,size,gaps\nx,0,6,4,a-3\n" 2 "not two integers"
                testCase "two @" <| fun () -> expectError "id,lower,upper,size,gaps\nx,0,6,4,1-3@0:1@2:3\n" 2 "malformed"
                testCase "window without colon" <| fun () -> expectError "id,lower,upper,size,gaps\nx,0,6,4,1-3@2\n" 2 "malformed"
                testCase "non-numeric window" <| fun () -> expectError "id,lower,upper,size,gaps\nx,0,6,4,1-3@a:2\n" 2 "not two integers"
                testCase "window above the size" <| fun () -> expectError "id,lower,upper,size,gaps\nx,0,6,4,1-3@2:5\n" 2 "outside [0, 4]"
                testCase "reversed window" <| fun () -> expectError "id,lower,upper,size,gaps\nx,0,6,4,1-3@3:2\n" 2 "reversed"
                testCase "empty gap" <| fun () -> expectError "id,lower,upper,size,gaps\nx,0,6,4,3-3\n" 2 "empty or reversed"
                testCase "overlapping gaps" <| fun () -> expectError "id,lower,upper,size,gaps\nx,0,9,4,1-4 3-5\n" 2 "overlap"
                testCase "misaligned pin" <| fun () -> expectError "id,lower,upper,size,alignment,offset\nx,0,6,4,8,4\n" 2 "not a multiple of the alignment 8"
                testCase "pins that overlap" <| fun () ->
                    expectError "id,lower,upper,size,offset\nx,0,6,4,0\ny,9,12,4,0\nz,5,8,4,2\n" 4 "'x' (line 2) and 'z' are both pinned and overlap"
                testCase "pins apart in a gap are fine" <| fun () ->
                    let p = parse "id,lower,upper,size,gaps,offset\nx,0,6,4,2-4,0\nz,2,4,4,,0\n"
                    Expect.equal (p.Buffers |> Array.map (fun b -> b.Pinned)) [| Some 0L; Some 0L |] "z sits in x's gap"
                testCase "non-numeric pin" <| fun () -> expectError "id,lower,upper,size,offset\nx,0,6,4,here\n" 2 "'here' is not a 64-bit integer"
                testCase "negative pin" <| fun () -> expectError "id,lower,upper,size,offset\nx,0,6,4,-2\n" 2 "neither -1"
                testCase "non-numeric hint" <| fun () -> expectError "id,lower,upper,size,hint\nx,0,6,4,low\n" 2 "column 'hint'"
        ]
        ]

        testList "rule" [
            testCase "a gap without window lets another buffer in" <| fun () ->
                let a = { Buffer.create "a" 0L 10L 8L with Gaps = [| { Steps = { Start = 3L; End = 7L }; Window = None } |] }
                let b = Buffer.create "b" 3L 7L 8L
                Expect.equal (Gaps.distance a b) ValueNone "their pieces never meet"
                Expect.isFalse (Gaps.conflicts a 0L b 0L) "same addresses, no conflict"
                Expect.isTrue (Gaps.conflicts a 0L (Buffer.create "c" 2L 7L 8L) 0L) "a buffer live before the gap conflicts"

            testCase "a window keeps its bytes" <| fun () ->
                let c = { Buffer.create "c" 0L 10L 4L with Gaps = [| { Steps = { Start = 2L; End = 8L }; Window = Some { Lo = 0L; Hi = 2L } } |] }
                let d = Buffer.create "d" 2L 8L 2L
                Expect.equal (Gaps.distance c d) (ValueSome 2L) "d may sit 2 bytes above c"
                Expect.equal (Gaps.distance d c) (ValueSome 2L) "c may sit 2 bytes above d"

            testPropertyWithConfig { Generators.config with maxTest = 300 } "validator = MiniMalloc's rule step by step; it implies disjoint bytes" <| fun (seed: int) ->
                let p = gapProblem seed (1 + abs (seed % 6)) true
                let rnd = Random(seed)
                let offsets = p.Buffers |> Array.map (fun b -> if b.Pinned.IsSome && rnd.Next 4 > 0 then b.Pinned.Value else int64 (rnd.Next(0, 12)))
                let valid = Validate.isValid p { Offsets = offsets }
                Expect.equal valid (bruteValid orderedPair p offsets) "the validator agrees with the step-by-step rule"
                if valid then Expect.isTrue (bruteValid pixelPair p offsets) "a valid plan never puts two bytes in one place"
                let noWindows = p.Buffers |> Array.forall (fun b -> b.Gaps |> Array.forall (fun g -> g.Window.IsNone))
                if noWindows then Expect.equal valid (bruteValid pixelPair p offsets) "without windows the rule is disjoint bytes"

            testPropertyWithConfig { Generators.config with maxTest = 300 } "the lower bound is the largest load at one step, and pinned tops" <| fun (seed: int) ->
                let p = gapProblem seed (1 + abs (seed % 6)) true
                let load t = p.Buffers |> Array.sumBy (fun b -> match windowAt b t with Some (lo, hi) -> hi - lo | None -> 0L)
                let pinned = p.Buffers |> Array.map (fun b -> match b.Pinned with Some o -> o + b.Size | None -> 0L) |> Array.max
                Expect.equal (Bounds.lowerBound p) (max pinned ([ 0L .. 9L ] |> List.map load |> List.max)) "brute force over the steps"
        ]

        testList "planners" [
            testCase "every algorithm keeps pins and returns a valid plan" <| fun () ->
                for seed in 1 .. 25 do
                    let p = gapProblem seed (2 + seed % 7) true
                    for a in Algorithms.planners do
                        let r = a.Plan(p, { Algorithms.defaults with TimeLimit = TimeSpan.FromMilliseconds 100.0 })
                        pinsKept (sprintf "seed %d, %s" seed a.Name) p r.Plan
                        Expect.isGreaterThanOrEqual r.Peak (Plan.peak p r.Plan) (sprintf "seed %d, %s: charged at least its peak" seed a.Name)

            testCase "a hint is bounded like a pin: past 64 bits it is refused, just below it every planner plans validly" <| fun () ->
                expectError "id,lower,upper,size,hint\na,0,2,8,9223372036854775800\nb,1,3,8,-1\n" 2 "offset 9223372036854775800 plus size 8 overflows 64 bits"
                // any buffer may be placed above the hint: the sizes of both, with a pool's room each, must fit above it
                let highest = Int64.MaxValue - 2L * (8L + Csv.roomPerBuffer)
                expectError (sprintf "id,lower,upper,size,hint\na,0,2,8,%d\nb,1,3,8,-1\n" (highest + 1L)) 3 "pass the 64-bit limit"
                let p = parse (sprintf "id,lower,upper,size,hint\na,0,2,8,%d\nb,1,3,8,-1\n" highest)
                for a in Algorithms.planners do
                    let r = a.Plan(p, { Algorithms.defaults with TimeLimit = TimeSpan.FromMilliseconds 200.0 })
                    Expect.isEmpty (Validate.plan p None r.Plan |> List.map Violation.describe) (sprintf "%s: valid" a.Name)
                    Expect.isGreaterThanOrEqual r.Peak (Bounds.lowerBound p) (sprintf "%s: the peak is not wrapped below the lower bound" a.Name)

            testCase "repairing a gap-oblivious plan never raises its peak" <| fun () ->
                for seed in 1 .. 100 do
                    let p = gapProblem seed (2 + seed % 9) false
                    let plain = Placement.placeInOrder Fit.Best (Array.init p.Buffers.Length id) (Gaps.plain p)
                    let repaired = Placement.lower (TimeAxis p) plain
                    pinsKept (sprintf "seed %d" seed) p repaired
                    Expect.isLessThanOrEqual (Plan.peak p repaired) (Plan.peak p plain) (sprintf "seed %d: gravity only lowers" seed)

            testCase "exact search and CP-SAT find the brute-force optimum" <| fun () ->
                for seed in 1 .. 100 do
                    let p = gapProblem seed (1 + seed % 5) true
                    let best = bruteOptimum p
                    Expect.isLessThanOrEqual (Bounds.lowerBound p) best (sprintf "seed %d: the lower bound is sound" seed)
                    let m = minimizeExactly p
                    pinsKept (sprintf "seed %d, exact" seed) p m.Best
                    Expect.isGreaterThanOrEqual m.Peak best (sprintf "seed %d: no plan below the optimum" seed)
                    Expect.isLessThanOrEqual m.LowerBound best (sprintf "seed %d: the exact bound is sound" seed)
                    if m.Optimal then Expect.equal m.Peak best (sprintf "seed %d: optimal means the optimum" seed)
                    let r = CpSat.solve { solveOptions with Kind = CpSat } p
                    Expect.equal r.Status Optimal (sprintf "seed %d: CP-SAT proves its answer" seed)
                    Expect.equal r.Peak (Some best) (sprintf "seed %d: CP-SAT's optimum" seed)
                    pinsKept (sprintf "seed %d, cp-sat" seed) p r.Plan.Value

            testCase "more pairs live together than the cap: no neighbour lists" <| fun () ->
                let gapped = { Buffer.create "g" 0L 6L 4L with Gaps = [| { Steps = { Start = 2L; End = 3L }; Window = None } |] }
                let p = Problem.ofBuffers (gapped :: [ for i in 1 .. 5 -> Buffer.create (string i) 0L 6L 2L ])
                let axis = TimeAxis p
                Expect.equal (axis.Neighbours(15L, fun () -> false)).Value.Of.Length 6 "15 pairs: within the cap"
                Expect.isNone (axis.Neighbours(14L, fun () -> false)) "15 pairs: above a cap of 14"
                let chain = TimeAxis(Problem.ofBuffers [ for i in 1 .. 130 -> Buffer.create (string i) (int64 i) (int64 i + 2L) 1L ])
                Expect.isNone (chain.Neighbours(System.Int64.MaxValue, fun () -> true)) "asked to stop (every 64 starts): none either"

            testCase "the strong lower bound with gaps and pins: max load <= bound <= brute-force optimum" <| fun () ->
                for seed in 1 .. 60 do
                    let p = gapProblem seed (1 + seed % 5) true
                    let best = bruteOptimum p
                    let s = StrongBounds.compute StrongBounds.defaults p
                    Expect.isLessThanOrEqual s.Bound best (sprintf "seed %d: the strong bound is sound" seed)
                    Expect.isGreaterThanOrEqual s.Bound (Bounds.lowerBound p) (sprintf "seed %d: at least the max load" seed)
                    // each relaxation keeps every plan of the problem valid: the renumbered gaps free the same bytes
                    let plan = (minimizeExactly p).Best
                    for level in [ 1.0; 0.9; 0.5; 0.0 ] do
                        let r, kept = StrongBounds.atSteps (StrongBounds.stepsAtLevel level p) p
                        let sub = { Offsets = kept |> Array.map (fun i -> plan.Offsets.[i]) }
                        Expect.isTrue (Validate.isValid r sub) (sprintf "seed %d, level %g: the plan is valid on the relaxation" seed level)

            testCase "the exact search proves the optimum when every distance is positive" <| fun () ->
                let mutable proved = 0
                for seed in 1 .. 40 do
                    let p = gapProblem seed (1 + seed % 4) true
                    let nb = ((TimeAxis p).Neighbours(System.Int64.MaxValue, fun () -> false)).Value
                    if nb.Above |> Array.forall (Array.forall (fun d -> d > 0L)) then
                        let m = minimizeExactly p
                        Expect.isTrue m.Optimal (sprintf "seed %d: proved" seed)
                        Expect.equal m.Peak (bruteOptimum p) (sprintf "seed %d: the optimum" seed)
                        proved <- proved + 1
                Expect.isGreaterThan proved 20 "most cases have positive distances"

            testCase "a window above a buffer of higher offset: the exact search claims no false optimum" <| fun () ->
                // i keeps bytes [2, 4) on step 1, where j (2 B) lives: the optimum puts j at i's offset, below i's
                // window (distance j i = 0); canonical placements by offset and rank miss it (proofs/gaps.md, G3)
                let i = { Buffer.create "i" 0L 2L 4L with Gaps = [| { Steps = { Start = 1L; End = 2L }; Window = Some { Lo = 2L; Hi = 4L } } |] }
                let j = Buffer.create "j" 1L 2L 2L
                let p = Problem.ofBuffers [ i; j ]
                Expect.equal (bruteOptimum p) 4L "the optimum"
                let m = minimizeExactly p
                Expect.isLessThanOrEqual m.LowerBound 4L "no bound above the optimum"
                Expect.isTrue (m.Peak = 4L || not m.Optimal) "optimal only at the optimum"
                Expect.notEqual (Exact.decide exactly 4L p) DoesNotFit "no proof that 4 does not fit"
                let r = Solver.solve solveOptions p
                Expect.equal (r.Status, r.Peak) (Optimal, Some 4L) "solve finds it (CP-SAT)"
                pinsKept "solve" p r.Plan.Value

            testCase "on the example the gap gives the optimum, and pins stay under best-fit, search and solve" <| fun () ->
                let p = datasetProblem "gaps.csv"
                Expect.equal (Bounds.lowerBound p) 12L "the gap-aware lower bound"
                Expect.equal (bruteOptimum (Gaps.plain p)) 22L "treating gaps as live costs 22 bytes"
                let r = Solver.solve solveOptions p
                Expect.equal (r.Status, r.Peak) (Optimal, Some 12L) "solve proves 12, which only the gaps allow"
                pinsKept "solve" p r.Plan.Value
                let e = minimizeExactly p
                Expect.equal (e.Peak, e.Optimal) (12L, true) "the exact search alone"
                let d = Solver.solve { solveOptions with Capacity = Some 12L } p
                Expect.equal d.Status Optimal "fits 12"
                pinsKept "solve --capacity 12" p d.Plan.Value
                let d = Solver.solve { solveOptions with Capacity = Some 11L } p
                Expect.equal d.Status Infeasible "does not fit 11"
                pinsKept "best-fit" p (BestFit.plan p)
                Expect.equal (Plan.peak p (BestFit.plan p)) 12L "best-fit uses the gap"
                pinsKept "search" p (Search.plan { Search.defaults with TimeLimit = TimeSpan.FromSeconds 1.0 } p)
                Expect.equal (Placement.placeInOrder Fit.Best [| 0; 1; 2; 3 |] p).Offsets.[1] 0L "b takes its hint"
                let svg = Svg.render "gaps" p r.Plan.Value
                Expect.stringContains svg "<title>c [2, 8) bytes [0, 2) @ 8</title>" "the picture draws c's window alone during its gap"
                Expect.isFalse (svg.Contains "<title>a [3, 7)") "and nothing of a during its gap"
        ]
    ]
