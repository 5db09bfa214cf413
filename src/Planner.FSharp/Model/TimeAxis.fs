namespace Pgmo.Planner

open System
open System.Collections.Generic

/// The buffers that can meet a buffer in a plan, with the least offset distances of each pair (Gaps.distance):
/// Of.[i] lists them, Above.[i].[k] is the least o_j - o_i with j = Of.[i].[k] above i, Below.[i].[k] the least
/// o_i - o_j with j below i. Without gaps Above.[i].[k] is i's size and Below.[i].[k] is j's.
type Neighbours = { Of: int[][]; Above: int64[][]; Below: int64[][] }

/// The time axis of a problem, built once per problem and read by everything that walks time (MiniMalloc's
/// SweepResult): the pieces of every buffer, the steps that cut the axis into sections, each buffer's span of
/// sections, the pieces' endpoints in sweep order (Sweep.order), the load, and on demand the buffers live in each
/// section, the pairs of buffers that meet (with their distances), the parts no lifetime crosses and the sets of
/// pieces live together. A buffer is a list of pieces (Gaps.pieces): a buffer without gaps is one piece holding
/// bytes [0, size) on its whole lifetime.
///
/// ```
///  step:       0   1   2   3   4   5   6
///  a (8 B)     [#######|...|#######)          a: gap [2, 3) without window: pieces [0, 2) and [3, 5), bytes [0, 8)
///  b (4 B)         [###########)              b: one piece [1, 4), bytes [0, 4)
///  c (2 B)                         [###)      c: one piece [5, 6)
///  steps:      0   1   2   3   4   5   6      sections [0,1) [1,2) [2,3) [3,4) [4,5) [5,6); a spans sections 0..4
///  load:       8  12   4  12   8   2   0      (the lower bound is 12)
/// ```
///
/// Pure: every member is computed from the problem alone (the lazy ones on first use) and never changes.
[<Sealed>]
type TimeAxis(problem: Problem) =
    let bs = problem.Buffers
    let n = bs.Length
    let gapped = bs |> Array.exists (fun b -> b.Gaps.Length > 0)
    // the pieces, flattened: buffer i owns pieces first.[i] .. first.[i + 1] - 1, in time order; built on first use
    // (the pools, which hold whole lifetimes, never read them)
    let layout =
        lazy (
            let first = Array.zeroCreate<int> (n + 1)
            // each gapped buffer's pieces (null for a buffer of one piece; no array at all when no buffer has gaps)
            let cut = if gapped then bs |> Array.map (fun b -> if b.Gaps.Length = 0 then null else Gaps.pieces b) else null
            for i in 0 .. n - 1 do
                first.[i + 1] <- first.[i] + (if isNull cut || isNull cut.[i] then 1 else cut.[i].Length)
            let count = first.[n]
            let owner = Array.zeroCreate<int> count
            let pieces = Array.zeroCreate<Piece> count
            for i in 0 .. n - 1 do
                let b = bs.[i]
                if isNull cut || isNull cut.[i] then
                    owner.[first.[i]] <- i
                    pieces.[first.[i]] <- { Start = b.Lifetime.Start; End = b.Lifetime.End; Lo = 0L; Hi = b.Size }
                else
                    cut.[i] |> Array.iteri (fun q p ->
                        owner.[first.[i] + q] <- i
                        pieces.[first.[i] + q] <- p)
            struct (first, owner, pieces))
    let firstOf () = let struct (f, _, _) = layout.Force() in f
    let piecesOf () = let struct (_, _, p) = layout.Force() in p
    let pinned = bs |> Array.exists (fun b -> b.Pinned.IsSome)
    // only a gap's window can start above a buffer's offset
    let raised = gapped && piecesOf () |> Array.exists (fun p -> p.Lo > 0L)

    // every lifetime and piece endpoint, ascending: the compressed steps, and the rank of a step in them. Where the
    // endpoints lie within a range of a few times their number (a trace's steps are event counts), a table over the
    // range gives both in O(n + range) and a rank in O(1); else a sort, and a rank by binary search.
    let compressed =
        lazy (
            // without gaps every piece is a whole lifetime: its endpoints are the lifetimes'
            let pieces = if gapped then piecesOf () else [||]
            let count = pieces.Length
            let all = Array.zeroCreate (2 * n + 2 * count)
            for i in 0 .. n - 1 do
                all.[2 * i] <- bs.[i].Lifetime.Start
                all.[2 * i + 1] <- bs.[i].Lifetime.End
            for k in 0 .. count - 1 do
                all.[2 * n + 2 * k] <- pieces.[k].Start
                all.[2 * n + 2 * k + 1] <- pieces.[k].End
            if all.Length = 0 then struct ([||], 0L, null)
            else
                let lo, hi = Array.min all, Array.max all
                // hi - lo computed without overflow: the endpoints may lie anywhere in int64
                if hi - lo >= 0L && hi - lo <= 4L * int64 all.Length + 1024L then
                    // table.[t - lo]: the rank of step t when it is an endpoint (the count of endpoints below it)
                    let table = Array.zeroCreate<int> (int (hi - lo) + 1)
                    for t in all do table.[int (t - lo)] <- 1
                    let mutable kept = 0
                    for present in table do kept <- kept + present
                    let steps = Array.zeroCreate kept
                    let mutable r = 0
                    for x in 0 .. table.Length - 1 do
                        let present = table.[x]
                        table.[x] <- r
                        if present = 1 then
                            steps.[r] <- lo + int64 x
                            r <- r + 1
                    struct (steps, lo, table)
                else
                    // sorted, then equal neighbours dropped in one pass (no hash set)
                    System.Array.Sort all
                    let mutable kept = 0
                    for t in all do
                        if kept = 0 || all.[kept - 1] <> t then
                            all.[kept] <- t
                            kept <- kept + 1
                    struct (Array.sub all 0 kept, 0L, null))
    let steps = lazy (let struct (s, _, _) = compressed.Force() in s)
    let rank (t: int64) =
        let struct (s, lo, table) = compressed.Force()
        if isNull table then Array.BinarySearch(s, t)
        else
            let x = t - lo
            if x >= 0L && x < int64 table.Length && (let r = table.[int x] in r < s.Length && s.[r] = t) then table.[int x]
            else Array.BinarySearch(s, t)
    let spans = lazy (bs |> Array.map (fun b -> rank b.Lifetime.Start), bs |> Array.map (fun b -> rank b.Lifetime.End))
    // without gaps the pieces are the lifetimes, in problem order: their ranks are the spans
    let pieceRanks =
        lazy (
            if gapped then let pieces = piecesOf () in pieces |> Array.map (fun p -> rank p.Start), pieces |> Array.map (fun p -> rank p.End)
            else spans.Force())
    let events = lazy (let pieces = piecesOf () in Sweep.order (pieces |> Array.map (fun p -> p.Start)) (pieces |> Array.map (fun p -> p.End)))
    let lifetimeEvents = lazy (Sweep.endpoints problem)

    let load =
        lazy (
            let evs = events.Force()
            let pieces = piecesOf ()
            let result = List<int64 * int64>()
            let mutable total = 0L
            let mutable k = 0
            while k < evs.Length do
                let struct (t, _, _) = evs.[k]
                while k < evs.Length && (let struct (t2, _, _) = evs.[k] in t2 = t) do
                    let struct (_, kind, p) = evs.[k]
                    let bytes = pieces.[p].Hi - pieces.[p].Lo
                    total <- if kind = Sweep.Ends then total - bytes else Checked.(+) total bytes
                    k <- k + 1
                result.Add((t, total))
            result.ToArray())

    /// The least o_b - o_a with b above a over the pieces of buffers a and b (Gaps.distanceWithin).
    let distance (a: int) (b: int) : int64 voption =
        let struct (first, _, pieces) = layout.Force()
        Gaps.distanceWithin pieces first.[a] first.[a + 1] pieces first.[b] first.[b + 1]

    /// The problem.
    member _.Problem = problem
    /// The number of buffers.
    member _.Buffers = n
    /// Every buffer's pieces in one array, in problem order and each buffer's in time order: buffer i owns pieces
    /// First.[i] .. First.[i + 1] - 1 (none for a buffer whose whole lifetime is a gap without window). A piece holds
    /// the bytes [Lo, Hi) relative to its buffer's offset on the steps [Start, End): [0, size) but in a gap's window.
    member _.Pieces : Piece[] = piecesOf ()
    /// Where each buffer's pieces start in Pieces (and, last, their number).
    member _.First = firstOf ()
    /// The buffer of each piece.
    member _.Owner = (let struct (_, o, _) = layout.Force() in o)
    /// True when some buffer has gaps (some buffer is more than one piece of all its bytes).
    member val HasGaps = gapped
    /// True when some buffer is pinned.
    member val HasPins = pinned
    /// True when some piece keeps a window that does not start at the buffer's offset (Lo > 0): only then can two
    /// buffers whose pieces never share a byte still break MiniMalloc's rule (one above the other at one step and
    /// below it at another, proofs/gaps.md).
    member val HasRaisedWindows = raised
    /// True when buffer i has a piece with Lo > 0.
    member _.IsRaised(i: int) =
        let struct (first, _, pieces) = layout.Force()
        let mutable r = false
        for k in first.[i] .. first.[i + 1] - 1 do
            if pieces.[k].Lo > 0L then r <- true
        r

    /// Every lifetime and piece endpoint, ascending: section k is the step interval [Steps.[k], Steps.[k + 1]).
    member _.Steps : int64[] = steps.Force()
    /// The rank in Steps of a step that is an endpoint.
    member _.Rank(t: int64) : int = rank t
    /// The first section of each piece.
    member _.StartRank : int[] = fst (pieceRanks.Force())
    /// One past the last section of each piece.
    member _.EndRank : int[] = snd (pieceRanks.Force())
    /// The first section of each buffer's lifetime.
    member _.SpanLo : int[] = fst (spans.Force())
    /// One past the last section of each buffer's lifetime.
    member _.SpanHi : int[] = snd (spans.Force())
    /// The sum over buffers of the sections their lifetimes span: the memory the per-section lists (Members) take.
    member this.Memberships : int64 =
        let lo, hi = this.SpanLo, this.SpanHi
        let mutable m = 0L
        for i in 0 .. n - 1 do m <- m + int64 (hi.[i] - lo.[i])
        m
    /// The pieces' endpoints as (step, kind, piece) in sweep order (Sweep.order: ends before starts at one step).
    member _.Events : struct (int64 * int * int)[] = events.Force()
    /// The lifetimes' endpoints as (step, kind, buffer) in sweep order (Sweep.endpoints).
    member _.LifetimeEvents : struct (int64 * int * int)[] = lifetimeEvents.Force()

    /// The load as a step function: (step, bytes the pieces hold from that step until the next entry), ascending,
    /// one entry per distinct piece endpoint. A gap without window holds nothing, one with a window its window's
    /// bytes. O(pieces log pieces).
    member _.Load : (int64 * int64)[] = load.Force()
    /// The largest load at one step (0 for no buffers).
    member this.MaxLoad : int64 = this.Load |> Array.fold (fun m (_, l) -> max m l) 0L

    /// The buffers whose lifetimes span each section, ascending. O(n + Memberships); see Memberships before asking
    /// for it on a large problem.
    member this.Members : int[][] =
        let lo, hi = this.SpanLo, this.SpanHi
        let lists = Array.init (max 0 (this.Steps.Length - 1)) (fun _ -> List<int>())
        for i in 0 .. n - 1 do
            for s in lo.[i] .. hi.[i] - 1 do lists.[s].Add i
        lists |> Array.map (fun l -> l.ToArray())

    /// The least o_b - o_a for buffer b to sit above buffer a (Gaps.distance), or ValueNone when their pieces never
    /// meet in time. O(pieces of a and b).
    member _.Distance(a: int, b: int) : int64 voption = distance a b

    /// Every pair of buffers whose pieces meet in time, with both distances, or None when more than `cap` pairs of
    /// lifetimes meet or `stop` says the time is up (asked every 64 starts). O(n log n + pairs × pieces).
    member this.Neighbours(cap: int64, stop: unit -> bool) : Neighbours option =
        let js = Array.init n (fun _ -> List<int>())
        let up = Array.init n (fun _ -> List<int64>())
        let down = Array.init n (fun _ -> List<int64>())
        let live = HashSet<int>()
        let mutable pairs = 0L
        let mutable seen = 0
        let mutable ok = true
        for struct (_, kind, i) in this.LifetimeEvents do
            if ok then
                if kind = Sweep.Ends then live.Remove i |> ignore
                else
                    pairs <- pairs + int64 live.Count
                    seen <- seen + 1
                    if pairs > cap || (seen &&& 63 = 0 && stop ()) then ok <- false
                    else
                        for j in live do
                            let plain = bs.[i].Gaps.Length = 0 && bs.[j].Gaps.Length = 0
                            let dij = if plain then ValueSome bs.[i].Size else distance i j
                            match dij with
                            | ValueSome d ->
                                let dji = if plain then bs.[j].Size else (distance j i).Value
                                js.[i].Add j
                                up.[i].Add d
                                down.[i].Add dji
                                js.[j].Add i
                                up.[j].Add dji
                                down.[j].Add d
                            | ValueNone -> ()
                        live.Add i |> ignore
        if ok then
            Some { Of = js |> Array.map (fun l -> l.ToArray()); Above = up |> Array.map (fun l -> l.ToArray())
                   Below = down |> Array.map (fun l -> l.ToArray()) }
        else None

    /// The parts of the time axis that no lifetime crosses: groups of buffer indices, in time order, each ascending
    /// by start. Buffers of different parts never meet, so the parts can be planned apart.
    member this.Components : int[][] =
        let groups = List<int[]>()
        let current = List<int>()
        let mutable live = 0
        for struct (_, kind, i) in this.LifetimeEvents do
            if kind = Sweep.Ends then
                live <- live - 1
                if live = 0 then
                    groups.Add(current.ToArray())
                    current.Clear()
            else
                live <- live + 1
                current.Add i
        groups.ToArray()

    /// The maximal sets of pieces live together: the pieces live just before each end that follows a start, each
    /// ascending (piece indices).
    member this.Cliques : int[][] =
        let live = HashSet<int>()
        let result = List<int[]>()
        let mutable grew = false
        for struct (_, kind, k) in this.Events do
            if kind = Sweep.Ends then
                if grew then result.Add(Seq.toArray live |> Array.sort)
                grew <- false
                live.Remove k |> ignore
            else
                live.Add k |> ignore
                grew <- true
        result.ToArray()
