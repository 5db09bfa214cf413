// Why greedy-size and xla-spatial cannot both keep their rule and be fast at 100k (docs/planner-results.md):
// replays each in its own order on the generated chains (Traces.chainOfSize) and counts, for every buffer, the gaps
// its rule must compare: the free address ranges left by the placed buffers that overlap it in time (the union of
// their ranges), and how many of those the buffer fits in. The rule takes the smallest that fits, so every fitting
// gap is a candidate. A plain O(n^2) reference, independent of Placement: it also checks that the planner chose
// exactly the gap the rule names. Run after `dotnet build -c Release src/Planner.FSharp`:
//   dotnet fsi scripts/best-fit-gaps.fsx [SIZES]        (default 1000,3000,10000,20000)
#r "../src/Planner.FSharp/bin/Release/net10.0/Pgmo.Planner.dll"
open Pgmo.Planner

let sizes =
    match fsi.CommandLineArgs |> Array.tryItem 1 with
    | Some s -> s.Split ',' |> Array.map int
    | None -> [| 1000; 3000; 10000; 20000 |]

/// Replays `order`: per buffer, the union gaps below the top of the placed buffers it overlaps in time, the gaps it
/// fits in, and whether `plan` puts it where best fit says (smallest fitting gap, lowest on ties, else on top).
let replay (problem: Problem) (order: int[]) (plan: Plan) =
    let bs = problem.Buffers
    let placed = ResizeArray<int>()
    let mutable gaps, fitting, agree = 0L, 0L, true
    let los = ResizeArray<int64>()
    let his = ResizeArray<int64>()
    for i in order do
        let b = bs.[i]
        los.Clear()
        his.Clear()
        for j in placed do
            if Buffer.overlapsInTime b bs.[j] then
                los.Add plan.Offsets.[j]
                his.Add(plan.Offsets.[j] + bs.[j].Size)
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
                    if lo.[r] - cursor < bestGap then
                        best <- start
                        bestGap <- lo.[r] - cursor
            cursor <- max cursor hi.[r]
        let expected = if best >= 0L then best else Numbers.alignUp b.Alignment cursor
        if expected <> plan.Offsets.[i] then agree <- false
        placed.Add i
    float gaps / float bs.Length, float fitting / float bs.Length, agree

printfn "%8s  %-12s %10s %14s %14s  %s" "buffers" "algorithm" "plan (ms)" "gaps / buffer" "fitting / buf" "the planner chose the rule's gap"
for n in sizes do
    let p = Traces.chainOfSize 1 n
    for name, order, planner in [ "greedy-size", Greedy.order p, Greedy.plan
                                  "xla-spatial", Xla.order XlaStrategy.Spatial p, Xla.plan XlaStrategy.Spatial ] do
        let watch = System.Diagnostics.Stopwatch.StartNew()
        let plan = planner p
        let millis = watch.Elapsed.TotalMilliseconds
        let g, f, agree = replay p order plan
        printfn "%8d  %-12s %10.1f %14.1f %14.1f  %b" p.Buffers.Length name millis g f agree
