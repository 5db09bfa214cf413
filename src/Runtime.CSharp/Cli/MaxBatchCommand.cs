using Spectre.Console;
using System.CommandLine;
using System.Diagnostics;
using Pgmo.Planner;
using Pgmo.Profiling;

namespace Pgmo.Cli;

/// <summary>`pgmo max-batch --model NAME --budget SIZE`: the largest batch whose iteration fits a budget under each pool and under a plan.</summary>
public static class MaxBatchCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "network (see `pgmo models`)", Required = true };
        var budget = new Option<string>("--budget") { Description = "device memory budget, e.g. 16GiB, 80GiB, 512MiB, 1048576", Required = true };
        var algorithm = Choices.AlgorithmOption("planning algorithm for the plan's peak", Algorithms.bestFit, listWord: false, "-a");
        var cap = new Option<int>("--cap") { Description = "largest batch tried", DefaultValueFactory = _ => MaxBatch.DefaultCap };
        var timeLimit = Commands.TimeLimitOption(1, "time-bounded algorithms (search), per batch size");
        var json = Commands.JsonOption();
        var command = new Command("max-batch", "Find the largest batch whose training iteration fits a memory budget, under CuPy's pool (pool), PyTorch's caching allocator (torch-pool) and a plan, by searching over dry-run traces.")
        {
            model, budget, algorithm, cap, timeLimit, json,
        };
        command.SetAction((r, token) => Task.FromResult(Run(r.GetValue(model)!, r.GetValue(budget)!, r.GetValue(algorithm)!, r.GetValue(cap),
            r.GetValue(timeLimit), r.GetValue(json), token)));
        return command;
    }

    static int Run(string modelName, string budgetText, Algorithm algorithm, int cap, double timeLimit, bool json, CancellationToken token)
    {
        var info = ProfileCommand.FindModel(modelName);
        var budget = Inputs.ParseBytes(budgetText, "--budget");
        if (cap < 1) throw new UsageException($"--cap must be at least 1, got {cap}");
        var settings = PlannerApi.Settings(TimeSpan.FromSeconds(timeLimit), 1, token);
        var watch = Stopwatch.StartNew();
        var search = MaxBatch.ForModel(info.Name, algorithm, settings);
        int pool = search.ForPool(budget, cap);
        Output.Err.WriteLine($"pool: largest batch {pool} ({search.Measured.Count()} batch sizes profiled so far)");
        int torch = search.ForTorchPool(budget, cap);
        Output.Err.WriteLine($"torch-pool: largest batch {torch} ({search.Measured.Count()} batch sizes profiled so far)");
        int expandable = search.ForTorchExpandable(budget, cap);
        Output.Err.WriteLine($"torch-expandable: largest batch {expandable} ({search.Measured.Count()} batch sizes profiled so far)");
        int plan = search.ForPlan(budget, cap);
        var millis = watch.Elapsed.TotalMilliseconds;

        string[] columns = ["batch", "buffers", "pool reserved", "torch-pool reserved", "torch-expandable reserved", "plan peak", "lower bound", "vs pool", "vs torch-pool", "vs torch-expandable"];
        var table = Output.Table(columns, new HashSet<string>(columns));
        foreach (var m in search.Measured)
            table.AddRow(m.Batch.ToString(), m.Buffers.ToString(), Output.Bytes(m.PoolReservedBytes), Output.Bytes(m.TorchPoolReservedBytes), Output.Bytes(m.TorchExpandableReservedBytes),
                Output.Bytes(m.PlanPeakBytes), Output.Bytes(m.LowerBoundBytes), $"{Memory.PlanRecord.Reduction(m.PoolReservedBytes, m.PlanPeakBytes):0.0} % less",
                $"{Memory.PlanRecord.Reduction(m.TorchPoolReservedBytes, m.PlanPeakBytes):0.0} % less", $"{Memory.PlanRecord.Reduction(m.TorchExpandableReservedBytes, m.PlanPeakBytes):0.0} % less");
        Output.Out.Write(table);
        Console.WriteLine($"{info.Name} within {Output.Bytes(budget)}: pool allows batch {pool}, torch-pool batch {torch}, torch-expandable batch {expandable}, {algorithm.Name} plan batch {plan} " +
                          $"({search.Measured.Count()} batch sizes profiled, {Output.Millis(millis)})");
        if (json)
            Output.JsonLine(new
            {
                model = info.Name, budget, poolMaxBatch = pool, torchPoolMaxBatch = torch, torchExpandableMaxBatch = expandable, planMaxBatch = plan, algorithm = algorithm.Name,
                profiled = search.Measured.Count(), millis,
            });
        return ExitCodes.Success;
    }
}
