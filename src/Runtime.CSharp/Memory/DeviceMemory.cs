namespace Pgmo.Memory;

/// <summary>
/// The one place where the runtime takes device memory from an accelerator and gives it back: every allocator's
/// segments and arenas go through <see cref="TryAllocate"/> and <see cref="Free"/>. A device's refusal (ILGPU's
/// <see cref="AcceleratorException"/>, the CPU accelerator's <see cref="OutOfMemoryException"/>) is returned, not
/// thrown: the allocator decides what follows (give back its cache and try once more, then
/// <see cref="OutOfDeviceMemoryException"/>). A <see cref="DeviceMemoryWatch"/> opened with <see cref="Watch"/> sees
/// every device allocation of its asynchronous flow: a test seam that counts them, refuses chosen ones as a device
/// would, and knows which buffers are still held.
/// </summary>
public static class DeviceMemory
{
    static readonly AsyncLocal<DeviceMemoryWatch?> watch = new();

    /// <summary>A new device buffer of <paramref name="bytes"/> bytes on <paramref name="accelerator"/>; false, with the
    /// device's exception in <paramref name="error"/>, when the device refuses it.</summary>
    public static bool TryAllocate(Accelerator accelerator, long bytes, out MemoryBuffer1D<byte, Stride1D.Dense>? buffer, out Exception? error)
    {
        var w = watch.Value;
        try
        {
            for (var o = w; o is not null; o = o.Outer) o.Before(bytes);
            buffer = accelerator.Allocate1D<byte>(bytes);
        }
        catch (Exception e) when (e is AcceleratorException or OutOfMemoryException)
        {
            buffer = null;
            error = e;
            return false;
        }
        for (var o = w; o is not null; o = o.Outer) o.Allocated(buffer);
        error = null;
        return true;
    }

    /// <summary>Gives a buffer taken with <see cref="TryAllocate"/> back to the device (null: nothing).</summary>
    public static void Free(MemoryBuffer1D<byte, Stride1D.Dense>? buffer)
    {
        if (buffer is null) return;
        for (var o = watch.Value; o is not null; o = o.Outer) o.Freed(buffer);
        buffer.Dispose();
    }

    /// <summary>Watches the device allocations of the calling flow until the watch is disposed: the n-th allocation
    /// (1-based, counted from now) is refused like a device out of memory when <paramref name="refuse"/>(n) is true.
    /// Watches nest: each sees every allocation, and one refused by any is refused.</summary>
    public static DeviceMemoryWatch Watch(Func<int, bool>? refuse = null)
    {
        var w = new DeviceMemoryWatch(refuse, watch.Value, previous => watch.Value = previous);
        watch.Value = w;
        return w;
    }
}

/// <summary>What the device allocations of one flow did while watched (see <see cref="DeviceMemory.Watch"/>).</summary>
public sealed class DeviceMemoryWatch : IDisposable
{
    private readonly Func<int, bool>? refuse;
    private readonly DeviceMemoryWatch? previous;
    internal DeviceMemoryWatch? Outer => previous;
    private readonly Action<DeviceMemoryWatch?> restore;
    private readonly Dictionary<MemoryBuffer, long> held = new(ReferenceEqualityComparer.Instance);
    private readonly object gate = new();

    internal DeviceMemoryWatch(Func<int, bool>? refuse, DeviceMemoryWatch? previous, Action<DeviceMemoryWatch?> restore)
    {
        this.refuse = refuse;
        this.previous = previous;
        this.restore = restore;
    }

    /// <summary>Device allocations attempted so far, refused ones included.</summary>
    public int Attempts { get; private set; }
    /// <summary>Allocations refused so far.</summary>
    public int Refused { get; private set; }
    /// <summary>Buffers taken and not given back.</summary>
    public int HeldBuffers { get { lock (gate) return held.Count; } }
    /// <summary>Bytes of the buffers taken and not given back.</summary>
    public long HeldBytes { get { lock (gate) return held.Values.Sum(); } }

    internal void Before(long bytes)
    {
        int n;
        lock (gate) n = ++Attempts;
        if (refuse?.Invoke(n) == true)
        {
            lock (gate) Refused++;
            throw new OutOfMemoryException($"device allocation {n} of {bytes:N0} B refused (a fault injected by a test)");
        }
    }

    internal void Allocated(MemoryBuffer buffer)
    {
        lock (gate) held.Add(buffer, buffer.LengthInBytes);
    }

    internal void Freed(MemoryBuffer buffer)
    {
        lock (gate) held.Remove(buffer);
    }

    /// <summary>Stops watching.</summary>
    public void Dispose() => restore(previous);
}
