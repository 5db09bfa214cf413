namespace Pgmo.Planner

open System.Globalization

/// The plain-text allocation log any allocator hook can write, one event per line:
///
/// ```
/// # comments and blank lines are ignored
/// alloc 0x7f3a5c000000 1048576     an allocation: its address (decimal or 0x hex) and its size in bytes (> 0)
/// free 0x7f3a5c000000              a free, by address
/// iteration                        an iteration boundary (the events after it, up to the next, are an iteration)
/// ```
///
/// Parsing is pure: the file's name (for messages) and its text in, a `Recording` out (Recording.toProblem makes
/// the problem). Errors name the file and the line.
[<RequireQualifiedAccess>]
module AllocationLog =

    let private err file line msg : Result<'a, InputError> = Error { File = file; Line = line; Message = msg }

    /// An address: decimal, or hex after 0x (either case); non-negative and below 2^63.
    let private parseAddress (text: string) : int64 option =
        if text.StartsWith "0x" || text.StartsWith "0X" then
            match System.Int64.TryParse(text.Substring 2, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture) with
            | true, v when v >= 0L && text.Length > 2 -> Some v
            | _ -> None
        else
            match System.Int64.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture) with
            | true, v -> Some v
            | _ -> None

    let private expected = "expected 'alloc ADDRESS SIZE', 'free ADDRESS' or 'iteration' (addresses in decimal or 0x hex)"

    /// Parses an allocation log's text. Errors: a line that is none of the three events, an unparsable address,
    /// a size that is not a positive integer, a block past the 64-bit address space.
    let parse (file: string) (text: string) : Result<Recording, InputError> =
        let events = ResizeArray<RecordedEvent>()
        let mutable error = None
        let mutable lineNo = 0
        let mutable start = 0
        let n = text.Length
        while error.IsNone && start <= n do
            let stop = match text.IndexOf('\n', start) with -1 -> n | k -> k
            lineNo <- lineNo + 1
            let raw = text.Substring(start, stop - start)
            start <- stop + 1
            let line = match raw.IndexOf '#' with -1 -> raw | k -> raw.Substring(0, k)
            let words = line.Split([| ' '; '\t'; '\r' |], System.StringSplitOptions.RemoveEmptyEntries)
            let fail msg = error <- Some { File = file; Line = lineNo; Message = msg }
            let event action address size = { Action = action; Address = address; Size = size; Stream = 0L; At = lineNo }
            match words with
            | [||] -> ()
            | [| "iteration" |] -> events.Add(event RecordedAction.Iteration 0L 0L)
            | [| "alloc"; address; size |] ->
                match parseAddress address with
                | None -> fail (sprintf "'%s' is not an address (decimal or 0x hex, 0 to 2^63 - 1)" address)
                | Some a ->
                    match System.Int64.TryParse(size, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) with
                    | true, s when s > 0L ->
                        if a > System.Int64.MaxValue - s then fail (sprintf "a block of %d bytes at 0x%x ends past the 64-bit address space" s a)
                        else events.Add(event RecordedAction.Alloc a s)
                    | true, s -> fail (sprintf "size %d must be positive" s)
                    | _ -> fail (sprintf "size '%s' is not an integer" size)
            | [| "free"; address |] ->
                match parseAddress address with
                | None -> fail (sprintf "'%s' is not an address (decimal or 0x hex, 0 to 2^63 - 1)" address)
                | Some a -> events.Add(event RecordedAction.Free a 0L)
            | _ ->
                let shown = if raw.Length > 60 then raw.Substring(0, 60) + "..." else raw
                fail (sprintf "'%s': %s" (shown.Trim()) expected)
        match error with
        | Some e -> Error e
        | None ->
            Ok { File = file
                 Place = sprintf "line %d"
                 AtIsLine = true
                 Events = events.ToArray()
                 LiveAtEnd = [||]
                 SegmentsAtEnd = None
                 HasStreams = false }
