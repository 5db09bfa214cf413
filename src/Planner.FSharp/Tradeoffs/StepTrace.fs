namespace Pgmo.Planner

/// A mark of a step's trace: just before event `Step`, buffer `Buffer` goes away (Back = false: its bytes were
/// offloaded to the host or dropped for recomputation) or comes back (Back = true). A mark is not an event: it takes
/// no step. A buffer away from mark s to mark t has the gap [s, t - 1) (StepTrace.gap): its bytes are free from event
/// s on, and it holds them again on step t - 1, the step in progress while they are copied back.
[<Struct>]
type TraceMark =
    { Buffer: int
      Step: int64
      Back: bool }

/// The semantics of a recorded step in one place, read by the runtime's recorder and by the trade-off model: events
/// (allocations and frees, one step each) and marks (away and back, no step) to a problem.
///
/// ```
///  event:      0 a+   1 b+  (a away)  2 c+   3 c-  4 d+  (a back)  5 d-   6 a-
///  step:       0      1               2      3     4               5      6
///  buffer a    [######|...............|......|.....|###############|######)   lifetime [0, 7), gap [2, 4)
///  buffer c                           [######)                                 lifetime [2, 3): may share a's bytes
///  buffer d                                        [###############)           lifetime [4, 5): live while a is copied back
/// ```
[<RequireQualifiedAccess>]
module StepTrace =

    /// The gap of a buffer that goes away at mark step `away` and comes back at mark step `back`: [away, back - 1),
    /// empty when back <= away + 1.
    let gap (away: int64) (back: int64) : Lifetime = { Start = away; End = max away (back - 1L) }

    /// The problem of a step: buffers 0 .. persistent.Length-1 (the blocks live when the step began, of those sizes)
    /// live on [0, steps); every other buffer is allocated by an event (its index is the event's buffer) and lives on
    /// [its allocation, its free), or up to the end (steps = the number of events, at least 1); a buffer away from
    /// mark s to mark t has the gap `gap s t` without a window (a mark still open at the buffer's free or at the end closes
    /// there; empty gaps are dropped). Every buffer has `alignment`; ids are the indices.
    let problem (alignment: int64) (persistent: int64[]) (events: MemoryEvent[]) (marks: TraceMark[]) : Problem =
        let steps = max 1L (int64 events.Length)
        let n = persistent.Length + (events |> Array.sumBy (fun e -> if e.IsFree then 0 else 1))
        let starts = Array.zeroCreate<int64> n
        let ends = Array.create n steps
        let sizes = Array.zeroCreate<int64> n
        persistent |> Array.iteri (fun i s -> sizes.[i] <- s)
        events |> Array.iteri (fun step e ->
            if e.Buffer < persistent.Length || e.Buffer >= n then
                invalidArg (nameof events) (sprintf "event %d names buffer %d, outside the step's %d transient buffers" step e.Buffer (n - persistent.Length))
            if e.IsFree then ends.[e.Buffer] <- int64 step
            else
                starts.[e.Buffer] <- int64 step
                sizes.[e.Buffer] <- e.Size)
        let gaps = Array.init n (fun _ -> ResizeArray<Gap>())
        let opened = Array.create n -1L
        let close b (upto: int64) =
            let lo = max opened.[b] starts.[b]
            let hi = min upto (max ends.[b] (starts.[b] + 1L))   // upto: a back mark's gap end, or the free
            if hi > lo then gaps.[b].Add { Steps = { Start = lo; End = hi }; Window = None }
            opened.[b] <- -1L
        for m in marks do
            if m.Buffer < 0 || m.Buffer >= n then invalidArg (nameof marks) (sprintf "a mark names buffer %d, outside the step's %d buffers" m.Buffer n)
            if m.Back then
                if opened.[m.Buffer] < 0L then invalidArg (nameof marks) (sprintf "buffer %d comes back at step %d without going away" m.Buffer m.Step)
                close m.Buffer (gap opened.[m.Buffer] m.Step).End
            else
                if opened.[m.Buffer] >= 0L then invalidArg (nameof marks) (sprintf "buffer %d goes away twice (step %d)" m.Buffer m.Step)
                opened.[m.Buffer] <- m.Step
        for b in 0 .. n - 1 do
            if opened.[b] >= 0L then close b steps
        { Buffers =
            Array.init n (fun i ->
                { Buffer.create (string i) starts.[i] (max ends.[i] (starts.[i] + 1L)) sizes.[i] with
                    Alignment = alignment
                    Gaps = gaps.[i].ToArray() }) }
