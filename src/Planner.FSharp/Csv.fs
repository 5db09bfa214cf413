namespace Pgmo.Planner

open System.Globalization
open System.Text

/// Reading and writing problems and plans in the minimalloc CSV format:
/// header `id,lower,upper,size[,alignment][,offset]`, one buffer per row, unknown columns ignored.
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

    let private err file line msg : Result<'a, InputError> = Error { File = file; Line = line; Message = msg }

    /// The lines of a text, without line terminators.
    let private lines (text: string) = text.Replace("\r\n", "\n").Replace('\r', '\n').Split '\n'

    type private Columns = { Id: int; Lower: int; Upper: int; Size: int; Alignment: int; Offset: int; Count: int }

    let private readHeader file (header: string) (needOffset: bool) =
        let names = splitLine header |> Array.map (fun s -> s.Trim().ToLowerInvariant())
        let find name = names |> Array.tryFindIndex ((=) name) |> Option.defaultValue -1
        let cols =
            { Id = find "id"; Lower = find "lower"; Upper = find "upper"; Size = find "size"
              Alignment = find "alignment"; Offset = find "offset"; Count = names.Length }
        let required = [ "id", cols.Id; "lower", cols.Lower; "upper", cols.Upper; "size", cols.Size ]
        let required = if needOffset then required @ [ "offset", cols.Offset ] else required
        match required |> List.filter (fun (_, i) -> i < 0) |> List.map fst with
        | [] -> Ok cols
        | missing ->
            err file 1 (sprintf "header is missing column%s %s (expected id,lower,upper,size[,alignment]%s; got '%s')"
                            (if missing.Length > 1 then "s" else "") (System.String.Join(", ", missing))
                            (if needOffset then ",offset" else "") header)

    let private parseInt64 file line (column: string) (text: string) =
        match System.Int64.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) with
        | true, v -> Ok v
        | _ -> err file line (sprintf "column '%s': '%s' is not a 64-bit integer" column text)

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
                    let mutable total = 0L
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
                                    let alignment =
                                        if cols.Alignment >= 0 && (field cols.Alignment).Trim() <> "" then num "alignment" cols.Alignment
                                        else Ok 1L
                                    match alignment with
                                    | Error e -> Error e
                                    | Ok alignment ->
                                    if lower < 0L then err file lineNo (sprintf "lower %d is negative" lower)
                                    elif upper <= lower then err file lineNo (sprintf "upper %d must be greater than lower %d (lifetimes are half-open [lower, upper))" upper lower)
                                    elif size <= 0L then err file lineNo (sprintf "size %d must be positive" size)
                                    elif alignment <= 0L then err file lineNo (sprintf "alignment %d must be positive" alignment)
                                    else
                                        match seen.TryGetValue id with
                                        | true, first -> err file lineNo (sprintf "duplicate id '%s' (first on line %d)" id first)
                                        | _ ->
                                            // every layout fits below the sum of sizes plus alignment padding: it must fit in int64
                                            let padded = size + (alignment - 1L)
                                            if padded < size || total > System.Int64.MaxValue - padded then
                                                err file lineNo "sizes add up past the 64-bit limit (9223372036854775807 bytes)"
                                            else
                                                total <- total + padded
                                                seen.[id] <- lineNo
                                                Ok { Id = id; Lifetime = { Start = lower; End = upper }; Size = size; Alignment = alignment }
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
        for name, values in extra do
            if values.Length <> problem.Buffers.Length then
                invalidArg (nameof extra) (sprintf "column %s has %d values for %d buffers" name values.Length problem.Buffers.Length)
        let sb = StringBuilder(problem.Buffers.Length * 32 + 64)
        sb.Append("id,lower,upper,size") |> ignore
        if hasAlignment then sb.Append(",alignment") |> ignore
        if offsets.IsSome then sb.Append(",offset") |> ignore
        for name, _ in extra do sb.Append(',').Append(quote name) |> ignore
        sb.Append('\n') |> ignore
        problem.Buffers |> Array.iteri (fun i b ->
            sb.Append(quote b.Id).Append(',').Append(b.Lifetime.Start).Append(',').Append(b.Lifetime.End)
              .Append(',').Append(b.Size) |> ignore
            if hasAlignment then sb.Append(',').Append(b.Alignment) |> ignore
            match offsets with
            | Some o -> sb.Append(',').Append(o.[i]) |> ignore
            | None -> ()
            for _, values in extra do sb.Append(',').Append(quote values.[i]) |> ignore
            sb.Append('\n') |> ignore)
        sb.ToString()

    /// The CSV text of a problem (alignment column only when some buffer needs one).
    let writeProblem (problem: Problem) : string = write problem None []

    /// The CSV text of a plan: the problem's columns plus `offset`.
    let writePlan (problem: Problem) (plan: Plan) : string = write problem (Some plan.Offsets) []

    /// The CSV text of a trace: the problem's columns plus a `tag` column naming each buffer's tensor.
    let writeTrace (problem: Problem) (tags: string[]) : string = write problem None [ "tag", tags ]
