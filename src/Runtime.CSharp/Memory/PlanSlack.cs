using Pgmo.Planner;

namespace Pgmo.Memory;

/// <summary>
/// The bytes a plan leaves free around a buffer: at every step of the buffer's lifetime, the other buffers live then
/// hold their planned ranges; what lies between them, below the plan's peak, is slack the buffer could use without
/// touching any of them or raising the peak.
/// <code>
///   offset
///   peak ┤            ┌──────┐
///        │   free     │  c   │       the slack of b over its lifetime [s, e):
///        ├────────┐   └──────┘       the largest free range in [0, peak) at
///        │   a    │ ┌──┐             every step of [s, e): here [top of a,
///        │        │ │b │             bottom of c), which b may grow into
///        └────────┴─┴──┴──── step
///                   s  e
/// </code>
/// </summary>
public static class PlanSlack
{
    /// <summary>
    /// The largest range [start, end) within [0, <paramref name="peak"/>) that no buffer other than
    /// <paramref name="buffer"/> whose lifetime meets its own holds in <paramref name="offsets"/> (the lowest of equal
    /// ones): at least the free range around the buffer's own planned range. With offsets, sizes and peak multiples of
    /// the alignment, so are its ends.
    /// </summary>
    public static (long Start, long End) LargestFreeRange(Problem problem, IReadOnlyList<long> offsets, long peak, int buffer)
    {
        var life = problem.Buffers[buffer].Lifetime;
        var taken = new List<(long Start, long End)>();
        for (int j = 0; j < problem.Buffers.Length; j++)
        {
            var b = problem.Buffers[j];
            if (j != buffer && b.Lifetime.Start < life.End && life.Start < b.Lifetime.End) taken.Add((offsets[j], offsets[j] + b.Size));
        }
        taken.Sort();
        (long Start, long End) best = (0, 0);
        long free = 0;                                       // the lowest byte above every range seen so far
        foreach (var (start, end) in taken.Append((peak, peak)))
        {
            if (start > free && Math.Min(start, peak) - free > best.End - best.Start) best = (free, Math.Min(start, peak));
            free = Math.Max(free, end);
        }
        return best;
    }
}
