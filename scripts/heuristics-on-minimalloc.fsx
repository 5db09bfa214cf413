// Best-fit and search on the MiniMalloc "challenging" instances A–K, plus best-fit on a 100k-buffer DNN-like trace.
// Build first:  dotnet build -c Release src/Planner.FSharp
// Run:          dotnet fsi scripts/heuristics-on-minimalloc.fsx [search-seconds (default 10)] [instances, e.g. ABC]
#r "../src/Planner.FSharp/bin/Release/net10.0/Pgmo.Planner.dll"

open System
open System.IO
open Pgmo.Planner

let args = fsi.CommandLineArgs |> Array.skip 1
let seconds = if args.Length > 0 then float args.[0] else 10.0
let only = if args.Length > 1 then args.[1] else "ABCDEFGHIJK"
let folder = Path.Combine(__SOURCE_DIRECTORY__, "..", "datasets", "minimalloc")

let load (name: string) =
    let file = Path.Combine(folder, name + ".1048576.csv")
    match Csv.parseProblem file (File.ReadAllText file) with
    | Ok p -> p
    | Error e -> failwithf "%s:%d: %s" e.File e.Line e.Message

let timed f =
    let sw = Diagnostics.Stopwatch.StartNew()
    let r = f ()
    r, sw.Elapsed.TotalMilliseconds

let check (p: Problem) (plan: Plan) name =
    if not (Validate.isValid p plan) then failwithf "%s produced an invalid plan" name
    Plan.peak p plan

let ratio (peak: int64) (lb: int64) = float peak / float lb

// tie-rule variants of best-fit (the paper's rule is the first)
let len (b: Buffer) = b.Lifetime.End - b.Lifetime.Start
let variants : (string * (Buffer -> Buffer -> int)) list =
    [ "paper (len, size, start)", BestFit.paperRule
      "len, size, later start", (fun x y -> let c = compare (len y) (len x) in if c <> 0 then c else let c = compare y.Size x.Size in if c <> 0 then c else compare y.Lifetime.Start x.Lifetime.Start)
      "len, size, id order", (fun x y -> let c = compare (len y) (len x) in if c <> 0 then c else compare y.Size x.Size)
      "size, len", (fun x y -> let c = compare y.Size x.Size in if c <> 0 then c else compare (len y) (len x))
      "area", (fun x y -> compare (y.Size * len y) (x.Size * len x)) ]

printfn "MiniMalloc A–K: best-fit (paper rule) and Search.plan at %.0f s (seed 0)" seconds
printfn "%-4s %5s %9s | %9s %6s %7s | %9s %6s %9s" "inst" "n" "lower" "bestfit" "ratio" "ms" "search" "ratio" "ms"
let variantRatios = Collections.Generic.Dictionary<string, ResizeArray<float>>()
for c in only do
    let name = string c
    let p = load name
    let lb = Bounds.lowerBound p
    let bf, bfMs = timed (fun () -> BestFit.plan p)
    let bfPeak = check p bf "best-fit"
    for (vn, rule) in variants do
        let peak = check p (BestFit.planWith rule p) vn
        if not (variantRatios.ContainsKey vn) then variantRatios.[vn] <- ResizeArray()
        variantRatios.[vn].Add(ratio peak lb)
    let opts = { Search.defaults with TimeLimit = TimeSpan.FromSeconds seconds }
    let s, sMs = timed (fun () -> Search.plan opts p)
    let sPeak = check p s "search"
    printfn "%-4s %5d %9d | %9d %6.3f %7.1f | %9d %6.3f %9.1f%s" name p.Buffers.Length lb bfPeak (ratio bfPeak lb) bfMs sPeak (ratio sPeak lb) sMs
        (if sPeak = 1048576L then "  (= 1048576)" else "")

printfn ""
printfn "best-fit tie rules, mean and max peak/lower bound over the instances:"
for KeyValue(vn, rs) in variantRatios do
    printfn "  %-28s mean %.4f  max %.4f" vn (Seq.average rs) (Seq.max rs)

// a DNN-like trace: L layers; forward activations live until their backward use, gradients short-lived, workspaces
let dnnTrace (buffers: int) =
    let rnd = Random 42
    let layers = buffers / 4
    let steps = 2 * layers + 2
    let bs = ResizeArray<Buffer>()
    for l in 0 .. layers - 1 do
        let act = int64 (rnd.Next(1, 64)) * 4096L
        let fwd = int64 l
        let bwd = int64 (steps - 1 - l)
        bs.Add(Buffer.create (sprintf "act%d" l) fwd (bwd + 1L) act)                                 // activation
        bs.Add({ Buffer.create (sprintf "ws%d" l) fwd (fwd + 1L) (int64 (rnd.Next(1, 32)) * 512L) with Alignment = 256L }) // forward workspace
        bs.Add(Buffer.create (sprintf "grad%d" l) bwd (bwd + 2L) act)                                // activation gradient
        bs.Add(Buffer.create (sprintf "wgrad%d" l) bwd (bwd + 1L + int64 (rnd.Next(0, 3))) (int64 (rnd.Next(1, 16)) * 1024L)) // weight gradient
    Problem.ofBuffers bs

let big = dnnTrace 100_000
BestFit.plan (dnnTrace 1000) |> ignore // warm up the JIT
let bigPlan, bigMs = timed (fun () -> BestFit.plan big)
let bigPeak = check big bigPlan "best-fit 100k"
printfn ""
printfn "best-fit on a DNN-like trace of %d buffers: %.1f ms, peak/lower bound %.4f" big.Buffers.Length bigMs (ratio bigPeak (Bounds.lowerBound big))
