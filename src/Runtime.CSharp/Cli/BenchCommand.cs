using Spectre.Console;
using System.CommandLine;
using System.Diagnostics;
using Pgmo.Planner;

namespace Pgmo.Cli;

/// <summary>`pgmo bench`: planning time against the number of buffers for every algorithm, on generated DNN-like traces.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var sizes = new Option<string>("--sizes") { Description = "comma-separated buffer counts", DefaultValueFactory = _ => "1000,10000,100000" };
        var algorithms = new Option<string?>("--algorithms") { Description = "comma-separated algorithms (default: all)" };
        var timeLimit = Commands.TimeLimitOption(1, "each search run");
        var repeats = new Option<int>("--repeats") { Description = "runs per cell; the fastest is reported", DefaultValueFactory = _ => 3 };
        var json = Commands.JsonOption();
        var command = new Command("bench", "Benchmark: planning time and peak / lower bound against n for every algorithm on generated DNN-like traces (layer chains).")
        {
            sizes, algorithms, timeLimit, repeats, json,
        };
        command.SetAction((r, token) => Task.FromResult(Run(r.GetValue(sizes)!, r.GetValue(algorithms), r.GetValue(timeLimit), r.GetValue(repeats),
            r.GetValue(json), token)));
        return command;
    }

    static int Run(string sizesText, string? algorithmNames, double timeLimit, int repeats, bool json, CancellationToken token)
    {
        var sizes = sizesText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.TryParse(s, out var n) && n > 0 ? n : throw new UsageException($"--sizes: '{s}' is not a positive count")).ToList();
        if (repeats < 1) throw new UsageException("--repeats must be at least 1");
        var selected = algorithmNames is null
            ? Algorithms.all.ToList()
            : algorithmNames.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(PlanCommand.Find).ToList();
        var settings = Algorithms.settings(TimeSpan.FromSeconds(timeLimit), 1, token);
        var rows = new List<object>();
        var table = Output.Table(new[] { "buffers" }.Concat(selected.Select(a => a.Name)).Append("search overrun"),
                new HashSet<string>(selected.Select(a => a.Name).Append("buffers").Append("search overrun")))
            .Title("planning time (fastest of repeats) and peak / lower bound, generated DNN-like traces");
        foreach (var n in sizes)
        {
            var problem = Traces.chainOfSize(1, n);
            var lowerBound = Bounds.lowerBound(problem);
            var cells = new List<string> { problem.Buffers.Length.ToString() };
            // the slowest search run beyond its --time-limit (setup included): the time limit's overrun
            var overrun = (double?)null;
            foreach (var algorithm in selected)
            {
                Output.Err.MarkupLine($"[grey]n={problem.Buffers.Length} {algorithm.Name}...[/]");
                var best = double.MaxValue;
                long peak = 0;
                for (var i = 0; i < repeats; i++)
                {
                    var watch = Stopwatch.StartNew();
                    var plan = Algorithms.run(algorithm, settings, problem);
                    best = Math.Min(best, watch.Elapsed.TotalMilliseconds);
                    if (algorithm.Name == "search")
                        overrun = Math.Max(overrun ?? 0, watch.Elapsed.TotalMilliseconds - timeLimit * 1000);
                    peak = PlanModule.peak(problem, plan);
                    if (!Validate.isValid(problem, plan)) throw new InvalidOperationException($"{algorithm.Name} produced an invalid plan at n={n}");
                }
                var ratio = CheckCommand.Ratio(peak, lowerBound);
                cells.Add($"{Output.Millis(best)} ({ratio:0.000})");
                rows.Add(new { buffers = problem.Buffers.Length, algorithm = algorithm.Name, millis = best, peak, lowerBound, ratio });
            }
            cells.Add(overrun is { } o ? (o > 0 ? $"+{Output.Millis(o)}" : "none") : "");
            table.AddRow(cells.ToArray());
        }
        Output.Out.Write(table);
        if (json) Output.JsonLine(new { rows });
        return ExitCodes.Success;
    }
}
