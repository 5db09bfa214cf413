using Spectre.Console;
using System.CommandLine;
using System.Diagnostics;
using Pgmo.Planner;
using Pgmo.Planner.Optimal;

namespace Pgmo.Cli;

/// <summary>`pgmo plan PROBLEM.csv [--algorithm NAME] [--out PLAN.csv] [--svg FILE.svg] [--time-limit S]`.</summary>
public static class PlanCommand
{
    public static Command Create()
    {
        var problemArg = new Argument<string?>("problem") { Description = "problem CSV (id,lower,upper,size[,alignment])", Arity = ArgumentArity.ZeroOrOne };
        var algorithm = Choices.AlgorithmOption("planning algorithm", Algorithms.bestFit, listWord: true, "-a");
        var outFile = new Option<string?>("--out", "-o") { Description = "write the plan CSV (the problem's columns plus offset) here" };
        var svg = new Option<string?>("--svg") { Description = "draw the plan as SVG: time across, address up, with the peak and the lower bound" };
        var timeLimit = Commands.TimeLimitOption(5, "time-bounded algorithms (search, solver; with --nodes and no --time-limit: none)");
        var nodes = Commands.NodesOption("search and the solver: with one worker the same plan on any machine");
        var seed = new Option<int>("--seed") { Description = "random seed of randomized algorithms", DefaultValueFactory = _ => 1 };
        var json = Commands.JsonOption();
        var command = new Command("plan", "Plan an offset for every buffer so that buffers live at the same step never overlap, keeping the peak low.")
        {
            problemArg, algorithm, outFile, svg, timeLimit, nodes, seed, json,
        };
        command.SetAction((r, token) => Task.FromResult(Run(r.GetValue(problemArg), r.GetValue(algorithm)!, r.GetValue(outFile), r.GetValue(svg),
            Commands.Budget(r, timeLimit, nodes), r.GetValue(nodes), r.GetValue(seed), r.GetValue(json), token)));
        return command;
    }

    /// <summary>Plans with <paramref name="algorithm"/>, or lists the algorithms (<c>--algorithm list</c>).</summary>
    static int Run(string? problemPath, Algorithm algorithm, string? outFile, string? svg, TimeSpan timeLimit, long? nodes, int seed, bool json, CancellationToken token)
    {
        var clock = Stopwatch.StartNew();
        if (ReferenceEquals(algorithm, Choices.ListAlgorithms))
        {
            var table = Output.Table(["algorithm", "what it does"]);
            foreach (var a in Registry.all) table.AddRow(a.Name, Spectre.Console.Markup.Escape(a.Summary));
            Output.Out.Write(table);
            if (json) Output.JsonLine(new { algorithms = Choices.Names });
            return ExitCodes.Success;
        }
        if (problemPath is null) throw new UsageException("plan: missing PROBLEM.csv (or use --algorithm list)");
        var problem = Inputs.ReadProblem(problemPath);
        // reading the problem counts against the budget; a node budget alone runs on one worker (the same plan anywhere)
        var left = timeLimit == TimeSpan.MaxValue ? timeLimit : TimeSpan.FromTicks(Math.Max(0, (timeLimit - clock.Elapsed).Ticks));
        var settings = PlannerApi.SolveOptions(null, left, nodes, nodes is null ? 2 : 1, seed, token, null!, null!, SolverKind.Auto);
        var watch = Stopwatch.StartNew();
        var planned = algorithm.Plan(problem, settings);
        var millis = watch.Elapsed.TotalMilliseconds;
        if (!planned.TryGetPlan(out var plan))
        {
            // a bound only (the lower bound): nothing to validate or write
            if (outFile is not null || svg is not null)
                throw new UsageException($"plan: {algorithm.Name} gives no plan, only a bound; --out and --svg need a planning algorithm");
            var bound = planned.Peak;
            Console.WriteLine($"{Path.GetFileName(problemPath)}: {problem.Buffers.Length} buffers, {algorithm.Name}: {bound} ({Output.Bytes(bound)}), no plan, {Output.Millis(millis)}");
            if (json) Output.JsonLine(new { buffers = problem.Buffers.Length, peak = bound, lowerBound = bound, ratio = 1.0, algorithm = algorithm.Name, millis, valid = (bool?)null });
            return ExitCodes.Success;
        }
        var violations = PlannerApi.Violations(problem, plan, null);
        var valid = violations.Length == 0;
        var peak = planned.Peak;
        var lowerBound = PlannerApi.LowerBound(problem);
        var ratio = CheckCommand.Ratio(peak, lowerBound);
        var figures = new { buffers = problem.Buffers.Length, peak, lowerBound, ratio, algorithm = algorithm.Name, millis, valid };
        if (!valid)
        {
            foreach (var v in violations.Take(10)) Console.Error.WriteLine($"pgmo: {algorithm.Name} produced an invalid plan: {PlannerApi.Describe(v)}");
            if (json) Output.JsonLine(figures);
            return ExitCodes.Failure;
        }
        if (outFile is not null) Output.WriteAtomically(outFile, PlannerApi.PlanCsv(problem, plan));
        if (svg is not null) Output.WriteAtomically(svg, Svg.render($"{Path.GetFileName(problemPath)} — {algorithm.Name}", problem, plan));
        Console.WriteLine($"{Path.GetFileName(problemPath)}: {problem.Buffers.Length} buffers, {algorithm.Name}: peak {peak} ({Output.Bytes(peak)}), " +
                          $"lower bound {lowerBound} ({Output.Bytes(lowerBound)}), ratio {ratio:0.0000}, {Output.Millis(millis)}, valid");
        if (outFile is not null) Console.WriteLine($"plan written to {outFile}");
        if (svg is not null) Console.WriteLine($"picture written to {svg}");
        if (json) Output.JsonLine(figures);
        return ExitCodes.Success;
    }
}
