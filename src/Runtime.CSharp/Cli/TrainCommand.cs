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
        var allocator = Choices.AllocatorOption(AllocatorKind.Pool);
        var memoryLimit = new Option<string?>("--memory-limit") { Description = "device memory the allocator may hold, e.g. 8MiB (CPU: a simulated device of that size; CUDA: defaults to the free device memory). A request past it, after the pools gave back their cached segments, ends the run with one 'out of memory' line and exit code 1", HelpName = "SIZE" };
        var planFrom = new Option<string>("--plan-from") { Description = "with --allocator planned: dry-run (plan a shapes-only run of the first iteration before the first step, so the whole run's peak is the plan's) or profile (serve the first iteration from the fallback pool, then plan its profile)", HelpName = "dry-run|profile", DefaultValueFactory = _ => "dry-run" };
        var convWorkspace = ModelOptions.ConvWorkspaceOption();
        var planner = Choices.AlgorithmOption("planning algorithm of --allocator planned", Algorithms.bestFit, listWord: false, "--planner");
        var plannerDebug = new Option<bool>("--planner-debug") { Description = "with --allocator planned: check at run time that the arena never hands out overlapping live memory" };
        var trace = new Option<string?>("--trace") { Description = "with --allocator planned: write the planned iteration's trace (problem CSV with a tag column) to this file" };
        var timeLimit = Commands.TimeLimitOption(5, "each plan of a time-bounded planning algorithm (search) with --allocator planned");
        var compare = new Option<bool>("--compare-allocators") { Description = "also run pool, torch-pool and planned side by side on this accelerator: each at its largest batch under --memory-limit with --batch max (else at --batch), median steady-state step time, samples/s and peak" };
        var accelerator = new Option<string>("--accelerator") { Description = "auto (CUDA when present, else CPU), cpu or cuda", DefaultValueFactory = _ => "auto" };
        var seed = new Option<int>("--seed") { Description = "seed of the split, the shuffling and the initialization", DefaultValueFactory = _ => 1 };
        var lr = new Option<float?>("--lr") { Description = "learning rate (SGD, momentum 0.9, weight decay 1e-4; x0.1 for the last quarter); default 0.05 for the digits networks, 0.01 for the paper networks" };
        var opTimes = new Option<bool>("--op-times") { Description = OpTimesReport.Description };
        var tf32 = new Option<bool>("--tf32") { Description = Tf32Description };
        var json = new Option<bool>("--json") { Description = "also print the figures as one JSON object on the last line of standard output" };
        var command = new Command("train", "Train a network on the bundled 8x8 digits (seeded stratified 80/20 split) or on seeded synthetic data and report final loss, test accuracy, step time and the allocator's peak.")
        {
            model, data, imageSize, batch, steps, allocator, memoryLimit, planFrom, convWorkspace, planner, timeLimit, plannerDebug, trace, compare, accelerator, seed, lr, opTimes, tf32, json,
        };
        command.SetAction(r =>
        {
            var info = ModelOptions.Find(r.GetValue(model)!);
            var options = Validate(info.Name, ParseBatch(r.GetValue(batch)!), r.GetValue(steps), r.GetValue(allocator) ?? AllocatorKind.Pool, r.GetValue(planner)!,
                r.GetValue(plannerDebug), r.GetValue(accelerator)!, r.GetValue(seed), r.GetValue(lr) ?? info.LearningRate) with
            {
                MemoryLimit = r.GetValue(memoryLimit) is { } limit ? Inputs.ParseBytes(limit, "--memory-limit") : null,
                ImageSize = ModelOptions.ImageSize(info, r.GetValue(imageSize)),
                ConvWorkspaceBytes = ModelOptions.ConvWorkspace(r.GetValue(convWorkspace)),
            };
            options = options with
            {
                Planned = options.Planned with
                {
                    PlanFrom = ParsePlanFrom(r.GetValue(planFrom)!), Settings = PlannerApi.Settings(TimeSpan.FromSeconds(r.GetValue(timeLimit)), 1, CancellationToken.None),
                },
            };
            var source = ModelOptions.Data(info, r.GetValue(data));
            // the planned allocator's options mean nothing to the others: said, not silently ignored
            if (options.Allocator != AllocatorKind.Planned)
                foreach (var o in new Option[] { planner, timeLimit, planFrom, plannerDebug, trace })
                    if (r.GetResult(o) is { Implicit: false })
                        throw new UsageException($"{o.Name} needs --allocator planned (the allocator is {options.Allocator.Name()})");
            try { return Train(options, source, r.GetValue(json), r.GetValue(trace), r.GetValue(compare), r.GetValue(opTimes), r.GetValue(tf32)); }
            catch (OutOfDeviceMemoryException e)
            {
                Console.Error.WriteLine($"pgmo train: {e.Message}");
                return ExitCodes.Failure;
            }
        });
        return command;
    }

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

    /// <summary>
    /// The largest batch whose run fits the memory limit under <paramref name="options"/>' allocator: a search over dry
    /// runs through the allocator's own policy (<see cref="MaxBatch.Search"/>, the same as <c>pgmo max-batch</c>), then
    /// one real step on <paramref name="device"/> to confirm it; a batch the real step refuses is searched below by real
    /// steps. 0 when not even batch 1 fits; <paramref name="failure"/> is then the real step's error, if it had one.
    /// </summary>
    public static int LargestBatch(TrainOptions options, RunKind kind, Device device, Dataset data, out OutOfDeviceMemoryException? failure, int cap = MaxBatch.DefaultCap)
    {
        OutOfDeviceMemoryException? last = null;
        int found = MaxBatch.Search(b => MaxBatch.FitsDryRun(options with { Batch = b }, kind),
            b => MaxBatch.FitsRealStep(options with { Batch = b }, device, data, e => last = e), cap,
            b => Console.Error.WriteLine($"  batch {b}: the real step did not fit on the device; searching below it by real steps"));
        failure = found == 0 ? last : null;
        return found;
    }

    /// <summary>What a run with <paramref name="source"/> does at each batch size: a run on the digits also classifies
    /// their test set at the end, in batches of the training batch.</summary>
    public static RunKind RunOf(TrainingData source) => source == TrainingData.Digits ? RunKind.TrainingWithEvaluation : RunKind.Training;

    /// <summary>The limit a run on <paramref name="device"/> works under: the one given, else on CUDA the device's
    /// free memory, else none.</summary>
    static long? Limit(long? given, Device device) =>
        given ?? (device.Accelerator is ILGPU.Runtime.Cuda.CudaAccelerator cuda ? cuda.GetFreeMemory() : null);

    static int Train(TrainOptions options, TrainingData source, bool json, string? tracePath, bool compare, bool opTimes, bool tf32)
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
        options = options with { MemoryLimit = Limit(options.MemoryLimit, device) };
        bool max = options.Batch == MaxBatchRequest;
        if (max)
        {
            if (options.MemoryLimit is not long limit) throw new UsageException("--batch max needs --memory-limit (on a CUDA device the free memory is the default)");
            Console.Error.WriteLine($"searching the largest {options.Allocator.Name()} batch of {options.Model} within {Output.Bytes(limit)} (dry runs, then one real step)");
            int found = LargestBatch(options, RunOf(source), device, samples, out var failure);
            if (found == 0)
            {
                Console.Error.WriteLine($"pgmo train: out of memory: not even batch 1 of {options.Model} fits {Output.Bytes(limit)} under the {options.Allocator.Name()} allocator" +
                                        (failure is null ? "" : $" (its real step: {failure.Message})"));
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
        IReadOnlyList<AllocatorRun>? runs = compare ? CompareAllocators(options, max, RunOf(source), device, samples) : null;
        if (tracePath is not null)
        {
            if (plan is null) throw new InvalidOperationException("no iteration was planned");
            Output.WriteAtomically(tracePath, PlannerApi.TraceCsv(plan.Trace.Problem, plan.Trace.Tags));
        }
        double samplesPerSecond = batch * 1000.0 / result.StepMillis;
        var table = new Table { Border = TableBorder.Simple, Title = new TableTitle($"pgmo train {result.Model}") };
        table.AddColumn("figure");
        table.AddColumn(new TableColumn("value").RightAligned());
        table.AddRow("accelerator", result.Accelerator);
        table.AddRow("allocator", result.Allocator);
        table.AddRow("memory limit", options.MemoryLimit is long m ? Output.Bytes(m) : "none");
        table.AddRow(max ? "batch (largest that fits)" : "batch", batch.ToString(System.Globalization.CultureInfo.InvariantCulture));
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
            table.AddRow($"planned iteration: plan peak ({plan.Algorithm})", Output.Bytes(plan.PlanPeakBytes));
            table.AddRow("planned iteration: lower bound", Output.Bytes(plan.LowerBoundBytes));
            table.AddRow("reduction against the pool", $"{plan.ReductionPercent:0.0} %");
            table.AddRow("reduction against torch-pool", $"{plan.TorchReductionPercent:0.0} %");
        }
        Console.Out.Flush();
        Output.Out.Write(table);
        if (times is not null) Output.Out.Write(OpTimesReport.Table(times, $"op times of {result.Model}, batch {batch}"));
        if (runs is not null) Output.Out.Write(ComparisonTable(runs, options.MemoryLimit));
        if (json)
            Output.JsonLine(new
            {
                model = result.Model, imageSize = trainer.Model.InputShape[1], data = data is null ? "synthetic" : "digits", batch = result.Batch, steps = result.Steps, accelerator = result.Accelerator, allocator = result.Allocator,
                memoryLimit = options.MemoryLimit, planFrom = allocator == AllocatorKind.Planned ? (options.Planned.PlanFrom == PlanSource.DryRun ? "dry-run" : "profile") : null,
                finalLoss = result.FinalLoss, testAccuracy = result.TestAccuracy, stepMillis = result.StepMillis, samplesPerSecond,
                peakBytes = result.PeakBytes, trainPeakBytes = result.TrainPeakBytes,
                poolPeakBytes = plan?.PoolPeakBytes ?? (allocator == AllocatorKind.Pool ? result.PeakBytes : (long?)null),
                torchPoolPeakBytes = plan?.TorchPoolPeakBytes ?? (allocator == AllocatorKind.TorchPool ? result.PeakBytes : (long?)null),
                planPeakBytes = plan?.PlanPeakBytes, lowerBoundBytes = plan?.LowerBoundBytes,
                reductionPercent = plan?.ReductionPercent, torchReductionPercent = plan?.TorchReductionPercent,
                planner = plan?.Algorithm, arenaBytes = report.ArenaBytes, replayedIterations = report.ReplayedIterations,
                peakInUseBytes = result.PeakInUseBytes,
                allocators = runs?.Select(r => new { allocator = r.Allocator.Name(), batch = r.Batch, peakBytes = r.PeakBytes, stepMillis = r.StepMillis, stepSpreadMillis = r.Step?.SpreadMillis, samplesPerSecond = r.SamplesPerSecond }),
                poolStepMillis = runs?.First(r => r.Allocator == AllocatorKind.Pool).StepMillis,
                torchPoolStepMillis = runs?.First(r => r.Allocator == AllocatorKind.TorchPool).StepMillis,
                plannedStepMillis = runs?.First(r => r.Allocator == AllocatorKind.Planned).StepMillis,
                tf32 = device.Kernels!.Tf32Active,
                opTimes = times is null ? null : OpTimesReport.Json(times),
            });
        return 0;
    }

    /// <summary>One allocator in a side-by-side run: its batch (0: not even batch 1 fits the limit), peak reserved
    /// bytes, steady-state step times (median and spread; null when it trained nothing) and throughput.</summary>
    public sealed record AllocatorRun(AllocatorKind Allocator, int Batch, long PeakBytes, TimingSummary? Step)
    {
        /// <summary>Median step time in milliseconds (null when it trained nothing).</summary>
        public double? StepMillis => Step?.MedianMillis;

        /// <summary>Samples trained per second at the median step time (0 when it trained nothing).</summary>
        public double SamplesPerSecond => StepMillis is double ms && Batch > 0 ? Batch * 1000.0 / ms : 0;
    }

    /// <summary>The allocators <c>--compare-allocators</c> runs: both pools and the plan.</summary>
    public static IReadOnlyList<AllocatorKind> Compared { get; } = [AllocatorKind.Pool, AllocatorKind.TorchPool, AllocatorKind.Planned];

    /// <summary>
    /// Pool, torch-pool and planned side by side in one process on one device, each under the same memory limit and at
    /// its largest batch under it (<paramref name="max"/>) or at the run's batch: one trainer each with the same seed,
    /// warmed up (the planned one plans and replays), then <c>min(steps, 20)</c> steps each, interleaved in rotating order
    /// so that all see the same machine load. Reports median step times, samples per second and each trainer's peak;
    /// an allocator that fits no batch is reported with batch 0.
    /// </summary>
    public static IReadOnlyList<AllocatorRun> CompareAllocators(TrainOptions options, bool max, RunKind kind, Device device, Dataset data, int warmup = 2)
    {
        var batches = Compared.ToDictionary(k => k, k => max ? LargestBatch(options with { Allocator = k }, kind, device, data, out _) : options.Batch);
        var kinds = Compared.Where(k => batches[k] > 0).ToList();
        var trainers = new List<Trainer>();
        try
        {
            foreach (var k in kinds) trainers.Add(new Trainer(options with { Allocator = k, Batch = batches[k], Planned = options.Planned with { OnLog = null } }, device));
            var inputs = trainers.Select(t =>
            {
                int b = t.Options.Batch;
                return (Xs: Enumerable.Range(0, b).Select(i => data.Samples[i % data.Count]).ToArray(), Ys: Enumerable.Range(0, b).Select(i => data.Labels[i % data.Count]).ToArray());
            }).ToList();
            for (int w = 0; w < warmup; w++)
                for (int k = 0; k < trainers.Count; k++) trainers[k].Step(inputs[k].Xs, inputs[k].Ys);
            int steps = Math.Min(options.Steps, 20);
            var times = trainers.Select(_ => new List<double>()).ToList();
            Console.Error.WriteLine($"comparing allocators: {steps} steps each, {string.Join(", ", Compared.Select(k => $"{k.Name()} at batch {batches[k]}"))}, interleaved");
            for (int i = 0; i < steps; i++)
                for (int j = 0; j < trainers.Count; j++)
                {
                    int k = (i + j) % trainers.Count;
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    trainers[k].Step(inputs[k].Xs, inputs[k].Ys);
                    device.Synchronize();
                    times[k].Add(clock.Elapsed.TotalMilliseconds);
                }
            return Compared.Select(k => kinds.IndexOf(k) is int i and >= 0
                ? new AllocatorRun(k, batches[k], trainers[i].Allocator.PeakReservedBytes, Timing.Summarize(times[i]))
                : new AllocatorRun(k, 0, 0, null)).ToList();
        }
        finally
        {
            foreach (var t in trainers) t.Dispose();
        }
    }

    /// <summary>The side-by-side table: batch, peak, step time, samples/s, and each against both pools.</summary>
    static Table ComparisonTable(IReadOnlyList<AllocatorRun> runs, long? limit)
    {
        var pool = runs.First(r => r.Allocator == AllocatorKind.Pool);
        var torch = runs.First(r => r.Allocator == AllocatorKind.TorchPool);
        var table = Output.Table(["allocator", "batch", "peak (reserved)", "step (median ±half IQR)", "samples/s", "vs pool", "vs torch-pool"],
            new HashSet<string> { "batch", "peak (reserved)", "step (median ±half IQR)", "samples/s", "vs pool", "vs torch-pool" });
        table.Title = new TableTitle("allocators side by side" + (limit is long l ? $" within {Output.Bytes(l)}" : ""));
        foreach (var r in runs)
            table.AddRow(r.Allocator.Name(), r.Batch.ToString(System.Globalization.CultureInfo.InvariantCulture), Output.Bytes(r.PeakBytes), r.Step?.ToString() ?? "-", $"{r.SamplesPerSecond:0.0}", Ratio(r.SamplesPerSecond, pool.SamplesPerSecond), Ratio(r.SamplesPerSecond, torch.SamplesPerSecond));
        return table;

        static string Ratio(double x, double baseline) => baseline > 0 ? $"x{x / baseline:0.00}" : "-";
    }
}
