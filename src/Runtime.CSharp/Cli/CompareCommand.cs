using System.CommandLine;
using System.Diagnostics;
using Pgmo.Planner;
using Spectre.Console;

namespace Pgmo.Cli;

/// <summary>`pgmo compare PATH... [--time-limit S]`: every algorithm on every problem, with peak / lower bound and time.</summary>
public static class CompareCommand
{
    /// <summary>One problem × algorithm result.</summary>
    public sealed record Row(string Problem, int Buffers, string Algorithm, long Peak, long LowerBound, double Ratio, double Millis, bool Valid,
        string? Status = null, long? Bound = null);

    /// <summary>The name of the exact solver's rows.</summary>
    public const string Optimum = "solver";

    public static Command Create()
    {
        var paths = new Argument<string[]>("paths") { Description = "problem CSV files or folders of them", Arity = ArgumentArity.OneOrMore };
        var timeLimit = Commands.TimeLimitOption(10, "each search run");
        var algorithms = new Option<string?>("--algorithms") { Description = "comma-separated algorithms to run (default: all)" };
        var chart = new Option<string?>("--chart") { Description = "write an SVG bar chart of peak / lower bound by algorithm and problem" };
        var seed = new Option<int>("--seed") { Description = "random seed of randomized algorithms", DefaultValueFactory = _ => 1 };
        var solverTime = new Option<double>("--solver-time-limit")
        {
            Description = "seconds for the exact solver (our exact search and CP-SAT) per problem, started from the best plan; 0 = no solver. " +
                          "Skipped when a heuristic already reaches the lower bound (then that peak is optimal)",
            DefaultValueFactory = _ => 10,
        };
        var json = Commands.JsonOption();
        var command = new Command("compare", "Run every algorithm and the exact solver on every problem; tabulate peak / lower bound, the gap to the optimum (or best proven bound) and planning time.")
        {
            paths, timeLimit, algorithms, chart, seed, solverTime, json,
        };
        command.SetAction((r, token) => Task.FromResult(Run(r.GetValue(paths)!, r.GetValue(timeLimit), r.GetValue(algorithms), r.GetValue(chart),
            r.GetValue(seed), r.GetValue(solverTime), r.GetValue(json), token)));
        return command;
    }

    static int Run(string[] paths, double timeLimit, string? algorithmNames, string? chart, int seed, double solverTime, bool json, CancellationToken token)
    {
        if (solverTime < 0) throw new UsageException("--solver-time-limit must be >= 0");
        var selected = Choices.Algorithms(algorithmNames);
        var files = Inputs.ExpandCsvPaths(paths);
        // read everything first: bad input fails before any work
        var problems = files.Select(f => (Name: Path.GetFileNameWithoutExtension(f), Problem: Inputs.ReadProblem(f))).ToList();
        var settings = PlannerApi.Settings(TimeSpan.FromSeconds(timeLimit), seed, token);
        var rows = new List<Row>();
        Output.Err.Progress().AutoClear(true).HideCompleted(true).Start(ctx =>
        {
            var task = ctx.AddTask("planning", maxValue: problems.Count * (selected.Count + 1));
            foreach (var (name, problem) in problems)
            {
                var lowerBound = PlannerApi.LowerBound(problem);
                Plan? best = null;
                long bestPeak = long.MaxValue;
                foreach (var algorithm in selected)
                {
                    task.Description = $"{name}: {algorithm.Name}";
                    var watch = Stopwatch.StartNew();
                    var planned = algorithm.Plan(problem, settings);
                    var millis = watch.Elapsed.TotalMilliseconds;
                    var peak = planned.Peak;
                    var valid = PlannerApi.Violations(problem, planned.Plan, null).Length == 0;
                    rows.Add(new Row(name, problem.Buffers.Length, algorithm.Name, peak, lowerBound, CheckCommand.Ratio(peak, lowerBound), millis, valid));
                    if (valid && peak < bestPeak) (best, bestPeak) = (planned.Plan, peak);
                    task.Increment(1);
                }
                if (solverTime > 0 || best is not null)
                {
                    task.Description = $"{name}: exact solver";
                    rows.Add(SolveRow(name, problem, lowerBound, best, solverTime, token));
                }
                task.Increment(1);
            }
        });
        PrintTables(rows, selected.Select(a => a.Name).ToList());
        if (chart is not null)
        {
            var series = rows.Select(r => Tuple.Create(r.Problem, r.Algorithm, r.Ratio)).ToArray();
            Output.WriteAtomically(chart, Svg.chart("peak / lower bound by algorithm", series));
            Console.WriteLine($"chart written to {chart}");
        }
        var allValid = rows.All(r => r.Valid);
        if (!allValid) Console.Error.WriteLine("pgmo: some plans are INVALID (marked ✗)");
        if (json) Output.JsonLine(new { rows });
        return allValid ? ExitCodes.Success : ExitCodes.Failure;
    }

    /// <summary>The optimum row: proven by the lower bound when a heuristic reaches it, else the exact solver's answer from the best plan.</summary>
    static Row SolveRow(string name, Problem problem, long lowerBound, Plan? best, double solverTime, CancellationToken token)
    {
        var bestPeak = best is null ? long.MaxValue : PlanModule.peak(problem, best);
        if (bestPeak <= lowerBound)
            return new Row(name, problem.Buffers.Length, Optimum, bestPeak, lowerBound, 1.0, 0, true, "optimal (lower bound)", lowerBound);
        if (solverTime <= 0)
            return new Row(name, problem.Buffers.Length, Optimum, bestPeak, lowerBound, CheckCommand.Ratio(bestPeak, lowerBound), 0, true, "not run", lowerBound);
        var result = SolveCommand.Solve(problem, null, solverTime, 2, Pgmo.Planner.Optimal.SolverKind.Auto, 0, best, token, progress: false);
        var peak = result.Peak is null ? bestPeak : Math.Min(bestPeak, result.Peak.Value);
        return new Row(name, problem.Buffers.Length, Optimum, peak, lowerBound, CheckCommand.Ratio(peak, lowerBound), result.Millis, true,
            SolveCommand.StatusName(result.Status), result.Bound);
    }

    static void PrintTables(List<Row> rows, List<string> algorithms)
    {
        var heuristics = algorithms;
        algorithms = rows.Any(r => r.Algorithm == Optimum) ? [.. algorithms, Optimum] : algorithms;
        var numeric = new HashSet<string>(algorithms.Append("buffers").Append("lower bound"));
        var ratios = Output.Table(new[] { "problem", "buffers", "lower bound" }.Concat(algorithms), numeric).Title("peak / lower bound (✗ = invalid plan)");
        var times = Output.Table(new[] { "problem" }.Concat(algorithms), numeric).Title("planning time");
        foreach (var group in rows.GroupBy(r => r.Problem))
        {
            var byAlgorithm = group.ToDictionary(r => r.Algorithm);
            var first = group.First();
            var best = group.Where(r => r.Valid).Select(r => r.Peak).DefaultIfEmpty(long.MaxValue).Min();
            ratios.AddRow(new[] { first.Problem, first.Buffers.ToString(), first.LowerBound.ToString() }.Concat(algorithms.Select(a =>
            {
                var r = byAlgorithm[a];
                var text = $"{r.Ratio:0.0000}" + (r.Valid ? "" : " ✗");
                return r.Peak == best ? $"[bold]{text}[/]" : text;
            })).ToArray());
            times.AddRow(new[] { first.Problem }.Concat(algorithms.Select(a => Output.Millis(byAlgorithm[a].Millis))).ToArray());
        }
        Output.Out.Write(ratios);
        var optima = rows.Where(r => r.Algorithm == Optimum).ToDictionary(r => r.Problem);
        if (optima.Count > 0)
        {
            var gaps = Output.Table(new[] { "problem", "best peak", "status", "proven bound" }.Concat(heuristics), new HashSet<string>(heuristics.Append("best peak").Append("proven bound")))
                .Title("gap to the optimum: peak / best solver peak - 1 (optimal: proven; feasible: best known, optimum >= proven bound)");
            foreach (var group in rows.Where(r => r.Algorithm != Optimum).GroupBy(r => r.Problem))
            {
                var o = optima[group.Key];
                gaps.AddRow(new[] { group.Key, o.Peak.ToString(), o.Status ?? "", (o.Bound ?? 0).ToString() }
                    .Concat(heuristics.Select(a => group.First(r => r.Algorithm == a) is var r && o.Peak > 0 ? $"{100.0 * r.Peak / o.Peak - 100:0.00} %" : "")).ToArray());
            }
            Output.Out.Write(gaps);
        }
        if (PoolNames.Count(algorithms.Contains) >= 2) Output.Out.Write(SavingsTable(rows, algorithms));
        Output.Out.Write(times);
    }

    /// <summary>The pool baselines' names: pool, torch-pool, torch-expandable.</summary>
    static readonly string[] PoolNames = PlannerApi.PoolPolicies.Select(p => p.Name).ToArray();

    /// <summary>Memory saved by every other algorithm (and the optimum) against each pool on each problem:
    /// 1 - peak / pool peak, against CuPy's `pool`, PyTorch's `torch-pool` and `torch-expandable` (their reserved bytes
    /// on the same problem), those of them that ran.</summary>
    static Spectre.Console.Table SavingsTable(List<Row> rows, List<string> algorithms)
    {
        var pools = PoolNames.Where(algorithms.Contains).ToList();
        var others = algorithms.Where(a => !pools.Contains(a)).ToList();
        var peaks = pools.Select(p => p + " peak").ToList();
        var table = Output.Table(new[] { "problem" }.Concat(peaks).Concat(others), new HashSet<string>(others.Concat(peaks)))
            .Title($"memory saved against the pools: 1 - peak / pool peak, vs {string.Join(" / vs ", pools)}");
        foreach (var group in rows.GroupBy(r => r.Problem))
        {
            var byAlgorithm = group.ToDictionary(r => r.Algorithm);
            var poolPeaks = pools.Select(p => byAlgorithm[p].Peak).ToList();
            table.AddRow(new[] { group.Key }.Concat(poolPeaks.Select(p => p.ToString())).Concat(others.Select(a =>
                byAlgorithm[a] is { Valid: true } r ? string.Join(" / ", poolPeaks.Select(p => Saved(r.Peak, p))) : "✗")).ToArray());
        }
        return table;

        static string Saved(long peak, long pool) => pool > 0 ? $"{100.0 * (pool - peak) / pool:0.0} %" : "-";
    }
}
