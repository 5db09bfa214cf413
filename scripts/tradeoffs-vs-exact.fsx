// The trade-off heuristic (Tradeoffs.plan: greedy with repair, then a bounded branch and bound over sets of candidates) against the exact reference
// (TradeoffsCpSat.solve: one CP-SAT model over the choices and the offsets) on seeded random problems
// (TradeoffSamples.draw), for each problem size: how often each fits, how often CP-SAT proves its answer and in what
// time, the heuristic's modelled extra time over the proven optimum and its planning time, and the seeds where it
// misses (only CP-SAT fits, or more than 10 % above the proven optimum). Run after
// `dotnet build -c Release src/Planner.Optimal`:
//   dotnet fsi scripts/tradeoffs-vs-exact.fsx [PROBLEMS (200)] [BUFFERS, comma-separated (7,12,16,20)] [SECONDS per solve (10)]
// CP-SAT runs on one worker (deterministic up to its time limit) at 16 B/us, the bandwidth of the planner's tests.
#load "OrTools.fsx"
open System
open Pgmo.Planner
open Pgmo.Planner.Optimal

let args = fsi.CommandLineArgs |> Array.skip 1
let count = if args.Length > 0 then int args.[0] else 200
let sizes = if args.Length > 1 then args.[1].Split(',') |> Array.map int else [| 7; 12; 16; 20 |]
let seconds = if args.Length > 2 then float args.[2] else 10.0
let settings = { SolveOptions.defaults with Workers = 1; TimeLimit = TimeSpan.FromSeconds seconds }

let percentile (sorted: float[]) (q: float) = if sorted.Length = 0 then nan else sorted.[min (sorted.Length - 1) (int (q * float sorted.Length))]

printfn "%d seeded problems per size (TradeoffSamples.draw), CP-SAT on 1 worker, %g s per solve" count seconds
for n in sizes do
    let mutable both, exactOnly, heuristicOnly, neither = 0, 0, 0, 0
    let mutable optimal, infeasible, feasible, unknown = 0, 0, 0, 0
    let mutable zeroBoth, zeroExactOnly = 0, 0
    let mutable proven, met = 0, 0
    let ratios = ResizeArray<float>()
    let millis = ResizeArray<float>()
    let heuristicMillis = ResizeArray<float>()
    let misses = ResizeArray<string>()
    for seed in 1 .. count do
        let p, candidates, limit = TradeoffSamples.draw seed n
        let options = { Tradeoffs.defaults limit with BandwidthBytesPerUs = 16.0 }
        let clock = Diagnostics.Stopwatch.StartNew()
        let h = Tradeoffs.plan options p candidates
        heuristicMillis.Add clock.Elapsed.TotalMilliseconds
        let s = TradeoffsCpSat.solve settings options p candidates
        millis.Add(float s.Millis)
        match s.Status with
        | Optimal -> optimal <- optimal + 1
        | Infeasible -> infeasible <- infeasible + 1
        | Feasible -> feasible <- feasible + 1
        | SolveStatus.Unknown -> unknown <- unknown + 1
        match s.Plan.Fits, h.Fits with
        | true, true ->
            both <- both + 1
            if s.Proven then
                proven <- proven + 1
                if h.ExtraUs <= 1.10 * s.Plan.ExtraUs + 1e-9 then met <- met + 1
                else misses.Add(sprintf "seed %d: %.2f us against the optimum's %.2f us" seed h.ExtraUs s.Plan.ExtraUs)
                if s.Plan.ExtraUs > 0.0 then ratios.Add(h.ExtraUs / s.Plan.ExtraUs)
                elif h.ExtraUs = 0.0 then zeroBoth <- zeroBoth + 1
                else zeroExactOnly <- zeroExactOnly + 1
        | true, false ->
            exactOnly <- exactOnly + 1
            misses.Add(sprintf "seed %d: only CP-SAT fits" seed)
        | false, true -> heuristicOnly <- heuristicOnly + 1
        | false, false -> neither <- neither + 1
    let sorted = ratios |> Seq.sort |> Array.ofSeq
    let ms = millis |> Seq.sort |> Array.ofSeq
    printfn ""
    printfn "%d buffers: CP-SAT optimal %d, infeasible (proven) %d, feasible (not proven) %d, unknown %d; solve time median %.0f ms, 90th percentile %.0f ms, max %.0f ms"
        n optimal infeasible feasible unknown (percentile ms 0.5) (percentile ms 0.9) (Array.last ms)
    printfn "  fit: both %d, only the exact reference %d, only the heuristic %d (must be 0), neither %d" both exactOnly heuristicOnly neither
    printfn "  heuristic / exact extra time, where both fit and the optimum is proven and above 0 (%d): median %.3f, 90th percentile %.3f, max %.3f, within 1.10: %d (%.0f %%)"
        sorted.Length (percentile sorted 0.5) (percentile sorted 0.9) (if sorted.Length = 0 then nan else Array.last sorted)
        (sorted |> Array.filter (fun r -> r <= 1.10 + 1e-9) |> Array.length)
        (100.0 * float (sorted |> Array.filter (fun r -> r <= 1.10 + 1e-9) |> Array.length) / float (max 1 sorted.Length))
    printfn "  where the proven optimum costs 0 us: the heuristic 0 us too in %d, more in %d" zeroBoth zeroExactOnly
    printfn "  at most 10 %% more than the proven optimum (issue 17's target; 0 us where the optimum is 0 us): %d of %d where both fit (%.0f %%)"
        met proven (100.0 * float met / float (max 1 proven))
    let hs = heuristicMillis |> Seq.sort |> Array.ofSeq
    printfn "  the heuristic's planning time: median %.1f ms, 90th percentile %.1f ms, max %.1f ms" (percentile hs 0.5) (percentile hs 0.9) (Array.last hs)
    printfn "  misses (only CP-SAT fits, or more than 10 %% above the proven optimum): %s" (if misses.Count = 0 then "none" else String.concat "; " misses)
