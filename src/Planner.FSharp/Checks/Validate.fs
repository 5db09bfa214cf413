namespace Pgmo.Planner


/// The validator: trusts nothing and returns every violation it finds, in O(n log n).
[<RequireQualifiedAccess>]
module Validate =

    /// The most overlapping pairs listed; a plan with more is still reported invalid.
    [<Literal>]
    let MaxOverlapsListed = 10_000

    /// Finds every overlapping pair (up to MaxOverlapsListed) by a sweep over time. The live buffers sit in a
    /// max-segment tree over their offset ranks holding each one's top (offset + size). When a buffer [lo, hi) starts,
    /// the live buffers overlapping it are exactly those whose offset is below hi and whose top is above lo:
    /// a rank prefix searched for tops above lo. O((n + k) log n) for k pairs.
    let private overlaps (problem: Problem) (offsets: int64[]) : Violation list =
        let bs = problem.Buffers
        let n = bs.Length
        let order = Array.init n id |> Array.sortWith (fun a b -> let c = compare offsets.[a] offsets.[b] in if c <> 0 then c else compare a b)
        let rank = Array.zeroCreate n
        order |> Array.iteri (fun r i -> rank.[i] <- r)
        let sortedOffsets = order |> Array.map (fun i -> offsets.[i])
        let mutable size = 1
        while size < max n 1 do size <- size * 2
        let empty = System.Int64.MinValue
        let tree = Array.create (2 * size) empty
        let set r v =
            let mutable p = r + size
            tree.[p] <- v
            p <- p / 2
            while p >= 1 do
                tree.[p] <- max tree.[2 * p] tree.[2 * p + 1]
                p <- p / 2
        let found = System.Collections.Generic.List<Violation>()
        // report every rank in [0, limit) whose top exceeds lo
        let rec report node nodeLo nodeHi limit lo (i: int) =
            if nodeLo < limit && tree.[node] > lo && found.Count < MaxOverlapsListed then
                if nodeHi - nodeLo = 1 then
                    let j = order.[nodeLo]
                    found.Add(if j < i then Overlap(bs.[j].Id, bs.[i].Id) else Overlap(bs.[i].Id, bs.[j].Id))
                else
                    let mid = (nodeLo + nodeHi) / 2
                    report (2 * node) nodeLo mid limit lo i
                    report (2 * node + 1) mid nodeHi limit lo i
        // first rank whose offset is >= hi
        let firstAtOrAbove hi =
            let mutable a, b = 0, n
            while a < b do
                let m = (a + b) / 2
                if sortedOffsets.[m] < hi then a <- m + 1 else b <- m
            a
        // ends before starts at equal steps (half-open lifetimes)
        for struct (_, kind, i) in Sweep.endpoints problem do
            if kind = Sweep.Ends then set rank.[i] empty
            else
                let lo = offsets.[i]
                let hi = lo + bs.[i].Size
                report 1 0 size (firstAtOrAbove hi) lo i
                set rank.[i] hi
        List.ofSeq found

    /// Every violation of a plan for a problem: count mismatch, negative or misaligned offsets,
    /// tops above the capacity (when given) and overlapping pairs. An empty list means the plan is valid.
    let plan (problem: Problem) (capacity: int64 option) (plan: Plan) : Violation list =
        let bs = problem.Buffers
        if plan.Offsets.Length <> bs.Length then [ OffsetCountMismatch(bs.Length, plan.Offsets.Length) ]
        else
            let local =
                [ for i in 0 .. bs.Length - 1 do
                    let b, o = bs.[i], plan.Offsets.[i]
                    if o < 0L then NegativeOffset(b.Id, o)
                    elif b.Alignment > 1L && o % b.Alignment <> 0L then Misaligned(b.Id, o, b.Alignment)
                    match capacity with
                    | Some c when o > c - b.Size -> CapacityExceeded(b.Id, o + b.Size, c)
                    | _ -> () ]
            // offsets past System.Int64.MaxValue - size cannot be summed safely; they are reported above as exceeding any capacity
            let safe = plan.Offsets |> Array.mapi (fun i o -> o <= System.Int64.MaxValue - bs.[i].Size) |> Array.forall id
            // gaps and pins (MiniMalloc's format) follow the rule of Gaps; without gaps the sweep below is the same rule
            let pins = Gaps.pinViolations problem plan.Offsets
            if safe then
                if Gaps.hasGaps problem then local @ pins @ Gaps.overlaps MaxOverlapsListed problem plan.Offsets
                else local @ pins @ overlaps problem plan.Offsets
            else local @ pins @ [ for i in 0 .. bs.Length - 1 do
                                    if plan.Offsets.[i] > System.Int64.MaxValue - bs.[i].Size then
                                        CapacityExceeded(bs.[i].Id, System.Int64.MaxValue, System.Int64.MaxValue) ]

    /// True when the plan has no violation.
    let isValid (problem: Problem) (p: Plan) = List.isEmpty (plan problem None p)

    /// Matches the rows of a plan file to a problem by id: the offsets in the problem's order, or the missing and extra ids.
    /// A row whose lifetime or size differs from the problem's is reported as extra (it describes another buffer).
    let assign (problem: Problem) (planned: Problem) (offsets: Plan) : Result<Plan, Violation list> =
        let byId = System.Collections.Generic.Dictionary<string, int>(planned.Buffers.Length)
        planned.Buffers |> Array.iteri (fun i b -> byId.[b.Id] <- i)
        let known = System.Collections.Generic.HashSet<string>(problem.Buffers |> Array.map (fun b -> b.Id))
        let result = Array.zeroCreate problem.Buffers.Length
        let errors = System.Collections.Generic.List<Violation>()
        problem.Buffers |> Array.iteri (fun i b ->
            match byId.TryGetValue b.Id with
            | true, j ->
                let q = planned.Buffers.[j]
                if q.Lifetime <> b.Lifetime || q.Size <> b.Size then errors.Add(ExtraBuffer q.Id)
                else result.[i] <- offsets.Offsets.[j]
            | _ -> errors.Add(MissingBuffer b.Id))
        for q in planned.Buffers do
            if not (known.Contains q.Id) then errors.Add(ExtraBuffer q.Id)
        if errors.Count = 0 then Ok { Offsets = result } else Error(List.ofSeq errors)
