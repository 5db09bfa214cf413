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
        var repeats = new Option<int>("--repeats") { Description = "runs per cell; their median and spread are reported", DefaultValueFactory = _ => 3 };
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
        var selected = Choices.Algorithms(algorithmNames);
        var settings = PlannerApi.Settings(TimeSpan.FromSeconds(timeLimit), 1, token);
        var rows = new List<object>();
        var times = selected.ToDictionary(a => a.Name, _ => new List<(double Buffers, double Millis)>());
        var table = Output.Table(new[] { "buffers" }.Concat(selected.Select(a => a.Name)).Append("search overrun"),
                new HashSet<string>(selected.Select(a => a.Name).Append("buffers").Append("search overrun")))
            .Title("planning time (median ±half the interquartile range of the repeats) and peak / lower bound, generated DNN-like traces");
        foreach (var n in sizes)
        {
            var problem = Traces.chainOfSize(1, n);
            var lowerBound = PlannerApi.LowerBound(problem);
            var cells = new List<string> { problem.Buffers.Length.ToString() };
            // the slowest search run beyond its --time-limit (setup included): the time limit's overrun
            var overrun = (double?)null;
            foreach (var algorithm in selected)
            {
                Output.Err.MarkupLine($"[grey]n={problem.Buffers.Length} {algorithm.Name}...[/]");
                long peak = 0;
                var millis = new List<double>(repeats);
                for (var i = 0; i < repeats; i++)
                {
                    var watch = Stopwatch.StartNew();
                    var planned = algorithm.Plan(problem, settings);
                    var elapsed = watch.Elapsed.TotalMilliseconds;
                    millis.Add(elapsed);
                    if (algorithm.Name == "search")
                        overrun = Math.Max(overrun ?? 0, elapsed - timeLimit * 1000);
                    // validated outside the timed part
                    peak = planned.Peak;
                    if (planned.TryGetPlan(out var plan) && PlannerApi.Violations(problem, plan, null).Length > 0)
                        throw new InvalidOperationException($"{algorithm.Name} produced an invalid plan at n={n}");
                }
                var timing = Timing.Summarize(millis);
                var ratio = CheckCommand.Ratio(peak, lowerBound);
                cells.Add($"{timing} ({ratio:0.000})");
                times[algorithm.Name].Add((problem.Buffers.Length, timing.MedianMillis));
                rows.Add(new
                {
                    buffers = problem.Buffers.Length, algorithm = algorithm.Name, millis = timing.MedianMillis, spreadMillis = timing.SpreadMillis,
                    minMillis = timing.MinMillis, peak, lowerBound, ratio,
                });
            }
            cells.Add(overrun is { } o ? (o > 0 ? $"+{Output.Millis(o)}" : "none") : "");
            table.AddRow(cells.ToArray());
        }
        var exponent = times.ToDictionary(kv => kv.Key, kv => Timing.GrowthExponent(kv.Value.Select(t => t.Buffers).ToList(), kv.Value.Select(t => t.Millis).ToList()));
        table.AddRow(new[] { "exponent" }.Concat(selected.Select(a => double.IsNaN(exponent[a.Name]) ? "-" : $"n^{exponent[a.Name]:0.00}")).Append("").ToArray());
        Output.Out.Write(table);
        Output.Out.WriteLine("exponent: the slope of log(median time) against log(n), a least-squares fit over the sizes (MathNet Fit.Line)");
        if (json) Output.JsonLine(new { rows, exponent = exponent.ToDictionary(kv => kv.Key, kv => double.IsNaN(kv.Value) ? (double?)null : kv.Value) });
        return ExitCodes.Success;
    }
}
