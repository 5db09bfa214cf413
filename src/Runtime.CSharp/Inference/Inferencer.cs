using System.Diagnostics;
using Pgmo.Kernels;
using Pgmo.Memory;
using Pgmo.Training;

namespace Pgmo.Inference;

/// <summary>Settings of an inference run (the `pgmo infer` options); the shared ones are <see cref="RunOptions"/>'s.</summary>
public sealed record InferOptions : RunOptions
{
    /// <summary>Timed batches (after one warm-up batch).</summary>
    public int Steps { get; init; } = 10;

    /// <summary>An <see cref="Inferencer"/> with these options.</summary>
    public override Session Open(Device? device = null) => new Inferencer(this, device);
}

/// <summary>What an inference run measured: the milliseconds of each timed batch (upload, forward, logits to the host)
/// and the allocator's peak reserved and in-use bytes.</summary>
public sealed record InferResult(string Model, int Batch, string Accelerator, string Allocator, IReadOnlyList<double> BatchMillis,
    long PeakBytes, long PeakInUseBytes);

/// <summary>
/// A network in inference mode on one device (a <see cref="Session"/> of inference batches): the forward pass only,
/// with running batch-norm statistics and no dropout. Nothing is recorded on the tape, so every activation goes back to
/// the allocator at its last use, inside the layer that reads it. Persistent blocks are the weights and running
/// statistics (no gradients, no optimizer state). Each batch is one iteration for the allocator: uploaded, run forward,
/// its logits copied to the host and freed, so a planned allocator plans one batch and replays it for every batch.
/// </summary>
public sealed class Inferencer : Session
{
    public Inferencer(InferOptions options, Device? device = null) : base(options, device)
    {
        Options = options;
        Model.SetTraining(false);
        Tape.Recording = false;
    }

    public InferOptions Options { get; }

    /// <summary>The logits [n, classes] of the <paramref name="samples"/> on the host (empty in shapes-only mode).</summary>
    public float[] Infer(float[][] samples) => Iteration(() =>
    {
        var x = Tape.Upload(Device.Computes ? Flatten(samples) : Array.Empty<float>(), new[] { samples.Length }.Concat(Model.InputShape).ToArray(), "input");
        var logits = Model.Forward(Tape, x);
        var host = Tape.Download(logits);
        logits.Release();
        return host;
    });

    public override void Iterate(float[][] samples, int[] labels) => Infer(samples);

    /// <summary>One warm-up batch (kernels load, a pool fills), then <see cref="InferOptions.Steps"/> timed batches
    /// of fresh seeded synthetic inputs; <paramref name="progress"/> receives (batch, its milliseconds).</summary>
    public InferResult Run(Action<int, double>? progress = null)
    {
        int b = Options.Batch;
        var data = new SyntheticData(Model.InputShape, Model.Classes, Options.Seed);
        var (xs, ys) = (new float[b][], new int[b]);
        data.Fill(xs, ys);
        Infer(xs);
        var times = new List<double>(Options.Steps);
        for (int i = 0; i < Options.Steps; i++)
        {
            data.Fill(xs, ys);
            var clock = Stopwatch.StartNew();
            Infer(xs);
            Device.Synchronize();
            times.Add(clock.Elapsed.TotalMilliseconds);
            progress?.Invoke(i + 1, times[^1]);
        }
        return new InferResult(Model.Name, b, Device.Name, Allocator.Name, times, Allocator.PeakReservedBytes, Allocator.PeakInUseBytes);
    }
}
