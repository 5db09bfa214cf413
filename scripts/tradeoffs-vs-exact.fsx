// The trade-off heuristic (Tradeoffs.plan, best-fit layout) against the exact reference (Tradeoffs.exact: every subset
// of candidates, cheapest first, each laid out by the exact minimizer) on seeded tiny random problems: how often each
// fits, and the heuristic's modelled extra time over the reference's where the reference is proven. Run after
// `dotnet build -c Release src/Planner.FSharp`:
//   dotnet fsi scripts/tradeoffs-vs-exact.fsx [PROBLEMS (200)] [BUFFERS (7)]
#r "../src/Planner.FSharp/bin/Release/net10.0/Pgmo.Planner.dll"
open System
open Pgmo.Planner

let args = fsi.CommandLineArgs |> Array.skip 1
let count = if args.Length > 0 then int args.[0] else 200
let n = if args.Length > 1 then int args.[1] else 7
let exactly = { SolveOptions.defaults with Workers = 1; TimeLimit = TimeSpan.MaxValue; Nodes = None }
let minimize (p: Problem) = let m = Descent.minimize exactly p in m.Best, m.Peak, m.LowerBound

let draw (seed: int) = TradeoffSamples.draw seed n

let mutable both, heuristicOnly, exactOnly, neither, traded = 0, 0, 0, 0, 0
let ratios = ResizeArray<float>()
for seed in 1 .. count do
    let p, candidates, limit = draw seed
    let options = { Tradeoffs.defaults limit with BandwidthBytesPerUs = 16.0 }
    let h = Tradeoffs.plan options p candidates
    match Tradeoffs.exact options minimize p candidates, h.Fits with
    | Some (e, proven), true ->
        both <- both + 1
        if proven && e.ExtraUs > 0.0 then
            traded <- traded + 1
            ratios.Add(h.ExtraUs / e.ExtraUs)
    | Some _, false -> exactOnly <- exactOnly + 1
    | None, true -> heuristicOnly <- heuristicOnly + 1
    | None, false -> neither <- neither + 1
let sorted = ratios |> Seq.sort |> Array.ofSeq
let pct (q: float) = if sorted.Length = 0 then nan else sorted.[min (sorted.Length - 1) (int (q * float sorted.Length))]
printfn "%d problems of %d buffers: both fit %d, only the exact reference %d, only the heuristic %d (must be 0), neither %d" count n both exactOnly heuristicOnly neither
printfn "heuristic / exact extra time, where both fit with trade-offs and the reference is proven (%d): median %.3f, 90th percentile %.3f, max %.3f, within 1.10: %d"
    traded (pct 0.5) (pct 0.9) (if sorted.Length = 0 then nan else sorted.[sorted.Length - 1]) (sorted |> Array.filter (fun r -> r <= 1.10 + 1e-9) |> Array.length)
