using Pgmo.Planner;

namespace Pgmo.Memory;

/// <summary>
/// An allocator that wants to know where training iterations start and end (the planned allocator profiles and
/// replays one iteration at a time). The trainer calls <see cref="BeginIteration"/> before the first forward op and
/// <see cref="EndIteration"/> after the optimizer step.
/// </summary>
public interface IIterationAllocator
{
    /// <summary>The next requests belong to a new iteration; the blocks live now are its persistent blocks.</summary>
    void BeginIteration();
    /// <summary>The iteration's last request has been made.</summary>
    void EndIteration();
}

/// <summary>
/// The memory trace of one training iteration. Step i is the iteration's i-th allocator event (an allocation or a
/// free). Buffers 0 .. <see cref="Persistent"/>-1 are the blocks live when the iteration began (weights, optimizer
/// state), live over the whole iteration [0, steps); the others are the iteration's allocations in request order,
/// live on the half-open [step of the allocation, step of the free), or up to the end when never freed, except on the
/// gaps its <see cref="Marks"/> give it.
/// Sizes are the requests rounded up to 256 B, with alignment 256.
/// </summary>
public sealed class IterationTrace
{
    internal IterationTrace(Problem problem, string[] tags, int persistent, long[] persistentSizes, MemoryEvent[] events)
    {
        Problem = problem; Tags = tags; Persistent = persistent; PersistentSizes = persistentSizes; Events = events;
        Signature = ComputeSignature(persistentSizes, events);
    }

    /// <summary>The buffers as a planner problem (ids are buffer indices).</summary>
    public Problem Problem { get; }
    /// <summary>What each buffer holds (the allocation's tag), in problem order.</summary>
    public IReadOnlyList<string> Tags { get; }
    /// <summary>Number of leading buffers that are persistent (live over the whole iteration).</summary>
    public int Persistent { get; }
    /// <summary>Rounded sizes of the persistent buffers, in block order.</summary>
    public IReadOnlyList<long> PersistentSizes { get; }
    /// <summary>The iteration's events in order: the allocation of a buffer (its index in <see cref="Problem"/>) with its
    /// rounded size, or its free: the event type the planner's pools replay.</summary>
    public IReadOnlyList<MemoryEvent> Events { get; }
    /// <summary>The iteration's away and back marks in order (blocks offloaded or dropped for recomputation, and their
    /// return): a buffer away between two marks has a gap there (<see cref="StepTrace.problem"/>); empty without
    /// trade-offs.</summary>
    public IReadOnlyList<TraceMark> Marks
    {
        get => marks;
        init { marks = value.ToArray(); Signature = ComputeSignature(PersistentSizes, Events, marks); }
    }
    private TraceMark[] marks = Array.Empty<TraceMark>();
    /// <summary>A 64-bit hash of <see cref="PersistentSizes"/>, <see cref="Events"/> and <see cref="Marks"/>: equal
    /// request sequences have equal signatures.</summary>
    public ulong Signature { get; private init; }

    /// <summary>FNV-1a over the persistent sizes, the events and the marks (none: the hash of the first two alone).</summary>
    public static ulong ComputeSignature(IReadOnlyList<long> persistentSizes, IReadOnlyList<MemoryEvent> events, IReadOnlyList<TraceMark>? marks = null)
    {
        ulong h = 14695981039346656037UL;
        void Mix(long v)
        {
            for (int i = 0; i < 8; i++) { h ^= (byte)(v >> (8 * i)); h *= 1099511628211UL; }
        }
        Mix(persistentSizes.Count);
        foreach (var s in persistentSizes) Mix(s);
        Mix(events.Count);
        foreach (var e in events) { Mix(e.Buffer); Mix(e.Size); }
        if (marks is { Count: > 0 })
        {
            Mix(marks.Count);
            foreach (var m in marks) { Mix(m.Buffer); Mix(m.Step); Mix(m.Back ? 1 : 0); }
        }
        return h;
    }
}
