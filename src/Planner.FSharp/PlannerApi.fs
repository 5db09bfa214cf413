namespace Pgmo.Planner

open System
open System.Runtime.InteropServices

/// The planner for C# callers (the runtime, the command line, any .NET user): plain .NET types at the boundary —
/// arrays, Nullable, `bool TryX(out …)` — and no F# function, option or module-suffixed name. F# code uses the modules.
[<AbstractClass; Sealed>]
type PlannerApi =

    /// Every algorithm, the paper's best-fit first.
    static member Algorithms : Algorithm[] = Array.ofList Algorithms.all

    /// The names of every algorithm, in registry order.
    static member AlgorithmNames : string[] = Array.ofList Algorithms.names

    /// The algorithm with that name; false (and null) when there is none.
    static member TryFindAlgorithm(name: string, [<Out>] algorithm: byref<Algorithm>) : bool =
        match Algorithms.tryFind name with
        | Some a -> algorithm <- a; true
        | None -> algorithm <- Unchecked.defaultof<Algorithm>; false

    /// A custom algorithm from a .NET delegate (problem, settings) -> planned.
    static member Algorithm(name: string, summary: string, plan: Func<Problem, PlanSettings, Planned>) : Algorithm =
        { Name = name; Summary = summary; Run = fun settings problem -> plan.Invoke(problem, settings) }

    /// The algorithm that simulates a pool policy (`pool`, `torch-pool`, `torch-expandable`).
    static member PoolAlgorithm(policy: PoolPolicy) : Algorithm = Algorithms.ofPool policy

    /// Settings of a planning run.
    static member Settings(timeLimit: TimeSpan, seed: int, cancellation: Threading.CancellationToken) : PlanSettings =
        Algorithms.settings timeLimit seed cancellation

    /// Plans a problem with an algorithm: offsets and the peak charged.
    static member Plan(algorithm: Algorithm, problem: Problem, settings: PlanSettings) : Planned = algorithm.Run settings problem

    /// The lowest offset, a multiple of `alignment`, where `size` bytes collide with none of the occupied ranges
    /// [los.[i], his.[i]) for i < count (sorted by lo): the placement primitive every algorithm uses (Placement.choose
    /// with Fit.First). Above every range when no gap fits.
    static member LowestFit(size: int64, alignment: int64, los: int64[], his: int64[], count: int) : int64 =
        Placement.choose Fit.First size alignment los his count

    /// A plan's peak: max over buffers of offset + size, in bytes.
    static member Peak(problem: Problem, plan: Plan) : int64 = Plan.peak problem plan

    /// The max-load lower bound in bytes.
    static member LowerBound(problem: Problem) : int64 = Bounds.lowerBound problem

    /// Every violation of a plan (empty when valid); a capacity, when given, bounds every buffer's top.
    static member Violations(problem: Problem, plan: Plan, capacity: Nullable<int64>) : Violation[] =
        Validate.plan problem (Option.ofNullable capacity) plan |> Array.ofList

    /// The CSV text of a trace: the problem's columns plus a `tag` column (one tag per buffer).
    static member TraceCsv(problem: Problem, tags: seq<string>) : string = Csv.writeTrace problem (Array.ofSeq tags)

    /// A one-line description of a violation.
    static member Describe(violation: Violation) : string = Violation.describe violation

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
    static member TryImportLog(file: string, text: string, iteration: Nullable<int>, alignment: int64,
                               [<Out>] imported: byref<Imported>, [<Out>] error: byref<InputError>) : bool =
        PlannerApi.Unpack(AllocationLog.parse file text |> Result.bind (Recording.toProblem (Option.ofNullable iteration) alignment), &imported, &error)

    /// Imports a PyTorch memory snapshot's bytes (Snapshot, Recording.toProblem) from the trace of `device` (null:
    /// the one device with events); every buffer gets `alignment`. False (and the error) when the pickle is bad.
    static member TryImportSnapshot(file: string, bytes: byte[], device: Nullable<int>, alignment: int64,
                                    [<Out>] imported: byref<Imported>, [<Out>] error: byref<InputError>) : bool =
        PlannerApi.Unpack(Snapshot.parse file (Option.ofNullable device) bytes |> Result.bind (Recording.toProblem None alignment), &imported, &error)

    static member private Unpack(result: Result<Imported, InputError>, imported: byref<Imported>, error: byref<InputError>) : bool =
        match result with
        | Ok x -> imported <- x; error <- Unchecked.defaultof<InputError>; true
        | Error e -> imported <- Unchecked.defaultof<Imported>; error <- e; false

    /// The recorded layout of an imported problem (Recording.layout).
    static member RecordedLayout(imported: Imported) : RecordedLayout = Recording.layout imported
