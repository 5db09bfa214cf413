namespace Pgmo.Planner

open System

/// The answer of the exact decision procedure at one capacity.
type ExactResult =
    /// A valid plan whose peak is at most the capacity.
    | Fits of Plan
    /// Proven: no valid plan has a peak at most the capacity.
    | DoesNotFit
    /// The node budget or the cancellation stopped the search first (or, where canonical placements are incomplete,
    /// the search ended without a proof).
    | Unknown

/// The answer of a minimization.
type ExactMinimum =
    { /// The best plan found (always at least the start plan).
      Best: Plan
      /// Its peak in bytes.
      Peak: int64
      /// A proven lower bound on every valid plan's peak (at least the max-load lower bound).
      LowerBound: int64
      /// True when Peak = LowerBound, i.e. Best is proven optimal.
      Optimal: bool
      /// Search nodes used.
      Nodes: int64 }

/// The data of one problem that every decision of the exact search on it shares: its time axis (sections, each
/// buffer's pieces and their sections) and the buffers whose pieces meet each buffer's, with their distances
/// (TimeAxis.Neighbours). Built once per problem (O(n log n + meeting pairs + section memberships)), read only after.
[<Sealed>]
type ExactProblem(axis: TimeAxis) =
    let problem = axis.Problem
    // a placed buffer raises a neighbour by their distance (its size without gaps), and the sections, cut at every
    // piece endpoint, count the bytes each piece holds (proofs/gaps.md, G3)
    let neighbours = (axis.Neighbours(Int64.MaxValue, fun () -> false)).Value
    let members = axis.Members
    /// The prepared data of a problem (of its time axis).
    new(problem: Problem) = ExactProblem(TimeAxis problem)
    /// The problem.
    member _.Problem = problem
    /// Its time axis.
    member _.Axis = axis
    /// The buffers whose lifetimes span each section.
    member _.Members = members
    /// The buffers whose pieces meet each buffer's (TimeAxis.Neighbours).
    member _.Neighbours = neighbours
    /// True when some distance is <= 0: a buffer may sit below one of lower offset, which canonical placements miss,
    /// so an exhausted search proves nothing (proofs/gaps.md, G3).
    member val Incomplete = neighbours.Above |> Array.exists (Array.exists (fun d -> d <= 0L))

/// The state of one branch of the exact search and its inference (proofs/exact-search.md, Lemmas 3-6; proofs/gaps.md,
/// G3): the offsets placed, each unplaced buffer's lowest offset (raised by the placed buffers it meets), each
/// section's floor (below it every byte is taken for the unplaced buffers) and unplaced bytes, and the cuts between
/// sections; `Place` and `Unplace` change it along a branch and back (trails make undoing exact), `Check` says
/// whether a placement can still complete under the capacity. Apart from the stack machine that walks the branches
/// (Exact.Probe), so that each can be tested alone. Used by one thread at a time.
[<Sealed>]
type Propagation(exact: ExactProblem, capacity: int64, rules: ExactRules) =
    let axis = exact.Axis
    let bs = axis.Problem.Buffers
    let n = bs.Length
    let rules = if axis.HasGaps then { rules with StaircaseInference = false; Hatless = false } else rules
    let above = exact.Neighbours.Above
    let overlaps = exact.Neighbours.Of
    let nSec = max 0 (axis.Steps.Length - 1)
    let sLo, sHi = axis.SpanLo, axis.SpanHi
    // each buffer's pieces: their sections and the bytes they hold there
    let first, pieces = axis.First, axis.Pieces
    let pLo, pHi = axis.StartRank, axis.EndRank
    let size = bs |> Array.map (fun b -> b.Size)
    let align = bs |> Array.map (fun b -> max 1L b.Alignment)
    let secBuffers = exact.Members
    let offset = Array.create n -1L
    // a pinned buffer's only offset is its pin: a branch where it was raised above is dead
    let minOff = bs |> Array.map (fun b -> defaultArg b.Pinned 0L)
    let floor = Array.zeroCreate<int64> nSec
    // the unplaced bytes of each section
    let total =
        let t = Array.zeroCreate<int64> nSec
        for k in 0 .. pieces.Length - 1 do
            for sct in pLo.[k] .. pHi.[k] - 1 do t.[sct] <- t.[sct] + (pieces.[k].Hi - pieces.[k].Lo)
        t
    // cuts.[k]: unplaced buffers live in both section k and section k + 1
    let cuts =
        let c = Array.zeroCreate<int> (max 0 (nSec - 1))
        for i in 0 .. n - 1 do
            for k in sLo.[i] .. sHi.[i] - 2 do c.[k] <- c.[k] + 1
        c
    let offTrail = ResizeArray<struct (int * int64)>()
    let secTrail = ResizeArray<struct (int * int64)>()
    let mutable affLo = 0
    let mutable affHi = 0
    let lows = Array.zeroCreate<int64> (max 1 n)
    let sizes = Array.zeroCreate<int64> (max 1 n)
    let mutable staircaseFail = false
    let mutable hat = false
    let mutable childBound = 0L

    /// The problem's data.
    member val Exact = exact
    /// The capacity decided.
    member val Capacity = capacity
    /// The rules in force (the staircase and hatless rules are off with gaps).
    member val Rules = rules
    /// The number of sections.
    member val Sections = nSec
    /// Each buffer's offset on this branch (-1: unplaced).
    member val Offset = offset
    /// Each buffer's lowest offset on this branch (for a placed buffer, its value when it was placed).
    member val MinOff = minOff
    /// Each section's floor.
    member val Floor = floor
    /// Each section's unplaced bytes.
    member val Total = total
    /// True when some section holds more bytes than the capacity: no plan fits.
    member _.Overfull = total |> Array.exists (fun t -> t > capacity)
    /// The lengths of the trails, to undo to with Unplace.
    member _.Marks = struct (offTrail.Count, secTrail.Count)
    /// True when the last Place raised some unplaced buffer (the placed buffer had an unplaced neighbour).
    member _.Hat = hat
    /// After Check: at least the largest unplaced total of a section of the context (totals only fall).
    member _.ChildBound = childBound

    /// The zero-cut parts of sections [lo, hi): (lo, hi, unplaced buffers of `candidates` in it).
    member _.Parts(lo: int, hi: int, candidates: int[]) : (int * int * int[])[] =
        let bounds = ResizeArray<int>([ lo ])
        for k in lo .. hi - 2 do
            if cuts.[k] = 0 then bounds.Add(k + 1)
        bounds.Add hi
        [| for p in 0 .. bounds.Count - 2 do
            let a, b = bounds.[p], bounds.[p + 1]
            let inside = candidates |> Array.filter (fun i -> offset.[i] < 0L && sLo.[i] < b && a < sHi.[i])
            if inside.Length > 0 then a, b, inside |]

    /// The largest unplaced total of the sections [lo, hi).
    member _.MostIn(lo: int, hi: int) : int64 =
        let mutable most = 0L
        for sct in lo .. hi - 1 do most <- max most total.[sct]
        most

    /// Places buffer b at off: raises its unplaced neighbours' lowest offsets by their distances, sets the floors of
    /// its pieces' sections to their tops and takes their bytes from the totals, then lifts the floor of every section
    /// whose buffers' lowest offsets rose to the least of them (and runs the staircase rule there when it is on).
    member _.Place(b: int, off: int64) =
        staircaseFail <- false
        hat <- false
        offset.[b] <- off
        // the sections of the buffers whose lowest offset rose: every such buffer meets b, so their spans and b's
        // form one run of sections [affLo, affHi)
        affLo <- sLo.[b]
        affHi <- sLo.[b]
        let js = overlaps.[b]
        let ab = above.[b]
        for q in 0 .. js.Length - 1 do
            let j = js.[q]
            let top = off + ab.[q]
            if offset.[j] < 0L then
                hat <- true
                if minOff.[j] < top then
                    offTrail.Add(struct (j, minOff.[j]))
                    minOff.[j] <- Numbers.alignUp align.[j] top
                    if sLo.[j] < affLo then affLo <- sLo.[j]
                    if sHi.[j] > affHi then affHi <- sHi.[j]
        if affHi > affLo && affHi < sHi.[b] then affHi <- sHi.[b]
        if not (rules.SectionInference || rules.StaircaseInference) then affHi <- affLo
        // later buffers' bytes in a section of b's pieces lie above b's bytes there (proofs/gaps.md, G3)
        for k in first.[b] .. first.[b + 1] - 1 do
            let pieceTop = off + pieces.[k].Hi
            let bytes = pieces.[k].Hi - pieces.[k].Lo
            for sct in pLo.[k] .. pHi.[k] - 1 do
                secTrail.Add(struct (sct, floor.[sct]))
                floor.[sct] <- pieceTop
                total.[sct] <- total.[sct] - bytes
        // a section's floor is at least the lowest offset any of its unplaced buffers can take
        for sct in affLo .. affHi - 1 do
            // the least lowest offset of the section's unplaced buffers; the scan stops at one not above the floor
            let fl = floor.[sct]
            let ms = secBuffers.[sct]
            let mutable m = Int64.MaxValue
            let mutable x = 0
            while x < ms.Length do
                let j = ms.[x]
                if offset.[j] < 0L && minOff.[j] < m then
                    m <- minOff.[j]
                    if m <= fl then x <- ms.Length
                x <- x + 1
            if m <> Int64.MaxValue && fl < m then
                secTrail.Add(struct (sct, floor.[sct]))
                floor.[sct] <- m
            // staircase: the unplaced buffers whose lowest offset is >= h lie disjointly in [h, capacity)
            if rules.StaircaseInference && not staircaseFail then
                let f = max off floor.[sct]
                let mutable count = 0
                for j in secBuffers.[sct] do
                    if offset.[j] < 0L then
                        lows.[count] <- max f minOff.[j]
                        sizes.[count] <- size.[j]
                        count <- count + 1
                if count > 1 then
                    Array.Sort(lows, sizes, 0, count)
                    let mutable sum = 0L
                    let mutable q = count - 1
                    while q >= 0 && not staircaseFail do
                        sum <- sum + sizes.[q]
                        if lows.[q] + sum > capacity then staircaseFail <- true
                        q <- q - 1

    /// Undoes the placement of b and everything the trails recorded since the marks (Marks before Place).
    member _.Unplace(b: int, offMark: int, secMark: int) =
        for t in secTrail.Count - 1 .. -1 .. secMark do
            let struct (sct, v) = secTrail.[t]
            floor.[sct] <- v
        secTrail.RemoveRange(secMark, secTrail.Count - secMark)
        for t in offTrail.Count - 1 .. -1 .. offMark do
            let struct (j, v) = offTrail.[t]
            minOff.[j] <- v
        offTrail.RemoveRange(offMark, offTrail.Count - offMark)
        for k in first.[b] .. first.[b + 1] - 1 do
            let bytes = pieces.[k].Hi - pieces.[k].Lo
            for sct in pLo.[k] .. pHi.[k] - 1 do total.[sct] <- total.[sct] + bytes
        offset.[b] <- -1L

    /// Section inference after placing b at off in a context of sections [lo, hi) whose largest unplaced total was
    /// at most totalBound (proofs/exact-search.md, Lemma 3). Only the sections whose floor or total changed (b's and
    /// the affected ones) can newly fail floor + total <= capacity; off + total <= capacity is checked on the whole
    /// context only when off + totalBound exceeds the capacity, and that scan leaves the exact largest total in
    /// ChildBound (else ChildBound = totalBound).
    member _.Check(lo: int, hi: int, totalBound: int64, b: int, off: int64) : bool =
        let mutable ok = not staircaseFail
        childBound <- totalBound
        if not rules.SectionInference then
            let mutable sct = lo
            while ok && sct < hi do
                if total.[sct] > 0L && max off floor.[sct] > capacity then ok <- false
                sct <- sct + 1
        else
            let inline fails sct = total.[sct] > 0L && max off floor.[sct] + total.[sct] > capacity
            let mutable sct = sLo.[b]
            while ok && sct < sHi.[b] do
                if fails sct then ok <- false
                sct <- sct + 1
            sct <- affLo
            while ok && sct < affHi do
                if fails sct then ok <- false
                sct <- sct + 1
            if ok && off + totalBound > capacity then
                let mutable most = 0L
                sct <- lo
                while ok && sct < hi do
                    let t = total.[sct]
                    if t > 0L && max off floor.[sct] + t > capacity then ok <- false
                    if t > most then most <- t
                    sct <- sct + 1
                childBound <- most
        ok

    /// Removes b's crossings from the cuts; true when some boundary in b's span has no unplaced crossing left.
    member _.Cut(b: int) : bool =
        let mutable split = false
        for k in sLo.[b] .. sHi.[b] - 2 do
            cuts.[k] <- cuts.[k] - 1
            if cuts.[k] = 0 then split <- true
        split

    /// Gives b's crossings back to the cuts.
    member _.Uncut(b: int) =
        for k in sLo.[b] .. sHi.[b] - 2 do cuts.[k] <- cuts.[k] + 1
