namespace Pgmo.Planner

open System.Collections.Generic
open System.Runtime.InteropServices

/// The planner for C# callers (the runtime, the command line, any .NET user): plain .NET types at the boundary —
/// arrays, Nullable, `Func`, `bool TryX(out …)` — and no F# function, option, list or module-suffixed name. F# code
/// uses the modules.
///
/// A C# program builds a problem from buffers (`Buffer`, `Problem`) or reads one (`TryReadProblem`), plans it with an
/// algorithm (`TryFindAlgorithm`, `Plan`), and checks the plan (`Violations`, `Peak`, `LowerBound`).
[<AbstractClass; Sealed>]
type PlannerApi =

    // ---- problems

    /// A buffer live on the half-open steps [start, end) that needs `size` bytes at an offset that is a multiple of
    /// `alignment` (1: any offset). Throws ArgumentException unless start < end, size > 0 and alignment >= 1.
    static member Buffer(id: string, start: int64, ``end``: int64, size: int64,
                         [<Optional; DefaultParameterValue(1L)>] alignment: int64) : Buffer =
        if isNull id then nullArg (nameof id)
        if ``end`` <= start then invalidArg "end" (sprintf "buffer %s: its lifetime [%d, %d) is empty (end must be above start)" id start ``end``)
        if size <= 0L then invalidArg (nameof size) (sprintf "buffer %s: size %d, must be positive" id size)
        if alignment < 1L then invalidArg (nameof alignment) (sprintf "buffer %s: alignment %d, must be at least 1" id alignment)
        { Buffer.create id start ``end`` size with Alignment = alignment }

    /// The same buffer with its offset pinned: every plan must put it at `offset` (MiniMalloc's `offset` column).
    static member Pinned(buffer: Buffer, offset: int64) : Buffer =
        if offset < 0L then invalidArg (nameof offset) (sprintf "buffer %s: pinned offset %d is negative" buffer.Id offset)
        { buffer with Pinned = Some offset }

    /// The same buffer with a hint: an offset the placement heuristics try first (MiniMalloc's `hint` column).
    static member Hinted(buffer: Buffer, offset: int64) : Buffer =
        if offset < 0L then invalidArg (nameof offset) (sprintf "buffer %s: hint %d is negative" buffer.Id offset)
        { buffer with Hint = Some offset }

    /// The offset a buffer is pinned at, or null.
    static member PinnedOffset(buffer: Buffer) : System.Nullable<int64> = Option.toNullable buffer.Pinned

    /// The hinted offset of a buffer, or null.
    static member HintOffset(buffer: Buffer) : System.Nullable<int64> = Option.toNullable buffer.Hint

    /// A gap of a buffer (MiniMalloc's `gaps` column): on the half-open steps [start, end) the buffer keeps none of
    /// its bytes, and other buffers may use them. Throws ArgumentException unless start < end.
    static member Gap(start: int64, ``end``: int64) : Gap =
        if ``end`` <= start then invalidArg "end" (sprintf "gap [%d, %d) is empty (end must be above start)" start ``end``)
        { Steps = { Start = start; End = ``end`` }; Window = None }

    /// A gap in which the buffer keeps only the bytes [keepLo, keepHi) relative to its offset (MiniMalloc's
    /// `l-u@wl:wu`). Throws ArgumentException unless start < end and 0 <= keepLo <= keepHi.
    static member Gap(start: int64, ``end``: int64, keepLo: int64, keepHi: int64) : Gap =
        if keepLo < 0L || keepHi < keepLo then
            invalidArg (nameof keepHi) (sprintf "gap [%d, %d): window [%d, %d) is reversed or negative" start ``end`` keepLo keepHi)
        { PlannerApi.Gap(start, ``end``) with Window = Some { Lo = keepLo; Hi = keepHi } }

    /// The same buffer with these gaps, in any order: each inside its lifetime, disjoint from the others, every window
    /// within its size. Throws ArgumentException otherwise.
    static member WithGaps(buffer: Buffer, gaps: IEnumerable<Gap>) : Buffer =
        if isNull gaps then nullArg (nameof gaps)
        let sorted = gaps |> Array.ofSeq |> Array.sortBy (fun g -> g.Steps.Start)
        for g in sorted do
            if g.Steps.Start < buffer.Lifetime.Start || g.Steps.End > buffer.Lifetime.End then
                invalidArg (nameof gaps) (sprintf "buffer %s: gap [%d, %d) is outside its lifetime [%d, %d)" buffer.Id g.Steps.Start g.Steps.End buffer.Lifetime.Start buffer.Lifetime.End)
            match g.Window with
            | Some w when w.Hi > buffer.Size ->
                invalidArg (nameof gaps) (sprintf "buffer %s: gap [%d, %d) keeps bytes [%d, %d), beyond its size %d" buffer.Id g.Steps.Start g.Steps.End w.Lo w.Hi buffer.Size)
            | _ -> ()
        for a, b in Array.pairwise sorted do
            if b.Steps.Start < a.Steps.End then
                invalidArg (nameof gaps) (sprintf "buffer %s: gaps [%d, %d) and [%d, %d) overlap" buffer.Id a.Steps.Start a.Steps.End b.Steps.Start b.Steps.End)
        { buffer with Gaps = sorted }

    /// The bytes a gap keeps, relative to the buffer's offset, or null when it keeps none.
    static member GapWindow(gap: Gap) : System.Nullable<Window> = Option.toNullable gap.Window

    /// The pieces of a buffer in time order: where it holds which of its bytes, [Lo, Hi) relative to its offset on the
    /// half-open steps [Start, End). A buffer without gaps is one piece, all its bytes over its lifetime.
    static member Pieces(buffer: Buffer) : Piece[] = Gaps.pieces buffer

    /// A problem from its buffers, in order: every plan gives their offsets in this order.
    static member Problem(buffers: IEnumerable<Buffer>) : Problem =
        if isNull buffers then nullArg (nameof buffers)
        Problem.ofBuffers buffers

    /// Parses the text of a problem CSV (MiniMalloc's format: `id,lower,upper,size[,alignment]` and its other
    /// columns, docs/cli.md); `file` names it in errors. False, with the error (file, line, message), on bad input.
    static member TryParseProblem(file: string, text: string, [<Out>] problem: byref<Problem>, [<Out>] error: byref<InputError>) : bool =
        PlannerApi.Unpack(Csv.parseProblem file text, &problem, &error)

    /// Reads a problem CSV file; false, with the error (file, line, message), on bad input or an unreadable file.
    static member TryReadProblem(path: string, [<Out>] problem: byref<Problem>, [<Out>] error: byref<InputError>) : bool =
        let text =
            try Ok (System.IO.File.ReadAllText path)
            with :? System.IO.IOException | :? System.UnauthorizedAccessException as e -> Error { File = path; Line = 0; Message = "cannot read: " + e.Message }
        PlannerApi.Unpack(text |> Result.bind (Csv.parseProblem path), &problem, &error)

    /// "file:line: message", or "file: message" when the error concerns the whole file.
    static member Describe(error: InputError) : string =
        if error.Line > 0 then sprintf "%s:%d: %s" error.File error.Line error.Message else sprintf "%s: %s" error.File error.Message

    /// Parses the text of a plan CSV (a problem's columns plus `offset`): the buffers its rows name and their offsets,
    /// in row order (TryAssign matches them to a problem by id); `file` names it in errors. False, with the error
    /// (file, line, message), on bad input.
    static member TryParsePlan(file: string, text: string, [<Out>] rows: byref<Problem>, [<Out>] offsets: byref<Plan>,
                               [<Out>] error: byref<InputError>) : bool =
        match Csv.parsePlan file text with
        | Ok (p, o) -> rows <- p; offsets <- o; error <- Unchecked.defaultof<InputError>; true
        | Error e -> rows <- Unchecked.defaultof<Problem>; offsets <- Unchecked.defaultof<Plan>; error <- e; false

    /// The CSV text of a problem (MiniMalloc's format).
    static member ProblemCsv(problem: Problem) : string = Csv.writeProblem problem

    /// The CSV text of a problem with extra text columns after its own, in order: (name, one value per buffer). The
    /// readers ignore them.
    static member ProblemCsv(problem: Problem, columns: IEnumerable<struct (string * string[])>) : string =
        if isNull columns then nullArg (nameof columns)
        Csv.writeProblemWith problem [ for struct (name, values) in columns -> name, values ]

    /// The CSV text of a plan: the problem's columns plus `offset`.
    static member PlanCsv(problem: Problem, plan: Plan) : string = Csv.writePlan problem plan

    /// The CSV text of a trace: the problem's columns plus a `tag` column (one tag per buffer).
    static member TraceCsv(problem: Problem, tags: IEnumerable<string>) : string = Csv.writeTrace problem (Array.ofSeq tags)

    // ---- algorithms

    /// Every planning algorithm (each gives a plan), the paper's best-fit first; TryFindAlgorithm also finds the
    /// `lower-bound` entry of the registry, which gives only a bound (its Planned.Plan is null).
    static member Algorithms : Algorithm[] = Array.ofList Algorithms.planners

    /// The names of every planning algorithm, in registry order.
    static member AlgorithmNames : string[] = Algorithms.planners |> List.map (fun a -> a.Name) |> Array.ofList

    /// The algorithm with that name; false (and null) when there is none.
    static member TryFindAlgorithm(name: string, [<Out>] algorithm: byref<Algorithm>) : bool =
        match Algorithms.tryFind name with
        | Some a -> algorithm <- a; true
        | None -> algorithm <- Unchecked.defaultof<Algorithm>; false

    /// A custom algorithm from a .NET delegate (problem, options) -> planned.
    static member Algorithm(name: string, summary: string, plan: System.Func<Problem, SolveOptions, Planned>) : Algorithm =
        if isNull plan then nullArg (nameof plan)
        Algorithm(name, summary, fun settings axis -> plan.Invoke(axis.Problem, settings))

    /// The algorithm that simulates a pool policy (`pool`, `torch-pool`, `torch-expandable`).
    static member PoolAlgorithm(policy: PoolPolicy) : Algorithm = Algorithms.ofPool policy

    /// The options of a planning run: a time limit, a seed and a cancellation token.
    static member Settings(timeLimit: System.TimeSpan, seed: int, cancellation: System.Threading.CancellationToken) : SolveOptions =
        Algorithms.settings timeLimit seed cancellation

    /// The options of a solve (plain .NET types): a capacity to decide (null: minimize), a time limit, a node budget
    /// (null: none), worker threads, a seed, a cancellation, a progress callback (null: none), a hint (null: none) and
    /// the method; the exact search's default preorders and rules.
    static member SolveOptions(capacity: System.Nullable<int64>, timeLimit: System.TimeSpan, nodes: System.Nullable<int64>, workers: int, seed: int,
                               cancellation: System.Threading.CancellationToken, progress: System.Action<SolveProgress>, hint: Plan,
                               kind: SolverKind) : SolveOptions =
        { SolveOptions.defaults with
            Capacity = Option.ofNullable capacity; TimeLimit = timeLimit; Nodes = Option.ofNullable nodes; Workers = workers
            Seed = seed; Cancellation = cancellation
            Progress = (if isNull progress then None else Some progress.Invoke)
            Hint = (if obj.ReferenceEquals(hint, null) then None else Some hint); Kind = kind }

    /// The options of the strong lower bound (`pgmo bound`): `nodes` per decision, cancelled by `cancellation`.
    static member BoundOptions(nodes: int64, cancellation: System.Threading.CancellationToken) : SolveOptions =
        { StrongBounds.defaults with Nodes = Some nodes; Cancellation = cancellation }

    /// The default options: 5 s, seed 1, no cancellation (SolveOptions.defaults).
    static member DefaultSettings : SolveOptions = Algorithms.defaults

    /// Plans a problem with an algorithm: offsets and the peak charged.
    static member Plan(algorithm: Algorithm, problem: Problem, settings: SolveOptions) : Planned = algorithm.Plan(problem, settings)

    /// Plans a problem with an algorithm under the default settings.
    static member Plan(algorithm: Algorithm, problem: Problem) : Planned = algorithm.Plan(problem, Algorithms.defaults)

    // ---- checks

    /// The lowest offset, a multiple of `alignment`, where `size` bytes collide with none of the occupied ranges
    /// [los.[i], his.[i]) for i < count (sorted by lo): the placement primitive every algorithm uses (Placement.choose
    /// with Fit.First). Above every range when no gap fits.
    static member LowestFit(size: int64, alignment: int64, los: int64[], his: int64[], count: int) : int64 =
        Placement.choose Fit.First size alignment los his count

    /// A plan's peak: max over buffers of offset + size, in bytes.
    static member Peak(problem: Problem, plan: Plan) : int64 = Plan.peak problem plan

    /// The max-load lower bound in bytes: the largest total size live at one step, which no plan goes below.
    static member LowerBound(problem: Problem) : int64 = Bounds.lowerBound problem

    /// Every violation of a plan (empty when valid); a capacity, when given, bounds every buffer's top.
    static member Violations(problem: Problem, plan: Plan, [<Optional>] capacity: System.Nullable<int64>) : Violation[] =
        Validate.plan problem (Option.ofNullable capacity) plan |> Array.ofList

    /// Matches the rows of a plan file (`planned`, `offsets`: Csv's plan reader) to a problem by id: true with the
    /// offsets in the problem's order, or false with the missing and extra ids (a row whose lifetime or size differs
    /// describes another buffer: extra).
    static member TryAssign(problem: Problem, planned: Problem, offsets: Plan, [<Out>] plan: byref<Plan>, [<Out>] mismatches: byref<Violation[]>) : bool =
        match Validate.assign problem planned offsets with
        | Ok p -> plan <- p; mismatches <- [||]; true
        | Error vs -> plan <- Unchecked.defaultof<Plan>; mismatches <- Array.ofList vs; false

    /// The most overlaps Violations lists (a plan may have more).
    static member MaxOverlapsListed : int = Validate.MaxOverlapsListed

    /// The max-load lower bound of the problem of a time axis (built once per problem and shared by the algorithms
    /// run on it, Algorithm.PlanOn), in bytes.
    static member LowerBound(axis: TimeAxis) : int64 = Bounds.lowerBoundOn axis

    /// Every violation of a plan of the problem of a time axis (empty when valid); a capacity, when given, bounds
    /// every buffer's top.
    static member Violations(axis: TimeAxis, plan: Plan, [<Optional>] capacity: System.Nullable<int64>) : Violation[] =
        Validate.planOn axis (Option.ofNullable capacity) plan |> Array.ofList

    /// A one-line description of a violation.
    static member Describe(violation: Violation) : string = Violation.describe violation

    // ---- pools

    /// A pool policy run on a problem: reserved bytes (its charged peak), segments, peak in use and its plan.
    static member SimulatePool(policy: PoolPolicy, problem: Problem) : PoolResult = Pool.simulate policy problem

    /// Every pool policy: `pool`, `torch-pool`, `torch-expandable`.
    static member PoolPolicies : PoolPolicy[] = Array.ofList PoolPolicy.all

    /// The pool policy named (`pool`, `torch-pool`, `torch-expandable`); false when there is none.
    static member TryParsePool(name: string, [<Out>] policy: byref<PoolPolicy>) : bool =
        match PoolPolicy.tryParse name with
        | Some p -> policy <- p; true
        | None -> policy <- Unchecked.defaultof<PoolPolicy>; false

    /// Imports an allocation log's text (AllocationLog, Recording.toProblem): the whole log, or its `iteration`-th
    /// marked iteration; every buffer gets `alignment`. False (and the error) when the text or its events are bad.
    static member TryImportLog(file: string, text: string, iteration: System.Nullable<int>, alignment: int64,
                               [<Out>] imported: byref<Imported>, [<Out>] error: byref<InputError>) : bool =
        PlannerApi.Unpack(AllocationLog.parse file text |> Result.bind (Recording.toProblem (Option.ofNullable iteration) alignment), &imported, &error)

    /// Imports a PyTorch memory snapshot's bytes (Snapshot, Recording.toProblem) from the trace of `device` (null:
    /// the one device with events); every buffer gets `alignment`. False (and the error) when the pickle is bad.
    static member TryImportSnapshot(file: string, bytes: byte[], device: System.Nullable<int>, alignment: int64,
                                    [<Out>] imported: byref<Imported>, [<Out>] error: byref<InputError>) : bool =
        PlannerApi.Unpack(Snapshot.parse file (Option.ofNullable device) bytes |> Result.bind (Recording.toProblem None alignment), &imported, &error)

    /// A result as `bool TryX(out value, out error)`.
    static member private Unpack<'T>(result: Result<'T, InputError>, value: byref<'T>, error: byref<InputError>) : bool =
        match result with
        | Ok x -> value <- x; error <- Unchecked.defaultof<InputError>; true
        | Error e -> value <- Unchecked.defaultof<'T>; error <- e; false

    /// The recorded layout of an imported problem (Recording.layout).
    static member RecordedLayout(imported: Imported) : RecordedLayout = Recording.layout imported
