/// Reference implementations and fixtures the tests share: the brute-force optimum, seeded small problems, the
/// repository's root and the expectation on a CSV reader's error.
module Pgmo.Planner.Tests.Reference

open System
open System.IO
open Expecto
open Pgmo.Planner

/// The reference optimum by brute force: every order of the buffers, each placed at its lowest aligned offset that
/// collides with nothing placed before; the best peak over all orders (exact for n <= 8, see proofs/exact-search.md).
let bruteOptimum (problem: Problem) : int64 =
    let bs = problem.Buffers
    let n = bs.Length
    let offsets = Array.zeroCreate<int64> n
    let placed = Array.zeroCreate<bool> n
    let mutable best = Int64.MaxValue
    let lowest (i: int) =
        let b = bs.[i]
        let blockers =
            [| for j in 0 .. n - 1 do
                 if placed.[j] && Buffer.overlapsInTime b bs.[j] then offsets.[j], offsets.[j] + bs.[j].Size |] |> Array.sort
        let mutable o = 0L
        let mutable moved = true
        while moved do
            moved <- false
            for (lo, hi) in blockers do
                if o < hi && lo < o + b.Size then
                    o <- Numbers.alignUp b.Alignment hi
                    moved <- true
        o
    let rec go depth peak =
        if peak < best then
            if depth = n then best <- peak
            else
                for i in 0 .. n - 1 do
                    if not placed.[i] then
                        offsets.[i] <- lowest i
                        placed.[i] <- true
                        go (depth + 1) (max peak (offsets.[i] + bs.[i].Size))
                        placed.[i] <- false
    go 0 0L
    if n = 0 then 0L else best

/// A seeded small problem: n buffers on a horizon of a few steps, small sizes, sometimes aligned.
let smallProblem (seed: int) (n: int) : Problem =
    let rnd = Random(seed)
    let horizon = rnd.Next(2, 9)
    Problem.ofBuffers [
        for i in 0 .. n - 1 do
            let s = rnd.Next(0, horizon)
            let e = s + rnd.Next(1, horizon - s + 1)
            let size = if rnd.Next 3 = 0 then int64 (4 * rnd.Next(1, 4)) else int64 (rnd.Next(1, 13))
            let align = if rnd.Next 5 = 0 then int64 (pown 2 (rnd.Next(1, 4))) else 1L
            { Buffer.create (string i) (int64 s) (int64 e) size with Alignment = align } ]

/// The folder holding Hybrid.sln, found by walking up from the test assembly.
let repositoryRoot () : string =
    let rec up (dir: DirectoryInfo) =
        if isNull dir then failwith "no Hybrid.sln above the test assembly"
        elif File.Exists(Path.Combine(dir.FullName, "Hybrid.sln")) then dir.FullName
        else up dir.Parent
    up (DirectoryInfo(AppContext.BaseDirectory))

/// Parses a problem file p.csv that must fail at `line` with a message containing `fragment`.
let expectError (text: string) (line: int) (fragment: string) =
    match Csv.parseProblem "p.csv" text with
    | Ok _ -> failtestf "expected an error containing '%s' for:\n%s" fragment text
    | Error e ->
        Expect.equal e.File "p.csv" "the error names the file"
        Expect.equal e.Line line "the error names the line"
        Expect.stringContains e.Message fragment "the error says what is wrong"

/// The exact search's options in the tests: one worker, no time limit, no node budget, so that a minimization runs
/// to the optimum (or until no probe can advance) and every run is deterministic.
let exactly = { SolveOptions.defaults with Workers = 1; TimeLimit = TimeSpan.MaxValue; Nodes = None }

/// The exact minimization of a problem under `exactly` (Descent.minimize from Exact.initialPlan).
let minimizeExactly (p: Problem) : ExactMinimum = Descent.minimize exactly p

/// The trade-off oracle by enumeration, independent of CP-SAT (TradeoffsCpSat): every subset of the usable candidates
/// (Tradeoffs.usable), each with its cheapest trades the recompute rule allows (Tradeoffs.assign; the gaps, and so the
/// layout, depend only on the subset; a subset no assignment of which keeps the rule is skipped), cheapest first, each
/// laid out by the exact minimizer; the first subset whose plan fits the limit, with Proven true when every cheaper
/// subset was proven not to fit (its least peak above the limit). None when no subset fits. 2^candidates layouts, so
/// 16 candidates at most.
let tradeoffsBySubsets (options: TradeOptions) (problem: Problem) (candidates: Candidate[]) : (TradePlan * bool) option =
    let usable = Tradeoffs.usable options problem candidates
    if usable.Length > 16 then invalidArg (nameof candidates) (sprintf "%d candidates are too many to enumerate (16 at most)" usable.Length)
    let subsets =
        [ for mask in 0 .. (1 <<< usable.Length) - 1 do
            let picked = [| for k in 0 .. usable.Length - 1 do if mask &&& (1 <<< k) <> 0 then yield usable.[k] |]
            match Tradeoffs.assign options problem picked with
            | Some (choices, us) -> yield choices, us
            | None -> () ]
        |> List.sortBy (fun (choices, us) -> us, choices.Length)
    let peakWithout = (minimizeExactly problem).Peak
    let mutable proven = true
    subsets
    |> List.tryPick (fun (choices, us) ->
        let p = Tradeoffs.apply problem choices
        if Bounds.lowerBound p > options.Limit then None
        else
            let m = minimizeExactly p
            if m.Peak <= options.Limit then
                Some ({ Problem = p; Plan = m.Best; Peak = m.Peak; PeakWithout = peakWithout
                        Choices = choices; ExtraUs = us; Fits = true }, proven)
            else
                if m.LowerBound <= options.Limit then proven <- false
                None)
