using System.CommandLine;
using System.Diagnostics;
using Microsoft.FSharp.Core;
using Pgmo.Planner;
using Pgmo.Planner.Optimal;

namespace Pgmo.Cli;

/// <summary>`pgmo solve PROBLEM.csv [--capacity C] [--time-limit S] [--workers K] [--solver auto|exact|cp-sat] [--out PLAN.csv]`.</summary>
public static class SolveCommand
{
    public static Command Create()
    {
        var problemArg = new Argument<string>("problem") { Description = "problem CSV (id,lower,upper,size[,alignment])" };
        var capacity = new Option<string?>("--capacity") { Description = "decide whether the buffers fit in this many bytes (e.g. 1048576 or 1MiB) instead of minimizing the peak" };
        var timeLimit = Commands.TimeLimitOption(60, "the solver");
        var workers = new Option<int>("--workers") { Description = "solver threads (auto with --capacity and 1 worker: the exact search alone, on one thread)", DefaultValueFactory = _ => 2 };
        var solver = new Option<string>("--solver")
        {
            Description = "auto (our exact search and CP-SAT in parallel, the better answer wins), exact (our canonical-placement search) or cp-sat (OR-Tools CP-SAT alone, the reference)",
            DefaultValueFactory = _ => "auto",
        };
        solver.AcceptOnlyFromAmong("auto", "exact", "cp-sat");
        var outFile = new Option<string?>("--out", "-o") { Description = "write the best plan found here (plan CSV), when there is one" };
        var seed = new Option<int>("--seed") { Description = "CP-SAT random seed", DefaultValueFactory = _ => 0 };
        var json = Commands.JsonOption();
        var command = new Command("solve", "Exact search: minimize the peak, or with --capacity decide whether the buffers fit. Status optimal, feasible, infeasible or unknown (time limit reached first); exit 0 whatever the status.")
        {
            problemArg, capacity, timeLimit, workers, solver, outFile, seed, json,
        };
        command.SetAction((r, token) => Task.FromResult(Run(r.GetValue(problemArg)!, r.GetValue(capacity), r.GetValue(timeLimit), r.GetValue(workers),
            r.GetValue(solver)!, r.GetValue(outFile), r.GetValue(seed), r.GetValue(json), token)));
        return command;
    }

    /// <summary>The solver kind named on the command line.</summary>
    public static SolverKind Kind(string name) => name switch
    {
        "exact" => SolverKind.ExactSearch,
        "cp-sat" => SolverKind.CpSat,
        "auto" => SolverKind.Auto,
        _ => throw new UsageException($"--solver: unknown solver '{name}'; known: auto, exact, cp-sat"),
    };

    /// <summary>The status as the contract spells it.</summary>
    public static string StatusName(SolveStatus status) =>
        status.IsOptimal ? "optimal" : status.IsFeasible ? "feasible" : status.IsInfeasible ? "infeasible" : "unknown";

    /// <summary>Runs a solver; with progress, one line on stderr per improvement: the time on the clock (the command's,
    /// started before the problem was read), the solver that improved, the best peak and the best proven bound.</summary>
    public static SolveResult Solve(Problem problem, long? capacity, double timeLimit, int workers, SolverKind kind, int seed, Plan? hint,
        CancellationToken token, bool progress, Stopwatch? clock = null)
    {
        clock ??= Stopwatch.StartNew();
        var gate = new object();
        var bound = 0L;
        var report = progress
            ? FSharpOption<FSharpFunc<SolveProgress, Unit>>.Some(
                FuncConvert.FromAction<SolveProgress>(r =>
                {
                    // one lock: lines in order, times that never go backwards, a bound that never goes down
                    lock (gate)
                    {
                        bound = Math.Max(bound, r.Bound);
                        Console.Error.WriteLine($"  {clock.Elapsed.TotalSeconds,7:0.00} s  {r.Solver,-12}  best peak {r.Peak}  bound {bound}");
                    }
                }))
            : null;
        var options = new SolveOptions(
            capacity is { } c ? FSharpOption<long>.Some(c) : null, timeLimit, workers, seed, token, report,
            hint is null ? null : FSharpOption<Plan>.Some(hint), kind);
        return kind.IsCpSat ? CpSat.solve(options, problem) : Solver.solve(options, problem);
    }

    static int Run(string problemPath, string? capacityText, double timeLimit, int workers, string solverName, string? outFile, int seed, bool json,
        CancellationToken token)
    {
        var clock = Stopwatch.StartNew();
        if (workers < 1) throw new UsageException("--workers must be at least 1");
        var kind = Kind(solverName);
        var problem = Inputs.ReadProblem(problemPath);
        long? capacity = capacityText is null ? null : Inputs.ParseBytes(capacityText, "--capacity");
        Console.Error.WriteLine($"solving {Path.GetFileName(problemPath)} ({problem.Buffers.Length} buffers) with {solverName}, {timeLimit} s, {workers} worker(s)" +
                                (capacity is { } cap ? $", capacity {cap}" : ""));
        var result = Solve(problem, capacity, Math.Max(0, timeLimit - clock.Elapsed.TotalSeconds), workers, kind, seed, null, token, progress: true, clock);
        var status = StatusName(result.Status);
        long? peak = result.Peak is null ? null : result.Peak.Value;
        if (outFile is not null && result.Plan is not null) Output.WriteAtomically(outFile, Csv.writePlan(problem, result.Plan.Value));
        Console.WriteLine($"{Path.GetFileName(problemPath)}: {status}, peak {(peak is { } p ? $"{p} ({Output.Bytes(p)})" : "none")}, " +
                          $"proven bound {result.Bound}, lower bound {result.LowerBound}, {Output.Millis(result.Millis)} ({result.Solver})");
        if (outFile is not null)
            Console.WriteLine(result.Plan is not null ? $"plan written to {outFile}" : $"no plan: {outFile} not written");
        if (json) Output.JsonLine(new { status, peak, bound = result.Bound, lowerBound = result.LowerBound, millis = result.Millis, solver = result.Solver });
        return ExitCodes.Success;
    }
}
