using Spectre.Console;
using System.CommandLine;
using System.Diagnostics;
using Pgmo.Planner;

namespace Pgmo.Cli;

/// <summary>`pgmo bound PROBLEM.csv [--time-limit S] [--nodes N] [--witness FILE.csv]`: a lower bound above the max
/// load, proven by the exact search on relaxations of the problem at its high-load steps (proofs/stronger-bounds.md).</summary>
public static class BoundCommand
{
    public static Command Create()
    {
        var problemArg = new Argument<string>("problem") { Description = "problem CSV (id,lower,upper,size[,alignment])" };
        var timeLimit = Commands.TimeLimitOption(60, "all the relaxations together (the bound proven so far is kept)");
        var nodes = new Option<long>("--nodes")
        {
            Description = "most search nodes of each exact decision on a relaxation",
            DefaultValueFactory = _ => StrongBounds.nodesPerDecision,
            Validators = { r => { if (r.GetValueOrDefault<long>() < 1) r.AddError("--nodes must be at least 1"); } },
        };
        var witness = new Option<string?>("--witness") { Description = "write the relaxation that proved the bound here (problem CSV): `pgmo solve FILE.csv --capacity C --solver exact` rechecks it" };
        var json = Commands.JsonOption();
        var command = new Command("bound", "Lower bound above the max load: the exact search proves that the problem seen only at its high-load steps does not fit under a capacity, so no plan of the whole problem does either. Exit 0 whether or not it rises.")
        {
            problemArg, timeLimit, nodes, witness, json,
        };
        command.SetAction((r, token) => Task.FromResult(Run(r.GetValue(problemArg)!, r.GetValue(timeLimit), r.GetValue(nodes), r.GetValue(witness),
            r.GetValue(json), token)));
        return command;
    }

    static int Run(string problemPath, double timeLimit, long nodeLimit, string? witnessPath, bool json, CancellationToken token)
    {
        var clock = Stopwatch.StartNew();
        var problem = Inputs.ReadProblem(problemPath);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(token);
        cts.CancelAfter(TimeSpan.FromSeconds(Math.Max(0, timeLimit - clock.Elapsed.TotalSeconds)));
        var options = PlannerApi.BoundOptions(nodeLimit, cts.Token);
        var result = StrongBounds.compute(options, problem);
        var millis = clock.ElapsedMilliseconds;
        var attempts = result.Attempts.ToList();
        // the relaxation whose proof set the bound: the last one refuted at bound - granularity
        var proof = attempts.LastOrDefault(a => a.RefutedCapacity + result.Granularity == result.Bound);
        var roundedMaxLoad = (result.MaxLoad + result.Granularity - 1) / result.Granularity * result.Granularity;

        var table = Output.Table(["load level", "steps", "buffers", "does not fit under", "last decision", "nodes"],
            new HashSet<string> { "steps", "buffers", "does not fit under", "nodes" });
        foreach (var a in attempts)
            table.AddRow(a.Level <= 0 ? "every step" : $"{a.Level:P0} of max load", a.Steps.Length.ToString(), a.Buffers.Length.ToString(),
                a.RefutedCapacity?.ToString() ?? "-", StrongBounds.describe(a.Outcome), a.Nodes.ToString());
        Output.Out.Write(table);
        var gain = result.MaxLoad == 0 ? 0.0 : 100.0 * (result.Bound - result.MaxLoad) / result.MaxLoad;
        Console.WriteLine($"bound {result.Bound} ({Output.Bytes(result.Bound)}), max load {result.MaxLoad}, +{gain:0.00} %, granularity {result.Granularity}, {Output.Millis(millis)}");
        if (result.Optimal)
            Console.WriteLine($"optimal: the whole problem fits under {result.Bound} bytes (`pgmo solve {problemPath} --capacity {result.Bound}` gives the plan)");
        if (proof is not null)
        {
            var level = proof.Level <= 0 ? "every step" : $"the {proof.Steps.Length} step(s) with load >= {proof.Level:P0} of the max load";
            Console.WriteLine($"proof: the problem seen at {level} ({proof.Buffers.Length} buffers) does not fit under {proof.RefutedCapacity} bytes");
            if (witnessPath is not null)
            {
                Output.WriteAtomically(witnessPath, PlannerApi.ProblemCsv(StrongBounds.atSteps(proof.Steps, problem).Item1));
                Console.WriteLine($"recheck: pgmo solve {witnessPath} --capacity {proof.RefutedCapacity} --solver exact  (infeasible)");
            }
        }
        else
        {
            if (!result.Optimal)
                Console.WriteLine(result.Bound > result.MaxLoad
                    ? $"no relaxation refuted; the bound is the max load rounded up to the granularity ({roundedMaxLoad})"
                    : "no relaxation refuted under the max load within the limits: the bound stays the max load");
            if (witnessPath is not null) Console.WriteLine($"--witness: nothing written, no relaxation was refuted");
        }
        if (json)
            Output.JsonLine(new
            {
                bound = result.Bound,
                lowerBound = result.MaxLoad,
                granularity = result.Granularity,
                raised = result.Bound > roundedMaxLoad,
                optimal = result.Optimal,
                millis,
                nodes = attempts.Sum(a => a.Nodes),
                attempts = attempts.Select(a => new
                {
                    level = a.Level,
                    steps = a.Steps.Length,
                    buffers = a.Buffers.Length,
                    refuted = a.RefutedCapacity,
                    outcome = StrongBounds.describe(a.Outcome),
                    nodes = a.Nodes,
                }),
            });
        return ExitCodes.Success;
    }
}
