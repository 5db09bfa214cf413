using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using Pgmo.Inference;
using Pgmo.Kernels;
using Pgmo.Memory;
using Pgmo.Models;
using Pgmo.Planner;
using Pgmo.Training;

namespace Pgmo.Cli;

/// <summary>`pgmo infer`: the forward pass of a network on seeded synthetic inputs, batch after batch, with latency,
/// samples per second and each allocator's peak.</summary>
public static class InferCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "network (see `pgmo models`): mlp, cnn, lenet, resnet (digits-sized) or alexnet, vgg16, googlenet, resnet50, inception3", Required = true };
        var imageSize = ModelOptions.ImageSizeOption();
        var batch = new Option<string>("--batch") { Description = "samples per batch, or max: the largest batch whose run fits --memory-limit under the allocator (dry runs through its own policy, then one confirming real batch), and each allocator's largest beside it", HelpName = "N|max", DefaultValueFactory = _ => "32" };
        var steps = new Option<int>("--steps") { Description = "timed batches, after one warm-up batch", DefaultValueFactory = _ => 10 };
        var allocator = Choices.AllocatorOption(AllocatorKind.Planned);
        var memoryLimit = new Option<string?>("--memory-limit") { Description = "device memory the allocator may hold, e.g. 1GiB (CPU: a simulated device of that size; CUDA: defaults to the free device memory). A request past it, after the pools gave back their cached segments, ends the run with one 'out of memory' line and exit code 1", HelpName = "SIZE" };
        var convWorkspace = ModelOptions.ConvWorkspaceOption(auto: true);
        var planner = Choices.AlgorithmOption("planning algorithm of --allocator planned", Algorithms.bestFit, listWord: false, "--planner");
        var timeLimit = Commands.TimeLimitOption(5, "each plan of a time-bounded planning algorithm (search) with --allocator planned");
        var trace = new Option<string?>("--trace") { Description = "with --allocator planned: write the planned batch's trace (problem CSV with a tag column) to this file" };
        var compare = new Option<bool>("--compare-allocators") { Description = "also run pool, torch-pool, torch-expandable and planned side by side on this accelerator: each at its largest batch under --memory-limit with --batch max (else at --batch), median batch latency, samples/s and peak" };
        var compareWorkspaces = new Option<bool>("--compare-workspaces") { Description = "also run the planned allocator with the fixed --conv-workspace bound (default 8MiB) and with auto side by side at this batch on this accelerator: plan peak (the same), median batch latency and samples/s" };
        var accelerator = new Option<string>("--accelerator") { Description = "auto (CUDA when present, else CPU), cpu or cuda", DefaultValueFactory = _ => "auto" };
        var opTimes = new Option<bool>("--op-times") { Description = OpTimesReport.Description.Replace("a step's", "a batch's").Replace("per step", "per batch").Replace("share of the step), over the steps after the first", "share of the batch), over the timed batches") };
        var tf32 = new Option<bool>("--tf32") { Description = TrainCommand.Tf32Description };
        var seed = new Option<int>("--seed") { Description = "seed of the weights and of the synthetic inputs", DefaultValueFactory = _ => 1 };
        var json = Commands.JsonOption();
        var trade = new Option<string>("--trade") { Description = TradeDescription, HelpName = "none", DefaultValueFactory = _ => "none" };
        var command = new Command("infer", "Run a network forward (inference: running batch-norm statistics, no dropout, no tape; every activation freed after its last use) on seeded synthetic inputs and report batch latency, samples per second and each allocator's peak.")
        {
            model, imageSize, batch, steps, allocator, memoryLimit, convWorkspace, planner, timeLimit, trace, compare, compareWorkspaces, accelerator, seed, opTimes, tf32, trade, json,
        };
        command.SetAction(r =>
        {
            var info = ModelOptions.Find(r.GetValue(model)!);
            if (TrainCommand.ParseTrade(r.GetValue(trade)!) != TradeChoice.None)
                throw new UsageException("--trade: inference keeps nothing for backward (every activation is freed after its last forward use), so there is nothing to offload or recompute; --trade applies to train");
            int n = TrainCommand.ParseBatch(r.GetValue(batch)!);
            int k = r.GetValue(steps);
            if (k < 1) throw new UsageException($"--steps must be at least 1, got {k}");
            var kind = r.GetValue(allocator) ?? AllocatorKind.Planned;
            // the planned allocator's options mean nothing to the others: said, not silently ignored (as train does)
            if (kind != AllocatorKind.Planned)
                foreach (var o in new Option[] { planner, timeLimit, trace })
                    if (r.GetResult(o) is { Implicit: false })
                        throw new UsageException($"{o.Name} needs --allocator planned (the allocator is {kind.Name()})");
            var (workspace, grow) = ModelOptions.ConvWorkspace(r.GetValue(convWorkspace), kind, PlanSource.DryRun);
            var options = new InferOptions
            {
                Model = info.Name, Batch = n, Steps = k, Allocator = kind, Seed = r.GetValue(seed),
                Accelerator = Device.Parse(r.GetValue(accelerator)!) ?? throw new UsageException($"--accelerator: unknown accelerator '{r.GetValue(accelerator)}' (expected auto, cpu or cuda)"),
                MemoryLimit = r.GetValue(memoryLimit) is { } limit ? Inputs.ParseBytes(limit, "--memory-limit") : null,
                ImageSize = ModelOptions.ImageSize(info, r.GetValue(imageSize)),
                ConvWorkspaceBytes = workspace, GrowConvWorkspaces = grow,
                Planned = new PlannedAllocatorOptions
                {
                    Algorithm = r.GetValue(planner)!,
                    Settings = PlannerApi.Settings(TimeSpan.FromSeconds(r.GetValue(timeLimit)), 1, CancellationToken.None),
                    OnLog = e => Console.Error.WriteLine($"  planned allocator, batch {e.Iteration}: {e.Kind.ToString().ToLowerInvariant()}: {e.Message}"),
                },
            };
            try { return Infer(options, r.GetValue(json), r.GetValue(trace), r.GetValue(compare), r.GetValue(compareWorkspaces), r.GetValue(opTimes), r.GetValue(tf32)); }
            catch (OutOfDeviceMemoryException e)
            {
                Console.Error.WriteLine($"pgmo infer: {e.Message}");
                return ExitCodes.Failure;
            }
        });
        return command;
    }

    /// <summary>One batch's memory under each allocator, from the trace of one batch: both pools replaying it, the
    /// plan's peak and the lower bound.</summary>
    sealed record BatchPeaks(long Pool, long TorchPool, long TorchExpandable, long Plan, long LowerBound, string Algorithm);

    static BatchPeaks Peaks(InferOptions options, PlanRecord? plan)
    {
        if (plan is not null) return new(plan.PoolPeakBytes, plan.TorchPoolPeakBytes, plan.TorchExpandablePeakBytes, plan.PlanPeakBytes, plan.LowerBoundBytes, plan.Algorithm);
        var problem = Session.DryRunTrace(options).Problem;
        var planned = options.Planned.Algorithm.Plan(problem, options.Planned.Settings);
        return new(PlannerApi.SimulatePool(PoolPolicy.CuPy, problem).Reserved, PlannerApi.SimulatePool(PoolPolicy.Torch, problem).Reserved,
            PlannerApi.SimulatePool(PoolPolicy.TorchExpandable, problem).Reserved, DeviceAllocator.Aligned(planned.Peak), PlannerApi.LowerBound(problem), options.Planned.Algorithm.Name);
    }

    static int Infer(InferOptions options, bool json, string? tracePath, bool compare, bool compareWorkspaces, bool opTimes, bool tf32)
    {
        var info = ModelZoo.Find(options.Model)!;
        // the samples of the side-by-side runs and of the confirming batches of --batch max
        var samples = new SyntheticData(info.InputShapeAt(options.ImageSize ?? info.ImageSize), info.Classes, options.Seed).Take(64);
        Device device;
        try { device = Device.Create(options.Accelerator); }
        catch (InvalidOperationException e) { throw new UsageException($"--accelerator: {e.Message}"); }
        using var _ = device;
        TrainCommand.UseTf32(device, tf32);
        options = options with { MemoryLimit = SideBySide.Limit(options.MemoryLimit, device) };
        bool max = options.Batch == TrainCommand.MaxBatchRequest;
        Dictionary<AllocatorKind, int>? largest = null;
        if (max)
        {
            if (options.MemoryLimit is not long limit) throw new UsageException("--batch max needs --memory-limit (on a CUDA device the free memory is the default)");
            Console.Error.WriteLine($"searching the largest inference batch of {options.Model} within {Output.Bytes(limit)} under each allocator (dry runs, then one real batch)");
            var failures = new Dictionary<AllocatorKind, OutOfDeviceMemoryException?>();
            largest = SideBySide.Compared.Append(options.Allocator).Distinct()
                .ToDictionary(k => k, k => { int b = SideBySide.LargestBatch(options with { Allocator = k }, false, device, samples, out var f); failures[k] = f; return b; });
            Console.Error.WriteLine("  largest batch: " + string.Join(", ", largest.Select(kv => $"{kv.Key.Name()} {kv.Value}")));
            if (largest[options.Allocator] == 0)
            {
                Console.Error.WriteLine(SideBySide.NothingFits("infer", options, limit, failures[options.Allocator]));
                return ExitCodes.Failure;
            }
            options = options with { Batch = largest[options.Allocator] };
        }
        InferResult result;
        // the warm-up batch is not timed
        var times = opTimes ? new Nn.OpTimes(device.Synchronize) { WarmupSteps = 1 } : null;
        AllocatorReport report;
        int parameters;
        using (var inferencer = new Inferencer(options, device))
        {
            string limitText = options.MemoryLimit is long l ? $", limit {Output.Bytes(l)}" : "";
            parameters = (int)Math.Min(int.MaxValue, inferencer.Model.ParameterCount);
            Console.Error.WriteLine($"inference of {options.Model} ({inferencer.Model.ParameterCount:N0} parameters, {string.Join("x", inferencer.Model.InputShape)} inputs) on synthetic data, " +
                                    $"{device.Description}, batch {options.Batch}, 1 warm-up + {options.Steps} timed batches, {options.Allocator.Name()} allocator{limitText}");
            inferencer.Tape.OpTimes = times;
            int every = Math.Max(1, options.Steps / 10);
            result = inferencer.Run((i, ms) =>
            {
                if (i % every == 0 || i == options.Steps) Console.Error.WriteLine($"  batch {i,5}/{options.Steps}  {Output.Millis(ms),10}  {options.Batch * 1000.0 / ms,8:0.0} samples/s");
            });
            inferencer.Tape.OpTimes = null;
            report = inferencer.Allocator.Report();
        }
        var plan = report.FirstPlan;
        if (tracePath is not null)
        {
            if (plan is null) throw new InvalidOperationException("no batch was planned");
            Output.WriteAtomically(tracePath, PlannerApi.TraceCsv(plan.Trace.Problem, plan.Trace.Tags));
        }
        var peaks = Peaks(options, plan);
        var latency = Timing.Summarize(result.BatchMillis);
        double samplesPerSecond = options.Batch * 1000.0 / latency.MedianMillis;
        IReadOnlyList<AllocatorRun>? runs = compare ? SideBySide.CompareAllocators(options, largest, options.Steps, device, samples) : null;
        IReadOnlyList<WorkspaceRun>? workspaces = compareWorkspaces ? SideBySide.CompareWorkspaces(options, options.Steps, device, samples) : null;

        var table = SideBySide.RunTable($"pgmo infer {result.Model}", result.Accelerator, result.Allocator, options.MemoryLimit, options.Batch, max);
        table.AddRow("GEMM math", device.Kernels!.Tf32Active ? "TF32 tensor cores (--tf32)" : "FP32");
        table.AddRow("batch latency (median ±half IQR)", latency.ToString());
        table.AddRow("samples per second", $"{samplesPerSecond:0.0}");
        table.AddRow("allocator peak (reserved)", Output.Bytes(result.PeakBytes));
        table.AddRow("allocator peak (in use)", Output.Bytes(result.PeakInUseBytes));
        table.AddRow("one batch: pool peak (CuPy)", Output.Bytes(peaks.Pool));
        table.AddRow("one batch: torch-pool peak (PyTorch)", Output.Bytes(peaks.TorchPool));
        table.AddRow("one batch: torch-expandable peak (PyTorch, expandable segments)", Output.Bytes(peaks.TorchExpandable));
        table.AddRow($"one batch: plan peak ({peaks.Algorithm})", Output.Bytes(peaks.Plan));
        table.AddRow("one batch: lower bound", Output.Bytes(peaks.LowerBound));
        if (plan is not null) table.AddRow("batches replayed from the plan", $"{report.ReplayedIterations} of {report.Iterations}");
        if (largest is not null)
            foreach (var (k, b) in largest) table.AddRow($"largest batch within the limit: {k.Name()}", b.ToString(CultureInfo.InvariantCulture));
        Console.Out.Flush();
        Output.Out.Write(table);
        if (times is not null) Output.Out.Write(OpTimesReport.Table(times, $"op times of {result.Model} inference, batch {options.Batch}"));
        if (runs is not null) Output.Out.Write(SideBySide.ComparisonTable(runs, options.MemoryLimit, "batch"));
        if (workspaces is not null) Output.Out.Write(SideBySide.WorkspaceTable(workspaces, "batch"));
        if (json)
            Output.JsonLine(new
            {
                model = result.Model, imageSize = info.InputShapeAt(options.ImageSize ?? info.ImageSize)[1], parameters, batch = result.Batch, steps = options.Steps,
                accelerator = result.Accelerator, allocator = result.Allocator, memoryLimit = options.MemoryLimit,
                latencyMillis = latency.MedianMillis, latencySpreadMillis = latency.SpreadMillis, samplesPerSecond,
                peakBytes = result.PeakBytes, peakInUseBytes = result.PeakInUseBytes,
                poolPeakBytes = peaks.Pool, torchPoolPeakBytes = peaks.TorchPool, torchExpandablePeakBytes = peaks.TorchExpandable, planPeakBytes = peaks.Plan, lowerBoundBytes = peaks.LowerBound, planner = peaks.Algorithm,
                replayedIterations = report.ReplayedIterations, iterations = report.Iterations,
                maxBatch = largest?.ToDictionary(kv => kv.Key.Name(), kv => kv.Value),
                convWorkspaceBytes = options.ConvWorkspaceBytes, convWorkspaceAuto = options.GrowConvWorkspaces,
                tf32 = device.Kernels!.Tf32Active,
                opTimes = times is null ? null : OpTimesReport.Json(times),
                workspaces = workspaces?.Select(w => new { workspace = w.Workspace, batch = w.Batch, planPeakBytes = w.PlanPeakBytes, peakBytes = w.PeakBytes, latencyMillis = w.Step.MedianMillis, latencySpreadMillis = w.Step.SpreadMillis, samplesPerSecond = w.SamplesPerSecond }),
                allocators = runs?.Select(r => new { allocator = r.Allocator.Name(), batch = r.Batch, peakBytes = r.PeakBytes, latencyMillis = r.StepMillis, latencySpreadMillis = r.Step?.SpreadMillis, samplesPerSecond = r.SamplesPerSecond }),
            });
        return ExitCodes.Success;
    }

    /// <summary>The help text of infer's <c>--trade</c>.</summary>
    public const string TradeDescription =
        "none (the default) only: trade-offs move or drop buffers saved for backward, and inference keeps none (every activation is freed " +
        "after its last forward use); offload, recompute or both exit with code 2 (see train --trade)";
}
