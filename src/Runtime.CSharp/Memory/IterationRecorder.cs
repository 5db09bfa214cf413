using Pgmo.Planner;

namespace Pgmo.Memory;

/// <summary>
/// Records the memory trace of one training iteration as the allocator sees it: <see cref="Begin"/> takes the blocks
/// live when the iteration starts (its persistent buffers), every allocation and free in between is one event step,
/// and <see cref="Trace"/> gives the <see cref="IterationTrace"/>. A block that goes away (offloaded or dropped for
/// recomputation) and comes back leaves two marks, which take no step: its buffer has a gap between them. Requests
/// outside an iteration are not recorded.
/// The one implementation of the trace's semantics, used by every allocator that records and by the planned allocator.
/// </summary>
public sealed class IterationRecorder
{
    private readonly List<MemoryEvent> events = new();
    private readonly List<TraceMark> marks = new();
    private readonly List<DeviceBlock> persistent = new();
    private readonly Dictionary<long, int> bufferOf = new();
    private readonly List<string> transient = new();   // the tags of the iteration's allocations, in order
    private IterationTrace? trace;
    private int ended;

    /// <summary>True between <see cref="Begin"/> and <see cref="End"/>.</summary>
    public bool InIteration { get; private set; }
    /// <summary>The events of the iteration so far (see <see cref="IterationTrace.Events"/>).</summary>
    public IReadOnlyList<MemoryEvent> Events => events;
    /// <summary>The away and back marks of the iteration so far (see <see cref="IterationTrace.Marks"/>).</summary>
    public IReadOnlyList<TraceMark> Marks => marks;
    /// <summary>The blocks live when the iteration began, by block id: buffers 0 .. Count-1.</summary>
    public IReadOnlyList<DeviceBlock> Persistent => persistent;
    /// <summary>The events so far as a span (valid until the next request).</summary>
    public ReadOnlySpan<MemoryEvent> EventSpan => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(events);

    /// <summary>Starts an iteration; the blocks in <paramref name="live"/> become its persistent buffers (in id order).</summary>
    public void Begin(IEnumerable<DeviceBlock> live)
    {
        if (InIteration) throw new InvalidOperationException("BeginIteration called twice without EndIteration");
        InIteration = true;
        trace = null;
        events.Clear(); marks.Clear(); transient.Clear(); bufferOf.Clear(); persistent.Clear();
        persistent.AddRange(live.OrderBy(b => b.Id));
        for (int i = 0; i < persistent.Count; i++) bufferOf[persistent[i].Id] = i;
    }

    /// <summary>Ends the iteration; the requests after it are not recorded until the next <see cref="Begin"/>.</summary>
    public void End()
    {
        if (!InIteration) throw new InvalidOperationException("EndIteration without BeginIteration");
        InIteration = false;
        ended++;
    }

    /// <summary>Records the allocation of block <paramref name="id"/>; returns its buffer index (-1 outside an iteration).</summary>
    public int Alloc(long id, long bytes, string tag)
    {
        if (!InIteration) return -1;
        long size = DeviceAllocator.Aligned(bytes);
        int buffer = persistent.Count + transient.Count;
        transient.Add(tag);
        events.Add(MemoryEvent.Alloc(buffer, size));
        bufferOf[id] = buffer;
        return buffer;
    }

    /// <summary>The buffer index of live block <paramref name="id"/> in the iteration in progress, or -1 when it has none.</summary>
    public int BufferOf(long id) => InIteration && bufferOf.TryGetValue(id, out int b) ? b : -1;

    /// <summary>Records the free of block <paramref name="id"/>; false when not recorded (outside an iteration, or a
    /// block allocated outside it that was not live when it began).</summary>
    public bool Free(long id)
    {
        if (!InIteration || !bufferOf.TryGetValue(id, out int buffer)) return false;
        events.Add(MemoryEvent.Free(buffer));
        return true;
    }

    /// <summary>Records that live block <paramref name="id"/> goes away (<paramref name="back"/> false) or comes back
    /// before the next event; false when not recorded (outside an iteration, or a block the iteration does not know).</summary>
    public bool Mark(long id, bool back)
    {
        if (!InIteration || !bufferOf.TryGetValue(id, out int buffer)) return false;
        marks.Add(new TraceMark(buffer, events.Count, back));
        return true;
    }

    /// <summary>The trace of the last iteration that ended (built once, on first use); throws during an iteration or before the first.</summary>
    public IterationTrace Trace
    {
        get
        {
            if (InIteration || ended == 0) throw new InvalidOperationException("no iteration has ended since the last one began");
            return trace ??= Build();
        }
    }

    /// <summary>True when an iteration has ended and no other has begun since (so <see cref="Trace"/> is available).</summary>
    public bool HasTrace => !InIteration && ended > 0;

    private IterationTrace Build()
    {
        var persistentSizes = persistent.Select(b => DeviceAllocator.Aligned(b.Requested)).ToArray();
        var tags = persistent.Select(b => b.Tag).Concat(transient).ToArray();
        var eventArray = events.ToArray();
        var markArray = marks.ToArray();
        var problem = StepTrace.problem(DeviceAllocator.Alignment, persistentSizes, eventArray, markArray);
        return new IterationTrace(problem, tags, persistent.Count, persistentSizes, eventArray) { Marks = markArray };
    }
}
