namespace Pgmo.Kernels;

/// <summary>
/// How host kernels spread work over the cores: one parallel loop of at most <see cref="Threads"/> workers
/// (<see cref="Environment.ProcessorCount"/>, which <c>DOTNET_PROCESSOR_COUNT</c> sets, as <c>torch.set_num_threads</c>
/// does for PyTorch), or the calling thread alone when the work is small.
/// </summary>
internal static class HostParallel
{
    /// <summary>Work (elements or multiply-adds) below which a loop runs on the calling thread.</summary>
    public const long Threshold = 1 << 15;

    /// <summary>The most threads a host kernel uses.</summary>
    public static int Threads { get; } = Environment.ProcessorCount;

    private static readonly ParallelOptions Options = new() { MaxDegreeOfParallelism = Threads };

    /// <summary>body(0 .. count-1): over the cores when <paramref name="work"/> reaches <see cref="Threshold"/> and
    /// there are several items, else in order on the calling thread.</summary>
    public static void For(int count, long work, Action<int> body)
    {
        if (count <= 0) return;
        if (count == 1 || work < Threshold || Threads == 1) { for (int i = 0; i < count; i++) body(i); return; }
        Parallel.For(0, count, Options, body);
    }

    /// <summary>body(start, length) over [0, n) in pieces of about <paramref name="grain"/> elements (at least one per
    /// thread when n is large), in parallel as <see cref="For"/>.</summary>
    public static void Ranges(long n, long grain, Action<long, long> body)
    {
        if (n <= 0) return;
        long pieces = Math.Max(1, Math.Min((n + grain - 1) / grain, n));
        if (n >= Threshold && pieces < Threads) pieces = Math.Min(n, Threads);
        long size = (n + pieces - 1) / pieces;
        For((int)((n + size - 1) / size), n, i => body(i * size, Math.Min(size, n - i * size)));
    }
}
