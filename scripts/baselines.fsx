// Measures every baseline of this branch: peak / lower bound on the MiniMalloc instances and on generated traces,
// and planning time against n. Run after `dotnet build -c Release src/Planner.FSharp`:
//   dotnet fsi scripts/baselines.fsx [quick]
#r "../src/Planner.FSharp/bin/Release/net10.0/Pgmo.Planner.dll"
open Pgmo.Planner

let algorithms : (string * (Problem -> Plan)) list =
    [ "greedy-size", Greedy.plan
      "xla-spatial", Xla.plan XlaStrategy.Spatial
      "xla-temporal", Xla.plan XlaStrategy.Temporal
      "first-fit", FirstFit.plan
      "pool", Pool.plan ]

/// The peak an algorithm is charged: the pool's reserved bytes, the plan's peak otherwise.
let charged name (p: Problem) (plan: Plan) = if name = "pool" then (Pool.simulate p).Reserved else Plan.peak p plan

let quick = fsi.CommandLineArgs |> Array.contains "quick"
let dir = System.IO.Path.Combine(__SOURCE_DIRECTORY__, "../datasets/minimalloc")
let files = System.IO.Directory.GetFiles(dir, "*.1048576.csv") |> Array.sort
let load (f: string) =
    match Csv.parseProblem f (System.IO.File.ReadAllText f) with
    | Ok p -> p
    | Error e -> failwithf "%s:%d %s" e.File e.Line e.Message

let problems =
    [ for f in files -> System.IO.Path.GetFileName(f).Split('.').[0], load f ]
    @ [ "chain-200", Traces.chain 1 200; "residual-200", Traces.residual 2 200 2
        "chain-2000", Traces.chain 1 2000; "residual-2000", Traces.residual 2 2000 2 ]

printfn "%-14s %s" "instance" (algorithms |> List.map (fun (n, _) -> sprintf "%13s" n) |> String.concat "")
for name, p in problems do
    let lb = Bounds.lowerBound p
    let cells =
        algorithms |> List.map (fun (a, f) ->
            let plan = f p
            if not (Validate.isValid p plan) then failwithf "%s on %s: invalid plan" a name
            sprintf "%13.4f" (float (charged a p plan) / float lb))
    printfn "%-14s %s" name (String.concat "" cells)

// the machine may be shared: the best of three runs (one for 100k) is the least disturbed
printfn "\nplanning time (ms, best of 3; 1 run at 100k) on Traces.chainOfSize"
printfn "%-8s %s" "n" (algorithms |> List.map (fun (n, _) -> sprintf "%13s" n) |> String.concat "")
for n in (if quick then [ 1000; 10000 ] else [ 1000; 10000; 100000 ]) do
    let p = Traces.chainOfSize 7 n
    let cells =
        algorithms |> List.map (fun (_, f) ->
            let runs = if n >= 100000 then 1 else 3
            let best =
                [ for _ in 1 .. runs ->
                    let sw = System.Diagnostics.Stopwatch.StartNew()
                    f p |> ignore
                    sw.Elapsed.TotalMilliseconds ] |> List.min
            sprintf "%13.0f" best)
    printfn "%-8d %s" p.Buffers.Length (String.concat "" cells)
