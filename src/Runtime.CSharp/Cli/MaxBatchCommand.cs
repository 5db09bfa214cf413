using Spectre.Console;
using System.CommandLine;
using System.Diagnostics;
using Pgmo.Memory;
using Pgmo.Planner;
using Pgmo.Profiling;
using Pgmo.Training;

namespace Pgmo.Cli;

/// <summary>`pgmo max-batch --model NAME --budget SIZE`: the largest batch whose training run fits a budget under each
/// allocator, with the meaning of `pgmo train --batch max` (<see cref="MaxBatch"/>).</summary>
public static class MaxBatchCommand
{
    /// <summary>The allocators max-batch reports, in its table's order.</summary>
    public static IReadOnlyList<AllocatorKind> Reported { get; } = [AllocatorKind.Pool, AllocatorKind.TorchPool, AllocatorKind.TorchExpandable, AllocatorKind.Planned, AllocatorKind.Naive];

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "network (see `pgmo models`)", Required = true };
        var budget = new Option<string>("--budget") { Description = "device memory budget, e.g. 16GiB, 80GiB, 512MiB, 1048576 (the --memory-limit of `pgmo train`)", Required = true };
        var data = new Option<string?>("--data") { Description = "the run's data, as for `pgmo train`: digits (the default for the digits networks: the run also classifies the test set, in batches of the training batch) or synthetic (the paper networks' default: training only)" };
        var imageSize = ModelOptions.ImageSizeOption();
        var convWorkspace = ModelOptions.ConvWorkspaceOption();
        var algorithm = Choices.AlgorithmOption("planning algorithm of the planned allocator", Algorithms.bestFit, listWord: false, "-a");
        var cap = new Option<int>("--cap") { Description = "largest batch tried", DefaultValueFactory = _ => MaxBatch.DefaultCap };
        var timeLimit = Commands.TimeLimitOption(1, "each plan of a time-bounded algorithm (search)");
        var json = Commands.JsonOption();
        var command = new Command("max-batch", "Find the largest batch whose training run fits a memory budget under each allocator: CuPy's pool (pool), PyTorch's caching allocator (torch-pool) and its expandable segments (torch-expandable), the plan (planned) and naive. " +
                                               "Dry runs through each allocator's own policy under the budget, where the pools give back their cached segments and retry before failing, as CuPy and PyTorch do: the answer of `pgmo train --batch max --memory-limit BUDGET` before its confirming real step.")
        {
            model, budget, data, imageSize, convWorkspace, algorithm, cap, timeLimit, json,
        };
        command.SetAction((r, token) => Task.FromResult(Run(r.GetValue(model)!, r.GetValue(budget)!, r.GetValue(data), r.GetValue(imageSize), r.GetValue(convWorkspace),
            r.GetValue(algorithm)!, r.GetValue(cap), r.GetValue(timeLimit), r.GetValue(json), token)));
        return command;
    }

    static int Run(string modelName, string budgetText, string? dataText, int? imageSizeArg, string? convWorkspace, Algorithm algorithm, int cap, double timeLimit, bool json, CancellationToken token)
    {
        var info = ModelOptions.Find(modelName);
        var budget = Inputs.ParseBytes(budgetText, "--budget");
        bool evaluation = TrainCommand.Evaluates(ModelOptions.Data(info, dataText));
        if (cap < 1) throw new UsageException($"--cap must be at least 1, got {cap}");
        var options = new TrainOptions
        {
            Model = info.Name, ImageSize = ModelOptions.ImageSize(info, imageSizeArg), ConvWorkspaceBytes = ModelOptions.ConvWorkspace(convWorkspace), MemoryLimit = budget,
            Planned = new PlannedAllocatorOptions { Algorithm = algorithm, Settings = PlannerApi.Settings(TimeSpan.FromSeconds(timeLimit), 1, token) },
        };
        var watch = Stopwatch.StartNew();
        var found = new List<BatchSearch>();
        foreach (var k in Reported)
        {
            var f = MaxBatch.ForRun(options with { Allocator = k }, evaluation, cap);
            found.Add(f);
            Output.Err.WriteLine($"{k.Name()}: largest batch {f.Batch} ({f.Probes} batch sizes tried, {Output.Millis(watch.Elapsed.TotalMilliseconds)} so far)");
        }
        var millis = watch.Elapsed.TotalMilliseconds;
        var pool = found.Single(f => f.Allocator == AllocatorKind.Pool);
        var torch = found.Single(f => f.Allocator == AllocatorKind.TorchPool);
        var plan = found.Single(f => f.Allocator == AllocatorKind.Planned);

        string[] columns = ["allocator", "largest batch", "reserved at it", "vs pool", "vs torch-pool", "batch sizes tried"];
        var table = Output.Table(columns, new HashSet<string>(columns.Skip(1)));
        foreach (var f in found)
            table.AddRow(f.Allocator.Name() + (f.Allocator == AllocatorKind.Planned ? $" ({algorithm.Name})" : ""), f.Batch.ToString(), Output.Bytes(f.PeakReservedBytes),
                Gain(f.Batch, pool.Batch), Gain(f.Batch, torch.Batch), f.Probes.ToString());
        table.Title = new TableTitle($"{info.Name}, {options.ImageSize} px, within {Output.Bytes(budget)} ({(evaluation ? "training and test-set evaluation" : "training")})");
        Output.Out.Write(table);
        Console.WriteLine($"{info.Name} within {Output.Bytes(budget)}: pool allows batch {pool.Batch}, torch-pool batch {torch.Batch}, {algorithm.Name} plan batch {plan.Batch} " +
                          $"({Output.Millis(millis)})");
        if (json)
            Output.JsonLine(new
            {
                model = info.Name, imageSize = options.ImageSize, budget, poolMaxBatch = pool.Batch, torchPoolMaxBatch = torch.Batch, planMaxBatch = plan.Batch,
                torchExpandableMaxBatch = found.Single(f => f.Allocator == AllocatorKind.TorchExpandable).Batch, naiveMaxBatch = found.Single(f => f.Allocator == AllocatorKind.Naive).Batch, algorithm = algorithm.Name, evaluation,
                allocators = found.Select(f => new { allocator = f.Allocator.Name(), batch = f.Batch, peakBytes = f.PeakReservedBytes, probes = f.Probes }),
                millis,
            });
        return ExitCodes.Success;

        static string Gain(int batch, int baseline) => baseline > 0 ? $"{100.0 * (batch - baseline) / baseline:+0;-0;0} %" : "-";
    }
}
