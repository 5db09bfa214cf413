namespace Pgmo.Planner

open System.Globalization
open System.Text

/// Reading and writing problems and plans in the minimalloc CSV format:
/// header `id,lower,upper,size[,alignment][,hint][,gaps][,offset]`, one buffer per row, unknown columns ignored;
/// MiniMalloc's aliases (`buffer`, `buffer_id`, `begin`, `start`, `end` with inclusive ends) are read too.
/// Parsing is pure: it takes the file's name (for messages) and its text.
[<RequireQualifiedAccess>]
module Csv =

    /// Splits one CSV line into fields, honouring double quotes ("" inside quotes is one quote).
    let splitLine (line: string) : string[] =
        if line.IndexOf '"' < 0 then line.Split ','
        else
            let fields = System.Collections.Generic.List<string>()
            let sb = StringBuilder()
            let mutable inQuotes = false
            let mutable i = 0
            while i < line.Length do
                let c = line.[i]
                if inQuotes then
                    if c = '"' then
                        if i + 1 < line.Length && line.[i + 1] = '"' then
                            sb.Append '"' |> ignore
                            i <- i + 1
                        else inQuotes <- false
                    else sb.Append c |> ignore
                elif c = '"' then inQuotes <- true
                elif c = ',' then
                    fields.Add(sb.ToString())
                    sb.Clear() |> ignore
                else sb.Append c |> ignore
                i <- i + 1
            fields.Add(sb.ToString())
            fields.ToArray()

    /// The bytes a pool may add to one request beyond its alignment padding: CuPy rounds it to 512 B; PyTorch's
    /// caching allocator makes at most a 20 MiB segment, or the request rounded up to 2 MiB. The readers keep the sum of
    /// sizes, padding and this room above the highest pin or hint within 64 bits, so that no planner or pool passes it.
    let roomPerBuffer = 32L * 1024L * 1024L

    let private err file line msg : Result<'a, InputError> = Error { File = file; Line = line; Message = msg }

    /// The lines of a text, without line terminators.
    let private lines (text: string) = text.Replace("\r\n", "\n").Replace('\r', '\n').Split '\n'

    /// Column indices (-1: absent); Inclusive when the upper step came from an `end` column (MiniMalloc's old format).
    type private Columns =
        { Id: int; Lower: int; Upper: int; Size: int; Alignment: int; Offset: int; Hint: int; Gaps: int; Count: int
          Inclusive: bool }

    /// MiniMalloc's aliases: `buffer` and `buffer_id` name the id, `begin` and `start` the lower step, `end` the
    /// last step (inclusive: upper = end + 1, gaps alike).
    let private aliases =
        dict [ "buffer", "id"; "buffer_id", "id"; "begin", "lower"; "start", "lower"; "end", "upper" ]

    let private readHeader file (header: string) (needOffset: bool) =
        let given = splitLine header |> Array.map (fun s -> s.Trim().ToLowerInvariant())
        let names = given |> Array.map (fun n -> match aliases.TryGetValue n with | true, c -> c | _ -> n)
        let find name = names |> Array.tryFindIndex ((=) name) |> Option.defaultValue -1
        let known = set [ "id"; "lower"; "upper"; "size"; "alignment"; "offset"; "hint"; "gaps" ]
        let twice =
            names |> Array.mapi (fun i n -> n, i) |> Array.filter (fun (n, _) -> known.Contains n)
            |> Array.groupBy fst |> Array.tryFind (fun (_, l) -> l.Length > 1)
        match twice with
        | Some (name, l) ->
            err file 1 (sprintf "columns %s all give '%s' (keep one)"
                            (System.String.Join(", ", l |> Array.map (fun (_, i) -> "'" + given.[i] + "'"))) name)
        | None ->
        let cols =
            { Id = find "id"; Lower = find "lower"; Upper = find "upper"; Size = find "size"
              Alignment = find "alignment"; Offset = find "offset"; Hint = find "hint"; Gaps = find "gaps"
              Count = names.Length; Inclusive = given |> Array.contains "end" }
        let required = [ "id", cols.Id; "lower", cols.Lower; "upper", cols.Upper; "size", cols.Size ]
        let required = if needOffset then required @ [ "offset", cols.Offset ] else required
        match required |> List.filter (fun (_, i) -> i < 0) |> List.map fst with
        | [] -> Ok cols
        | missing ->
            err file 1 (sprintf "header is missing column%s %s (expected id,lower,upper,size[,alignment][,hint][,gaps]%s; got '%s')"
                            (if missing.Length > 1 then "s" else "") (System.String.Join(", ", missing))
                            (if needOffset then ",offset" else "[,offset]") header)

    let private tryInt64 (text: string) =
        match System.Int64.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) with
        | true, v -> Some v
        | _ -> None

    let private parseInt64 file line (column: string) (text: string) =
        match tryInt64 text with
        | Some v -> Ok v
        | None -> err file line (sprintf "column '%s': '%s' is not a 64-bit integer" column text)

    /// The gaps of one buffer from MiniMalloc's `gaps` field: space-separated `l-u` or `l-u@wl:wu` (steps [l, u),
    /// or [l, u] after an `end` column; window [wl, wu) relative to the offset). Sorted; each must be non-empty,
    /// inside the lifetime, disjoint from the others, with 0 <= wl <= wu <= size.
    let private parseGaps file line (inclusive: bool) (b: Buffer) (text: string) : Result<Gap[], InputError> =
        let tokens = text.Split([| ' '; '\t' |], System.StringSplitOptions.RemoveEmptyEntries)
        let bad (token: string) why =
            err file line (sprintf "column 'gaps': '%s' %s (expected l-u or l-u@wl:wu, space-separated)" token why)
        let one (token: string) : Result<Gap, InputError> =
            let at = token.Split '@'
            let steps = at.[0].Split '-'
            if at.Length > 2 || steps.Length <> 2 then bad token "is malformed"
            else
                match tryInt64 steps.[0], tryInt64 steps.[1] with
                | Some l, Some u ->
                    let u = if inclusive then u + 1L else u
                    let window =
                        if at.Length = 1 then Ok None
                        else
                            match at.[1].Split ':' with
                            | [| wl; wu |] ->
                                match tryInt64 wl, tryInt64 wu with
                                | Some wl, Some wu ->
                                    if wl < 0L || wu < wl || wu > b.Size then
                                        bad token (sprintf "has window [%d, %d), outside [0, %d] (the buffer's size) or reversed" wl wu b.Size)
                                    else Ok (Some { Lo = wl; Hi = wu })
                                | _ -> bad token "has a window that is not two integers"
                            | _ -> bad token "is malformed"
                    match window with
                    | Error e -> Error e
                    | Ok w ->
                        if u <= l then bad token (sprintf "is empty or reversed (steps [%d, %d))" l u)
                        elif l < b.Lifetime.Start || u > b.Lifetime.End then
                            bad token (sprintf "covers steps [%d, %d), outside the lifetime [%d, %d)" l u b.Lifetime.Start b.Lifetime.End)
                        else Ok { Steps = { Start = l; End = u }; Window = w }
                | _ -> bad token "has steps that are not two integers"
        let gaps = ResizeArray<Gap>()
        let mutable error = None
        for t in tokens do
            if error.IsNone then
                match one t with
                | Ok g -> gaps.Add g
                | Error e -> error <- Some e
        match error with
        | Some e -> Error e
        | None ->
            let sorted = gaps.ToArray() |> Array.sortBy (fun g -> g.Steps.Start)
            match Seq.pairwise sorted |> Seq.tryFind (fun (a, b) -> b.Steps.Start < a.Steps.End) with
            | Some (a, b) ->
                err file line (sprintf "column 'gaps': gaps [%d, %d) and [%d, %d) overlap" a.Steps.Start a.Steps.End b.Steps.Start b.Steps.End)
            | None -> Ok sorted

    /// An optional offset (`hint`, or `offset` in a problem): -1 or empty for none, else >= 0.
    let private parseOptional file line (column: string) (text: string) : Result<int64 option, InputError> =
        if text.Trim() = "" then Ok None
        else
            match parseInt64 file line column text with
            | Error e -> Error e
            | Ok -1L -> Ok None
            | Ok v when v < 0L -> err file line (sprintf "column '%s': %d is neither -1 (none) nor an offset >= 0" column v)
            | Ok v -> Ok (Some v)

    /// The two pinned buffers that conflict at their pins (the validator's rule) whose later row comes first, as row
    /// indices (the earlier first). O(p log p) for p pinned buffers, plus the clashes.
    let private pinnedClash (buffers: Buffer[]) : (int * int) option =
        let rows = buffers |> Array.indexed |> Array.filter (fun (_, b) -> b.Pinned.IsSome) |> Array.map fst
        if rows.Length < 2 then None
        else
            let pinned = Problem.ofBuffers (rows |> Array.map (fun r -> buffers.[r]))
            let row = System.Collections.Generic.Dictionary<string, int>()
            for r in rows do row.[buffers.[r].Id] <- r
            Validate.plan pinned None { Offsets = pinned.Buffers |> Array.map (fun b -> b.Pinned.Value) }
            |> List.choose (function Overlap (a, b) -> Some (min row.[a] row.[b], max row.[a] row.[b]) | _ -> None)
            |> List.sortBy (fun (i, j) -> j, i)
            |> List.tryHead

    /// Parses rows into buffers and, when wanted, offsets. Checks every rule of the format.
    let private parse file (text: string) (needOffset: bool) : Result<Buffer[] * int64[], InputError> =
        let all = lines text
        // line numbers are 1-based; skip blank lines but keep numbering
        let nonBlank = all |> Array.mapi (fun i l -> i + 1, l) |> Array.filter (fun (_, l) -> l.Trim() <> "")
        if nonBlank.Length = 0 then err file 0 "file is empty (expected a header id,lower,upper,size and one row per buffer)"
        else
            let headerLine, header = nonBlank.[0]
            match readHeader file header needOffset with
            | Error e -> Error { e with Line = headerLine }
            | Ok cols ->
                let rows = nonBlank.[1..]
                if rows.Length = 0 then err file headerLine "no buffers after the header"
                else
                    let buffers = Array.zeroCreate rows.Length
                    let offsets = Array.zeroCreate (if needOffset then rows.Length else 0)
                    let seen = System.Collections.Generic.Dictionary<string, int>(rows.Length)
                    let mutable total = 0L          // padded sizes plus room, of the rows so far
                    let mutable highest = 0L        // the highest pin or hint of the rows so far
                    let mutable error = None
                    let mutable r = 0
                    while error.IsNone && r < rows.Length do
                        let lineNo, line = rows.[r]
                        let f = splitLine line
                        let fail msg = error <- Some { File = file; Line = lineNo; Message = msg }
                        if f.Length < cols.Count then
                            fail (sprintf "expected %d fields as in the header, found %d" cols.Count f.Length)
                        else
                            let field i = if i >= 0 then f.[i] else ""
                            let num name i = parseInt64 file lineNo name (field i)
                            let id = (field cols.Id).Trim()
                            let result =
                                if id = "" then err file lineNo "empty id"
                                else
                                match num "lower" cols.Lower, num "upper" cols.Upper, num "size" cols.Size with
                                | Error e, _, _ | _, Error e, _ | _, _, Error e -> Error e
                                | Ok lower, Ok upper, Ok size ->
                                    let upper = if cols.Inclusive && upper < System.Int64.MaxValue then upper + 1L else upper
                                    let alignment =
                                        if cols.Alignment >= 0 && (field cols.Alignment).Trim() <> "" then num "alignment" cols.Alignment
                                        else Ok 1L
                                    match alignment with
                                    | Error e -> Error e
                                    | Ok alignment ->
                                    if lower < 0L then err file lineNo (sprintf "lower %d is negative" lower)
                                    elif upper <= lower then
                                        if cols.Inclusive then err file lineNo (sprintf "end %d must be at least begin %d (ends are inclusive)" (upper - 1L) lower)
                                        else err file lineNo (sprintf "upper %d must be greater than lower %d (lifetimes are half-open [lower, upper))" upper lower)
                                    elif size <= 0L then err file lineNo (sprintf "size %d must be positive" size)
                                    elif alignment <= 0L then err file lineNo (sprintf "alignment %d must be positive" alignment)
                                    else
                                        match seen.TryGetValue id with
                                        | true, first -> err file lineNo (sprintf "duplicate id '%s' (first on line %d)" id first)
                                        | _ ->
                                            // every layout fits below the sum of sizes plus alignment padding and a pool's room: it must fit in int64
                                            let padded = size + (alignment - 1L)
                                            if padded < size || padded > System.Int64.MaxValue - roomPerBuffer
                                               || total > System.Int64.MaxValue - (padded + roomPerBuffer) then
                                                err file lineNo "sizes add up past the 64-bit limit (9223372036854775807 bytes)"
                                            else
                                                total <- total + padded + roomPerBuffer
                                                seen.[id] <- lineNo
                                                let b = { Buffer.create id lower upper size with Alignment = alignment }
                                                let gaps = if cols.Gaps >= 0 then parseGaps file lineNo cols.Inclusive b (field cols.Gaps) else Ok [||]
                                                let hint = if cols.Hint >= 0 then parseOptional file lineNo "hint" (field cols.Hint) else Ok None
                                                // in a problem, `offset` pins a buffer; in a plan it is the plan's offset
                                                let pin = if cols.Offset >= 0 && not needOffset then parseOptional file lineNo "offset" (field cols.Offset) else Ok None
                                                match gaps, hint, pin with
                                                | Error e, _, _ | _, Error e, _ | _, _, Error e -> Error e
                                                | Ok gaps, Ok hint, Ok pin ->
                                                    match pin with
                                                    | Some o when o % alignment <> 0L ->
                                                        err file lineNo (sprintf "pinned offset %d is not a multiple of the alignment %d" o alignment)
                                                    | Some o when o > System.Int64.MaxValue - size ->
                                                        err file lineNo (sprintf "pinned offset %d plus size %d overflows 64 bits" o size)
                                                    | _ ->
                                                    // a hint is an offset like a pin: its top must fit in 64 bits
                                                    match hint with
                                                    | Some h when h > System.Int64.MaxValue - size ->
                                                        err file lineNo (sprintf "column 'hint': offset %d plus size %d overflows 64 bits" h size)
                                                    | _ ->
                                                    // a planner may place any buffer above the highest pin or hint
                                                    let anchor = max highest (max (defaultArg pin 0L) (defaultArg hint 0L))
                                                    if anchor > System.Int64.MaxValue - total then
                                                        err file lineNo
                                                            (sprintf "the sizes of the buffers so far (%d bytes with alignment padding and a pool's room) above the highest pinned or hinted offset %d pass the 64-bit limit"
                                                                 total anchor)
                                                    else
                                                        highest <- anchor
                                                        Ok { b with Gaps = gaps; Hint = hint; Pinned = pin }
                            match result with
                            | Error e -> error <- Some e
                            | Ok b ->
                                buffers.[r] <- b
                                if needOffset then
                                    match num "offset" cols.Offset with
                                    | Error e -> error <- Some e
                                    | Ok o when o < 0L -> fail (sprintf "offset %d is negative" o)
                                    | Ok o when o > System.Int64.MaxValue - b.Size -> fail (sprintf "offset %d plus size %d overflows 64 bits" o b.Size)
                                    | Ok o -> offsets.[r] <- o
                        r <- r + 1
                    match error with
                    | Some e -> Error e
                    | None ->
                        match pinnedClash buffers with
                        | Some (i, j) ->
                            err file (fst rows.[j])
                                (sprintf "buffers '%s' (line %d) and '%s' are both pinned and overlap in time and in address"
                                     buffers.[i].Id (fst rows.[i]) buffers.[j].Id)
                        | None -> Ok (buffers, offsets)

    /// Parses a problem file's text. Errors name the file, the line and the problem.
    let parseProblem (file: string) (text: string) : Result<Problem, InputError> =
        parse file text false |> Result.map (fun (b, _) -> { Buffers = b })

    /// Parses a plan file's text: the problem's columns plus `offset`. Returns the buffers it names and their offsets.
    let parsePlan (file: string) (text: string) : Result<Problem * Plan, InputError> =
        parse file text true |> Result.map (fun (b, o) -> { Buffers = b }, { Offsets = o })

    let private quote (s: string) =
        if s.IndexOfAny [| ','; '"'; '\n'; '\r' |] >= 0 then "\"" + s.Replace("\"", "\"\"") + "\"" else s

    /// The one CSV writer: the problem's columns (alignment only when some buffer needs one), `offset` when given,
    /// then extra text columns (name, one value per buffer), quoted where needed.
    let private write (problem: Problem) (offsets: int64[] option) (extra: (string * string[]) list) =
        let hasAlignment = problem.Buffers |> Array.exists (fun b -> b.Alignment <> 1L)
        let hasHint = problem.Buffers |> Array.exists (fun b -> b.Hint.IsSome)
        let hasGaps = problem.Buffers |> Array.exists (fun b -> b.Gaps.Length > 0)
        // a problem's pins; a plan's offsets take the column (a valid plan keeps every pin)
        let hasPins = offsets.IsNone && problem.Buffers |> Array.exists (fun b -> b.Pinned.IsSome)
        let gapText (b: Buffer) =
            System.String.Join(" ", b.Gaps |> Array.map (fun g ->
                match g.Window with
                | Some w -> sprintf "%d-%d@%d:%d" g.Steps.Start g.Steps.End w.Lo w.Hi
                | None -> sprintf "%d-%d" g.Steps.Start g.Steps.End))
        for name, values in extra do
            if values.Length <> problem.Buffers.Length then
                invalidArg (nameof extra) (sprintf "column %s has %d values for %d buffers" name values.Length problem.Buffers.Length)
        let sb = StringBuilder(problem.Buffers.Length * 32 + 64)
        sb.Append("id,lower,upper,size") |> ignore
        if hasAlignment then sb.Append(",alignment") |> ignore
        if hasHint then sb.Append(",hint") |> ignore
        if hasGaps then sb.Append(",gaps") |> ignore
        if offsets.IsSome || hasPins then sb.Append(",offset") |> ignore
        for name, _ in extra do sb.Append(',').Append(quote name) |> ignore
        sb.Append('\n') |> ignore
        problem.Buffers |> Array.iteri (fun i b ->
            sb.Append(quote b.Id).Append(',').Append(b.Lifetime.Start).Append(',').Append(b.Lifetime.End)
              .Append(',').Append(b.Size) |> ignore
            if hasAlignment then sb.Append(',').Append(b.Alignment) |> ignore
            if hasHint then sb.Append(',').Append(defaultArg b.Hint -1L) |> ignore
            if hasGaps then sb.Append(',').Append(gapText b) |> ignore
            match offsets with
            | Some o -> sb.Append(',').Append(o.[i]) |> ignore
            | None -> if hasPins then sb.Append(',').Append(defaultArg b.Pinned -1L) |> ignore
            for _, values in extra do sb.Append(',').Append(quote values.[i]) |> ignore
            sb.Append('\n') |> ignore)
        sb.ToString()

    /// The CSV text of a problem (alignment column only when some buffer needs one).
    let writeProblem (problem: Problem) : string = write problem None []

    /// The CSV text of a plan: the problem's columns plus `offset`.
    let writePlan (problem: Problem) (plan: Plan) : string = write problem (Some plan.Offsets) []

    /// The CSV text of a trace: the problem's columns plus a `tag` column naming each buffer's tensor.
    let writeTrace (problem: Problem) (tags: string[]) : string = write problem None [ "tag", tags ]

    /// The CSV text of a problem with extra text columns (name, one value per buffer), which readers ignore.
    let writeProblemWith (problem: Problem) (columns: (string * string[]) list) : string = write problem None columns
