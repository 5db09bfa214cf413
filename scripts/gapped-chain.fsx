// Writes the generated DNN-like chain with one-step gaps (Traces.withGaps over Traces.chainOfSize) as a problem CSV:
// the large gapped problem of docs/cli.md and docs/planner-results.md. Run after `dotnet build -c Release src/Planner.FSharp`:
//   dotnet fsi scripts/gapped-chain.fsx OUT.csv [BUFFERS (100000)] [SHARE (0.15)]
#r "../src/Planner.FSharp/bin/Release/net10.0/Pgmo.Planner.dll"
open Pgmo.Planner

let args = fsi.CommandLineArgs |> Array.skip 1
if args.Length < 1 then failwith "usage: dotnet fsi scripts/gapped-chain.fsx OUT.csv [BUFFERS] [SHARE]"
let out = args.[0]
let buffers = if args.Length > 1 then int args.[1] else 100000
let share = if args.Length > 2 then float args.[2] else 0.15
let problem = Traces.withGaps 1 share (Traces.chainOfSize 1 buffers)
let gapped = problem.Buffers |> Array.filter (fun b -> b.Gaps.Length > 0) |> Array.length
// a unique temporary name beside the target, then a rename: the target is absent or complete
let temp = sprintf "%s.%s.tmp" out (System.Guid.NewGuid().ToString("N"))
try
    System.IO.File.WriteAllText(temp, Csv.writeProblem problem)
    System.IO.File.Move(temp, out, true)
finally
    if System.IO.File.Exists temp then System.IO.File.Delete temp
printfn "%s: %d buffers, %d with a one-step gap, lower bound %d" out problem.Buffers.Length gapped (Bounds.lowerBound problem)
