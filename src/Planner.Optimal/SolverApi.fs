namespace Pgmo.Planner.Optimal

open System.Runtime.InteropServices
open Pgmo.Planner

/// The answer of a solve in plain .NET types (SolveResult for C# callers).
[<Sealed>]
type SolveAnswer internal (result: SolveResult) =
    /// How the solve ended: Optimal, Feasible, Infeasible or Unknown.
    member _.Status : SolveStatus = result.Status
    /// True when the peak is proven optimal (or, with a capacity, when the plan fits and meets the bound).
    member _.IsOptimal : bool = result.Status = SolveStatus.Optimal
    /// The best valid plan found (it has passed the validator), or null when there is none.
    member _.Plan : Plan = Option.toObj result.Plan
    /// Its peak in bytes, or null.
    member _.Peak : System.Nullable<int64> = Option.toNullable result.Peak
    /// A proven lower bound on the optimal peak in bytes.
    member _.Bound : int64 = result.Bound
    /// The max-load lower bound in bytes.
    member _.LowerBound : int64 = result.LowerBound
    /// Wall-clock milliseconds.
    member _.Millis : int64 = result.Millis
    /// Which method produced the answer ("exact", "cp-sat", "auto:…").
    member _.Solver : string = result.Solver
    /// The F# record behind the answer.
    member _.Result : SolveResult = result

/// The exact solver for C# callers: plain .NET types at the boundary (TimeSpan, Nullable, Action, null for none).
[<AbstractClass; Sealed>]
type SolverApi =

    /// Solves a problem: with a capacity, decides whether the buffers fit under it; without (null), minimizes the
    /// peak. `kind` picks the exact search, CP-SAT or both raced (Auto); `hint` is a valid plan to start from (or
    /// null); `progress` is called on every improvement of the best peak or the proven bound, from the solver's
    /// threads (or null); the cancellation stops it early with the best answer so far.
    static member Solve(problem: Problem, timeLimit: System.TimeSpan,
                        [<Optional>] capacity: System.Nullable<int64>,
                        [<Optional; DefaultParameterValue(2)>] workers: int,
                        [<Optional; DefaultParameterValue(0)>] seed: int,
                        [<Optional>] kind: SolverKind,
                        [<Optional>] hint: Plan,
                        [<Optional>] progress: System.Action<SolveProgress>,
                        [<Optional>] cancellation: System.Threading.CancellationToken) : SolveAnswer =
        if timeLimit <= System.TimeSpan.Zero then invalidArg (nameof timeLimit) "the time limit must be positive"
        if workers < 1 then invalidArg (nameof workers) "at least one worker"
        let options =
            { SolveOptions.defaults with
                Capacity = Option.ofNullable capacity
                TimeLimit = timeLimit
                Workers = workers
                Seed = seed
                Cancellation = cancellation
                Progress = (if isNull progress then None else Some progress.Invoke)
                Hint = Option.ofObj hint
                Kind = (if isNull (box kind) then SolverKind.Auto else kind) }
        SolveAnswer(if options.Kind = SolverKind.CpSat then CpSat.solve options problem else Solver.solve options problem)
