namespace Pgmo.Kernels;

/// <summary>
/// Splits a launch over <c>total</c> elements into parts of at most <c>maxPerPart</c> elements, so no launch extent
/// exceeds what an <c>Index1D</c> (and a CUDA grid) can hold: 2^31 - 1 threads. Kernels index with 64-bit
/// <c>long</c> from their part's start, so views longer than 2^31 elements are covered exactly once.
/// </summary>
public static class LaunchSplit
{
    /// <summary>The most threads one launch may have: <see cref="int.MaxValue"/>.</summary>
    public const long MaxThreads = int.MaxValue;

    /// <summary>Consecutive ranges covering [0, total) in order, each of 1..maxPerPart elements (none when total is 0).</summary>
    public static IEnumerable<ElementRange> Parts(long total, long maxPerPart = MaxThreads)
    {
        if (total < 0) throw new ArgumentOutOfRangeException(nameof(total), total, "element count must be non-negative");
        if (maxPerPart < 1) throw new ArgumentOutOfRangeException(nameof(maxPerPart), maxPerPart, "a part holds at least one element");
        for (long start = 0; start < total; start += maxPerPart)
            yield return new ElementRange { Start = start, End = Math.Min(total, start + maxPerPart) };
    }
}
