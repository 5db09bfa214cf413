namespace Pgmo.Memory;

/// <summary>One allocator request: an allocation (Bytes &gt; 0) or a free (Bytes = 0) of block Id.</summary>
public readonly record struct AllocatorRequest(bool IsAlloc, long Id, long Bytes, string Tag);

/// <summary>
/// The sequence of Allocate/Free requests an allocator received, in order. Replaying it through the planner's pool
/// simulation must give the runtime pool's reserved peak; turning it into a problem gives the memory trace.
/// </summary>
public sealed class RequestLog
{
    private readonly List<AllocatorRequest> requests = new();

    /// <summary>Requests in the order they were made.</summary>
    public IReadOnlyList<AllocatorRequest> Requests => requests;

    internal void Alloc(long id, long bytes, string tag) => requests.Add(new AllocatorRequest(true, id, bytes, tag));
    internal void Free(long id, string tag) => requests.Add(new AllocatorRequest(false, id, 0, tag));

    /// <summary>Forgets everything recorded so far (e.g. after warm-up).</summary>
    public void Clear() => requests.Clear();

    /// <summary>
    /// The trace as a planner problem: event step i is the i-th request; block b lives on the half-open
    /// [step of its alloc, step of its free); blocks never freed live until the end (one past the last step).
    /// Sizes are rounded up to <paramref name="alignment"/> and carry it as their alignment.
    /// </summary>
    public Pgmo.Planner.Problem ToProblem(long alignment = DeviceAllocator.Alignment)
    {
        var start = new Dictionary<long, (int Step, long Bytes, string Tag)>();
        var buffers = new List<(long Id, Pgmo.Planner.Buffer B)>();
        for (int i = 0; i < requests.Count; i++)
        {
            var r = requests[i];
            if (r.IsAlloc) start[r.Id] = (i, r.Bytes, r.Tag);
            else if (start.Remove(r.Id, out var s)) buffers.Add((r.Id, Make(r.Id, s.Step, i, s.Bytes)));
        }
        foreach (var (id, s) in start) buffers.Add((id, Make(id, s.Step, requests.Count, s.Bytes)));
        buffers.Sort((a, b) => a.Id.CompareTo(b.Id));
        return new Pgmo.Planner.Problem(buffers.Select(x => x.B).ToArray());

        Pgmo.Planner.Buffer Make(long id, int from, int to, long bytes) =>
            new(id.ToString(System.Globalization.CultureInfo.InvariantCulture),
                new Pgmo.Planner.Lifetime(from, Math.Max(to, from + 1)), DeviceAllocator.RoundUp(bytes, alignment), alignment);
    }
}
