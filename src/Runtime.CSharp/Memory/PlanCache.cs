using Pgmo.Planner;

namespace Pgmo.Memory;

/// <summary>A plan in a <see cref="PlanCache"/>: its record and when it was last used.</summary>
public sealed class CachedPlan
{
    internal CachedPlan(PlanRecord record) => Record = record;

    /// <summary>The plan and the trace it was made from.</summary>
    public PlanRecord Record { get; }
    /// <summary>The cache's clock when the plan was last used (larger: more recent).</summary>
    public long LastUsed { get; internal set; }
    /// <summary>The trace's events (see <see cref="IterationTrace.Events"/>).</summary>
    public MemoryEvent[] Events => (MemoryEvent[])Record.Trace.Events;
    /// <summary>The trace's away and back marks (see <see cref="IterationTrace.Marks"/>).</summary>
    public IReadOnlyList<TraceMark> Marks => Record.Trace.Marks;
    /// <summary>The trace's persistent sizes, in block order.</summary>
    public long[] PersistentSizes => (long[])Record.Trace.PersistentSizes;

    /// <summary>True when <paramref name="blocks"/> (in id order) have the plan's persistent sizes.</summary>
    public bool MatchesPersistent(IReadOnlyList<DeviceBlock> blocks)
    {
        var sizes = PersistentSizes;
        if (sizes.Length != blocks.Count) return false;
        for (int i = 0; i < sizes.Length; i++)
            if (DeviceAllocator.Aligned(blocks[i].Requested) != sizes[i]) return false;
        return true;
    }
}

/// <summary>
/// The plans a planned allocator has made, by <see cref="IterationTrace.Signature"/>: an iteration whose request
/// sequence was planned before is not planned again, and a diverging iteration can switch to the most recently used
/// plan that shares its prefix.
/// </summary>
public sealed class PlanCache
{
    private readonly Dictionary<ulong, List<CachedPlan>> bySignature = new();
    private readonly List<PlanRecord> plans = new();
    private long clock;

    /// <summary>Every plan added, in order.</summary>
    public IReadOnlyList<PlanRecord> Plans => plans;

    /// <summary>Adds a plan; returns its entry (marked used).</summary>
    public CachedPlan Add(PlanRecord record)
    {
        var entry = new CachedPlan(record);
        var trace = record.Trace;
        if (!bySignature.TryGetValue(trace.Signature, out var bucket)) bySignature[trace.Signature] = bucket = new();
        bucket.Add(entry);
        plans.Add(record);
        Touch(entry);
        return entry;
    }

    /// <summary>Marks <paramref name="plan"/> as the most recently used.</summary>
    public void Touch(CachedPlan plan) => plan.LastUsed = ++clock;

    /// <summary>The plan of exactly this request sequence, if one was made.</summary>
    public CachedPlan? Find(IterationTrace trace) =>
        bySignature.TryGetValue(trace.Signature, out var bucket)
            ? bucket.FirstOrDefault(c => c.PersistentSizes.AsSpan().SequenceEqual((long[])trace.PersistentSizes) && c.Events.AsSpan().SequenceEqual((MemoryEvent[])trace.Events)
                                         && c.Marks.SequenceEqual(trace.Marks))
            : null;

    /// <summary>The most recently used plan whose persistent sizes match <paramref name="persistent"/>, whose events
    /// start with <paramref name="prefix"/> and whose marks start with <paramref name="marks"/>, if any.</summary>
    public CachedPlan? FindPrefix(ReadOnlySpan<MemoryEvent> prefix, IReadOnlyList<TraceMark> marks, IReadOnlyList<DeviceBlock> persistent)
    {
        CachedPlan? best = null;
        foreach (var bucket in bySignature.Values)
            foreach (var c in bucket)
            {
                if (c.Events.Length < prefix.Length || !c.MatchesPersistent(persistent)) continue;
                if (!c.Events.AsSpan(0, prefix.Length).SequenceEqual(prefix)) continue;
                if (c.Marks.Count < marks.Count || !c.Marks.Take(marks.Count).SequenceEqual(marks)) continue;
                if (best is null || c.LastUsed > best.LastUsed) best = c;
            }
        return best;
    }
}
