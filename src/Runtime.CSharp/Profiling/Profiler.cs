using Pgmo.Kernels;
using Pgmo.Memory;
using Pgmo.Training;

namespace Pgmo.Profiling;

/// <summary>
/// One profiled training iteration of <paramref name="Model"/> at batch <paramref name="Batch"/>: its
/// <see cref="IterationTrace"/> (persistent buffers over the whole iteration, the others on [allocation, free)) and
/// the reserved bytes of the CuPy pool that served it (which <c>Pool.simulate</c> of the trace reproduces).
/// </summary>
public sealed record ProfiledIteration(string Model, int Batch, IterationTrace Trace, long PoolReservedBytes)
{
    /// <summary>Side of the square input images in pixels.</summary>
    public int ImageSize { get; init; }
}

/// <summary>
/// Profiles one training iteration (forward, loss, backward, optimizer step) of a freshly built network through a
/// recording pool allocator: the trainer marks the iteration and the allocator's <see cref="IterationRecorder"/>
/// records it, exactly as the planned allocator records the iteration it plans.
/// </summary>
public static class Profiler
{
    /// <summary>
    /// The trace of one iteration at batch <paramref name="batch"/> in shapes-only mode: no kernels, no device memory,
    /// no data, so the full-size networks are profiled at real batch sizes in seconds. <paramref name="imageSize"/>:
    /// side of the input images (null: the network's default). Throws <see cref="ArgumentException"/> for an unknown
    /// model, a batch below 1 or an image size at which the network is not defined.
    /// </summary>
    public static ProfiledIteration DryRun(string model, int batch, int? imageSize = null, long convWorkspaceBytes = ConvTiling.DefaultWorkspaceBytes)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "batch must be at least 1");
        using var device = Device.ShapesOnly();
        using var trainer = NewTrainer(model, batch, imageSize, convWorkspaceBytes, device);
        trainer.DryStep(batch);
        return Finish(trainer, batch);
    }

    /// <summary>
    /// The trace of one real iteration on <paramref name="device"/> (which must compute) over the first
    /// <paramref name="batch"/> samples of <paramref name="data"/> (repeated when the set is smaller), or, when
    /// <paramref name="data"/> is null, over one batch of <see cref="SyntheticData"/> (seed 1) at
    /// <paramref name="imageSize"/> (null: the network's default).
    /// </summary>
    public static ProfiledIteration Real(string model, int batch, Device device, Dataset? data = null, int? imageSize = null, long convWorkspaceBytes = ConvTiling.DefaultWorkspaceBytes)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "batch must be at least 1");
        if (!device.Computes) throw new ArgumentException("a real run needs a computing device (use DryRun for shapes only)", nameof(device));
        using var trainer = NewTrainer(model, batch, imageSize, convWorkspaceBytes, device);
        var xs = new float[batch][];
        var ys = new int[batch];
        if (data is null) new SyntheticData(trainer.Model.InputShape, trainer.Model.Classes, trainer.Options.Seed).Fill(xs, ys);
        else
            for (int i = 0; i < batch; i++)
            {
                xs[i] = data.Samples[i % data.Count];
                ys[i] = data.Labels[i % data.Count];
            }
        trainer.Step(xs, ys);
        return Finish(trainer, batch);
    }

    static Trainer NewTrainer(string model, int batch, int? imageSize, long convWorkspaceBytes, Device device) =>
        new(new TrainOptions { Model = model, Batch = batch, ImageSize = imageSize, ConvWorkspaceBytes = convWorkspaceBytes, Allocator = AllocatorKind.Pool, Record = true }, device);

    static ProfiledIteration Finish(Trainer trainer, int batch)
    {
        if (trainer.Allocator.LiveBlocks != trainer.PersistentBlocks)
            throw new InvalidOperationException($"{trainer.Model.Name}: {trainer.Allocator.LiveBlocks - trainer.PersistentBlocks} blocks leaked by one iteration");
        var trace = trainer.Allocator.LastTrace ?? throw new InvalidOperationException("the trainer's allocator recorded no iteration");
        return new ProfiledIteration(trainer.Model.Name, batch, trace, trainer.Allocator.PeakReservedBytes) { ImageSize = trainer.Model.InputShape[1] };
    }
}
