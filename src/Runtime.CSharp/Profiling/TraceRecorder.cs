using System.Globalization;
using System.Text;
using Pgmo.Kernels;
using Pgmo.Memory;
using Pgmo.Models;
using Pgmo.Planner;
using Pgmo.Training;

namespace Pgmo.Profiling;

/// <summary>
/// The memory trace of one training iteration as a planner problem. Event step i is the i-th allocator request since
/// the trainer was built: the persistent tensors (weights, running statistics, optimizer state) are the first
/// <see cref="Persistent"/> requests and are never freed, so they live from their step to the end, over the whole
/// iteration; every other buffer lives on the half-open [its allocation's step, its free's step). Sizes are rounded
/// up to 256 B and carry that alignment. <see cref="Tags"/> names the tensor of each buffer, in problem order.
/// </summary>
public sealed record MemoryTrace(string Model, int Batch, Problem Problem, IReadOnlyList<string> Tags, int Persistent, long PoolReservedBytes)
{
    /// <summary>The trace as CSV: the problem's columns (id,lower,upper,size,alignment) plus a `tag` column.</summary>
    public string ToCsv()
    {
        var sb = new StringBuilder(Problem.Buffers.Length * 40 + 64);
        sb.Append("id,lower,upper,size,alignment,tag\n");
        for (int i = 0; i < Problem.Buffers.Length; i++)
        {
            var b = Problem.Buffers[i];
            sb.Append(Quote(b.Id)).Append(',')
              .Append(b.Lifetime.Start.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(b.Lifetime.End.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(b.Size.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(b.Alignment.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(Quote(Tags[i])).Append('\n');
        }
        return sb.ToString();
    }

    static string Quote(string s) =>
        s.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}

/// <summary>Records one training iteration (forward, loss, backward, optimizer step) through a recording pool allocator.</summary>
public static class TraceRecorder
{
    /// <summary>
    /// The trace of one iteration at batch <paramref name="batch"/> in shapes-only mode: no kernels, no device memory,
    /// no data, so the full-size networks are profiled at real batch sizes in seconds. Throws
    /// <see cref="ArgumentException"/> for an unknown model or a batch below 1.
    /// </summary>
    public static MemoryTrace DryRun(string model, int batch)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "batch must be at least 1");
        using var device = Device.ShapesOnly();
        using var trainer = new Trainer(new TrainOptions { Model = model, Batch = batch, Allocator = "pool", Record = true }, device);
        trainer.DryStep(batch);
        return FromTrainer(trainer, batch);
    }

    /// <summary>
    /// The trace of one real iteration on <paramref name="device"/> (which must compute) over the first
    /// <paramref name="batch"/> samples of <paramref name="data"/> (repeated when the set is smaller).
    /// </summary>
    public static MemoryTrace Real(string model, int batch, Device device, Dataset data)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "batch must be at least 1");
        if (!device.Computes) throw new ArgumentException("a real run needs a computing device (use DryRun for shapes only)", nameof(device));
        using var trainer = new Trainer(new TrainOptions { Model = model, Batch = batch, Allocator = "pool", Record = true }, device);
        var xs = new float[batch][];
        var ys = new int[batch];
        for (int i = 0; i < batch; i++)
        {
            xs[i] = data.Samples[i % data.Count];
            ys[i] = data.Labels[i % data.Count];
        }
        trainer.Step(xs, ys);
        return FromTrainer(trainer, batch);
    }

    /// <summary>The trace of everything a recording trainer's allocator saw, after one step.</summary>
    static MemoryTrace FromTrainer(Trainer trainer, int batch)
    {
        var log = trainer.Allocator.Log ?? throw new InvalidOperationException("the trainer's allocator does not record");
        if (trainer.Allocator.LiveBlocks != trainer.PersistentBlocks)
            throw new InvalidOperationException($"{trainer.Model.Name}: {trainer.Allocator.LiveBlocks - trainer.PersistentBlocks} blocks leaked by one iteration");
        var problem = log.ToProblem(DeviceAllocator.Alignment);
        var tags = new Dictionary<string, string>();
        foreach (var r in log.Requests)
            if (r.IsAlloc) tags[r.Id.ToString(CultureInfo.InvariantCulture)] = r.Tag;
        var ordered = problem.Buffers.Select(b => tags[b.Id]).ToArray();
        return new MemoryTrace(trainer.Model.Name, batch, problem, ordered, trainer.PersistentBlocks, trainer.Allocator.PeakReservedBytes);
    }
}
