namespace Pgmo.Planner

open System.Collections.Generic

/// What one recorded allocator event did (see RecordedEvent).
[<RequireQualifiedAccess>]
type RecordedAction =
    /// The allocator handed out a block of `Size` bytes (> 0) at `Address`.
    | Alloc
    /// The allocator took the block at `Address` back; `Size` is its bytes when the recording gives them, else 0.
    | Free
    /// The allocator took device memory [Address, Address + Size) from the device (a segment allocated, pages mapped).
    | Reserve
    /// The allocator gave device memory [Address, Address + Size) back (a segment freed, pages unmapped).
    | Release
    /// An iteration boundary (an `iteration` line of an allocation log).
    | Iteration

/// One event of a recorded allocator history, in the order it happened.
[<Struct>]
type RecordedEvent =
    { Action: RecordedAction
      /// The block's or the range's first byte (>= 0).
      Address: int64
      /// Bytes (see RecordedAction).
      Size: int64
      /// The stream the allocator served (a CUDA stream of a snapshot; 0 where the recording has none).
      Stream: int64
      /// Where the event is in its file: a 1-based line (allocation log) or a 0-based event index (snapshot).
      At: int }

/// A block or a range of device memory live when a recording ended.
[<Struct>]
type RecordedBlock =
    { /// Its first byte.
      Start: int64
      /// Its bytes (> 0).
      Bytes: int64
      /// Its stream (0 where the recording has none).
      Owner: int64 }

/// An allocator's recorded history as read from a file (an allocation log, a PyTorch memory snapshot), before it
/// becomes a problem (`Recording.toProblem`).
type Recording =
    { /// The file, for messages.
      File: string
      /// Names an event's place in messages: "line 12", "device_traces[0][41]".
      Place: int -> string
      /// True when an event's `At` is a line of the file (an allocation log): errors then carry it as their line.
      AtIsLine: bool
      /// Every event, in order.
      Events: RecordedEvent[]
      /// Blocks live when the recording ended (a snapshot's active blocks); a block the events never allocated was
      /// live from the start. Empty for a log.
      LiveAtEnd: RecordedBlock[]
      /// Device memory the allocator held when the recording ended (a snapshot's segments); None when the file does
      /// not say.
      SegmentsAtEnd: RecordedBlock[] option
      /// True when events carry streams (a snapshot): the problem then gets a `stream` column.
      HasStreams: bool }

/// Device memory an allocator held, [Lo, Hi), over the half-open steps `Steps` of an imported problem.
[<Struct>]
type ReservedRange = { Lo: int64; Hi: int64; Steps: Lifetime }

/// A recording's own layout of its buffers (Recording.layout): offsets in the address ranges it used, laid end to
/// end, and the memory the allocator held in that layout over steps.
type RecordedLayout = { Plan: Plan; Held: (Lifetime * Window)[]; Span: int64 }

/// A problem built from a recording, with what the recording said about each buffer and about the allocator.
type Imported =
    { /// One buffer per block: half-open lifetimes in event steps (step k is the k-th kept alloc or free, from 1;
      /// step 0 is before the first: blocks live when the window began are live from 0), sizes as recorded.
      Problem: Problem
      /// Per buffer: the address the allocator gave it.
      Addresses: int64[]
      /// Per buffer: its stream (0 where the recording has none).
      Streams: int64[]
      /// Per buffer: where it was allocated ("line 17", "device_traces[0][4]", "before the trace").
      Origins: string[]
      /// Alloc and free events the problem is made of (its steps are 0 .. Events + 1).
      Events: int
      /// Frees of addresses never allocated in the recording (an earlier allocation's): skipped, not steps.
      SkippedFrees: int
      /// The first skipped free's place.
      FirstSkipped: string option
      /// Iterations the recording marks.
      Iterations: int
      /// The iteration kept (1-based), if one was asked for.
      Iteration: int option
      /// The device memory the allocator held over the window, where the recording says (a snapshot's segments).
      Reserved: ReservedRange[] option
      /// The most device memory it held at one step of the window.
      PeakReserved: int64 option }
    /// PeakReserved for C# callers (null when the recording does not say).
    member x.PeakReservedBytes : System.Nullable<int64> = Option.toNullable x.PeakReserved
    /// Reserved for C# callers (null when the recording does not say).
    member x.ReservedRanges : ReservedRange[] = defaultArg x.Reserved null
    /// FirstSkipped for C# callers (null when no free was skipped).
    member x.FirstSkippedPlace : string = defaultArg x.FirstSkipped null
    /// Iteration for C# callers (null for the whole recording).
    member x.IterationKept : System.Nullable<int> = Option.toNullable x.Iteration

/// From a recorded history to a problem: blocks matched by address, iterations, buffers live across the window, and
/// every inconsistency of the file reported with its place.
[<RequireQualifiedAccess>]
module Recording =

    /// A buffer being built: lifetime, block, where it came from, and its sort key.
    [<Struct>]
    type private Pending = { Lower: int64; mutable Upper: int64; Size: int64; Address: int64; Stream: int64; Origin: string }

    let private fail (r: Recording) (at: int option) (message: string) : Result<'a, InputError> =
        match at with
        | Some i when r.AtIsLine -> Error { File = r.File; Line = i; Message = message }
        | Some i -> Error { File = r.File; Line = 0; Message = r.Place i + ": " + message }
        | None -> Error { File = r.File; Line = 0; Message = message }

    let private hex (a: int64) = sprintf "0x%x" a

    /// The reserved ranges over the steps of the window, from the segments held at the end and the Reserve/Release
    /// events (the events' steps given by stepOf, -1 outside the window before it, Int64.MaxValue after it).
    let private reservedRanges (r: Recording) (stepOf: int -> int64) (endStep: int64) : ReservedRange[] option =
        let ranges = r.Events |> Array.filter (fun e -> e.Action = RecordedAction.Reserve || e.Action = RecordedAction.Release)
        if r.SegmentsAtEnd.IsNone && ranges.Length = 0 then None
        else
            let overlaps (lo1: int64) hi1 lo2 hi2 = lo1 < hi2 && lo2 < hi1
            // held when the recording began: the segments held at its end, walked back through the events (before a
            // Reserve its range was not held, before a Release it was)
            let subtract (held: (int64 * int64) list) (lo, hi) =
                held |> List.collect (fun (a, b) ->
                    if not (overlaps a b lo hi) then [ (a, b) ] else [ if a < lo then yield (a, lo)
                                                                       if hi < b then yield (hi, b) ])
            let add (held: (int64 * int64) list) (lo, hi) =
                let touching, apart = held |> List.partition (fun (a, b) -> a <= hi && lo <= b)
                let lo, hi = touching |> List.fold (fun (l, h) (a, b) -> min l a, max h b) (lo, hi)
                (lo, hi) :: apart |> List.sortBy fst
            let atEnd = defaultArg r.SegmentsAtEnd [||] |> Array.fold (fun held s -> add held (s.Start, s.Start + s.Bytes)) []
            let start =
                Array.foldBack (fun (e: RecordedEvent) held ->
                    if e.Action = RecordedAction.Reserve then subtract held (e.Address, e.Address + e.Size)
                    else add held (e.Address, e.Address + e.Size)) ranges atEnd
            // sweep: open ranges with the step they opened at; a release closes what it covers and reopens the rest
            let opened = ResizeArray<int64 * int64 * int64>(start |> List.map (fun (lo, hi) -> lo, hi, 0L))
            let closed = ResizeArray<ReservedRange>()
            let close (lo, hi, from) (at: int64) =
                let at = min at endStep
                if at > from then closed.Add { Lo = lo; Hi = hi; Steps = { Start = from; End = at } }
            for i in 0 .. r.Events.Length - 1 do
                let e = r.Events.[i]
                let step = max 0L (stepOf i)
                if step < System.Int64.MaxValue then
                    let lo, hi = e.Address, e.Address + e.Size
                    match e.Action with
                    | RecordedAction.Reserve -> opened.Add((lo, hi, step))
                    | RecordedAction.Release ->
                        let hit = opened |> Seq.filter (fun (a, b, _) -> overlaps lo hi a b) |> Array.ofSeq
                        for (a, b, from) as o in hit do
                            opened.Remove o |> ignore
                            close o step
                            if a < lo then opened.Add((a, lo, step))
                            if hi < b then opened.Add((hi, b, step))
                    | _ -> ()
            for o in opened do close o endStep
            Some (closed.ToArray() |> Array.sortBy (fun x -> x.Steps.Start, x.Lo))

    /// The most bytes of `ranges` held at one step.
    let peakReserved (ranges: ReservedRange[]) : int64 =
        let deltas = ranges |> Array.collect (fun x -> [| x.Steps.Start, x.Hi - x.Lo; x.Steps.End, -(x.Hi - x.Lo) |])
                     |> Array.sortBy (fun (t, d) -> t, d)
        let mutable now, peak = 0L, 0L
        for (_, d) in deltas do
            now <- now + d
            if now > peak then peak <- now
        peak

    /// The problem of a recording. With `iteration` = Some k, only the k-th marked iteration (the events after the
    /// k-th `iteration` marker, up to the next or the end) becomes buffers, plus the blocks live when it began;
    /// without, the whole recording. Every buffer gets `alignment`. Blocks live at the end stay live to the end.
    /// A free of an address never allocated is skipped and counted when its size is unknown (an allocation log),
    /// or is a block live from the start when it is known (a snapshot). Errors: an alloc at a live block (same
    /// address or overlapping), a free of a block already freed, sizes past 64 bits, a window without buffers,
    /// an iteration the recording does not mark.
    let toProblem (iteration: int option) (alignment: int64) (r: Recording) : Result<Imported, InputError> =
        let events = r.Events
        let markers = events |> Array.indexed |> Array.filter (fun (_, e) -> e.Action = RecordedAction.Iteration) |> Array.map fst
        let window =
            match iteration with
            | None -> Ok (0, events.Length)
            | Some k when markers.Length = 0 ->
                fail r None (sprintf "--iteration %d: the recording marks no iterations (an allocation log marks one with a line 'iteration')" k)
            | Some k when k < 1 || k > markers.Length ->
                fail r None (sprintf "--iteration %d: the recording marks %d iteration%s (1 to %d)" k markers.Length (if markers.Length = 1 then "" else "s") markers.Length)
            | Some k -> Ok (markers.[k - 1] + 1, (if k < markers.Length then markers.[k] else events.Length))
        match window with
        | Error e -> Error e
        | Ok (first, last) ->
        // live blocks by address, and the same addresses in order for the overlap test
        let live = Dictionary<int64, struct (int64 * int64 * int * int)>()   // address -> size, stream, alloc event, pending index (-1 before the window)
        let order = SortedSet<int64>()
        let freed = Dictionary<int64, int>()                                 // address -> the free event, while not allocated again
        let pending = ResizeArray<Pending>()
        let stepOf = Array.create events.Length -1L
        let mutable count = 0
        let mutable skipped = 0
        let mutable firstSkipped = None
        let mutable total = 0L
        let mutable error = None
        let addBuffer (p: Pending) =
            let padded = p.Size + (alignment - 1L)
            if padded < p.Size || total > System.Int64.MaxValue - padded then false
            else
                total <- total + padded
                pending.Add p
                true
        // the blocks live when the window begins are buffers from step 0
        let openWindow () =
            for a in order do
                let struct (size, stream, at, _) = live.[a]
                if error.IsNone then
                    if addBuffer { Lower = 0L; Upper = -1L; Size = size; Address = a; Stream = stream; Origin = r.Place at }
                    then live.[a] <- struct (size, stream, at, pending.Count - 1)
                    else error <- Some (fail r (Some at) "sizes add up past the 64-bit limit")
        let mutable i = 0
        while error.IsNone && i < events.Length do
            let e = events.[i]
            let inWindow = i >= first && i < last
            if i = first then openWindow ()
            stepOf.[i] <- (if i < first then -1L elif i >= last then System.Int64.MaxValue else int64 count + 1L)
            if error.IsNone then
                match e.Action with
                | RecordedAction.Alloc ->
                    let a, size = e.Address, e.Size
                    let clash =
                        match live.TryGetValue a with
                        | true, struct (_, _, at, _) -> Some (sprintf "alloc at %s, which is live (allocated at %s)" (hex a) (r.Place at))
                        | _ ->
                            // the live blocks just below and just above a (an empty view's Max and Min are 0)
                            let below = order.GetViewBetween(System.Int64.MinValue, a).Max
                            let above = order.GetViewBetween(a, System.Int64.MaxValue).Min
                            let hit (b: int64) =
                                let struct (bs, _, at, _) = live.[b]
                                Some (sprintf "alloc of [%s, %s) overlaps the live block [%s, %s) allocated at %s"
                                          (hex a) (hex (a + size)) (hex b) (hex (b + bs)) (r.Place at))
                            if live.ContainsKey below && (let struct (bs, _, _, _) = live.[below] in below + bs > a) then hit below
                            elif above > a && above < a + size then hit above
                            else None
                    match clash with
                    | Some message -> error <- Some (fail r (Some e.At) message)
                    | None ->
                        freed.Remove a |> ignore
                        order.Add a |> ignore
                        if inWindow then
                            count <- count + 1
                            if addBuffer { Lower = int64 count; Upper = -1L; Size = size; Address = a; Stream = e.Stream; Origin = r.Place e.At }
                            then live.[a] <- struct (size, e.Stream, e.At, pending.Count - 1)
                            else error <- Some (fail r (Some e.At) "sizes add up past the 64-bit limit")
                        else live.[a] <- struct (size, e.Stream, e.At, -1)
                | RecordedAction.Free ->
                    let a = e.Address
                    match live.TryGetValue a with
                    | true, struct (_, _, _, p) ->
                        live.Remove a |> ignore
                        order.Remove a |> ignore
                        freed.[a] <- e.At
                        if inWindow then
                            count <- count + 1
                            if p >= 0 then
                                let b = pending.[p]
                                pending.[p] <- { b with Upper = int64 count }
                    | _ ->
                        match freed.TryGetValue a with
                        | true, at -> error <- Some (fail r (Some e.At) (sprintf "free of %s, which was freed at %s and not allocated since" (hex a) (r.Place at)))
                        | _ when e.Size > 0L ->
                            // a snapshot's block allocated before the trace began: live from the start
                            freed.[a] <- e.At
                            if inWindow then
                                count <- count + 1
                                if not (addBuffer { Lower = 0L; Upper = int64 count; Size = e.Size; Address = a; Stream = e.Stream; Origin = "before the trace" }) then
                                    error <- Some (fail r (Some e.At) "sizes add up past the 64-bit limit")
                        | _ ->
                            if inWindow then
                                skipped <- skipped + 1
                                if firstSkipped.IsNone then firstSkipped <- Some (r.Place e.At)
                | RecordedAction.Reserve | RecordedAction.Release | RecordedAction.Iteration -> ()
            i <- i + 1
        // an empty window (after the last marker) still turns the blocks live at its start into buffers
        if error.IsNone && first = events.Length then openWindow ()
        match error with
        | Some e -> e
        | None ->
        let endStep = int64 count + 1L
        // a snapshot's blocks live at the end that the trace never allocated were live throughout
        if last = events.Length then
            for b in r.LiveAtEnd do
                if error.IsNone && not (live.ContainsKey b.Start) then
                    match freed.TryGetValue b.Start with
                    | true, at ->
                        error <- Some (fail r None (sprintf "the block at %s is active when the recording ends, but %s frees it and nothing allocates it again" (hex b.Start) (r.Place at)))
                    | _ ->
                        if not (addBuffer { Lower = 0L; Upper = endStep; Size = b.Bytes; Address = b.Start; Stream = b.Owner; Origin = "before the trace" }) then
                            error <- Some (fail r None "sizes add up past the 64-bit limit")
        match error with
        | Some e -> e
        | None ->
        let buffers =
            pending.ToArray()
            |> Array.map (fun p -> if p.Upper < 0L then { p with Upper = endStep } else p)
            // in allocation order; those live from step 0 by end, then size, then address (so that two recordings
            // of the same requests at other addresses give the same problem)
            |> Array.sortBy (fun p -> if p.Lower = 0L then struct (0L, p.Upper, p.Size, p.Address) else struct (p.Lower, 0L, 0L, 0L))
        if buffers.Length = 0 then
            fail r None (match iteration with
                         | Some k -> sprintf "iteration %d holds no allocations" k
                         | None -> "no allocations (expected lines 'alloc ADDRESS SIZE')")
        else
            let problem =
                { Buffers = buffers |> Array.mapi (fun k p -> { Buffer.create (string k) p.Lower p.Upper p.Size with Alignment = alignment }) }
            let reserved = reservedRanges r (fun k -> stepOf.[k]) endStep
            Ok { Problem = problem
                 Addresses = buffers |> Array.map (fun p -> p.Address)
                 Streams = buffers |> Array.map (fun p -> p.Stream)
                 Origins = buffers |> Array.map (fun p -> p.Origin)
                 Events = count
                 SkippedFrees = skipped
                 FirstSkipped = firstSkipped
                 Iterations = markers.Length
                 Iteration = iteration
                 Reserved = reserved
                 PeakReserved = reserved |> Option.map peakReserved }

    /// The recorded layout of an imported problem: the address ranges its buffers and reserved ranges cover, merged
    /// where they touch or overlap, laid end to end in address order, so that a buffer's offset is its range's place
    /// plus its address inside the range (a valid plan, alignment aside, when the recording is: live blocks never
    /// overlap). `Held` is the memory the allocator held in that layout: the reserved ranges over their steps where
    /// the recording says, else each merged range from its first buffer's start to its last buffer's end. `Span`
    /// is the layout's top: the bytes of all merged ranges.
    let layout (imported: Imported) : RecordedLayout =
        let bs = imported.Problem.Buffers
        let spans =
            [| for k in 0 .. bs.Length - 1 -> imported.Addresses.[k], imported.Addresses.[k] + bs.[k].Size
               for x in defaultArg imported.Reserved [||] -> x.Lo, x.Hi |]
            |> Array.sortBy fst
        let merged = ResizeArray<int64 * int64>()
        for (lo, hi) in spans do
            if merged.Count > 0 && lo <= snd merged.[merged.Count - 1] then
                let (a, b) = merged.[merged.Count - 1]
                merged.[merged.Count - 1] <- (a, max b hi)
            else merged.Add((lo, hi))
        let starts = merged |> Seq.map fst |> Array.ofSeq
        let bases = Array.zeroCreate (merged.Count + 1)
        for k in 1 .. merged.Count do
            bases.[k] <- bases.[k - 1] + (snd merged.[k - 1] - fst merged.[k - 1])
        let rangeOf (address: int64) =
            match System.Array.BinarySearch(starts, address) with
            | k when k >= 0 -> k
            | k -> ~~~k - 1
        let place (address: int64) = let k = rangeOf address in bases.[k] + (address - starts.[k])
        let held =
            match imported.Reserved with
            | Some ranges ->
                ranges |> Array.map (fun x -> x.Steps, ({ Lo = place x.Lo; Hi = place x.Lo + (x.Hi - x.Lo) } : Window))
            | None ->
                let first = Array.create merged.Count System.Int64.MaxValue
                let last = Array.create merged.Count System.Int64.MinValue
                for k in 0 .. bs.Length - 1 do
                    let r = rangeOf imported.Addresses.[k]
                    first.[r] <- min first.[r] bs.[k].Lifetime.Start
                    last.[r] <- max last.[r] bs.[k].Lifetime.End
                Array.init merged.Count (fun r -> ({ Start = first.[r]; End = last.[r] } : Lifetime), ({ Lo = bases.[r]; Hi = bases.[r + 1] } : Window))
        { Plan = { Offsets = imported.Addresses |> Array.map place }; Held = held; Span = bases.[merged.Count] }
