using Spectre.Console;
using System.CommandLine;
using Pgmo.Planner;

namespace Pgmo.Cli;

/// <summary>`pgmo check PROBLEM.csv PLAN.csv [--capacity C]`: validates a plan from anywhere.</summary>
public static class CheckCommand
{
    const int ShownViolations = 20;

    public static Command Create()
    {
        var problemArg = new Argument<string>("problem") { Description = "problem CSV (id,lower,upper,size[,alignment])" };
        var planArg = new Argument<string>("plan") { Description = "plan CSV (the problem's columns plus offset), rows matched by id" };
        var capacity = new Option<string?>("--capacity") { Description = "also check that every buffer ends at or below this many bytes (e.g. 1048576 or 1MiB)" };
        var json = Commands.JsonOption();
        var command = new Command("check", "Validate a plan: no two buffers live at the same step overlap in address; offsets are non-negative and aligned; all ids match; optional capacity. Exit 0 when valid, 1 when the plan has violations, 2 on bad input.")
        {
            problemArg, planArg, capacity, json,
        };
        command.SetAction(r => Run(r.GetValue(problemArg)!, r.GetValue(planArg)!, r.GetValue(capacity), r.GetValue(json)));
        return command;
    }

    static int Run(string problemPath, string planPath, string? capacityText, bool json)
    {
        var problem = Inputs.ReadProblem(problemPath);
        var (planned, offsets) = Inputs.ReadPlan(planPath);
        long? capacity = capacityText is null ? null : Inputs.ParseBytes(capacityText, "--capacity");
        if (!PlannerApi.TryAssign(problem, planned, offsets, out var plan, out var mismatches))
        {
            var problems = mismatches.Select(PlannerApi.Describe).ToList();
            throw new UsageException($"{planPath}: the plan's rows do not match {problemPath}: " +
                string.Join("; ", problems.Take(ShownViolations)) + (problems.Count > ShownViolations ? $"; and {problems.Count - ShownViolations} more" : ""));
        }
        var violations = PlannerApi.Violations(problem, plan, capacity).Select(PlannerApi.Describe).ToList();
        var peak = PlannerApi.Peak(problem, plan);
        var lowerBound = PlannerApi.LowerBound(problem);
        var valid = violations.Count == 0;
        if (valid)
            Console.WriteLine($"valid: {problem.Buffers.Length} buffers, peak {peak} ({Output.Bytes(peak)}), lower bound {lowerBound}, ratio {Ratio(peak, lowerBound):0.0000}");
        else
        {
            Console.WriteLine($"INVALID: {violations.Count}{(violations.Count >= PlannerApi.MaxOverlapsListed ? "+" : "")} violation(s)");
            foreach (var v in violations.Take(ShownViolations)) Console.WriteLine($"  {v}");
            if (violations.Count > ShownViolations) Console.WriteLine($"  ... and {violations.Count - ShownViolations} more");
        }
        if (json) Output.JsonLine(new { valid, violations, peak, lowerBound });
        return valid ? ExitCodes.Success : ExitCodes.Failure;
    }

    /// <summary>peak / lower bound (1 when both are 0).</summary>
    public static double Ratio(long peak, long lowerBound) => lowerBound == 0 ? 1.0 : (double)peak / lowerBound;
}
