using System.CommandLine;
using Spectre.Console;
using Pgmo.Kernels;
using Pgmo.Memory;
using Pgmo.Models;
using Pgmo.Planner;
using Pgmo.Profiling;
using Pgmo.Training;

namespace Pgmo.Cli;

/// <summary>`pgmo train`: trains a network on the bundled digits or on synthetic data with the ILGPU runtime and reports loss, accuracy, time and memory.</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "network to train (see `pgmo models`): mlp, cnn, lenet, resnet (digits-sized) or alexnet, vgg16, googlenet, resnet50, inception3", DefaultValueFactory = _ => ModelZoo.Default };
        var data = new Option<string?>("--data") { Description = "digits (the bundled 8x8 digits, seeded stratified 80/20 split; default for the digits networks) or synthetic (seeded random inputs and labels, fresh every step, no test set; default for the paper networks)" };
        var imageSize = ModelOptions.ImageSizeOption();
        var batch = new Option<string>("--batch") { Description = "samples per step, or max: the largest batch whose run fits --memory-limit under the allocator (dry runs through its own policy, then one confirming real step)", HelpName = "N|max", DefaultValueFactory = _ => "32" };
        var steps = new Option<int>("--steps") { Description = "optimizer steps", DefaultValueFactory = _ => 150 };
        var allocator = Choices.AllocatorOption(AllocatorKind.Planned);
        var memoryLimit = new Option<string?>("--memory-limit") { Description = "device memory the allocator may hold, e.g. 8MiB (CPU: a simulated device of that size; CUDA: defaults to the free device memory). A request past it, after the pools gave back their cached segments, ends the run with one 'out of memory' line and exit code 1", HelpName = "SIZE" };
        var planFrom = new Option<string>("--plan-from") { Description = "with --allocator planned: dry-run (plan a shapes-only run of the first iteration before the first step, so the whole run's peak is the plan's) or profile (serve the first iteration from the fallback pool, then plan its profile)", HelpName = "dry-run|profile", DefaultValueFactory = _ => "dry-run" };
        var convWorkspace = ModelOptions.ConvWorkspaceOption(auto: true);
        var planner = Choices.AlgorithmOption("planning algorithm of --allocator planned", Algorithms.bestFit, listWord: false, "--planner");
        var plannerDebug = new Option<bool>("--planner-debug") { Description = "with --allocator planned: check at run time that the arena never hands out overlapping live memory" };
        var trace = new Option<string?>("--trace") { Description = "with --allocator planned: write the planned iteration's trace (problem CSV with a tag column) to this file" };
        var timeLimit = Commands.TimeLimitOption(5, "each plan of a time-bounded planning algorithm (search) with --allocator planned");
        var compare = new Option<bool>("--compare-allocators") { Description = "also run pool, torch-pool, torch-expandable and planned side by side on this accelerator: each at its largest batch under --memory-limit with --batch max (else at --batch), median steady-state step time, samples/s and peak" };
        var compareWorkspaces = new Option<bool>("--compare-workspaces") { Description = "also run the planned allocator with the fixed --conv-workspace bound (default 8MiB) and with auto side by side at this batch on this accelerator: plan peak (the same), median step time and samples/s" };
        var accelerator = new Option<string>("--accelerator") { Description = "auto (CUDA when present, else CPU), cpu or cuda", DefaultValueFactory = _ => "auto" };
        var seed = new Option<int>("--seed") { Description = "seed of the split, the shuffling and the initialization", DefaultValueFactory = _ => 1 };
        var lr = new Option<float?>("--lr") { Description = "learning rate (SGD, momentum 0.9, weight decay 1e-4; x0.1 for the last quarter); default 0.05 for the digits networks, 0.01 for the paper networks" };
        var opTimes = new Option<bool>("--op-times") { Description = OpTimesReport.Description };
        var tf32 = new Option<bool>("--tf32") { Description = Tf32Description };
        var json = new Option<bool>("--json") { Description = "also print the figures as one JSON object on the last line of standard output" };
        var trade = new Option<string>("--trade") { Description = TradeDescription, HelpName = "none|offload|recompute|both", DefaultValueFactory = _ => "none" };
        var command = new Command("train", "Train a network on the bundled 8x8 digits (seeded stratified 80/20 split) or on seeded synthetic data and report final loss, test accuracy, step time and the allocator's peak.")
        {
            model, data, imageSize, batch, steps, allocator, memoryLimit, planFrom, convWorkspace, planner, timeLimit, plannerDebug, trace, compare, compareWorkspaces, accelerator, seed, lr, opTimes, tf32, trade, json,
        };
        command.SetAction(r =>
        {
            var info = ModelOptions.Find(r.GetValue(model)!);
            var options = Validate(info.Name, ParseBatch(r.GetValue(batch)!), r.GetValue(steps), r.GetValue(allocator) ?? AllocatorKind.Planned, r.GetValue(planner)!,
                r.GetValue(plannerDebug), r.GetValue(accelerator)!, r.GetValue(seed), r.GetValue(lr) ?? info.LearningRate) with
            {
                MemoryLimit = r.GetValue(memoryLimit) is { } limit ? Inputs.ParseBytes(limit, "--memory-limit") : null,
                ImageSize = ModelOptions.ImageSize(info, r.GetValue(imageSize)),
            };
            options = options with
            {
                Planned = options.Planned with
                {
                    PlanFrom = ParsePlanFrom(r.GetValue(planFrom)!), Settings = PlannerApi.Settings(TimeSpan.FromSeconds(r.GetValue(timeLimit)), 1, CancellationToken.None),
                },
            };
            var (workspace, grow) = ModelOptions.ConvWorkspace(r.GetValue(convWorkspace), options.Allocator, options.Planned.PlanFrom);
            options = options with { ConvWorkspaceBytes = workspace, GrowConvWorkspaces = grow, Trade = ParseTrade(r.GetValue(trade)!) };
            if (options.Trade != TradeChoice.None)
            {
                if (options.Allocator != AllocatorKind.Planned || options.Planned.PlanFrom != PlanSource.DryRun)
                    throw new UsageException("--trade plans trade-offs with the layout: it needs --allocator planned and --plan-from dry-run");
                if (grow) throw new UsageException("--trade and --conv-workspace auto cannot be combined yet");
                if (r.GetValue(compare) || r.GetValue(compareWorkspaces)) throw new UsageException("--trade cannot be combined with --compare-allocators or --compare-workspaces yet");
            }
            var source = ModelOptions.Data(info, r.GetValue(data));
            // the planned allocator's options mean nothing to the others: said, not silently ignored
            if (options.Allocator != AllocatorKind.Planned)
                foreach (var o in new Option[] { planner, timeLimit, planFrom, plannerDebug, trace })
                    if (r.GetResult(o) is { Implicit: false })
                        throw new UsageException($"{o.Name} needs --allocator planned (the allocator is {options.Allocator.Name()})");
            if (r.GetValue(compareWorkspaces) && options.Planned.PlanFrom != PlanSource.DryRun) throw new UsageException("--compare-workspaces runs the planned allocator from a dry-run plan: it needs --plan-from dry-run");
            try { return Train(options, source, r.GetValue(json), r.GetValue(trace), r.GetValue(compare), r.GetValue(compareWorkspaces), r.GetValue(opTimes), r.GetValue(tf32)); }
            catch (OutOfDeviceMemoryException e)
            {
                Console.Error.WriteLine($"pgmo train: {e.Message}");
                return ExitCodes.Failure;
            }
        });
        return command;
    }

    /// <summary>The help text of <c>--trade</c>.</summary>
    public const string TradeDescription =
        "with --allocator planned and --memory-limit: before the first step, choose buffers saved for backward to offload to host memory " +
        "(offload), or to drop and recompute in place from buffers kept anyway (recompute: element-by-element segments such as " +
        "relu(batch-norm(conv output)), residual adds and dropout), or either (both), between their last forward and first backward use, " +
        "so that the gap-aware plan fits the limit at the least modelled time: offload 2 x bytes / the host<->device bandwidth, recompute " +
        "its element passes x bytes / the device's element-by-element bandwidth, both measured once before planning (32 MiB copied to a " +
        "page-locked host array and back, and a ReLU pass over it), both counted in full (on CUDA the copy out runs on a second stream " +
        "and may overlap the kernels that follow). " +
        "none (default), offload, recompute or both";

    /// <summary>The value of <c>--trade</c>.</summary>
    public static TradeChoice ParseTrade(string text) => text switch
    {
        "none" => TradeChoice.None,
        "offload" => TradeChoice.Offload,
        "recompute" => TradeChoice.Recompute,
        "both" => TradeChoice.Both,
        _ => throw new UsageException($"--trade: expected none, offload, recompute or both, got '{text}'"),
    };

    /// <summary>The help text of <c>--tf32</c> (train and infer).</summary>
    public const string Tf32Description =
        "TF32 tensor-core math for the GEMMs on CUDA (cuBLAS: inputs rounded to 10 mantissa bits, FP32 accumulation; as PyTorch's " +
        "allow_tf32); off by default, and no effect on the CPU accelerator";

    /// <summary>Turns <c>--tf32</c> on for <paramref name="device"/>'s GEMMs, saying on stderr when it has no effect there.</summary>
    public static void UseTf32(Device device, bool tf32)
    {
        if (!tf32) return;
        device.Kernels!.Tf32 = true;
        if (!device.Kernels.Tf32Active) Console.Error.WriteLine($"  --tf32: no effect on {device.Name} (TF32 applies to cuBLAS GEMMs on CUDA)");
    }

    /// <summary>The value of <c>--batch</c>: a positive count, or <see cref="MaxBatchRequest"/> for <c>max</c>.</summary>
    public static int ParseBatch(string text) =>
        text == "max" ? MaxBatchRequest
        : int.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int n) && n >= 1 ? n
        : throw new UsageException($"--batch must be a positive count or max, got '{text}'");

    /// <summary>The batch value standing for <c>--batch max</c> until the search replaces it.</summary>
    public const int MaxBatchRequest = 0;

    /// <summary>The value of <c>--plan-from</c>.</summary>
    public static PlanSource ParsePlanFrom(string text) => text switch
    {
        "dry-run" => PlanSource.DryRun,
        "profile" => PlanSource.Profile,
        _ => throw new UsageException($"--plan-from: expected dry-run or profile, got '{text}'"),
    };

    /// <summary>True when a run on <paramref name="source"/> ends with an evaluation: a run on the digits classifies
    /// their test set, in batches of the training batch.</summary>
    public static bool Evaluates(TrainingData source) => source == TrainingData.Digits;

    /// <summary>Checks the arguments; throws <see cref="UsageException"/> (exit 2) with a clear message. A batch of
    /// <see cref="MaxBatchRequest"/> asks for the largest batch under the memory limit.</summary>
    public static TrainOptions Validate(string model, int batch, int steps, AllocatorKind allocator, Algorithm algorithm, bool plannerDebug, string accelerator, int seed, float lr)
    {
        var info = ModelOptions.Find(model);
        if (batch < 0) throw new UsageException($"--batch must be at least 1, got {batch}");
        if (steps < 1) throw new UsageException($"--steps must be at least 1, got {steps}");
        var acc = Device.Parse(accelerator) ?? throw new UsageException($"--accelerator: unknown accelerator '{accelerator}' (expected auto, cpu or cuda)");
        if (!(lr > 0)) throw new UsageException($"--lr must be positive, got {lr}");
        return new TrainOptions
        {
            Model = info.Name, Batch = batch, Steps = steps, Allocator = allocator, Accelerator = acc, Seed = seed, LearningRate = lr,
            Planned = new PlannedAllocatorOptions
            {
                Algorithm = algorithm, Debug = plannerDebug,
                OnLog = e => Console.Error.WriteLine($"  planned allocator, iteration {e.Iteration}: {e.Kind.ToString().ToLowerInvariant()}: {e.Message}"),
            },
        };
    }

    static int Train(TrainOptions options, TrainingData source, bool json, string? tracePath, bool compare, bool compareWorkspaces, bool opTimes, bool tf32)
    {
        var data = source == TrainingData.Digits ? Digits.Load() : null;
        // the samples of the side-by-side runs and of the confirming step of --batch max
        var info = ModelZoo.Find(options.Model)!;
        var samples = data ?? new SyntheticData(info.InputShapeAt(options.ImageSize ?? info.ImageSize), info.Classes, options.Seed).Take(64);
        Device device;
        try { device = Device.Create(options.Accelerator); }
        catch (InvalidOperationException e) { throw new UsageException($"--accelerator: {e.Message}"); }
        using var _ = device;
        UseTf32(device, tf32);
        options = options with { MemoryLimit = SideBySide.Limit(options.MemoryLimit, device) };
        if (options.Trade != TradeChoice.None && options.TradeCosts is null)
        {
            // once per run, before planning: the largest-batch search and the run plan with the same costs
            var costs = TradeCosts.Measure(device);
            options = options with { TradeCosts = costs };
            Console.Error.WriteLine($"trade-off costs: copies {costs.OffloadBytesPerUs / 1000:0.00} GB/s, element passes {costs.ElementwiseBytesPerUs / 1000:0.00} GB/s ({costs.Source})");
        }
        bool max = options.Batch == MaxBatchRequest;
        if (max)
        {
            if (options.MemoryLimit is not long limit) throw new UsageException("--batch max needs --memory-limit (on a CUDA device the free memory is the default)");
            Console.Error.WriteLine($"searching the largest {options.Allocator.Name()} batch of {options.Model} within {Output.Bytes(limit)} (dry runs, then one real step)");
            int found = SideBySide.LargestBatch(options, Evaluates(source), device, samples, out var failure);
            if (found == 0)
            {
                Console.Error.WriteLine(SideBySide.NothingFits("train", options, limit, failure));
                return ExitCodes.Failure;
            }
            options = options with { Batch = found };
            Console.Error.WriteLine($"  largest batch: {found}");
        }
        var (batch, steps, allocator) = (options.Batch, options.Steps, options.Allocator);
        using var trainer = new Trainer(options, device);
        var times = opTimes ? new Nn.OpTimes(device.Synchronize) { WarmupSteps = steps > 1 ? 1 : 0 } : null;
        trainer.Tape.OpTimes = times;
        string limitText = options.MemoryLimit is long l ? $", limit {Output.Bytes(l)}" : "";
        Console.Error.WriteLine($"training {options.Model} ({trainer.Model.ParameterCount:N0} parameters, {string.Join("x", trainer.Model.InputShape)} inputs) on " +
                                $"{(data is null ? "synthetic data" : "the digits")}, {device.Description}, batch {batch}, {steps} steps, {allocator.Name()} allocator{limitText}");
        int every = Math.Max(1, steps / 20);
        Action<int, float, double> progress = (step, loss, rate) =>
        {
            if (step % every == 0 || step == steps)
                Console.Error.WriteLine($"  step {step,5}/{steps}  loss {loss,8:0.0000}  {rate,8:0} samples/s");
        };
        var result = data is null ? trainer.FitSynthetic(progress) : trainer.Fit(data, progress);
        trainer.Tape.OpTimes = null;
        var report = trainer.Allocator.Report();
        var plan = report.FirstPlan;
        IReadOnlyList<AllocatorRun>? runs = compare ? SideBySide.CompareAllocators(options, max ? SideBySide.LargestBatches(options, Evaluates(source), device, samples) : null, options.Steps, device, samples) : null;
        IReadOnlyList<WorkspaceRun>? workspaces = compareWorkspaces ? SideBySide.CompareWorkspaces(options, options.Steps, device, samples) : null;
        if (tracePath is not null)
        {
            if (plan is null) throw new InvalidOperationException("no iteration was planned");
            Output.WriteAtomically(tracePath, PlannerApi.TraceCsv(plan.Trace.Problem, plan.Trace.Tags));
        }
        double samplesPerSecond = batch * 1000.0 / result.StepMillis;
        var table = SideBySide.RunTable($"pgmo train {result.Model}", result.Accelerator, result.Allocator, options.MemoryLimit, batch, max);
        table.AddRow("loss (first → final)", $"{result.InitialLoss:0.0000} → {result.FinalLoss:0.0000}");
        table.AddRow("test accuracy", result.TestAccuracy is { } accuracy ? $"{accuracy:P2}" : "none (synthetic data)");
        table.AddRow("GEMM math", device.Kernels!.Tf32Active ? "TF32 tensor cores (--tf32)" : "FP32");
        table.AddRow("mean step time", $"{result.StepMillis:0.00} ms");
        table.AddRow("samples per second", $"{samplesPerSecond:0.0}");
        table.AddRow("allocator peak while training (reserved)", Output.Bytes(result.TrainPeakBytes));
        table.AddRow("allocator peak with evaluation (reserved)", Output.Bytes(result.PeakBytes));
        table.AddRow("allocator peak (in use)", Output.Bytes(result.PeakInUseBytes));
        if (plan is not null)
        {
            table.AddRow("arena (steady state)", Output.Bytes(report.ArenaBytes ?? 0));
            table.AddRow("iterations replayed from the plan", $"{report.ReplayedIterations} of {report.Iterations}");
            table.AddRow("planned iteration: pool peak (CuPy)", Output.Bytes(plan.PoolPeakBytes));
            table.AddRow("planned iteration: torch-pool peak (PyTorch)", Output.Bytes(plan.TorchPoolPeakBytes));
            table.AddRow("planned iteration: torch-expandable peak (PyTorch, expandable segments)", Output.Bytes(plan.TorchExpandablePeakBytes));
            table.AddRow($"planned iteration: plan peak ({plan.Algorithm})", Output.Bytes(plan.PlanPeakBytes));
            table.AddRow("planned iteration: lower bound", Output.Bytes(plan.LowerBoundBytes));
            table.AddRow("reduction against the pool", $"{plan.ReductionPercent:0.0} %");
            table.AddRow("reduction against torch-pool", $"{plan.TorchReductionPercent:0.0} %");
            table.AddRow("reduction against torch-expandable", $"{plan.TorchExpandableReductionPercent:0.0} %");
        }
        var trades = trainer.Trades;
        var traded = trades is null ? null : TradeReport.Of(trades, trainer.Tape);
        if (trades is not null && traded is not null)
        {
            var t = trades.Result;
            table.AddRow("trade-offs (--trade)", $"offload {traded.Offloads} and recompute {traded.Recomputes} of {trades.Candidates} saved buffers ({trades.Recomputable} recomputable){(t.Fits ? "" : ", and the plan still does not fit")}");
            table.AddRow("offloaded per step", $"{trainer.Tape.Offloaded} buffers, {Output.Bytes(trainer.Tape.OffloadedBytes)} each way");
            table.AddRow("recomputed per step", $"{trainer.Tape.Recomputed} buffers, {Output.Bytes(trainer.Tape.RecomputedBytes)}");
            table.AddRow("plan peak without trade-offs", Output.Bytes(t.PeakWithout));
            table.AddRow("bytes saved at the peak", Output.Bytes(t.PeakWithout - t.Peak));
            table.AddRow("trade-off costs", $"copies {trades.Costs.OffloadBytesPerUs / 1000:0.00} GB/s, element passes {trades.Costs.ElementwiseBytesPerUs / 1000:0.00} GB/s ({trades.Costs.Source}); not overlapped with compute");
            table.AddRow("extra time per step: modelled", $"{t.ExtraUs / 1000:0.000} ms");
            table.AddRow("extra time per step: measured", traded.MeasuredSteps == 0 ? "none measured" :
                $"{traded.MeasuredExtraMillis:0.000} ms (copies {traded.MeasuredOffloadMillis:0.000} ms, recompute {traded.MeasuredRecomputeMillis:0.000} ms; mean of {traded.MeasuredSteps} steps)");
        }
        Console.Out.Flush();
        Output.Out.Write(table);
        if (times is not null) Output.Out.Write(OpTimesReport.Table(times, $"op times of {result.Model}, batch {batch}"));
        if (runs is not null) Output.Out.Write(SideBySide.ComparisonTable(runs, options.MemoryLimit));
        if (workspaces is not null) Output.Out.Write(SideBySide.WorkspaceTable(workspaces));
        if (json)
            Output.JsonLine(new
            {
                model = result.Model, imageSize = trainer.Model.InputShape[1], data = data is null ? "synthetic" : "digits", batch = result.Batch, steps = result.Steps, accelerator = result.Accelerator, allocator = result.Allocator,
                memoryLimit = options.MemoryLimit, planFrom = allocator == AllocatorKind.Planned ? (options.Planned.PlanFrom == PlanSource.DryRun ? "dry-run" : "profile") : null,
                finalLoss = result.FinalLoss, testAccuracy = result.TestAccuracy, stepMillis = result.StepMillis, samplesPerSecond,
                peakBytes = result.PeakBytes, trainPeakBytes = result.TrainPeakBytes,
                poolPeakBytes = plan?.PoolPeakBytes ?? (allocator == AllocatorKind.Pool ? result.PeakBytes : (long?)null),
                torchPoolPeakBytes = plan?.TorchPoolPeakBytes ?? (allocator == AllocatorKind.TorchPool ? result.PeakBytes : (long?)null),
                torchExpandablePeakBytes = plan?.TorchExpandablePeakBytes ?? (allocator == AllocatorKind.TorchExpandable ? result.PeakBytes : (long?)null),
                planPeakBytes = plan?.PlanPeakBytes, lowerBoundBytes = plan?.LowerBoundBytes,
                reductionPercent = plan?.ReductionPercent, torchReductionPercent = plan?.TorchReductionPercent, torchExpandableReductionPercent = plan?.TorchExpandableReductionPercent,
                planner = plan?.Algorithm, arenaBytes = report.ArenaBytes, replayedIterations = report.ReplayedIterations,
                peakInUseBytes = result.PeakInUseBytes,
                allocators = runs?.Select(r => new { allocator = r.Allocator.Name(), batch = r.Batch, peakBytes = r.PeakBytes, stepMillis = r.StepMillis, stepSpreadMillis = r.Step?.SpreadMillis, samplesPerSecond = r.SamplesPerSecond }),
                poolStepMillis = runs?.First(r => r.Allocator == AllocatorKind.Pool).StepMillis,
                torchPoolStepMillis = runs?.First(r => r.Allocator == AllocatorKind.TorchPool).StepMillis,
                torchExpandableStepMillis = runs?.First(r => r.Allocator == AllocatorKind.TorchExpandable).StepMillis,
                plannedStepMillis = runs?.First(r => r.Allocator == AllocatorKind.Planned).StepMillis,
                convWorkspaceBytes = options.ConvWorkspaceBytes, convWorkspaceAuto = options.GrowConvWorkspaces,
                workspaces = workspaces?.Select(w => new { workspace = w.Workspace, batch = w.Batch, planPeakBytes = w.PlanPeakBytes, peakBytes = w.PeakBytes, stepMillis = w.Step.MedianMillis, stepSpreadMillis = w.Step.SpreadMillis, samplesPerSecond = w.SamplesPerSecond }),
                tf32 = device.Kernels!.Tf32Active,
                trade = options.Trade.ToString().ToLowerInvariant(),
                trades = trades is null || traded is null ? null : new
                {
                    planned = options.Trade.ToString().ToLowerInvariant(), candidates = trades.Candidates, recomputable = trades.Recomputable, fits = trades.Result.Fits,
                    planPeakWithoutBytes = trades.Result.PeakWithout, planPeakBytes = trades.Result.Peak, bytesSaved = trades.Result.PeakWithout - trades.Result.Peak,
                    offloadBytesPerUs = trades.Costs.OffloadBytesPerUs, elementwiseBytesPerUs = trades.Costs.ElementwiseBytesPerUs, costSource = trades.Costs.Source,
                    modelledExtraMillis = trades.Result.ExtraUs / 1000,
                    measuredExtraMillis = traded.MeasuredSteps == 0 ? (double?)null : traded.MeasuredExtraMillis,
                    measuredOffloadMillis = traded.MeasuredSteps == 0 ? (double?)null : traded.MeasuredOffloadMillis,
                    measuredRecomputeMillis = traded.MeasuredSteps == 0 ? (double?)null : traded.MeasuredRecomputeMillis,
                    measuredSteps = traded.MeasuredSteps,
                    offloadedPerStep = trainer.Tape.Offloaded, offloadedBytesPerStep = trainer.Tape.OffloadedBytes,
                    recomputedPerStep = trainer.Tape.Recomputed, recomputedBytesPerStep = trainer.Tape.RecomputedBytes,
                    chosen = trades.Result.Choices.Select(c => new
                    {
                        buffer = c.Item1.Buffer, tag = trades.Trace.Tags[c.Item1.Buffer], trade = c.Item2.IsOffload ? "offload" : "recompute",
                        bytes = trades.Trace.Problem.Buffers[c.Item1.Buffer].Size, awayStep = c.Item1.Idle.Start, backStep = c.Item1.Idle.End,
                        modelledMillis = TradePlanner.Cost(trades.Trace.Problem, c.Item1, c.Item2, trades.Costs.OffloadBytesPerUs) / 1000,
                        needs = c.Item2.IsRecompute ? c.Item1.Needs : null,
                    }),
                },
                opTimes = times is null ? null : OpTimesReport.Json(times),
            });
        return 0;
    }
}
