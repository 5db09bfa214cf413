namespace Pgmo.Planner

/// A half-open lifetime [Start, End) of event steps: the buffer is live at step t iff Start <= t < End.
[<Struct>]
type Lifetime = { Start: int64; End: int64 }

/// A byte window [Lo, Hi) relative to a buffer's offset (0 <= Lo <= Hi <= size).
[<Struct>]
type Window = { Lo: int64; Hi: int64 }

/// A gap of a buffer (MiniMalloc's `gaps` column): on the half-open steps `Steps`, inside the buffer's lifetime, the
/// buffer keeps only the bytes of `Window` (relative to its offset), or none when Window is None (an empty window is
/// none). Other buffers may use the rest.
type Gap = { Steps: Lifetime; Window: Window option }

/// One buffer of a problem: an id, its half-open lifetime, its size in bytes, the alignment its offset must have
/// (1 = none), its gaps (sorted, disjoint, inside the lifetime; empty for most buffers), a pinned offset (Some: every
/// plan must put it there) and a hint (Some: an offset the heuristics try first).
type Buffer =
    { Id: string
      Lifetime: Lifetime
      Size: int64
      Alignment: int64
      /// Sub-intervals of the lifetime where the buffer keeps only a window of its bytes (see Gap); [||] for none.
      Gaps: Gap[]
      /// The offset every plan must give this buffer (MiniMalloc's `offset` column in a problem), if any.
      Pinned: int64 option
      /// A preferred offset (MiniMalloc's `hint` column), tried first by the placement heuristics, if any.
      Hint: int64 option }

/// A set of buffers to place. Plans are indexed like Buffers.
type Problem = { Buffers: Buffer[] }

/// An offset in bytes for every buffer of a problem, in the problem's order.
type Plan = { Offsets: int64[] }

/// One allocator event of a trace, in request order: the allocation of `Size` bytes (Size > 0) for buffer `Buffer`,
/// or the free of buffer `Buffer` (Size = 0). A buffer index may be allocated again after its free. The recorder of
/// the runtime, the pools' simulation and the planned allocator's replay all speak it.
[<Struct>]
type MemoryEvent =
    { /// The buffer allocated or freed (an index into the trace's problem, or any id the caller chooses).
      Buffer: int
      /// Bytes requested (> 0), or 0 for a free.
      Size: int64 }
    /// True for a free, false for an allocation.
    member e.IsFree = e.Size = 0L
    /// The allocation of `size` bytes (> 0) for buffer `buffer`.
    static member Alloc(buffer: int, size: int64) =
        if size <= 0L then invalidArg (nameof size) (sprintf "buffer %d: an allocation needs a positive size, got %d" buffer size)
        { Buffer = buffer; Size = size }
    /// The free of buffer `buffer`.
    static member Free(buffer: int) = { Buffer = buffer; Size = 0L }

/// Why a file or an argument could not be read: the file, the 1-based line (0 = the whole file) and the problem.
type InputError = { File: string; Line: int; Message: string }

/// One reason a plan is wrong. Buffer indices refer to the problem's order.
type Violation =
    | Overlap of first: string * second: string
    | Misaligned of id: string * offset: int64 * alignment: int64
    | NegativeOffset of id: string * offset: int64
    | MissingBuffer of id: string
    | ExtraBuffer of id: string
    | CapacityExceeded of id: string * top: int64 * capacity: int64
    | OffsetCountMismatch of buffers: int * offsets: int
    | PinMoved of id: string * pinned: int64 * offset: int64

/// Byte arithmetic shared by the planners, the pools and the runtime. Offsets, sizes and peaks add with checked
/// arithmetic: a sum past 64 bits throws OverflowException instead of wrapping (the readers bound every input so that
/// a plan's tops fit).
[<RequireQualifiedAccess>]
module Numbers =
    /// The smallest multiple of alignment that is >= offset (alignment >= 1, offset >= 0); OverflowException past 64 bits.
    let inline alignUp (alignment: int64) (offset: int64) =
        if alignment <= 1L then offset else (Checked.(-) (Checked.(+) offset alignment) 1L / alignment) * alignment

    /// The greatest common divisor of two non-negative numbers (gcd x 0 = x).
    let rec gcd (x: int64) (y: int64) : int64 = if y = 0L then x else gcd y (x % y)

    /// The indices 0 .. keys.Length - 1 sorted by key, ties by index, from one sort of plain int64s,
    /// (key - least) × n + index: several times faster than a sort with a comparison. None when those do not fit in
    /// 63 bits (the keys lie too far apart for their number); the caller then sorts with a comparison.
    let tryOrderByKey (keys: int64[]) : int[] option =
        let n = keys.Length
        if n = 0 then Some [||]
        else
            let mutable lo = keys.[0]
            let mutable hi = keys.[0]
            for k in keys do
                if k < lo then lo <- k
                if k > hi then hi <- k
            let range = hi - lo   // negative when it overflows
            if range < 0L || range >= System.Int64.MaxValue / int64 n then None
            else
                let wide = int64 n
                let packed = Array.zeroCreate n
                for i in 0 .. n - 1 do packed.[i] <- (keys.[i] - lo) * wide + int64 i
                System.Array.Sort packed
                let order = Array.zeroCreate n
                for k in 0 .. n - 1 do order.[k] <- int (packed.[k] % wide)
                Some order

/// Small helpers on the core types.
[<RequireQualifiedAccess>]
module Buffer =
    /// A buffer with no alignment requirement.
    let create id start finish size =
        { Id = id; Lifetime = { Start = start; End = finish }; Size = size; Alignment = 1L; Gaps = [||]; Pinned = None; Hint = None }

    /// True when the two half-open lifetimes share a step.
    let inline overlapsInTime (a: Buffer) (b: Buffer) =
        a.Lifetime.Start < b.Lifetime.End && b.Lifetime.Start < a.Lifetime.End

/// Pattern matching on memory events: `match e with Alloc (buffer, size) -> … | Free buffer -> …`.
[<AutoOpen>]
module MemoryEventPatterns =
    /// Splits an event into its two cases.
    let (|Alloc|Free|) (e: MemoryEvent) = if e.Size > 0L then Alloc(e.Buffer, e.Size) else Free e.Buffer

[<RequireQualifiedAccess>]
module Problem =
    /// A problem from its buffers.
    let ofBuffers (buffers: Buffer seq) = { Buffers = Array.ofSeq buffers }

[<RequireQualifiedAccess>]
module Plan =
    /// The peak of a plan: max over buffers of offset + size, 0 for an empty problem, in bytes (OverflowException
    /// rather than a wrapped peak when a top passes 64 bits).
    let peak (problem: Problem) (plan: Plan) =
        let mutable m = 0L
        for i in 0 .. problem.Buffers.Length - 1 do
            let top = Checked.(+) plan.Offsets.[i] problem.Buffers.[i].Size
            if top > m then m <- top
        m

[<RequireQualifiedAccess>]
module Violation =
    /// A one-line human description of a violation.
    let describe v =
        match v with
        | Overlap (a, b) -> sprintf "buffers %s and %s overlap in time and in address" a b
        | Misaligned (id, off, al) -> sprintf "buffer %s: offset %d is not a multiple of its alignment %d" id off al
        | NegativeOffset (id, off) -> sprintf "buffer %s: negative offset %d" id off
        | MissingBuffer id -> sprintf "buffer %s has no offset in the plan" id
        | ExtraBuffer id -> sprintf "plan names buffer %s, which the problem does not have" id
        | CapacityExceeded (id, top, cap) -> sprintf "buffer %s ends at %d, above the capacity %d" id top cap
        | OffsetCountMismatch (n, m) -> sprintf "problem has %d buffers but the plan has %d offsets" n m
        | PinMoved (id, pin, off) -> sprintf "buffer %s is pinned at offset %d but the plan puts it at %d" id pin off
