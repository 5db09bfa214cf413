using System.Diagnostics;
using Pgmo.Kernels;
using Pgmo.Memory;
using Pgmo.Models;
using Pgmo.Nn;

namespace Pgmo.Training;

/// <summary>Settings of a training run (the `pgmo train` options); the shared ones are <see cref="RunOptions"/>'s.</summary>
public sealed record TrainOptions : RunOptions
{
    public int Steps { get; init; } = 150;
    public float LearningRate { get; init; } = 0.05f;
    public float Momentum { get; init; } = 0.9f;
    public float WeightDecay { get; init; } = 1e-4f;

    /// <summary>A <see cref="Trainer"/> with these options.</summary>
    public override Session Open(Device? device = null) => new Trainer(this, device);
}

/// <summary>What a training run measured; <paramref name="TestAccuracy"/> is null when there is no test set (synthetic data).</summary>
public sealed record TrainResult(string Model, int Batch, int Steps, string Accelerator, string Allocator,
    float InitialLoss, float FinalLoss, double? TestAccuracy, double StepMillis, long PeakBytes, long PeakInUseBytes, IReadOnlyList<float> Losses)
{
    /// <summary>The allocator's peak reserved bytes over the training steps only (before the test-set evaluation).</summary>
    public long TrainPeakBytes { get; init; }
}

/// <summary>
/// One model, its optimizer and allocator on one device (a <see cref="Session"/> of training steps). A step uploads a
/// batch, runs forward, loss, backward and the optimizer through the tape; afterwards only persistent blocks
/// (parameters, state, momentum) are live.
/// </summary>
public sealed class Trainer : Session
{
    public Trainer(TrainOptions options, Device? device = null)
        : base(options, device, s => ((Trainer)s).Optimizer = new Sgd(s.Tape, s.Model.Parameters, options.LearningRate, options.Momentum, options.WeightDecay))
    {
        Options = options;
    }

    public TrainOptions Options { get; }
    public Sgd Optimizer { get; private set; } = null!;

    /// <summary>
    /// One training iteration on the given samples; returns the loss (NaN in shapes-only mode). An
    /// <see cref="IIterationAllocator"/> is told where the iteration begins (before the input upload) and ends (after
    /// the optimizer step).
    /// </summary>
    public float Step(float[][] samples, int[] labels) => Iteration(() => TrainingIteration(samples, labels));

    public override void Iterate(float[][] samples, int[] labels) => Step(samples, labels);

    private float TrainingIteration(float[][] samples, int[] labels)
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

    /// <summary>A dry-run evaluation batch of <paramref name="batch"/> samples (inference mode; shapes-only devices).</summary>
    public override void DryEvaluate(int batch)
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
        Guarded(() =>
        {
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
        });
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

    protected override void DisposeState() => Optimizer?.Dispose();
}
