module Pgmo.Planner.Tests.OptimalTests

open System
open System.Diagnostics
open System.IO
open System.Threading
open Expecto
open Pgmo.Planner
open Pgmo.Planner.Optimal
open Pgmo.Planner.Tests.Reference

let private cases = [ for seed in 1 .. 60 -> seed, smallProblem seed (1 + seed % 8) ]

let private cpOptions = { SolveOptions.defaults with Workers = 1; TimeLimit = TimeSpan.FromSeconds 5.0; Kind = CpSat }

let private check (p: Problem) (r: SolveResult) =
    match r.Plan with
    | Some plan ->
        Expect.isEmpty (Validate.plan p None plan) "the plan is valid"
        Expect.isGreaterThanOrEqual (Plan.peak p plan) (Bounds.lowerBound p) "peak >= lower bound"
    | None -> ()

let private loadProblem (path: string) =
    match Csv.parseProblem path (File.ReadAllText path) with
    | Ok p -> p
    | Error e -> failwithf "%s:%d %s" e.File e.Line e.Message

let private dataset name = loadProblem (Path.Combine(repositoryRoot (), "datasets", "minimalloc", name + ".csv"))

/// A problem whose optimum (13) is above its max-load lower bound (12) because of alignment:
//  step:  0 1
//  a      aaaa   [0,2) size 7, offset even
//  b        bb   [1,2) size 5, offset even: 0+7 -> b at 8 (top 13), or b at 0 -> a at 6 (top 13)
let private above =
    Problem.ofBuffers [ { Buffer.create "a" 0L 2L 7L with Alignment = 2L }; { Buffer.create "b" 1L 2L 5L with Alignment = 2L } ]

let tests =
    testList "Optimal" [
        testCase "brute force finds the optimum of a hand example" <| fun () ->
            //  step: 0 1 2
            //  a     aaaa     [0,2) 4
            //  b       bbbb   [1,3) 4
            //  c         cc   [2,3) 4
            let p = Problem.ofBuffers [ Buffer.create "a" 0L 2L 4L; Buffer.create "b" 1L 3L 4L; Buffer.create "c" 2L 3L 4L ]
            Expect.equal (bruteOptimum p) 8L "a and c share addresses at different times"

        testCase "Exact minimize equals the brute-force optimum on 60 seeded instances (n <= 8)" <| fun () ->
            for seed, p in cases do
                let m = minimizeExactly p
                Expect.isEmpty (Validate.plan p None m.Best) (sprintf "seed %d: valid plan" seed)
                Expect.equal m.Peak (bruteOptimum p) (sprintf "seed %d: optimum" seed)
                Expect.isTrue m.Optimal (sprintf "seed %d: proven optimal" seed)

        testCase "every combination of Exact's rules keeps the optimum" <| fun () ->
            let flags =
                [ for c in [ true; false ] do
                    for s in [ true; false ] do
                        for d in [ true; false ] do
                            for x in [ true; false ] do
                                for st in [ true; false ] do
                                    for h in [ true; false ] -> c, s, d, x, st, h ]
            for seed, p in cases |> List.take 25 do
                let opt = bruteOptimum p
                for c, s, d, x, st, h in flags do
                    let o = { exactly with
                                Rules = { CanonicalOnly = c; SectionInference = s; Dominance = d; Decomposition = x
                                          StaircaseInference = st; Hatless = h }
                                Preorders = [ Preorder.twa ] }
                    let m = Descent.minimize o p
                    Expect.equal m.Peak opt (sprintf "seed %d flags %A" seed (c, s, d, x, st, h))
                    match Exact.decide o (opt - 1L) p with
                    | DoesNotFit -> ()
                    | r -> failtestf "seed %d flags %A: capacity %d below the optimum gave %A" seed (c, s, d, x, st, h) (opt - 1L) r

        testCase "the driver interleaving its preorders one node per turn decides the optimum and one byte less" <| fun () ->
            for seed, p in cases do
                let opt = bruteOptimum p
                let exact = ExactProblem p
                let decide capacity =
                    let probes = Preorder.defaults |> List.map (fun o -> Exact.Probe(exact, capacity, ExactRules.defaults, o)) |> Array.ofList
                    fst (Exact.driveInSlices 1L 1 Int64.MaxValue CancellationToken.None probes)
                match decide opt with
                | Fits plan -> Expect.isEmpty (Validate.plan p (Some opt) plan) (sprintf "seed %d: valid at the optimum" seed)
                | r -> failtestf "seed %d: the optimum %d gave %A" seed opt r
                match decide (opt - 1L) with
                | DoesNotFit -> ()
                | r -> failtestf "seed %d: %d, below the optimum, gave %A" seed (opt - 1L) r

        testCase "a probe resumed in slices of 7 nodes answers like one run, with the same nodes" <| fun () ->
            let problems = [ for seed, p in cases -> sprintf "seed %d" seed, p, bruteOptimum p ] @ [ "K", dataset "K.1048576", Bounds.lowerBound (dataset "K.1048576") ]
            for name, p, opt in problems do
                let prepared = ExactProblem p
                for capacity in [ opt - 1L; opt ] do
                    for preorder in [ Preorder.wat; Preorder.twa ] do
                        let whole = Exact.Probe(prepared, capacity, ExactRules.defaults, preorder)
                        let once = whole.Advance(Int64.MaxValue, CancellationToken.None)
                        let sliced = Exact.Probe(prepared, capacity, ExactRules.defaults, preorder)
                        let mutable r = ExactResult.Unknown
                        let mutable turns = 0
                        while (match r with ExactResult.Unknown -> true | _ -> false) do
                            r <- sliced.Advance(sliced.Nodes + 7L, CancellationToken.None)
                            turns <- turns + 1
                        let label = sprintf "%s capacity %d %O" name capacity preorder
                        Expect.equal sliced.Nodes whole.Nodes (label + ": the same nodes")
                        match once, r with
                        | Fits a, Fits b ->
                            Expect.equal b.Offsets a.Offsets (label + ": the same plan")
                            Expect.isEmpty (Validate.plan p (Some capacity) b) (label + ": valid under the capacity")
                            Expect.isGreaterThanOrEqual capacity opt (label + ": fits only from the optimum on")
                        | DoesNotFit, DoesNotFit -> Expect.isLessThan capacity opt (label + ": does not fit only below the optimum")
                        | a, b -> failtestf "%s: one run gave %A, slices gave %A" label a b

        testCase "CP-SAT minimize equals the brute-force optimum on 60 seeded instances (n <= 8)" <| fun () ->
            for seed, p in cases do
                let r = CpSat.solve cpOptions p
                check p r
                Expect.equal r.Status Optimal (sprintf "seed %d: proven optimal" seed)
                Expect.equal r.Peak (Some (bruteOptimum p)) (sprintf "seed %d: optimum" seed)
                Expect.equal r.Bound (bruteOptimum p) (sprintf "seed %d: bound = optimum" seed)

        testCase "CP-SAT and Exact decide the optimum feasible and one byte less infeasible" <| fun () ->
            for seed, p in cases |> List.take 30 do
                let opt = bruteOptimum p
                for kind in [ CpSat; ExactSearch; Auto ] do
                    let yes = Solver.solve { cpOptions with Capacity = Some opt; Kind = kind } p
                    check p yes
                    Expect.isTrue (yes.Status = Optimal || yes.Status = Feasible) (sprintf "seed %d %A: fits at the optimum" seed kind)
                    let no = Solver.solve { cpOptions with Capacity = Some (opt - 1L); Kind = kind } p
                    Expect.equal no.Status Infeasible (sprintf "seed %d %A: capacity below the optimum" seed kind)
                    Expect.isGreaterThanOrEqual no.Bound opt (sprintf "seed %d %A: bound" seed kind)

        testCase "a capacity below the lower bound is infeasible" <| fun () ->
            let p = dataset "A.1048576"
            for kind in [ CpSat; ExactSearch; Auto ] do
                let r = Solver.solve { cpOptions with Capacity = Some (Bounds.lowerBound p - 1L); Kind = kind } p
                Expect.equal r.Status Infeasible (sprintf "%A: below the max load" kind)
                Expect.isNone r.Plan "no plan"

        testCase "alignment makes a capacity above the lower bound infeasible" <| fun () ->
            let lb = Bounds.lowerBound above
            Expect.equal lb 12L "both live at step 1"
            Expect.equal (bruteOptimum above) 13L "even offsets waste a byte"
            for kind in [ CpSat; ExactSearch; Auto ] do
                let r = Solver.solve { cpOptions with Capacity = Some 12L; Kind = kind } above
                Expect.equal r.Status Infeasible (sprintf "%A: capacity 12 meets the lower bound but is infeasible" kind)
                let m = Solver.solve { cpOptions with Kind = kind } above
                Expect.equal m.Status Optimal (sprintf "%A: optimal" kind)
                Expect.equal m.Peak (Some 13L) (sprintf "%A: optimum 13" kind)
                check above m

        testCase "minimize on an instance of the benchmark meets the lower bound" <| fun () ->
            let p = dataset "input.12"
            for kind in [ CpSat; ExactSearch; Auto ] do
                let r = Solver.solve { cpOptions with Kind = kind } p
                check p r
                Expect.equal r.Status Optimal (sprintf "%A: optimal" kind)
                Expect.equal r.Peak (Some (Bounds.lowerBound p)) (sprintf "%A: peak = lower bound" kind)

        testCase "the exact search fits benchmark C at its lower bound" <| fun () ->
            let p = dataset "C.1048576"
            let lb = Bounds.lowerBound p
            match Exact.decide exactly lb p with
            | Fits plan ->
                Expect.isEmpty (Validate.plan p (Some lb) plan) "valid under the lower bound"
                Expect.equal (Plan.peak p plan) lb "optimal"
            | r -> failtestf "expected a plan, got %A" r

        testCase "a time limit of 1 s is honoured (the solve returns within 4 s)" <| fun () ->
            // hard for each method: CP-SAT deciding A at its optimum, the exact search deciding D at its lower bound
            for kind, p in [ CpSat, dataset "A.1048576"; ExactSearch, dataset "D.1048576" ] do
                let capacity = Bounds.lowerBound p
                let watch = Stopwatch.StartNew()
                let r = Solver.solve { cpOptions with Capacity = Some capacity; TimeLimit = TimeSpan.FromSeconds 1.0; Kind = kind } p
                let elapsed = watch.Elapsed.TotalSeconds
                check p r
                Expect.isLessThan elapsed 4.0 (sprintf "%A: returned after %.2f s" kind elapsed)

        testCase "cancellation stops a long solve promptly" <| fun () ->
            for kind, p in [ CpSat, dataset "A.1048576"; ExactSearch, dataset "D.1048576"; Auto, dataset "D.1048576" ] do
                use cts = new CancellationTokenSource()
                let watch = Stopwatch.StartNew()
                let task = Threading.Tasks.Task.Run(fun () ->
                    Solver.solve { cpOptions with Capacity = Some (Bounds.lowerBound p); TimeLimit = TimeSpan.FromSeconds 60.0; Cancellation = cts.Token; Kind = kind } p)
                Thread.Sleep 200
                cts.Cancel()
                let r = task.Result
                let elapsed = watch.Elapsed.TotalSeconds
                Expect.isLessThan elapsed 10.0 (sprintf "%A: stopped after %.2f s of a 60 s limit" kind elapsed)
                Expect.isTrue (r.Status = SolveStatus.Unknown || r.Status = Infeasible || r.Status = Feasible) (sprintf "%A: status %A" kind r.Status)

        testCase "a race whose body throws cancels and waits for its other side before the exception leaves" <| fun () ->
            use cts = new CancellationTokenSource()
            let finished = ref false
            let background = Threading.Tasks.Task.Run(fun () ->
                cts.Token.WaitHandle.WaitOne(TimeSpan.FromSeconds 30.0) |> ignore
                Thread.Sleep 50
                finished.Value <- true
                0)
            Expect.throws (fun () -> Solver.racing cts background (fun () -> failwith "CP-SAT failed") |> ignore) "the body's exception leaves"
            Expect.isTrue cts.IsCancellationRequested "the other side was cancelled"
            Expect.isTrue finished.Value "and waited for: nothing of the race runs on"

        testCase "the descent removes its subscriptions to the incumbent when it ends" <| fun () ->
            let p = smallProblem 5 8
            let incumbent = Incumbent(p, BestFit.plan p, fun _ _ _ -> ())
            let m = Descent.run { exactly with Nodes = Some 5_000L; Workers = 2 } incumbent (TimeAxis p)
            check p { Status = Feasible; Plan = Some m.Best; Peak = Some m.Peak; Bound = m.LowerBound; LowerBound = 0L; Millis = 0L; Solver = "" }
            Expect.equal incumbent.Subscriptions 0 "no listener left behind"

        testCase "progress reports a non-increasing peak above a non-decreasing bound" <| fun () ->
            let p = smallProblem 7 8
            let reports = Collections.Concurrent.ConcurrentQueue<int64 * int64>()
            let r = CpSat.solve { cpOptions with Progress = Some (fun r -> reports.Enqueue((r.Peak, r.Bound))) } p
            check p r
            let rs = reports.ToArray()
            Expect.isNonEmpty rs "at least one solution was reported"
            for (peak, bound) in rs do Expect.isLessThanOrEqual bound peak "bound <= peak"
            Expect.equal (fst rs.[rs.Length - 1]) r.Peak.Value "the last report is the answer"
    ]
