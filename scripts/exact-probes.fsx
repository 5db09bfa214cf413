// The landscape of the exact search's decisions: for each capacity of a range, one probe (Exact.Probe) per preorder
// with a node budget, with the preorder's keys as they are (no --seeds) or jittered (each seed of --seeds: a restart
// of the search in another order). Prints per capacity and preorder: FIT / NO (proven) / unk (budget spent), the nodes and the time.
// With --out, the first plan found is validated and written (plan CSV, to check with `pgmo check`).
//
//   dotnet build -c Release src/Planner.FSharp
//   dotnet fsi scripts/exact-probes.fsx PROBLEM.csv LOW HIGH STEP NODES [--preorders=WAT,TAW,TWA] [--seeds=A-B] [--out=PLAN.csv]
//
// e.g. dotnet fsi scripts/exact-probes.fsx datasets/minimalloc/J.1048576.csv 1020928 1034240 1024 300000 --preorders=TWA
#r "../src/Planner.FSharp/bin/Release/net10.0/Pgmo.Planner.dll"

open System
open System.IO
open System.Threading
open Pgmo.Planner

let args = fsi.CommandLineArgs |> Array.skip 1
let flag (name: string) =
    args |> Array.tryFind (fun a -> a.StartsWith("--" + name + "=")) |> Option.map (fun a -> a.Substring(name.Length + 3))
let positional = args |> Array.filter (fun a -> not (a.StartsWith "--"))
if positional.Length <> 5 then
    eprintfn "usage: dotnet fsi scripts/exact-probes.fsx PROBLEM.csv LOW HIGH STEP NODES [--preorders=WAT,TAW,TWA] [--seeds=A-B] [--out=PLAN.csv]"
    exit 2
let file = positional.[0]
let low, high, step, nodes = int64 positional.[1], int64 positional.[2], int64 positional.[3], int64 positional.[4]
let preorders =
    (defaultArg (flag "preorders") "WAT,TAW,TWA").Split(',')
    |> Array.map (fun letters -> match Preorder.parse letters with Ok p -> p | Error e -> (eprintfn "--preorders: %s" e; exit 2))
let seeds =
    match flag "seeds" with
    | Some s -> (let ab = s.Split('-') in [ for k in int ab.[0] .. int ab.[ab.Length - 1] -> Some k ])
    | None -> [ None ]
let problem =
    match Csv.parseProblem file (File.ReadAllText file) with
    | Ok p -> p
    | Error e -> (eprintfn "%s:%d: %s" e.File e.Line e.Message; exit 2)
let prepared = ExactProblem problem
let mutable written = false
printfn "%s: %d buffers, lower bound %d, granularity %d, %d nodes per probe" (Path.GetFileName file) problem.Buffers.Length
    (Bounds.lowerBound problem) (Exact.granularity problem) nodes
for capacity in low .. step .. high do
    for preorder in preorders do
        for seed in seeds do
            let watch = Diagnostics.Stopwatch.StartNew()
            let probe = Exact.Probe(prepared, capacity, ExactRules.defaults, preorder, seed)
            let result, used = Exact.resume probe nodes CancellationToken.None
            let answer =
                match result with
                | Fits plan ->
                    match flag "out" with
                    | Some out when not written ->
                        File.WriteAllText(out, Csv.writePlan problem plan)
                        written <- true
                        sprintf "FIT (peak %d, written to %s)" (Plan.peak problem plan) out
                    | _ -> sprintf "FIT (peak %d)" (Plan.peak problem plan)
                | DoesNotFit -> "NO"
                | Unknown -> "unk"
            let seedText = match seed with Some k -> string k | None -> "-"
            printfn "%d  %O  seed %-3s %-40s %8d nodes %8.0f ms" capacity preorder seedText answer used watch.Elapsed.TotalMilliseconds
