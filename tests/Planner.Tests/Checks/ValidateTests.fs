module Pgmo.Planner.Tests.ValidateTests

open Expecto
open FsCheck
open FsCheck.FSharp
open Pgmo.Planner

let private p3 =
    //  step:   0 1 2 3
    //  a       aaaa        [0,2) size 4
    //  b         bbbb      [1,3) size 4
    //  c             cc    [2,3) size 4  (a is gone at step 2)
    Problem.ofBuffers [ Buffer.create "a" 0L 2L 4L; Buffer.create "b" 1L 3L 4L; Buffer.create "c" 2L 3L 4L ]

let tests =
    testList "Validate" [
        testCase "accepts a tight hand-made plan" <| fun () ->
            // address 4..8: b ; address 0..4: a then c
            let plan = { Offsets = [| 0L; 4L; 0L |] }
            Expect.isEmpty (Validate.plan p3 None plan) "a and c share addresses at different times"
            Expect.equal (Plan.peak p3 plan) (Bounds.lowerBound p3) "the plan meets the lower bound"

        testCase "names an overlapping pair" <| fun () ->
            let plan = { Offsets = [| 0L; 2L; 0L |] }
            Expect.equal (Validate.plan p3 None plan) [ Overlap("a", "b"); Overlap("b", "c") ] "a/b and b/c collide"

        testCase "reports negative, misaligned and over-capacity offsets" <| fun () ->
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 2L 4L; { Buffer.create "b" 5L 6L 4L with Alignment = 8L }; Buffer.create "c" 7L 8L 4L ]
            let v = Validate.plan p (Some 10L) { Offsets = [| -1L; 4L; 8L |] }
            Expect.equal v [ NegativeOffset("a", -1L); Misaligned("b", 4L, 8L); CapacityExceeded("c", 12L, 10L) ] "each rule once"

        testCase "reports a wrong number of offsets" <| fun () ->
            Expect.equal (Validate.plan p3 None { Offsets = [| 0L |] }) [ OffsetCountMismatch(3, 1) ] "count mismatch"

        testCase "matches plan rows by id and reports missing and extra ids" <| fun () ->
            let planned = Problem.ofBuffers [ Buffer.create "b" 1L 3L 4L; Buffer.create "a" 0L 2L 4L; Buffer.create "z" 0L 1L 1L ]
            match Validate.assign p3 planned { Offsets = [| 4L; 0L; 0L |] } with
            | Ok _ -> failtest "c is missing and z is extra"
            | Error v -> Expect.equal v [ MissingBuffer "c"; ExtraBuffer "z" ] "missing c, extra z"
            let planned = Problem.ofBuffers [ Buffer.create "c" 2L 3L 4L; Buffer.create "b" 1L 3L 4L; Buffer.create "a" 0L 2L 4L ]
            Expect.equal (Validate.assign p3 planned { Offsets = [| 0L; 4L; 0L |] }) (Ok { Offsets = [| 0L; 4L; 0L |] }) "reordered rows"

        testPropertyWithConfig config "rejects every injected overlap" <| fun (SmallProblem p) (seed: int) ->
            let plan = stackPlan p
            let n = p.Buffers.Length
            let pairs = [ for i in 0 .. n - 1 do for j in 0 .. n - 1 do if i <> j && Buffer.overlapsInTime p.Buffers.[i] p.Buffers.[j] then i, j ]
            if not pairs.IsEmpty then
                let i, j = pairs.[abs (seed % pairs.Length)]
                let offsets = Array.copy plan.Offsets
                // move i into the middle of j: they now share an address while both live
                offsets.[i] <- plan.Offsets.[j] + (p.Buffers.[j].Size - 1L) / 2L
                let violations = Validate.plan p None { Offsets = offsets }
                let overlaps = violations |> List.choose (function Overlap(a, b) -> Some(a, b) | _ -> None)
                Expect.isNonEmpty overlaps "the injected overlap is found"
                let idI, idJ = p.Buffers.[i].Id, p.Buffers.[j].Id
                Expect.isTrue (overlaps |> List.exists (fun (a, b) -> (a, b) = (idI, idJ) || (a, b) = (idJ, idI))) "the injected pair is named"
                for a, b in overlaps do
                    Expect.isTrue (a = idI || b = idI) "every reported overlap involves the moved buffer"

        testCase "accepts a valid 100k-buffer plan (the sweep scales)" <| fun () ->
            // a deterministic chain of 100k buffers, each overlapping the next, stacked two-high
            let n = 100_000
            let p = Problem.ofBuffers [ for i in 0 .. n - 1 -> Buffer.create (string i) (int64 i) (int64 i + 2L) 16L ]
            let plan = { Offsets = Array.init n (fun i -> if i % 2 = 0 then 0L else 16L) }
            Expect.isEmpty (Validate.plan p None plan) "alternating offsets never collide"
    
        testPropertyWithConfig config "finds exactly the pairs a brute-force pairwise check finds (random plans, many overlapping)" <| fun (RandomPlan (p, plan)) ->
            let bs = p.Buffers
            let expected =
                set [ for i in 0 .. bs.Length - 1 do
                        for j in i + 1 .. bs.Length - 1 do
                            let oi, oj = plan.Offsets.[i], plan.Offsets.[j]
                            if Buffer.overlapsInTime bs.[i] bs.[j] && oi < oj + bs.[j].Size && oj < oi + bs.[i].Size then
                                yield bs.[i].Id, bs.[j].Id ]
            let violations = Validate.plan p None plan
            let found = set [ for v in violations do match v with Overlap (a, b) -> yield a, b | _ -> () ]
            Expect.equal found expected "the same overlapping pairs, each once, the earlier buffer first"
            let misaligned = bs |> Array.mapi (fun i b -> b.Alignment > 1L && plan.Offsets.[i] % b.Alignment <> 0L) |> Array.filter id |> Array.length
            Expect.equal (violations |> List.filter (function Misaligned _ -> true | _ -> false) |> List.length) misaligned "every misaligned offset"
            Expect.equal (Validate.isValid p plan) (expected.IsEmpty && misaligned = 0) "valid exactly when nothing collides and all are aligned"

        testPropertyWithConfig config "at DNN scale (up to GiB, 256-byte alignment) every algorithm plans validly" <| fun (DnnProblem p) ->
            for a in Algorithms.planners |> List.filter (fun a -> a.Name <> Algorithms.search.Name) do
                let planned = a.Plan(p, Algorithms.defaults)
                let peak = expectValid a.Name p planned.Plan
                Expect.isGreaterThanOrEqual planned.Peak peak (sprintf "%s: charged peak >= plan peak" a.Name)
                Expect.isTrue (planned.Plan.Offsets |> Array.forall (fun o -> o % 256L = 0L)) (sprintf "%s: 256-byte aligned" a.Name)
]
