using Pgmo.Kernels;
using Pgmo.Memory;
using Pgmo.Training;

namespace Pgmo.Profiling;

/// <summary>One allocator's largest batch under a memory limit, what its dry run at that batch reserved, and how many
/// batch sizes the search tried.</summary>
public sealed record BatchSearch(AllocatorKind Allocator, int Batch, long PeakReservedBytes, int Probes);

/// <summary>
/// The largest batch a run fits under its allocator and memory limit: the one meaning of "largest batch", shared by
/// <c>pgmo max-batch</c>, <c>pgmo train --batch max</c> and <c>pgmo infer --batch max</c> (through
/// <see cref="RunOptions"/>, a run of either kind). A batch fits when its run, replayed in shapes-only mode through a
/// virtual allocator of the run's kind under the limit, never runs out of memory: the pools give back their cached
/// segments and retry when a request would pass the limit, as CuPy and PyTorch do, and the planned allocator commits
/// its dry-run plan's arena. A real run confirms the answer (<see cref="Search"/>). The search doubles then bisects,
/// which assumes a batch that fits means every smaller one fits; a pool's reserved bytes are not strictly monotone in
/// the batch, so it may miss an isolated larger batch that happens to fit.
/// </summary>
public static class MaxBatch
{
    /// <summary>The largest batch tried (tensor shapes use 32-bit dimensions; far beyond any real device).</summary>
    public const int DefaultCap = 1 << 16;

    /// <summary>The most dry-run iterations <see cref="FitsDryRun"/> runs before it takes the allocator as settled.</summary>
    public const int SettleIterations = 8;

    /// <summary>
    /// The largest batch in [1, <paramref name="cap"/>] that fits (0: not even batch 1): the largest whose dry run fits
    /// (<paramref name="fitsDryRun"/>), confirmed by <paramref name="fitsReal"/> when given. When the real run refuses
    /// it, <paramref name="refused"/> hears of it and the answer is the largest smaller batch whose real run fits (a
    /// bisection: every smaller batch fits the dry run).
    /// </summary>
    public static int Search(Func<int, bool> fitsDryRun, Func<int, bool>? fitsReal = null, int cap = DefaultCap, Action<int>? refused = null)
    {
        int b = Largest(fitsDryRun, cap);
        if (b == 0 || fitsReal is null || fitsReal(b)) return b;
        refused?.Invoke(b);
        return Largest(fitsReal, b - 1);
    }

    /// <summary>
    /// The largest batch at most <paramref name="cap"/> whose run (training or inference: the kind of
    /// <paramref name="options"/>) fits under its allocator and <see cref="RunOptions.MemoryLimit"/>, by dry runs alone
    /// (<see cref="DryRunPeak"/>), with the peak its dry run reserved and the number of batch sizes tried.
    /// <paramref name="evaluation"/>: the run ends with an evaluation (a training run on the digits classifies their
    /// test set).
    /// </summary>
    public static BatchSearch ForRun(RunOptions options, bool evaluation, int cap = DefaultCap)
    {
        var peaks = new Dictionary<int, long?>();
        int b = Search(batch => (peaks[batch] = DryRunPeak(options with { Batch = batch }, evaluation)) is not null, cap: cap);
        return new BatchSearch(options.Allocator, b, b > 0 ? peaks[b]!.Value : 0, peaks.Count);
    }

    /// <summary>True when a run with <paramref name="options"/> fits its memory limit in shapes-only mode (see <see cref="DryRunPeak"/>).</summary>
    public static bool FitsDryRun(RunOptions options, bool evaluation) => DryRunPeak(options, evaluation) is not null;

    /// <summary>
    /// The peak reserved bytes of a run with <paramref name="options"/> in shapes-only mode, or null when it runs out of
    /// memory: building the network, iterations of the run's kind until one reserves nothing more (<see cref="Settle"/>)
    /// and, with <paramref name="evaluation"/>, one evaluation batch, all through a virtual allocator of the run's kind
    /// under its limit.
    /// </summary>
    public static long? DryRunPeak(RunOptions options, bool evaluation)
    {
        options = options with { Planned = options.Planned with { OnLog = null, FirstTrace = null } };
        using var device = Device.ShapesOnly();
        long peak = 0;
        bool fits = Survives(() => options.Open(device), session =>
        {
            Settle(session.Allocator, () => session.DryStep(options.Batch));
            if (evaluation) session.DryEvaluate(options.Batch);
            peak = session.Allocator.PeakReservedBytes;
        });
        return fits ? peak : null;
    }

    /// <summary>Runs <paramref name="iteration"/> until one leaves <paramref name="allocator"/>'s peak where it was (a
    /// pool's cache settles after a few; a plan replays from the second), at most <see cref="SettleIterations"/> times.</summary>
    public static void Settle(IDeviceAllocator allocator, Action iteration)
    {
        iteration();
        for (int i = 1; i < SettleIterations; i++)
        {
            long before = allocator.PeakReservedBytes;
            iteration();
            if (allocator.PeakReservedBytes == before) break;
        }
    }

    /// <summary>
    /// True when one real iteration (training step or inference batch) with <paramref name="options"/> on
    /// <paramref name="device"/>, over the first samples of <paramref name="data"/>, stays within the memory limit and
    /// the device's memory: the confirmation of a dry-run search. <paramref name="failure"/> receives the out-of-memory
    /// error when it does not.
    /// </summary>
    public static bool FitsRealStep(RunOptions options, Device device, Dataset data, Action<OutOfDeviceMemoryException>? failure = null)
    {
        int b = options.Batch;
        var xs = Enumerable.Range(0, b).Select(i => data.Samples[i % data.Count]).ToArray();
        var ys = Enumerable.Range(0, b).Select(i => data.Labels[i % data.Count]).ToArray();
        return Survives(() => (options with { Planned = options.Planned with { OnLog = null } }).Open(device), session => session.Iterate(xs, ys), failure);
    }

    /// <summary>True when building a runner with <paramref name="build"/> and running <paramref name="work"/> on it
    /// throws no <see cref="OutOfDeviceMemoryException"/> (which goes to <paramref name="failure"/>); the runner is
    /// disposed either way, and gives its device memory back.</summary>
    public static bool Survives<T>(Func<T> build, Action<T> work, Action<OutOfDeviceMemoryException>? failure = null) where T : IDisposable
    {
        try
        {
            using var runner = build();
            work(runner);
            return true;
        }
        catch (OutOfDeviceMemoryException e)
        {
            failure?.Invoke(e);
            return false;
        }
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
