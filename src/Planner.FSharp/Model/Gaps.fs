namespace Pgmo.Planner

/// A piece of a buffer: on the half-open steps [Start, End) it holds the bytes [Lo, Hi) relative to its offset.
[<Struct>]
type Piece = { Start: int64; End: int64; Lo: int64; Hi: int64 }

/// The conflict rule of MiniMalloc's gaps in one place (proofs/gaps.md). A buffer is a list of pieces: outside its
/// gaps it holds all its bytes, inside a gap only the gap's window (or nothing); a buffer without gaps is one piece.
/// Two buffers a, b conflict exactly as in MiniMalloc: b may sit above a when o_b >= o_a + distance a b, where
/// distance a b is the largest a.Hi - b.Lo over their pieces that overlap in time; they never conflict when no pieces
/// overlap in time. For buffers without gaps that is the usual rule (distance = a's size when the lifetimes overlap).
/// The time axis (TimeAxis) holds every buffer's pieces; the validator, the lower bound, the placement, the exact
/// search and CP-SAT read them there and take the rule from here.
///
/// ```
///  step:     0   1   2   3   4
///  a (8 B)   [###|...|###)           gap 1-2 without window: a frees its 8 bytes on step 1
///  b (8 B)       [###)               b lives on step 1 only: distance a b = none, so b may share a's addresses
/// ```
[<RequireQualifiedAccess>]
module Gaps =

    /// The same problem without gaps, pins or hints: its plans are valid for the original one except for the pins
    /// (a gap only frees bytes).
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

    /// The least o_b - o_a with b above a, where a's pieces are pa.[ia .. ja - 1] and b's pb.[ib .. jb - 1], each in
    /// time order: the largest p.Hi - q.Lo over the pairs of pieces that overlap in time, or ValueNone when none do
    /// (a and b never conflict). O(pieces of a and b).
    let distanceWithin (pa: Piece[]) (ia: int) (ja: int) (pb: Piece[]) (ib: int) (jb: int) : int64 voption =
        let mutable i, j = ia, ib
        let mutable found = false
        let mutable d = System.Int64.MinValue
        while i < ja && j < jb do
            let p, q = pa.[i], pb.[j]
            if p.End <= q.Start then i <- i + 1
            elif q.End <= p.Start then j <- j + 1
            else
                found <- true
                if p.Hi - q.Lo > d then d <- p.Hi - q.Lo
                if p.End < q.End then i <- i + 1 else j <- j + 1
        if found then ValueSome d else ValueNone

    /// The least o_b - o_a with b above a, over all of a's and b's pieces (distanceWithin).
    let distanceOf (pa: Piece[]) (pb: Piece[]) : int64 voption = distanceWithin pa 0 pa.Length pb 0 pb.Length

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
