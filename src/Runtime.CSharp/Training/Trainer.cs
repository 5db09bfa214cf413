using System.Diagnostics;
using Pgmo.Kernels;
using Pgmo.Memory;
using Pgmo.Models;
using Pgmo.Nn;

namespace Pgmo.Training;

/// <summary>Settings of a training run (the `pgmo train` options).</summary>
public sealed record TrainOptions
{
    public string Model { get; init; } = ModelZoo.Default;
    /// <summary>Side of the square input images in pixels; null: the network's default (see <see cref="ModelZoo.Create"/>).</summary>
    public int? ImageSize { get; init; }
    public int Batch { get; init; } = 32;
    public int Steps { get; init; } = 150;
    public AllocatorKind Allocator { get; init; } = AllocatorKind.Pool;
    public AcceleratorChoice Accelerator { get; init; } = AcceleratorChoice.Auto;
    public int Seed { get; init; } = 1;
    public float LearningRate { get; init; } = 0.05f;
    public float Momentum { get; init; } = 0.9f;
    public float WeightDecay { get; init; } = 1e-4f;
    /// <summary>Settings of the planned allocator (algorithm, debug checks); used when <see cref="Allocator"/> is planned.</summary>
    public PlannedAllocatorOptions Planned { get; init; } = PlannedAllocatorOptions.Defaults;
    /// <summary>Record the trace of every iteration (<see cref="IDeviceAllocator.LastTrace"/>).</summary>
    public bool Record { get; init; }
    /// <summary>The most device memory the allocator may hold, in bytes (null: no limit); past it a request throws
    /// <see cref="OutOfDeviceMemoryException"/>.</summary>
    public long? MemoryLimit { get; init; }
    /// <summary>The most bytes one convolution's im2col workspace may take (<see cref="Tape.ConvWorkspaceBytes"/>).</summary>
    public long ConvWorkspaceBytes { get; init; } = ConvTiling.DefaultWorkspaceBytes;
}

/// <summary>What a training run measured; <paramref name="TestAccuracy"/> is null when there is no test set (synthetic data).</summary>
public sealed record TrainResult(string Model, int Batch, int Steps, string Accelerator, string Allocator,
    float InitialLoss, float FinalLoss, double? TestAccuracy, double StepMillis, long PeakBytes, long PeakInUseBytes, IReadOnlyList<float> Losses)
{
    /// <summary>The allocator's peak reserved bytes over the training steps only (before the test-set evaluation).</summary>
    public long TrainPeakBytes { get; init; }
}

/// <summary>
/// One model, its optimizer and allocator on one device. A step uploads a batch, runs forward, loss, backward and the
/// optimizer through the tape; afterwards only persistent blocks (parameters, state, momentum) are live.
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly bool ownsDevice;
    // True while an iteration or evaluation runs, and after one threw (out of device memory): the tape's tensors are
    // then in no known state, so Dispose only gives the allocator's device memory back.
    private bool interrupted;

    public Trainer(TrainOptions options, Device? device = null)
    {
        Options = options;
        ownsDevice = device is null;
        Device = device ?? Device.Create(options.Accelerator);
        var planned = options.Allocator == AllocatorKind.Planned && options.Planned is { PlanFrom: PlanSource.DryRun, FirstTrace: null }
            ? options.Planned with { FirstTrace = DryRunTrace(options) }
            : options.Planned;
        IDeviceAllocator? allocator = null;
        try
        {
            // The allocator gives all of its device memory back when anything below throws (an arena or a weight
            // that does not fit): a half-built trainer is never returned, so nothing else could.
            Allocator = allocator = Allocators.Create(options.Allocator, Device.Accelerator, options.Record, planned, options.MemoryLimit);
            Tape = new Tape(Device, Allocator) { ConvWorkspaceBytes = options.ConvWorkspaceBytes };
            Model = ModelZoo.Create(options.Model, new ParameterFactory(Tape, options.Seed), options.ImageSize);
            Optimizer = new Sgd(Tape, Model.Parameters, options.LearningRate, options.Momentum, options.WeightDecay);
            PersistentBlocks = Allocator.LiveBlocks;
        }
        catch
        {
            allocator?.Dispose();
            if (ownsDevice) Device.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The trace of the first iteration of a run with <paramref name="options"/> (same network, batch and input shape),
    /// from a dry run through a recording pool on a shapes-only device: no kernels, no device memory. The planned
    /// allocator plans it before the first real step (<see cref="PlanSource.DryRun"/>).
    /// </summary>
    public static IterationTrace DryRunTrace(TrainOptions options)
    {
        using var device = Device.ShapesOnly();
        using var dry = new Trainer(options with { Allocator = AllocatorKind.Pool, Record = true, MemoryLimit = null }, device);
        dry.DryStep(options.Batch);
        return dry.Allocator.LastTrace ?? throw new InvalidOperationException("the dry run recorded no iteration");
    }

    public TrainOptions Options { get; }
    public Device Device { get; }
    public IDeviceAllocator Allocator { get; }
    public Tape Tape { get; }
    public Model Model { get; }
    public Sgd Optimizer { get; }
    /// <summary>Blocks alive between steps: parameters, running statistics, momentum.</summary>
    public int PersistentBlocks { get; }

    /// <summary>
    /// One training iteration on the given samples; returns the loss (NaN in shapes-only mode). An
    /// <see cref="IIterationAllocator"/> is told where the iteration begins (before the input upload) and ends (after
    /// the optimizer step).
    /// </summary>
    public float Step(float[][] samples, int[] labels)
    {
        // An iteration that throws (out of device memory) is not ended: the allocator would plan half an iteration.
        var marks = Allocator as IIterationAllocator;
        interrupted = true;
        marks?.BeginIteration();
        Tape.OpTimes?.BeginStep();
        float loss = Iteration(samples, labels);
        Tape.OpTimes?.EndStep();
        marks?.EndIteration();
        interrupted = false;
        return loss;
    }

    private float Iteration(float[][] samples, int[] labels)
    {
        int n = labels.Length;
        var shape = new[] { n }.Concat(Model.InputShape).ToArray();
        Model.SetTraining(true);
        Tape.Recording = true;
        var x = Tape.Upload(Device.Computes ? Flatten(samples) : Array.Empty<float>(), shape, "input");
        var y = Tape.UploadInt(labels, new[] { n }, "labels");
        var loss = Tape.SoftmaxCrossEntropy(Model.Forward(Tape, x), y);
        Tape.Backward(loss);
        float value = Device.Computes ? Tape.Download(loss)[0] : float.NaN;
        loss.Release();
        Optimizer.Step();
        return value;
    }

    /// <summary>A dry-run iteration at batch size <paramref name="batch"/> (no data needed; for shapes-only devices).</summary>
    public void DryStep(int batch)
    {
        if (Device.Computes) throw new InvalidOperationException("DryStep needs a shapes-only device");
        Step(new float[batch][], new int[batch]);
    }

    /// <summary>A dry-run evaluation batch of <paramref name="batch"/> samples (inference mode; shapes-only devices).</summary>
    public void DryEvaluate(int batch)
    {
        if (Device.Computes) throw new InvalidOperationException("DryEvaluate needs a shapes-only device");
        Model.SetTraining(false);
        Tape.Recording = false;
        Logits(Array.Empty<float>(), batch);
        Tape.Recording = true;
        Model.SetTraining(true);
    }

    /// <summary>The logits of <paramref name="n"/> flattened samples on the host (inference mode must be on).</summary>
    private float[] Logits(float[] flat, int n)
    {
        var x = Tape.Upload(flat, new[] { n }.Concat(Model.InputShape).ToArray(), "input");
        var logits = Model.Forward(Tape, x);
        var host = Tape.Download(logits);
        logits.Release();
        return host;
    }

    /// <summary>Predicted classes of the samples (inference mode, nothing recorded).</summary>
    public int[] Predict(float[][] samples, int batch)
    {
        Model.SetTraining(false);
        Tape.Recording = false;
        var result = new int[samples.Length];
        interrupted = true;
        for (int start = 0; start < samples.Length; start += batch)
        {
            int n = Math.Min(batch, samples.Length - start);
            var host = Logits(Flatten(samples.AsSpan(start, n).ToArray()), n);
            int c = Model.Classes;
            for (int i = 0; i < n; i++)
            {
                int best = 0;
                for (int k = 1; k < c; k++) if (host[i * c + k] > host[i * c + best]) best = k;
                result[start + i] = best;
            }
        }
        interrupted = false;
        Tape.Recording = true;
        Model.SetTraining(true);
        return result;
    }

    /// <summary>Fraction of the set classified correctly.</summary>
    public double Accuracy(Dataset set, int batch)
    {
        var pred = Predict(set.Samples, batch);
        return pred.Zip(set.Labels).Count(p => p.First == p.Second) / (double)set.Count;
    }

    /// <summary>
    /// Trains on a seeded stratified 80/20 split of <paramref name="data"/> with reshuffled full batches, then measures
    /// test accuracy. <paramref name="progress"/> receives (step, loss, samples per second).
    /// </summary>
    public TrainResult Fit(Dataset data, Action<int, float, double>? progress = null)
    {
        var (train, test) = Digits.Split(data, 0.2, Options.Seed);
        var rng = new Random(Options.Seed);
        var order = Enumerable.Range(0, train.Count).ToArray();
        rng.Shuffle(order);
        int cursor = 0;
        return Run((xs, ys) =>
        {
            for (int i = 0; i < ys.Length; i++)
            {
                if (cursor == order.Length) { rng.Shuffle(order); cursor = 0; }
                xs[i] = train.Samples[order[cursor]];
                ys[i] = train.Labels[order[cursor++]];
            }
        }, test, progress);
    }

    /// <summary>
    /// Trains on fresh seeded random batches of the model's input shape (<see cref="SyntheticData"/>, seeded with the
    /// options' seed); there is no test set, so the result has no test accuracy.
    /// </summary>
    public TrainResult FitSynthetic(Action<int, float, double>? progress = null) =>
        Run(new SyntheticData(Model.InputShape, Model.Classes, Options.Seed).Fill, null, progress);

    /// <summary>The training loop: <paramref name="next"/> fills each step's batch; the learning rate drops tenfold for
    /// the last quarter of the steps; the test set, when given, is classified at the end.</summary>
    private TrainResult Run(Action<float[][], int[]> next, Dataset? test, Action<int, float, double>? progress)
    {
        int b = Options.Batch;
        var losses = new List<float>();
        var clock = Stopwatch.StartNew();
        var xs = new float[b][];
        var ys = new int[b];
        for (int step = 0; step < Options.Steps; step++)
        {
            next(xs, ys);
            Optimizer.LearningRate = Options.LearningRate * (step < Options.Steps * 3 / 4 ? 1f : 0.1f);
            losses.Add(Step(xs, ys));
            progress?.Invoke(step + 1, losses[^1], (step + 1) * b / Math.Max(1e-9, clock.Elapsed.TotalSeconds));
        }
        double stepMs = clock.Elapsed.TotalMilliseconds / Math.Max(1, Options.Steps);
        long trainPeak = Allocator.PeakReservedBytes;
        double? acc = test is null ? null : Accuracy(test, b); // in batches of the training batch, so evaluation fits where training fits
        return new TrainResult(Model.Name, b, Options.Steps, Device.Name, Allocator.Name,
            losses.Count > 0 ? losses[0] : float.NaN, losses.Count > 0 ? losses[^1] : float.NaN, acc, stepMs,
            Allocator.PeakReservedBytes, Allocator.PeakInUseBytes, losses) { TrainPeakBytes = trainPeak };
    }

    private static float[] Flatten(float[][] samples)
    {
        if (samples.Length == 0) return Array.Empty<float>();
        int d = samples[0].Length;
        var a = new float[samples.Length * d];
        for (int i = 0; i < samples.Length; i++) samples[i].CopyTo(a, i * d);
        return a;
    }

    public void Dispose()
    {
        if (!interrupted)
        {
            Tape.Clear();
            Optimizer.Dispose();
            Model.Dispose();
        }
        Allocator.Dispose();
        if (ownsDevice) Device.Dispose();
    }
}
