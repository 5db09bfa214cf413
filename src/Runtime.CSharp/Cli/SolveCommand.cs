using System.CommandLine;
using System.Diagnostics;
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
        var timeLimit = Commands.TimeLimitOption(60, "the solver (with --nodes and no --time-limit: none)");
        var nodes = Commands.NodesOption("the exact search: with one worker the same plan on any machine (the exact search alone, CP-SAT counts no nodes)");
        var workers = new Option<int>("--workers") { Description = "solver threads (auto with --capacity and 1 worker: the exact search alone, on one thread)", DefaultValueFactory = _ => 2 };
        var solver = new Option<string>("--solver")
        {
            Description = "auto (our exact search and CP-SAT in parallel, the better answer wins), exact (our canonical-placement search) or cp-sat (OR-Tools CP-SAT alone, the reference)",
            DefaultValueFactory = _ => "auto",
        };
        solver.AcceptOnlyFromAmong("auto", "exact", "cp-sat");
        var outFile = new Option<string?>("--out", "-o") { Description = "write the best plan found here (plan CSV), when there is one" };
        var seed = new Option<int>("--seed") { Description = "random seed (the jittered sweeps, CP-SAT)", DefaultValueFactory = _ => 1 };
        var json = Commands.JsonOption();
        var command = new Command("solve", "Exact search: minimize the peak, or with --capacity decide whether the buffers fit. Status optimal, feasible, infeasible or unknown (time limit or node budget reached first); exit 0 whatever the status.")
        {
            problemArg, capacity, timeLimit, nodes, workers, solver, outFile, seed, json,
        };
        command.SetAction((r, token) => Task.FromResult(Run(r.GetValue(problemArg)!, r.GetValue(capacity), Commands.Budget(r, timeLimit, nodes), r.GetValue(nodes),
            r.GetValue(workers), r.GetValue(solver)!, r.GetValue(outFile), r.GetValue(seed), r.GetValue(json), token)));
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
    public static string StatusName(SolveStatus status) => SolveStatusModule.name(status);

    /// <summary>Runs a solver; with progress, one line on stderr per improvement: the time on the clock (the command's,
    /// started before the problem was read), the solver that improved, the best peak and the best proven bound. The
    /// reports come in order (Incumbent); the line is written outside the lock that keeps the bound from going down.</summary>
    public static SolveResult Solve(Problem problem, long? capacity, TimeSpan timeLimit, long? nodes, int workers, SolverKind kind, int seed, Plan? hint,
        CancellationToken token, bool progress, Stopwatch? clock = null)
    {
        clock ??= Stopwatch.StartNew();
        var gate = new object();
        var bound = 0L;
        Action<SolveProgress>? report = progress
            ? r =>
            {
                string line;
                lock (gate)
                {
                    bound = Math.Max(bound, r.Bound);
                    line = $"  {clock.Elapsed.TotalSeconds,7:0.00} s  {r.Solver,-12}  best peak {r.Peak}  bound {bound}";
                }
                Console.Error.WriteLine(line);
            }
            : null;
        var options = PlannerApi.SolveOptions(capacity, timeLimit, nodes, workers, seed, token, report!, hint!, kind);
        return kind.IsCpSat ? CpSat.solve(options, problem) : Solver.solve(options, problem);
    }

    static int Run(string problemPath, string? capacityText, TimeSpan timeLimit, long? nodes, int workers, string solverName, string? outFile, int seed,
        bool json, CancellationToken token)
    {
        var clock = Stopwatch.StartNew();
        if (workers < 1) throw new UsageException("--workers must be at least 1");
        var kind = Kind(solverName);
        var problem = Inputs.ReadProblem(problemPath);
        long? capacity = capacityText is null ? null : Inputs.ParseBytes(capacityText, "--capacity");
        Console.Error.WriteLine($"solving {Path.GetFileName(problemPath)} ({problem.Buffers.Length} buffers) with {solverName}, " +
                                (timeLimit == TimeSpan.MaxValue ? "no time limit" : $"{timeLimit.TotalSeconds} s") +
                                (nodes is { } n ? $", {n} nodes" : "") + $", {workers} worker(s)" + (capacity is { } cap ? $", capacity {cap}" : ""));
        // reading the problem counts against the time limit
        var left = timeLimit == TimeSpan.MaxValue ? timeLimit : TimeSpan.FromTicks(Math.Max(0, (timeLimit - clock.Elapsed).Ticks));
        var result = Solve(problem, capacity, left, nodes, workers, kind, seed, null, token, progress: true, clock);
        var status = StatusName(result.Status);
        long? peak = result.Peak is null ? null : result.Peak.Value;
        if (outFile is not null && result.Plan is not null) Output.WriteAtomically(outFile, PlannerApi.PlanCsv(problem, result.Plan.Value));
        Console.WriteLine($"{Path.GetFileName(problemPath)}: {status}, peak {(peak is { } p ? $"{p} ({Output.Bytes(p)})" : "none")}, " +
                          $"proven bound {result.Bound}, lower bound {result.LowerBound}, {Output.Millis(result.Millis)} ({result.Solver})");
        if (outFile is not null)
            Console.WriteLine(result.Plan is not null ? $"plan written to {outFile}" : $"no plan: {outFile} not written");
        if (json) Output.JsonLine(new { status, peak, bound = result.Bound, lowerBound = result.LowerBound, millis = result.Millis, solver = result.Solver });
        return ExitCodes.Success;
    }
}
