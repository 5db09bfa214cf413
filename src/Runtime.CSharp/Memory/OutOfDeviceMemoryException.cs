namespace Pgmo.Memory;

/// <summary>
/// A request that does not fit the allocator's device memory limit, even after the allocator gave back what it had
/// cached (the pools' wholly free segments). The message names the request, the bytes it needed, the reserved and live
/// bytes, the limit and the allocator; it starts with "out of memory".
/// </summary>
public sealed class OutOfDeviceMemoryException : Exception
{
    /// <summary>The failure of <paramref name="allocator"/> to serve <paramref name="tag"/>'s request of
    /// <paramref name="request"/> bytes, which needed <paramref name="needed"/> bytes of new device memory.</summary>
    public OutOfDeviceMemoryException(string allocator, string tag, long request, long needed, long reserved, long inUse, long limit)
        : base($"out of memory: the {allocator} allocator cannot serve {tag}'s request of {request:N0} B (it needs {needed:N0} B more " +
               $"device memory): {reserved:N0} B reserved, {inUse:N0} B live, limit {limit:N0} B")
    {
        Allocator = allocator; Tag = tag; Request = request; Needed = needed; Reserved = reserved; InUse = inUse; Limit = limit;
    }

    /// <summary>The allocator's command-line name.</summary>
    public string Allocator { get; }
    /// <summary>What the request was for.</summary>
    public string Tag { get; }
    /// <summary>Bytes requested.</summary>
    public long Request { get; }
    /// <summary>Bytes of new device memory the request needed (a segment, an arena, a block).</summary>
    public long Needed { get; }
    /// <summary>Bytes the allocator held when it failed.</summary>
    public long Reserved { get; }
    /// <summary>Bytes of live blocks when it failed.</summary>
    public long InUse { get; }
    /// <summary>The limit, in bytes.</summary>
    public long Limit { get; }
}
