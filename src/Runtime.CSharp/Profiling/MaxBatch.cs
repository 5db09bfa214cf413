using Pgmo.Kernels;
using Pgmo.Memory;
using Pgmo.Planner;
using Pgmo.Training;

namespace Pgmo.Profiling;

/// <summary>The memory an iteration needs at one batch size: each pool's reserved bytes (CuPy's <c>pool</c>, PyTorch's
/// <c>torch-pool</c>) and a plan's peak.</summary>
public readonly record struct BatchMemory(int Batch, int Buffers, long PoolReservedBytes, long TorchPoolReservedBytes, long PlanPeakBytes, long LowerBoundBytes);

/// <summary>
/// The largest batch whose iteration fits a memory budget, under each pool and under a plan, by exponential then binary
/// search over dry-run traces. Each batch size is profiled and planned once (cached), so the searches share their
/// traces. Assumes the memory an iteration needs does not shrink when the batch grows. <see cref="ForTraining"/> answers
/// the same question for a whole training run under an allocator and a memory limit.
/// </summary>
public sealed class MaxBatch
{
    /// <summary>The largest batch tried (tensor shapes use 32-bit dimensions; far beyond any real device).</summary>
    public const int DefaultCap = 1 << 16;

    private readonly Dictionary<int, BatchMemory> cache = new();
    private readonly Func<int, BatchMemory> measure;

    /// <summary>A search measuring batch sizes with <paramref name="measure"/> (called once per batch size).</summary>
    public MaxBatch(Func<int, BatchMemory> measure) => this.measure = measure;

    /// <summary>A search over dry-run traces of <paramref name="model"/>, planned with <paramref name="algorithm"/>.</summary>
    public static MaxBatch ForModel(string model, Algorithm algorithm, PlanSettings settings) =>
        new(batch =>
        {
            var profiled = Profiler.DryRun(model, batch);
            var problem = profiled.Trace.Problem;
            var planned = algorithm.Plan(problem, settings);
            return new BatchMemory(batch, problem.Buffers.Length, profiled.PoolReservedBytes,
                PlannerApi.SimulatePool(PoolPolicy.Torch, problem).Reserved, planned.Peak, PlannerApi.LowerBound(problem));
        });

    /// <summary>Every batch size measured so far, ascending.</summary>
    public IEnumerable<BatchMemory> Measured => cache.Values.OrderBy(m => m.Batch);

    /// <summary>The memory of one iteration at <paramref name="batch"/> (measured once, then cached).</summary>
    public BatchMemory At(int batch)
    {
        if (!cache.TryGetValue(batch, out var m)) cache[batch] = m = measure(batch);
        return m;
    }

    /// <summary>Largest batch at most <paramref name="cap"/> whose pool reserved bytes fit the budget (0: not even batch 1).</summary>
    public int ForPool(long budget, int cap = DefaultCap) => Largest(b => At(b).PoolReservedBytes <= budget, cap);

    /// <summary>Largest batch at most <paramref name="cap"/> whose torch-pool reserved bytes fit the budget (0: not even batch 1).</summary>
    public int ForTorchPool(long budget, int cap = DefaultCap) => Largest(b => At(b).TorchPoolReservedBytes <= budget, cap);

    /// <summary>Largest batch at most <paramref name="cap"/> whose plan peak fits the budget (0: not even batch 1).</summary>
    public int ForPlan(long budget, int cap = DefaultCap) => Largest(b => At(b).PlanPeakBytes <= budget, cap);

    /// <summary>
    /// The largest batch at most <paramref name="cap"/> whose run (training or inference: the kind of
    /// <paramref name="options"/>) fits under its allocator and <see cref="RunOptions.MemoryLimit"/> (0: not even batch
    /// 1), by <see cref="FitsDryRun"/>: the dry runs go through the allocator's own policy (its pool, or its dry-run plan
    /// and arena).
    /// </summary>
    public static int ForTraining(RunOptions options, int cap = DefaultCap) => Largest(b => FitsDryRun(options with { Batch = b }), cap);

    /// <summary>
    /// True when a run with <paramref name="options"/> stays within its memory limit in shapes-only mode: building the
    /// network, iterations of the run's kind until one reserves nothing more (a pool's cache settles after a few; a plan
    /// replays from the second; at most <see cref="SettleIterations"/>) and, for training, one evaluation batch, all
    /// through a virtual allocator of the run's kind under the limit.
    /// </summary>
    public static bool FitsDryRun(RunOptions options)
    {
        options = options with { Planned = options.Planned with { OnLog = null, FirstTrace = null } };
        using var device = Device.ShapesOnly();
        return Survives(options, device, session =>
        {
            session.DryStep(options.Batch);
            for (int i = 1; i < SettleIterations; i++)
            {
                long before = session.Allocator.PeakReservedBytes;
                session.DryStep(options.Batch);
                if (session.Allocator.PeakReservedBytes == before) break;
            }
            session.DryEvaluate(options.Batch);
        });
    }

    /// <summary>
    /// True when one real iteration (training step or inference batch) with <paramref name="options"/> on <paramref name="device"/>, over the first
    /// samples of <paramref name="data"/>, stays within the memory limit: the confirmation of a dry-run search.
    /// </summary>
    public static bool FitsRealStep(RunOptions options, Device device, Dataset data)
    {
        int b = options.Batch;
        var xs = Enumerable.Range(0, b).Select(i => data.Samples[i % data.Count]).ToArray();
        var ys = Enumerable.Range(0, b).Select(i => data.Labels[i % data.Count]).ToArray();
        return Survives(options with { Planned = options.Planned with { OnLog = null } }, device, session => session.Iterate(xs, ys));
    }

    /// <summary>The most dry-run iterations <see cref="FitsDryRun"/> runs before it takes the allocator as settled.</summary>
    public const int SettleIterations = 8;

    /// <summary>True when opening a session and running <paramref name="work"/> throws no <see cref="OutOfDeviceMemoryException"/>.</summary>
    static bool Survives(RunOptions options, Device device, Action<Session> work)
    {
        try
        {
            using var session = options.Open(device);
            work(session);
            return true;
        }
        catch (OutOfDeviceMemoryException) { return false; }
    }

    /// <summary>
    /// The largest b in [1, cap] with fits(b), assuming fits is monotone (true up to some batch, false after);
    /// 0 when fits(1) is false. Doubles from 1 until a batch fails or the cap is reached, then bisects.
    /// </summary>
    public static int Largest(Func<int, bool> fits, int cap = DefaultCap)
    {
        if (cap < 1 || !fits(1)) return 0;
        long lo = 1, hi = -1; // lo fits; hi fails (or -1: unknown)
        while (hi < 0)
        {
            long next = Math.Min(lo * 2, cap);
            if (next == lo) return (int)lo;
            if (fits((int)next)) lo = next; else hi = next;
        }
        while (hi - lo > 1)
        {
            long mid = lo + (hi - lo) / 2;
            if (fits((int)mid)) lo = mid; else hi = mid;
        }
        return (int)lo;
    }
}
