namespace Pgmo.Planner

/// The validator: trusts nothing and returns every violation it finds, in O(n log n).
[<RequireQualifiedAccess>]
module Validate =

    /// The most overlapping pairs listed; a plan with more is still reported invalid.
    [<Literal>]
    let MaxOverlapsListed = 10_000

    /// Every pair of buffers that breaks MiniMalloc's rule (proofs/gaps.md), up to MaxOverlapsListed, first index
    /// first, by one sweep over the pieces in time (TimeAxis.Events). The live pieces sit in a max-segment tree over
    /// their byte ranks holding each one's top byte. When a piece with bytes [lo, hi) starts, the live pieces sharing a
    /// byte with it are exactly those whose lowest byte is below hi and whose top is above lo: a rank prefix searched
    /// for tops above lo. Two buffers whose pieces never share a byte break the rule only when one of them keeps a
    /// window that does not start at its offset (TimeAxis.HasRaisedWindows): such a buffer is checked against every
    /// buffer whose pieces meet its own, by the rule itself (Gaps.conflicts). O((p + k) log p) for p pieces and k
    /// pairs, plus the raised buffers' meetings.
    let private overlaps (axis: TimeAxis) (offsets: int64[]) : Violation list =
        let bs = axis.Problem.Buffers
        let owner, pieces = axis.Owner, axis.Pieces
        let p = pieces.Length
        let bottom = Array.init p (fun k -> offsets.[owner.[k]] + pieces.[k].Lo)
        let order = Array.init p id
        System.Array.Sort(order, System.Comparison(fun a b -> let c = compare bottom.[a] bottom.[b] in if c <> 0 then c else compare a b))
        let rank = Array.zeroCreate p
        order |> Array.iteri (fun r k -> rank.[k] <- r)
        let sortedBottoms = order |> Array.map (fun k -> bottom.[k])
        let mutable size = 1
        while size < max p 1 do size <- size * 2
        let empty = System.Int64.MinValue
        let tree = Array.create (2 * size) empty
        let set r v =
            let mutable q = r + size
            tree.[q] <- v
            q <- q / 2
            while q >= 1 do
                tree.[q] <- max tree.[2 * q] tree.[2 * q + 1]
                q <- q / 2
        let found = System.Collections.Generic.List<Violation>()
        let pairs = System.Collections.Generic.HashSet<struct (int * int)>()
        let add (i: int) (j: int) =
            let a, b = min i j, max i j
            if found.Count < MaxOverlapsListed && pairs.Add(struct (a, b)) then found.Add(Overlap(bs.[a].Id, bs.[b].Id))
        // report every rank in [0, limit) whose top exceeds lo
        let rec report node nodeLo nodeHi limit lo (i: int) =
            if nodeLo < limit && tree.[node] > lo && found.Count < MaxOverlapsListed then
                if nodeHi - nodeLo = 1 then add owner.[order.[nodeLo]] i
                else
                    let mid = (nodeLo + nodeHi) / 2
                    report (2 * node) nodeLo mid limit lo i
                    report (2 * node + 1) mid nodeHi limit lo i
        // first rank whose bottom is >= hi
        let firstAtOrAbove hi =
            let mutable a, b = 0, p
            while a < b do
                let m = (a + b) / 2
                if sortedBottoms.[m] < hi then a <- m + 1 else b <- m
            a
        // the raised buffers' live pieces, and every live piece when some buffer is raised
        let raised = axis.HasRaisedWindows
        let isRaised = if raised then Array.init bs.Length axis.IsRaised else [||]
        let live = System.Collections.Generic.HashSet<int>()
        let liveRaised = System.Collections.Generic.HashSet<int>()
        let checkedPairs = System.Collections.Generic.HashSet<struct (int * int)>()
        let meet (i: int) (j: int) =
            if i <> j && checkedPairs.Add(struct (min i j, max i j)) then
                // the rule of Gaps.conflicts on the axis's pieces
                match axis.Distance(i, j) with
                | ValueSome up ->
                    let down = axis.Distance(j, i).Value
                    if offsets.[j] < offsets.[i] + up && offsets.[i] < offsets.[j] + down then add i j
                | ValueNone -> ()
        // ends before starts at equal steps (half-open lifetimes)
        for struct (_, kind, k) in axis.Events do
            let i = owner.[k]
            if kind = Sweep.Ends then
                set rank.[k] empty
                if raised then
                    live.Remove k |> ignore
                    liveRaised.Remove k |> ignore
            else
                let lo = bottom.[k]
                let hi = offsets.[i] + pieces.[k].Hi
                report 1 0 size (firstAtOrAbove hi) lo i
                set rank.[k] hi
                if raised then
                    if isRaised.[i] then (for q in live do meet i owner.[q])
                    else (for q in liveRaised do meet i owner.[q])
                    live.Add k |> ignore
                    if isRaised.[i] then liveRaised.Add k |> ignore
        List.ofSeq found

    /// Every pinned buffer that a plan moves away from its pin.
    let private pinsMoved (problem: Problem) (offsets: int64[]) : Violation list =
        [ for i in 0 .. problem.Buffers.Length - 1 do
            match problem.Buffers.[i].Pinned with
            | Some p when p <> offsets.[i] -> PinMoved(problem.Buffers.[i].Id, p, offsets.[i])
            | _ -> () ]

    /// Every violation of a plan for the problem of a time axis: count mismatch, negative or misaligned offsets, tops
    /// above the capacity (when given), pinned buffers moved and pairs that break MiniMalloc's rule (overlapping
    /// buffers). An empty list means the plan is valid.
    let planOn (axis: TimeAxis) (capacity: int64 option) (plan: Plan) : Violation list =
        let problem = axis.Problem
        let bs = problem.Buffers
        if plan.Offsets.Length <> bs.Length then [ OffsetCountMismatch(bs.Length, plan.Offsets.Length) ]
        else
            let local =
                [ for i in 0 .. bs.Length - 1 do
                    let b, o = bs.[i], plan.Offsets.[i]
                    if o < 0L then NegativeOffset(b.Id, o)
                    elif b.Alignment > 1L && o % b.Alignment <> 0L then Misaligned(b.Id, o, b.Alignment)
                    match capacity with
                    | Some c when o > c - b.Size -> CapacityExceeded(b.Id, (if o > System.Int64.MaxValue - b.Size then System.Int64.MaxValue else o + b.Size), c)
                    | _ -> () ]
            // offsets past System.Int64.MaxValue - size cannot be summed safely; they are reported as exceeding any capacity
            let safe = plan.Offsets |> Array.mapi (fun i o -> o <= System.Int64.MaxValue - bs.[i].Size) |> Array.forall id
            let pins = pinsMoved problem plan.Offsets
            if safe then local @ pins @ overlaps axis plan.Offsets
            else local @ pins @ [ for i in 0 .. bs.Length - 1 do
                                    if plan.Offsets.[i] > System.Int64.MaxValue - bs.[i].Size then
                                        CapacityExceeded(bs.[i].Id, System.Int64.MaxValue, System.Int64.MaxValue) ]

    /// Every violation of a plan for a problem (planOn its time axis). An empty list means the plan is valid.
    let plan (problem: Problem) (capacity: int64 option) (plan: Plan) : Violation list = planOn (TimeAxis problem) capacity plan

    /// True when the plan has no violation.
    let isValid (problem: Problem) (p: Plan) = List.isEmpty (plan problem None p)

    /// True when the plan has no violation on the problem of the time axis.
    let isValidOn (axis: TimeAxis) (p: Plan) = List.isEmpty (planOn axis None p)

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
