namespace Pgmo.Planner

/// A piece of a buffer: on the half-open steps [Start, End) it holds the bytes [Lo, Hi) relative to its offset.
[<Struct>]
type Piece = { Start: int64; End: int64; Lo: int64; Hi: int64 }

/// The buffers that can meet a buffer in a plan, with the least offset distances of each pair (see Gaps.distance):
/// Of.[i] lists them, Above.[i].[k] is the least o_j - o_i with j = Of.[i].[k] above i, Below.[i].[k] the least
/// o_i - o_j with j below i.
type Neighbours = { Of: int[][]; Above: int64[][]; Below: int64[][] }

/// Raised when a problem with gaps, pins or hints has more pairs of buffers live together than the gap-aware paths
/// hold in memory (Gaps.maxPairs): those paths keep every such pair with its distances.
type PairLimitException(message: string) =
    inherit System.Exception(message)

/// MiniMalloc's gaps and pinned offsets in one place (proofs/gaps.md). A buffer is a set of pieces: outside its gaps it
/// holds all its bytes, inside a gap only the gap's window (or nothing). Two buffers a, b conflict exactly as in
/// MiniMalloc: b may sit above a when o_b >= o_a + distance a b, where distance a b is the largest a.Hi - b.Lo over
/// their pieces that overlap in time; they never conflict when no pieces overlap in time. For buffers without gaps
/// that is the usual rule (distance = a's size when the lifetimes overlap). The validator, the lower bound, the
/// placement primitive, the exact search and CP-SAT take the rule from here.
///
/// ```
///  step:     0   1   2   3   4
///  a (8 B)   [###|...|###)           gap 1-2 without window: a frees its 8 bytes on step 1
///  b (8 B)       [###)               b lives on step 1 only: distance a b = none, so b may share a's addresses
/// ```
[<RequireQualifiedAccess>]
module Gaps =

    /// True when some buffer has gaps: conflicts and loads then need the pieces.
    let hasGaps (problem: Problem) : bool = problem.Buffers |> Array.exists (fun b -> b.Gaps.Length > 0)

    /// True when some buffer has gaps, a pinned offset or a hint: the planners then take their gap-aware paths.
    let special (problem: Problem) : bool =
        problem.Buffers |> Array.exists (fun b -> b.Gaps.Length > 0 || b.Pinned.IsSome || b.Hint.IsSome)

    /// The same problem without gaps, pins or hints: its plans are valid for the original one except for the pins
    /// (a gap only frees bytes), so a gap-oblivious algorithm can plan it and Placement.repair then honours the rest.
    let plain (problem: Problem) : Problem =
        { problem with Buffers = problem.Buffers |> Array.map (fun b -> { b with Gaps = [||]; Pinned = None; Hint = None }) }

    /// The pieces of a buffer in time order: disjoint, covering its lifetime except the gaps without a window.
    let pieces (b: Buffer) : Piece[] =
        if b.Gaps.Length = 0 then [| { Start = b.Lifetime.Start; End = b.Lifetime.End; Lo = 0L; Hi = b.Size } |]
        else
            let out = ResizeArray<Piece>(2 * b.Gaps.Length + 1)
            let mutable t = b.Lifetime.Start
            for g in b.Gaps do
                if g.Steps.Start > t then out.Add { Start = t; End = g.Steps.Start; Lo = 0L; Hi = b.Size }
                match g.Window with
                | Some w when w.Hi > w.Lo -> out.Add { Start = g.Steps.Start; End = g.Steps.End; Lo = w.Lo; Hi = w.Hi }
                | _ -> ()
                t <- g.Steps.End
            if t < b.Lifetime.End then out.Add { Start = t; End = b.Lifetime.End; Lo = 0L; Hi = b.Size }
            out.ToArray()

    /// The least o_b - o_a with b above a, over pieces sorted by time: the largest pa.Hi - pb.Lo over the pairs of
    /// pieces that overlap in time, or ValueNone when none do (a and b never conflict). O(|pa| + |pb|).
    let distanceOf (pa: Piece[]) (pb: Piece[]) : int64 voption =
        let mutable i, j = 0, 0
        let mutable found = false
        let mutable d = System.Int64.MinValue
        while i < pa.Length && j < pb.Length do
            let p, q = pa.[i], pb.[j]
            if p.End <= q.Start then i <- i + 1
            elif q.End <= p.Start then j <- j + 1
            else
                found <- true
                if p.Hi - q.Lo > d then d <- p.Hi - q.Lo
                if p.End < q.End then i <- i + 1 else j <- j + 1
        if found then ValueSome d else ValueNone

    /// The least o_b - o_a for b to sit above a (see distanceOf); for buffers without gaps a's size when the lifetimes overlap.
    let distance (a: Buffer) (b: Buffer) : int64 voption =
        if a.Gaps.Length = 0 && b.Gaps.Length = 0 then
            if Buffer.overlapsInTime a b then ValueSome a.Size else ValueNone
        else distanceOf (pieces a) (pieces b)

    /// True when buffers a at offset oa and b at offset ob conflict: their pieces meet in time and neither sits above
    /// the other by the distance the rule asks.
    let conflicts (a: Buffer) (oa: int64) (b: Buffer) (ob: int64) : bool =
        match distance a b with
        | ValueNone -> false
        | ValueSome up ->
            match distance b a with
            | ValueSome down -> ob < oa + up && oa < ob + down
            | ValueNone -> false

    /// The most pairs of buffers live together that the gap-aware paths take on (about 1 GB of pairs and distances);
    /// the exact search's tractable problems (Descent.tractable) stay below it.
    let maxPairs = 20_000_000L

    /// Every pair of buffers whose pieces meet in time, with both distances, or PairLimitException when more than
    /// `cap` pairs of buffers are live together. O(n log n + pairs × pieces).
    let neighboursWithin (cap: int64) (problem: Problem) : Neighbours =
        let bs = problem.Buffers
        let n = bs.Length
        let ps = bs |> Array.map pieces
        let adjacent =
            match Sweep.overlaps problem cap (fun () -> false) with
            | Some adjacent -> adjacent
            | None ->
                raise (PairLimitException(
                        sprintf "the problem has gaps, pinned offsets or hints and more than %d pairs of buffers live together: the gap-aware planners and the validator hold every such pair in memory, so they plan at most that many (without those columns the problem plans at any size)" cap))
        let ofs = Array.zeroCreate<int[]> n
        let above = Array.zeroCreate<int64[]> n
        let below = Array.zeroCreate<int64[]> n
        for i in 0 .. n - 1 do
            let js = ResizeArray<int>(adjacent.[i].Length)
            let up = ResizeArray<int64>(adjacent.[i].Length)
            let down = ResizeArray<int64>(adjacent.[i].Length)
            for j in adjacent.[i] do
                // two buffers without gaps whose lifetimes meet: the usual sizes
                if bs.[i].Gaps.Length = 0 && bs.[j].Gaps.Length = 0 then
                    js.Add j
                    up.Add bs.[i].Size
                    down.Add bs.[j].Size
                else
                    match distanceOf ps.[i] ps.[j] with
                    | ValueSome d ->
                        js.Add j
                        up.Add d
                        down.Add((distanceOf ps.[j] ps.[i]).Value)
                    | ValueNone -> ()
            ofs.[i] <- js.ToArray()
            above.[i] <- up.ToArray()
            below.[i] <- down.ToArray()
        { Of = ofs; Above = above; Below = below }

    /// Every pair of buffers whose pieces meet in time, with both distances (neighboursWithin maxPairs).
    let neighbours (problem: Problem) : Neighbours = neighboursWithin maxPairs problem

    /// The live load as a step function over the pieces: (step, bytes held from that step until the next entry),
    /// ascending, one entry per distinct piece endpoint. A gap without a window holds nothing, one with a window its
    /// window's bytes. O(pieces log pieces).
    let load (problem: Problem) : (int64 * int64)[] =
        let events = ResizeArray<struct (int64 * int64)>()
        for b in problem.Buffers do
            for p in pieces b do
                events.Add(struct (p.Start, p.Hi - p.Lo))
                events.Add(struct (p.End, p.Lo - p.Hi))
        let arr = events.ToArray()
        System.Array.Sort(arr, System.Comparison(fun (struct (t1: int64, _: int64)) (struct (t2: int64, _: int64)) -> compare t1 t2))
        let result = ResizeArray<int64 * int64>()
        let mutable total = 0L
        let mutable k = 0
        while k < arr.Length do
            let struct (t, _) = arr.[k]
            while k < arr.Length && (let struct (t2, _) = arr.[k] in t2 = t) do
                let struct (_, delta) = arr.[k]
                total <- total + delta
                k <- k + 1
            result.Add((t, total))
        result.ToArray()

    /// A lower bound on every valid plan's peak: the largest load of the pieces at one step, and every pinned
    /// buffer's top (its pinned offset plus its size).
    let lowerBound (problem: Problem) : int64 =
        let mutable m = load problem |> Array.fold (fun m (_, l) -> max m l) 0L
        for b in problem.Buffers do
            match b.Pinned with
            | Some o -> m <- max m (o + b.Size)
            | None -> ()
        m

    /// Every pinned buffer that a plan moves away from its pin.
    let pinViolations (problem: Problem) (offsets: int64[]) : Violation list =
        [ for i in 0 .. problem.Buffers.Length - 1 do
            match problem.Buffers.[i].Pinned with
            | Some p when p <> offsets.[i] -> PinMoved(problem.Buffers.[i].Id, p, offsets.[i])
            | _ -> () ]

    /// Up to `limit` conflicting pairs of a plan under the rule above (`conflicts`), first index first.
    /// O(n log n + pairs × pieces).
    let overlaps (limit: int) (problem: Problem) (offsets: int64[]) : Violation list =
        let bs = problem.Buffers
        let found = ResizeArray<Violation>()
        let nb = neighbours problem
        for i in 0 .. bs.Length - 1 do
            let js = nb.Of.[i]
            for k in 0 .. js.Length - 1 do
                let j = js.[k]
                if i < j && found.Count < limit then
                    let oi, oj = offsets.[i], offsets.[j]
                    if oj < oi + nb.Above.[i].[k] && oi < oj + nb.Below.[i].[k] then found.Add(Overlap(bs.[i].Id, bs.[j].Id))
        List.ofSeq found

    /// The time axis cut at every lifetime and gap endpoint (Sweep.Sections: buffer i spans sections Lo.[i] ..
    /// Hi.[i] - 1 and is a member of each), with each buffer's bytes in each section of its span: Width.[i].[k] and
    /// Top.[i].[k] for section Lo.[i] + k are its window's length and top relative to its offset (0 and 0 where a gap
    /// without window frees everything). Within a section every window is constant. O(n log n + memberships).
    type Windows = { Sections: Sweep.Sections; Width: int64[][]; Top: int64[][] }

    /// The sections and windows of a problem (see Windows), for the section rules of the exact search.
    let windows (problem: Problem) : Windows =
        let bs = problem.Buffers
        let steps =
            bs |> Array.collect (fun b ->
                Array.append [| b.Lifetime.Start; b.Lifetime.End |] (b.Gaps |> Array.collect (fun g -> [| g.Steps.Start; g.Steps.End |])))
            |> Array.distinct |> Array.sort
        let sections = Sweep.sectionsAt steps problem
        let rank (t: int64) = System.Array.BinarySearch(steps, t)
        let lo, hi = sections.Lo, sections.Hi
        let width = Array.init bs.Length (fun i -> Array.zeroCreate<int64> (hi.[i] - lo.[i]))
        let top = Array.init bs.Length (fun i -> Array.zeroCreate<int64> (hi.[i] - lo.[i]))
        for i in 0 .. bs.Length - 1 do
            for p in pieces bs.[i] do
                for s in rank p.Start .. rank p.End - 1 do
                    width.[i].[s - lo.[i]] <- p.Hi - p.Lo
                    top.[i].[s - lo.[i]] <- p.Hi
        { Sections = sections; Width = width; Top = top }
