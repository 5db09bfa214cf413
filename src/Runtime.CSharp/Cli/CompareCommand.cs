using System.CommandLine;
using System.Diagnostics;
using Pgmo.Planner;
using Pgmo.Planner.Optimal;
using Spectre.Console;

namespace Pgmo.Cli;

/// <summary>`pgmo compare PATH... [--time-limit S]`: every algorithm on every problem, with peak / lower bound and time.</summary>
public static class CompareCommand
{
    /// <summary>One problem × algorithm result: its peak (for the lower bound, the bound), its ratio to the lower bound,
    /// its time, whether its plan is valid (null when it gives no plan: the lower bound), and for the solver how it
    /// ended and the bound it proved.</summary>
    public sealed record Row(string Problem, int Buffers, string Algorithm, long Peak, long LowerBound, double Ratio, double Millis, bool? Valid,
        string? Status = null, long? Bound = null);

    /// <summary>The name of the exact solver's rows (<see cref="Registry.solver"/>).</summary>
    public static readonly string Optimum = Registry.solver.Name;

    public static Command Create()
    {
        var paths = new Argument<string[]>("paths") { Description = "problem CSV files or folders of them", Arity = ArgumentArity.OneOrMore };
        var timeLimit = Commands.TimeLimitOption(10, "each search run");
        var algorithms = new Option<string?>("--algorithms") { Description = "comma-separated algorithms to run (default: all; the lower bound always runs)" };
        var chart = new Option<string?>("--chart") { Description = "write an SVG bar chart of peak / lower bound by algorithm and problem" };
        var seed = new Option<int>("--seed") { Description = "random seed of randomized algorithms", DefaultValueFactory = _ => 1 };
        var solverTime = new Option<double>("--solver-time-limit")
        {
            Description = "seconds for the exact solver (our exact search and CP-SAT) per problem, started from the best plan; 0 = no solver. " +
                          "It stops at once when a heuristic already reaches the lower bound (then that peak is optimal)",
            DefaultValueFactory = _ => 10,
        };
        var json = Commands.JsonOption();
        var command = new Command("compare", "Run every algorithm, the lower bound and the exact solver on every problem; tabulate peak / lower bound, the gap to the optimum (or best proven bound) and planning time.")
        {
            paths, timeLimit, algorithms, chart, seed, solverTime, json,
        };
        command.SetAction((r, token) => Task.FromResult(Run(r.GetValue(paths)!, r.GetValue(timeLimit), r.GetValue(algorithms), r.GetValue(chart),
            r.GetValue(seed), r.GetValue(solverTime), r.GetValue(json), token)));
        return command;
    }

    /// <summary>The entries compare runs, in order: the selected algorithms (all but the lower bound and the solver by
    /// default), the lower bound, and the solver unless its time is 0.</summary>
    static List<Algorithm> Entries(string? names, double solverTime)
    {
        var chosen = Choices.Algorithms(names).Where(a => a.Name != Algorithms.lowerBound.Name && a.Name != Optimum).ToList();
        chosen.Add(Algorithms.lowerBound);
        if (solverTime > 0) chosen.Add(Registry.solver);
        return chosen;
    }

    static int Run(string[] paths, double timeLimit, string? algorithmNames, string? chart, int seed, double solverTime, bool json, CancellationToken token)
    {
        if (solverTime < 0) throw new UsageException("--solver-time-limit must be >= 0");
        var entries = Entries(algorithmNames, solverTime);
        var files = Inputs.ExpandCsvPaths(paths);
        // read everything first: bad input fails before any work
        var problems = files.Select(f => (Name: Path.GetFileNameWithoutExtension(f), Problem: Inputs.ReadProblem(f))).ToList();
        var settings = PlannerApi.Settings(TimeSpan.FromSeconds(timeLimit), seed, token);
        var rows = new List<Row>();
        Output.Err.Progress().AutoClear(true).HideCompleted(true).Start(ctx =>
        {
            var task = ctx.AddTask("planning", maxValue: problems.Count * entries.Count);
            foreach (var (name, problem) in problems)
            {
                var axis = new TimeAxis(problem);
                var lowerBound = PlannerApi.LowerBound(axis);
                Plan? best = null;
                long bestPeak = long.MaxValue;
                foreach (var algorithm in entries)
                {
                    task.Description = $"{name}: {algorithm.Name}";
                    // the solver starts from the best plan so far, on its own time limit
                    var options = ReferenceEquals(algorithm, Registry.solver)
                        ? PlannerApi.SolveOptions(null, TimeSpan.FromSeconds(solverTime), null, 2, seed, token, null!, best!, SolverKind.Auto)
                        : settings;
                    var watch = Stopwatch.StartNew();
                    var planned = algorithm.PlanOn(axis, options);
                    var millis = watch.Elapsed.TotalMilliseconds;
                    // every plan, the solver's too, goes through the validator
                    bool? valid = planned.TryGetPlan(out var plan) ? PlannerApi.Violations(axis, plan).Length == 0 : null;
                    string? status = planned.Status;
                    long? bound = planned.Bound;
                    rows.Add(new Row(name, problem.Buffers.Length, algorithm.Name, planned.Peak, lowerBound, CheckCommand.Ratio(planned.Peak, lowerBound),
                        millis, valid, status, bound));
                    if (valid == true && planned.Peak < bestPeak) (best, bestPeak) = (plan, planned.Peak);
                    task.Increment(1);
                }
            }
        });
        PrintTables(rows, entries.Select(a => a.Name).Where(n => n != Optimum).ToList());
        if (chart is not null)
        {
            var series = rows.Where(r => r.Valid is not null).Select(r => Tuple.Create(r.Problem, r.Algorithm, r.Ratio)).ToArray();
            Output.WriteAtomically(chart, Svg.chart("peak / lower bound by algorithm", series));
            Console.WriteLine($"chart written to {chart}");
        }
        var allValid = rows.All(r => r.Valid is null or true);
        if (!allValid) Console.Error.WriteLine("pgmo: some plans are INVALID (marked ✗)");
        if (json) Output.JsonLine(new { rows });
        return allValid ? ExitCodes.Success : ExitCodes.Failure;
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
            var best = group.Where(r => r.Valid == true).Select(r => r.Peak).DefaultIfEmpty(long.MaxValue).Min();
            ratios.AddRow(new[] { first.Problem, first.Buffers.ToString(), first.LowerBound.ToString() }.Concat(algorithms.Select(a =>
            {
                var r = byAlgorithm[a];
                var text = $"{r.Ratio:0.0000}" + (r.Valid == false ? " ✗" : "");
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
                byAlgorithm[a] is { Valid: not false } r ? string.Join(" / ", poolPeaks.Select(p => Saved(r.Peak, p))) : "✗")).ToArray());
        }
        return table;

        static string Saved(long peak, long pool) => pool > 0 ? $"{100.0 * (pool - peak) / pool:0.0} %" : "-";
    }
}
