namespace Pgmo.Planner

open System
open System.Collections
open System.Numerics

/// PyTorch's memory snapshot: the pickle `torch.cuda.memory._dump_snapshot` writes after
/// `torch.cuda.memory._record_memory_history()`, read with Razorvine.Pickle (plain dicts, lists and numbers; no
/// Python code runs). Its structure (torch/cuda/memory.py, `_snapshot`):
///
/// ```
/// {"segments": [{"address", "total_size", "stream", "device", "segment_type",
///                "blocks": [{"address", "size", "requested_size", "state": "active_allocated" | ...}]}],
///  "device_traces": [[{"action", "addr", "size", "stream", ...}]]}   one list of trace entries per device
/// ```
///
/// A trace's `alloc` opens a block; `free_completed` closes it, or `free_requested` where no completion follows
/// (before the address is allocated again); `segment_alloc` / `segment_map` and `segment_free` / `segment_unmap`
/// are the device memory PyTorch reserved and gave back. A trace entry's `size` is the request PyTorch's caching
/// allocator recorded (its `orig_size`, which the block holding it rounds up to 512 B or more). Other actions
/// (`snapshot`, `oom`, annotations) are ignored. Parsing is pure: bytes in, a `Recording` out.
[<RequireQualifiedAccess>]
module Snapshot =

    let private err file (message: string) : Result<'a, InputError> = Error { File = file; Line = 0; Message = message }

    /// A Python int that fits 64 bits.
    let private asInt64 (o: obj) : int64 option =
        match o with
        | :? int32 as v -> Some (int64 v)
        | :? int64 as v -> Some v
        | :? int16 as v -> Some (int64 v)
        | :? byte as v -> Some (int64 v)
        | :? uint32 as v -> Some (int64 v)
        | :? BigInteger as v when v >= BigInteger Int64.MinValue && v <= BigInteger Int64.MaxValue -> Some (int64 v)
        | _ -> None

    let private kind (o: obj) =
        match o with
        | null -> "None"
        | :? string -> "a str"
        | :? IDictionary -> "a dict"
        | :? ArrayList -> "a list"
        | :? (obj[]) -> "a tuple"
        | :? bool -> "a bool"
        | _ when (asInt64 o).IsSome -> "an int"
        | :? BigInteger -> "an int past 64 bits"
        | :? double -> "a float"
        | _ -> "a " + o.GetType().Name

    let private items (o: obj) : obj[] option =
        match o with
        | :? ArrayList as l -> Some (l.ToArray())
        | :? (obj[]) as t -> Some t
        | _ -> None

    let private field (d: IDictionary) (name: string) : obj option =
        if d.Contains name then Some d.[name] else None

    /// An integer field (>= minimum) of a dict, or why not.
    let private intField (d: IDictionary) (name: string) (minimum: int64) : Result<int64, string> =
        match field d name with
        | None -> Error (sprintf "has no '%s'" name)
        | Some v ->
            match asInt64 v with
            | Some x when x >= minimum -> Ok x
            | Some x -> Error (sprintf "'%s' is %d, expected %s" name x (if minimum = 1L then "a positive size" else "a non-negative address"))
            | None -> Error (sprintf "'%s' is %s, not an integer" name (kind v))

    let private optionalInt (d: IDictionary) (name: string) : int64 =
        match field d name |> Option.bind asInt64 with Some v -> v | None -> 0L

    let private unpickle (file: string) (bytes: byte[]) : Result<obj, InputError> =
        if bytes.Length = 0 then err file "the file is empty (expected a pickle from torch.cuda.memory._dump_snapshot)"
        else
            try
                use u = new Razorvine.Pickle.Unpickler()
                Ok (u.loads bytes)
            with e ->
                err file (sprintf "not a pickle, or a truncated one (%s: %s)" (e.GetType().Name) e.Message)

    /// Parses a snapshot's bytes; `device` chooses the device trace (None: the one device with events). Errors: a
    /// truncated or foreign pickle, no `device_traces`, an unknown device, an entry that is not a dict, a negative or
    /// non-integer address or size, a block past the 64-bit address space.
    let parse (file: string) (device: int option) (bytes: byte[]) : Result<Recording, InputError> =
        match unpickle file bytes with
        | Error e -> Error e
        | Ok root ->
        match root with
        | :? IDictionary as snapshot ->
            match field snapshot "device_traces" with
            | None ->
                err file "the pickle has no 'device_traces': not a PyTorch memory snapshot, or one saved without torch.cuda.memory._record_memory_history()"
            | Some traces ->
            match items traces with
            | None -> err file (sprintf "'device_traces' is %s, expected a list with one list of trace entries per device" (kind traces))
            | Some perDevice ->
            let withEvents = perDevice |> Array.indexed |> Array.filter (fun (_, t) -> match items t with Some l -> l.Length > 0 | None -> true) |> Array.map fst
            let chosen =
                match device with
                | Some d when d < 0 || d >= perDevice.Length ->
                    err file (sprintf "--device %d: the snapshot has device_traces for %d device%s (0 to %d)" d perDevice.Length (if perDevice.Length = 1 then "" else "s") (perDevice.Length - 1))
                | Some d -> Ok d
                | None ->
                    match withEvents with
                    | [| d |] -> Ok d
                    | [||] -> err file "every device trace is empty: call torch.cuda.memory._record_memory_history() before the iteration"
                    | ds -> err file (sprintf "devices %s have traces: choose one with --device" (String.Join(", ", ds)))
            match chosen with
            | Error e -> Error e
            | Ok d ->
            let place i = sprintf "device_traces[%d][%d]" d i
            match items perDevice.[d] with
            | None -> err file (sprintf "device_traces[%d] is %s, expected a list of trace entries" d (kind perDevice.[d]))
            | Some entries ->
            // pass 1: the actions, and which free_requested a free_completed follows before the address is reused
            let actions = Array.create entries.Length ""
            let mutable error = None
            for i in 0 .. entries.Length - 1 do
                if error.IsNone then
                    match entries.[i] with
                    | :? IDictionary as e ->
                        match field e "action" with
                        | Some (:? string as a) -> actions.[i] <- a
                        | Some v -> error <- Some (err file (sprintf "%s: 'action' is %s, not a str" (place i) (kind v)))
                        | None -> error <- Some (err file (sprintf "%s: the trace entry has no 'action'" (place i)))
                    | v -> error <- Some (err file (sprintf "%s is %s, expected a trace entry (a dict)" (place i) (kind v)))
            match error with
            | Some e -> e
            | None ->
            let address i = intField (entries.[i] :?> IDictionary) "addr" 0L
            let completed = Generic.HashSet<int>()
            let requested = Generic.Dictionary<int64, int>()
            for i in 0 .. entries.Length - 1 do
                match actions.[i], address i with
                | "alloc", Ok a -> requested.Remove a |> ignore
                | "free_requested", Ok a -> requested.[a] <- i
                | "free_completed", Ok a ->
                    match requested.TryGetValue a with
                    | true, k -> completed.Add k |> ignore; requested.Remove a |> ignore
                    | _ -> ()
                | _ -> ()
            // pass 2: the events
            let events = ResizeArray<RecordedEvent>()
            let mutable i = 0
            while error.IsNone && i < entries.Length do
                let e = entries.[i] :?> IDictionary
                let bad (why: string) = error <- Some (err file (sprintf "%s (%s): %s" (place i) actions.[i] why))
                let add action (needSize: bool) =
                    match address i with
                    | Error why -> bad why
                    | Ok a ->
                        let size = if needSize then intField e "size" 1L else Ok (max 0L (optionalInt e "size"))
                        match size with
                        | Error why -> bad why
                        | Ok s when a > Int64.MaxValue - s -> bad (sprintf "a block of %d bytes at 0x%x ends past the 64-bit address space" s a)
                        | Ok s -> events.Add { Action = action; Address = a; Size = s; Stream = optionalInt e "stream"; At = i }
                match actions.[i] with
                | "alloc" -> add RecordedAction.Alloc true
                | "free_completed" | "free" -> add RecordedAction.Free false
                | "free_requested" when not (completed.Contains i) -> add RecordedAction.Free false
                | "segment_alloc" | "segment_map" -> add RecordedAction.Reserve true
                | "segment_free" | "segment_unmap" -> add RecordedAction.Release true
                | _ -> ()
                i <- i + 1
            match error with
            | Some e -> e
            | None ->
            // the segments of device d held when the snapshot was taken, and their active blocks
            let segments, live = ResizeArray<RecordedBlock>(), ResizeArray<RecordedBlock>()
            let hasSegments = snapshot.Contains "segments"
            match (if hasSegments then items snapshot.["segments"] else Some [||]) with
            | None -> err file (sprintf "'segments' is %s, expected a list" (kind snapshot.["segments"]))
            | Some segs ->
            for k in 0 .. segs.Length - 1 do
                if error.IsNone then
                    let bad (why: string) = error <- Some (err file (sprintf "segments[%d]: %s" k why))
                    match segs.[k] with
                    | :? IDictionary as s when (match field s "device" |> Option.bind asInt64 with Some x -> x = int64 d | None -> true) ->
                        match intField s "address" 0L, intField s "total_size" 1L with
                        | Error why, _ | _, Error why -> bad why
                        | Ok a, Ok size when a > Int64.MaxValue - size -> bad "ends past the 64-bit address space"
                        | Ok a, Ok size ->
                            let stream = optionalInt s "stream"
                            segments.Add { Start = a; Bytes = size; Owner = stream }
                            match field s "blocks" |> Option.map items with
                            | Some (Some blocks) ->
                                for j in 0 .. blocks.Length - 1 do
                                    match blocks.[j] with
                                    | :? IDictionary as b when (match field b "state" with Some (:? string as st) -> st = "active_allocated" | _ -> false) ->
                                        let at = if b.Contains "address" then intField b "address" 0L else intField b "addr" 0L
                                        let bytes =
                                            match field b "requested_size" |> Option.bind asInt64 with
                                            | Some r when r > 0L -> Ok r
                                            | _ -> intField b "size" 1L
                                        match at, bytes with
                                        | Error why, _ | _, Error why -> if error.IsNone then bad (sprintf "blocks[%d]: %s" j why)
                                        | Ok ba, Ok bs when ba > Int64.MaxValue - bs -> if error.IsNone then bad (sprintf "blocks[%d]: ends past the 64-bit address space" j)
                                        | Ok ba, Ok bs -> live.Add { Start = ba; Bytes = bs; Owner = stream }
                                    | _ -> ()
                            | Some None -> bad "'blocks' is not a list"
                            | None -> ()
                    | :? IDictionary -> ()
                    | v -> bad (sprintf "is %s, expected a segment (a dict)" (kind v))
            match error with
            | Some e -> e
            | None ->
                Ok { File = file
                     Place = place
                     AtIsLine = false
                     Events = events.ToArray()
                     LiveAtEnd = live.ToArray()
                     SegmentsAtEnd = (if hasSegments then Some (segments.ToArray()) else None)
                     HasStreams = true }
        | other ->
            err file (sprintf "the pickle holds %s, not a PyTorch memory snapshot (a dict with 'segments' and 'device_traces')" (kind other))
