using System.CommandLine;
using System.Diagnostics;
using Pgmo.Planner;
using Spectre.Console;

namespace Pgmo.Cli;

/// <summary>`pgmo compare PATH... [--time-limit S]`: every algorithm on every problem, with peak / lower bound and time.</summary>
public static class CompareCommand
{
    /// <summary>One problem × algorithm result.</summary>
    public sealed record Row(string Problem, int Buffers, string Algorithm, long Peak, long LowerBound, double Ratio, double Millis, bool Valid);

    public static Command Create()
    {
        var paths = new Argument<string[]>("paths") { Description = "problem CSV files or folders of them", Arity = ArgumentArity.OneOrMore };
        var timeLimit = Commands.TimeLimitOption(10, "each search run");
        var algorithms = new Option<string?>("--algorithms") { Description = "comma-separated algorithms to run (default: all)" };
        var chart = new Option<string?>("--chart") { Description = "write an SVG bar chart of peak / lower bound by algorithm and problem" };
        var seed = new Option<int>("--seed") { Description = "random seed of randomized algorithms", DefaultValueFactory = _ => 1 };
        var json = Commands.JsonOption();
        var command = new Command("compare", "Run every algorithm on every problem and tabulate peak / lower bound and planning time.")
        {
            paths, timeLimit, algorithms, chart, seed, json,
        };
        command.SetAction((r, token) => Task.FromResult(Run(r.GetValue(paths)!, r.GetValue(timeLimit), r.GetValue(algorithms), r.GetValue(chart),
            r.GetValue(seed), r.GetValue(json), token)));
        return command;
    }

    static int Run(string[] paths, double timeLimit, string? algorithmNames, string? chart, int seed, bool json, CancellationToken token)
    {
        var selected = algorithmNames is null
            ? Algorithms.all.ToList()
            : algorithmNames.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(PlanCommand.Find).ToList();
        var files = Inputs.ExpandCsvPaths(paths);
        // read everything first: bad input fails before any work
        var problems = files.Select(f => (Name: Path.GetFileNameWithoutExtension(f), Problem: Inputs.ReadProblem(f))).ToList();
        var settings = Algorithms.settings(TimeSpan.FromSeconds(timeLimit), seed, token);
        var rows = new List<Row>();
        Output.Err.Progress().AutoClear(true).HideCompleted(true).Start(ctx =>
        {
            var task = ctx.AddTask("planning", maxValue: problems.Count * selected.Count);
            foreach (var (name, problem) in problems)
            {
                var lowerBound = Bounds.lowerBound(problem);
                foreach (var algorithm in selected)
                {
                    task.Description = $"{name}: {algorithm.Name}";
                    var watch = Stopwatch.StartNew();
                    var plan = Algorithms.run(algorithm, settings, problem);
                    var millis = watch.Elapsed.TotalMilliseconds;
                    var peak = PlanModule.peak(problem, plan);
                    rows.Add(new Row(name, problem.Buffers.Length, algorithm.Name, peak, lowerBound, CheckCommand.Ratio(peak, lowerBound), millis,
                        Validate.isValid(problem, plan)));
                    task.Increment(1);
                }
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

    static void PrintTables(List<Row> rows, List<string> algorithms)
    {
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
        Output.Out.Write(times);
    }
}
