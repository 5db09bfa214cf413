// Why greedy-size and xla-spatial cannot both keep their rule and be fast at 100k (docs/planner-results.md):
// replays each in its own order on the generated chains (Traces.chainOfSize) and counts, for every buffer, the gaps
// its rule must compare: the free address ranges left by the placed buffers that overlap it in time (the union of
// their ranges), and how many of those the buffer fits in. The rule takes the smallest that fits, so every fitting
// gap is a candidate. A plain O(n^2) reference, independent of Placement: it also checks that the planner chose
// exactly the gap the rule names. A gap is "one cell" when it is the same free gap at every step of the lifetime
// (some placed buffer ends at its bottom and some starts at its top at each step): only those can be read from an
// index of free gaps by length kept per time range; the others are bounded by buffers of different steps.
// Run after `dotnet build -c Release src/Planner.FSharp`:
//   dotnet fsi scripts/best-fit-gaps.fsx [SIZES]        (default 1000,3000,10000,20000)
#r "../src/Planner.FSharp/bin/Release/net10.0/Pgmo.Planner.dll"
open Pgmo.Planner

let sizes =
    match fsi.CommandLineArgs |> Array.tryItem 1 with
    | Some s -> s.Split ',' |> Array.map int
    | None -> [| 1000; 3000; 10000; 20000 |]

/// True when the half-open lifetimes cover [s, e) (clipped to it).
let covers (s: int64) (e: int64) (lifetimes: ResizeArray<Lifetime>) =
    let ls = lifetimes.ToArray() |> Array.sortBy (fun l -> l.Start)
    let mutable reach = s
    for l in ls do
        if l.Start <= reach && l.End > reach then reach <- l.End
    reach >= e

/// Replays `order`: per buffer, the union gaps below the top of the placed buffers it overlaps in time, the gaps it
/// fits in, how many of those are one cell, whether the gap the rule picks is one, and whether `plan` puts the buffer
/// where best fit says (smallest fitting gap, lowest on ties, else on top).
let replay (problem: Problem) (order: int[]) (plan: Plan) =
    let bs = problem.Buffers
    let placed = ResizeArray<int>()
    let mutable gaps, fitting, cells, gapAnswers, cellAnswers, agree = 0L, 0L, 0L, 0L, 0L, true
    let endingAt = System.Collections.Generic.Dictionary<int64, ResizeArray<Lifetime>>()
    let startingAt = System.Collections.Generic.Dictionary<int64, ResizeArray<Lifetime>>()
    let note (d: System.Collections.Generic.Dictionary<int64, ResizeArray<Lifetime>>) key life =
        match d.TryGetValue key with
        | true, l -> l.Add life
        | _ -> d.[key] <- ResizeArray [ life ]
    let los = ResizeArray<int64>()
    let his = ResizeArray<int64>()
    for i in order do
        let b = bs.[i]
        los.Clear()
        his.Clear()
        endingAt.Clear()
        startingAt.Clear()
        for j in placed do
            if Buffer.overlapsInTime b bs.[j] then
                los.Add plan.Offsets.[j]
                his.Add(plan.Offsets.[j] + bs.[j].Size)
                note endingAt (plan.Offsets.[j] + bs.[j].Size) bs.[j].Lifetime
                note startingAt plan.Offsets.[j] bs.[j].Lifetime
        let s, e = b.Lifetime.Start, b.Lifetime.End
        let oneCell (x: int64) (y: int64) =
            (x = 0L || (endingAt.ContainsKey x && covers s e endingAt.[x])) && covers s e startingAt.[y]
        let mutable bestCell = false
        let lo, hi = los.ToArray(), his.ToArray()
        System.Array.Sort(lo, hi)
        let mutable cursor = 0L
        let mutable best = -1L
        let mutable bestGap = System.Int64.MaxValue
        for r in 0 .. lo.Length - 1 do
            if lo.[r] > cursor then
                gaps <- gaps + 1L
                let start = Numbers.alignUp b.Alignment cursor
                if start + b.Size <= lo.[r] then
                    fitting <- fitting + 1L
                    let cell = oneCell cursor lo.[r]
                    if cell then cells <- cells + 1L
                    if lo.[r] - cursor < bestGap then
                        best <- start
                        bestGap <- lo.[r] - cursor
                        bestCell <- cell
            cursor <- max cursor hi.[r]
        if best >= 0L then
            gapAnswers <- gapAnswers + 1L
            if bestCell then cellAnswers <- cellAnswers + 1L
        let expected = if best >= 0L then best else Numbers.alignUp b.Alignment cursor
        if expected <> plan.Offsets.[i] then agree <- false
        placed.Add i
    let per (x: int64) = float x / float bs.Length
    per gaps, per fitting, per cells, gapAnswers, cellAnswers, agree

printfn "%8s  %-12s %10s %8s %8s %8s %12s %12s  %s" "buffers" "algorithm" "plan (ms)" "gaps" "fitting" "cells" "into a gap" "into a cell" "same as the planner"
printfn "%8s  %-12s %10s %8s %8s %8s %12s %12s" "" "" "" "/ buffer" "/ buffer" "/ buffer" "(buffers)" "(buffers)"
for n in sizes do
    let p = Traces.chainOfSize 1 n
    for name, order, planner in [ "greedy-size", Greedy.order p, Greedy.plan
                                  "xla-spatial", Xla.order XlaStrategy.Spatial p, Xla.plan XlaStrategy.Spatial ] do
        let watch = System.Diagnostics.Stopwatch.StartNew()
        let plan = planner p
        let millis = watch.Elapsed.TotalMilliseconds
        let g, f, c, intoGap, intoCell, agree = replay p order plan
        printfn "%8d  %-12s %10.1f %8.1f %8.1f %8.1f %12d %12d  %b" p.Buffers.Length name millis g f c intoGap intoCell agree
