// Measures every baseline of this branch: peak / lower bound on the MiniMalloc instances and on generated traces,
// and planning time against n. Run after `dotnet build -c Release src/Planner.FSharp`:
//   dotnet fsi scripts/baselines.fsx [quick]
#r "../src/Planner.FSharp/bin/Release/net10.0/Pgmo.Planner.dll"
open Pgmo.Planner

/// The baselines: every registered algorithm except the paper's best-fit and the time-bounded search. Each run
/// returns the peak it is charged (a pool's reserved bytes, a plan's peak otherwise).
let algorithms : Algorithm list =
    Algorithms.planners |> List.filter (fun a -> a.Name <> Algorithms.bestFit.Name && a.Name <> Algorithms.search.Name)

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

printfn "%-14s %s" "instance" (algorithms |> List.map (fun a -> sprintf "%13s" a.Name) |> String.concat "")
for name, p in problems do
    let lb = Bounds.lowerBound p
    let cells =
        algorithms |> List.map (fun a ->
            let planned = a.Plan(p, Algorithms.defaults)
            if not (Validate.isValid p planned.Plan) then failwithf "%s on %s: invalid plan" a.Name name
            sprintf "%13.4f" (float planned.Peak / float lb))
    printfn "%-14s %s" name (String.concat "" cells)

// the machine may be shared: the best of three runs (one for 100k) is the least disturbed
printfn "\nplanning time (ms, best of 3; 1 run at 100k) on Traces.chainOfSize"
printfn "%-8s %s" "n" (algorithms |> List.map (fun a -> sprintf "%13s" a.Name) |> String.concat "")
for n in (if quick then [ 1000; 10000 ] else [ 1000; 10000; 100000 ]) do
    let p = Traces.chainOfSize 7 n
    let cells =
        algorithms |> List.map (fun a ->
            let runs = if n >= 100000 then 1 else 3
            let best =
                [ for _ in 1 .. runs ->
                    let sw = System.Diagnostics.Stopwatch.StartNew()
                    a.Plan(p, Algorithms.defaults) |> ignore
                    sw.Elapsed.TotalMilliseconds ] |> List.min
            sprintf "%13.0f" best)
    printfn "%-8d %s" p.Buffers.Length (String.concat "" cells)
