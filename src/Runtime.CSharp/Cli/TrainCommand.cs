using System.CommandLine;
using Spectre.Console;
using Pgmo.Kernels;
using Pgmo.Memory;
using Pgmo.Models;
using Pgmo.Planner;
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
        var batch = new Option<int>("--batch") { Description = "samples per step", DefaultValueFactory = _ => 32 };
        var steps = new Option<int>("--steps") { Description = "optimizer steps", DefaultValueFactory = _ => 150 };
        var allocator = Choices.AllocatorOption(AllocatorKind.Pool);
        var planner = Choices.AlgorithmOption("planning algorithm of --allocator planned", Algorithms.bestFit, listWord: false, "--planner");
        var plannerDebug = new Option<bool>("--planner-debug") { Description = "with --allocator planned: check at run time that the arena never hands out overlapping live memory" };
        var trace = new Option<string?>("--trace") { Description = "with --allocator planned: write the profiled iteration's trace (problem CSV with a tag column) to this file" };
        var compare = new Option<bool>("--compare-allocators") { Description = "also measure steady-state step time with the planned arena and with the pool, side by side on this accelerator" };
        var accelerator = new Option<string>("--accelerator") { Description = "auto (CUDA when present, else CPU), cpu or cuda", DefaultValueFactory = _ => "auto" };
        var seed = new Option<int>("--seed") { Description = "seed of the split, the shuffling and the initialization", DefaultValueFactory = _ => 1 };
        var lr = new Option<float?>("--lr") { Description = "learning rate (SGD, momentum 0.9, weight decay 1e-4; x0.1 for the last quarter); default 0.05 for the digits networks, 0.01 for the paper networks" };
        var json = new Option<bool>("--json") { Description = "also print the figures as one JSON object on the last line of standard output" };
        var command = new Command("train", "Train a network on the bundled 8x8 digits (seeded stratified 80/20 split) or on seeded synthetic data and report final loss, test accuracy, step time and the allocator's peak.")
        {
            model, data, imageSize, batch, steps, allocator, planner, plannerDebug, trace, compare, accelerator, seed, lr, json,
        };
        command.SetAction(r => Run(r.GetValue(model)!, r.GetValue(batch), r.GetValue(steps), r.GetValue(allocator) ?? AllocatorKind.Pool, r.GetValue(planner)!, r.GetValue(plannerDebug),
            r.GetValue(accelerator)!, r.GetValue(seed), r.GetValue(lr), r.GetValue(json), r.GetValue(trace), r.GetValue(compare), r.GetValue(data), r.GetValue(imageSize)));
        return command;
    }


    /// <summary>Checks the arguments; throws <see cref="UsageException"/> (exit 2) with a clear message.</summary>
    public static TrainOptions Validate(string model, int batch, int steps, AllocatorKind allocator, Algorithm algorithm, bool plannerDebug, string accelerator, int seed, float lr)
    {
        var info = ModelOptions.Find(model);
        if (batch < 1) throw new UsageException($"--batch must be at least 1, got {batch}");
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

    static int Run(string model, int batch, int steps, AllocatorKind allocator, Algorithm algorithm, bool plannerDebug, string accelerator, int seed, float? lr, bool json, string? trace, bool compare,
        string? dataText, int? imageSize)
    {
        var options = Validate(model, batch, steps, allocator, algorithm, plannerDebug, accelerator, seed, lr ?? ModelOptions.Find(model).LearningRate);
        if (trace is not null && allocator != AllocatorKind.Planned) throw new UsageException("--trace needs --allocator planned");
        var info = ModelOptions.Find(options.Model);
        var source = ModelOptions.Data(info, dataText);
        options = options with { ImageSize = ModelOptions.ImageSize(info, imageSize) };
        return Train(options, source, json, trace, compare);
    }

    static int Train(TrainOptions options, TrainingData source, bool json, string? tracePath, bool compare)
    {
        var (batch, steps, allocator) = (options.Batch, options.Steps, options.Allocator);
        var data = source == TrainingData.Digits ? Digits.Load() : null;
        Device device;
        try { device = Device.Create(options.Accelerator); }
        catch (InvalidOperationException e) { throw new UsageException($"--accelerator: {e.Message}"); }
        using var _ = device;
        using var trainer = new Trainer(options, device);
        Console.Error.WriteLine($"training {options.Model} ({trainer.Model.ParameterCount:N0} parameters, {string.Join("x", trainer.Model.InputShape)} inputs) on " +
                                $"{(data is null ? "synthetic data" : "the digits")}, {device.Description}, batch {batch}, {steps} steps, {allocator.Name()} allocator");
        int every = Math.Max(1, steps / 20);
        Action<int, float, double> progress = (step, loss, rate) =>
        {
            if (step % every == 0 || step == steps)
                Console.Error.WriteLine($"  step {step,5}/{steps}  loss {loss,8:0.0000}  {rate,8:0} samples/s");
        };
        var result = data is null ? trainer.FitSynthetic(progress) : trainer.Fit(data, progress);
        var report = trainer.Allocator.Report();
        var plan = report.FirstPlan;
        if (tracePath is not null)
        {
            if (plan is null) throw new InvalidOperationException("no iteration was profiled");
            Output.WriteAtomically(tracePath, PlannerApi.TraceCsv(plan.Trace.Problem, plan.Trace.Tags));
        }
        StepTimes? times = compare ? CompareStepTimes(options, device, data ?? new SyntheticData(trainer.Model.InputShape, trainer.Model.Classes, options.Seed).Take(batch)) : null;
        var table = new Table { Border = TableBorder.Simple, Title = new TableTitle($"pgmo train {result.Model}") };
        table.AddColumn("figure");
        table.AddColumn(new TableColumn("value").RightAligned());
        table.AddRow("accelerator", result.Accelerator);
        table.AddRow("allocator", result.Allocator);
        table.AddRow("loss (first → final)", $"{result.InitialLoss:0.0000} → {result.FinalLoss:0.0000}");
        table.AddRow("test accuracy", result.TestAccuracy is { } accuracy ? $"{accuracy:P2}" : "none (synthetic data)");
        table.AddRow("mean step time", $"{result.StepMillis:0.00} ms");
        table.AddRow("allocator peak while training (reserved)", Output.Bytes(result.TrainPeakBytes));
        table.AddRow("allocator peak with evaluation (reserved)", Output.Bytes(result.PeakBytes));
        table.AddRow("allocator peak (in use)", Output.Bytes(result.PeakInUseBytes));
        if (plan is not null)
        {
            table.AddRow("arena (steady state)", Output.Bytes(report.ArenaBytes ?? 0));
            table.AddRow("iterations replayed from the plan", $"{report.ReplayedIterations} of {report.Iterations}");
            table.AddRow("profiled iteration: pool peak", Output.Bytes(plan.PoolPeakBytes));
            table.AddRow($"profiled iteration: plan peak ({plan.Algorithm})", Output.Bytes(plan.PlanPeakBytes));
            table.AddRow("profiled iteration: lower bound", Output.Bytes(plan.LowerBoundBytes));
            table.AddRow("reduction against the pool", $"{plan.ReductionPercent:0.0} %");
        }
        if (times is { } t)
        {
            table.AddRow("steady-state step, pool (median ±half IQR)", t.Pool.ToString());
            table.AddRow("steady-state step, planned (median ±half IQR)", t.Planned.ToString());
        }
        Console.Out.Flush();
        Output.Out.Write(table);
        if (json)
            Output.JsonLine(new
            {
                model = result.Model, imageSize = trainer.Model.InputShape[1], data = data is null ? "synthetic" : "digits", batch = result.Batch, steps = result.Steps, accelerator = result.Accelerator, allocator = result.Allocator,
                finalLoss = result.FinalLoss, testAccuracy = result.TestAccuracy, stepMillis = result.StepMillis, peakBytes = result.PeakBytes, trainPeakBytes = result.TrainPeakBytes,
                poolPeakBytes = plan?.PoolPeakBytes ?? (allocator == AllocatorKind.Pool ? result.PeakBytes : (long?)null),
                planPeakBytes = plan?.PlanPeakBytes, lowerBoundBytes = plan?.LowerBoundBytes, reductionPercent = plan?.ReductionPercent,
                planner = plan?.Algorithm, arenaBytes = report.ArenaBytes, replayedIterations = report.ReplayedIterations,
                peakInUseBytes = result.PeakInUseBytes,
                poolStepMillis = times?.Pool.MedianMillis, plannedStepMillis = times?.Planned.MedianMillis,
                poolStepSpreadMillis = times?.Pool.SpreadMillis, plannedStepSpreadMillis = times?.Planned.SpreadMillis,
            });
        return 0;
    }

    /// <summary>Steady-state step times of the two allocators (median and spread, in milliseconds).</summary>
    public readonly record struct StepTimes(TimingSummary Pool, TimingSummary Planned, int Steps);

    /// <summary>
    /// Steady-state step time of the pool and of the planned arena in one process on one device: two trainers with
    /// the same seed, warmed up (the planned one profiles, plans and replays once), then <paramref name="steps"/> steps
    /// each, interleaved so that both see the same machine load; the medians are reported.
    /// </summary>
    public static StepTimes CompareStepTimes(TrainOptions options, Device device, Dataset data, int steps = 20, int warmup = 3)
    {
        using var pool = new Trainer(options with { Allocator = AllocatorKind.Pool }, device);
        using var planned = new Trainer(options with { Allocator = AllocatorKind.Planned }, device);
        int b = options.Batch;
        var xs = Enumerable.Range(0, b).Select(i => data.Samples[i % data.Count]).ToArray();
        var ys = Enumerable.Range(0, b).Select(i => data.Labels[i % data.Count]).ToArray();
        for (int i = 0; i < warmup; i++) { pool.Step(xs, ys); planned.Step(xs, ys); }
        var (tp, tq) = (new List<double>(), new List<double>());
        Console.Error.WriteLine($"comparing step times: {steps} steps each, pool and planned interleaved");
        for (int i = 0; i < steps; i++)
        {
            foreach (var (trainer, list) in i % 2 == 0 ? new[] { (pool, tp), (planned, tq) } : new[] { (planned, tq), (pool, tp) })
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                trainer.Step(xs, ys);
                device.Synchronize();
                list.Add(clock.Elapsed.TotalMilliseconds);
            }
        }
        return new StepTimes(Timing.Summarize(tp), Timing.Summarize(tq), steps);
    }
}
