namespace Pgmo.Memory;

/// <summary>
/// A request the allocator cannot serve: it does not fit the allocator's device memory limit, or the device refused the
/// allocation, even after the allocator gave back what it had cached (the pools' wholly free segments) and tried once
/// more. The message names the request, the bytes it needed, the reserved and live bytes, the limit or the device's
/// error, and the allocator; it starts with "out of memory".
/// </summary>
public sealed class OutOfDeviceMemoryException : Exception
{
    /// <summary>The failure of <paramref name="allocator"/> to serve <paramref name="tag"/>'s request of
    /// <paramref name="request"/> bytes within <paramref name="limit"/>: it needed <paramref name="needed"/> bytes of new
    /// device memory.</summary>
    public OutOfDeviceMemoryException(string allocator, string tag, long request, long needed, long reserved, long inUse, long limit)
        : base($"out of memory: the {allocator} allocator cannot serve {tag}'s request of {request:N0} B (it needs {needed:N0} B more " +
               $"device memory): {reserved:N0} B reserved, {inUse:N0} B live, limit {limit:N0} B")
    {
        Allocator = allocator; Tag = tag; Request = request; Needed = needed; Reserved = reserved; InUse = inUse; Limit = limit;
    }

    /// <summary>The device refused <paramref name="allocator"/> the <paramref name="needed"/> bytes of new device memory
    /// for <paramref name="tag"/>'s request of <paramref name="request"/> bytes (twice: before and after it gave back its
    /// cache); <paramref name="deviceError"/> is the device's exception.</summary>
    public OutOfDeviceMemoryException(string allocator, string tag, long request, long needed, long reserved, long inUse, long? limit, Exception deviceError)
        : base($"out of memory: the device refused the {allocator} allocator {needed:N0} B for {tag}'s request of {request:N0} B " +
               $"({reserved:N0} B reserved, {inUse:N0} B live{(limit is long l ? $", limit {l:N0} B" : "")}): {deviceError.Message}", deviceError)
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
    /// <summary>The limit, in bytes (null: none; a device failure then).</summary>
    public long? Limit { get; }
    /// <summary>True when the device refused the memory (<see cref="Exception.InnerException"/> says why), false when
    /// the limit did.</summary>
    public bool DeviceRefused => InnerException is not null;
}
