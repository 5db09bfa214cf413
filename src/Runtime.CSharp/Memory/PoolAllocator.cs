using ILGPU.Runtime;
using Pgmo.Planner;

namespace Pgmo.Memory;

/// <summary>
/// The blocks of a pool policy in device memory: the policy's state is the planner's <see cref="CachingPool"/> (the one
/// implementation of CuPy's and PyTorch's pools, which the planner's <c>pool</c> and <c>torch-pool</c> simulate); this
/// class only gives each of its segments a device buffer and each block a <see cref="DeviceBlock"/> in it. Used by
/// <see cref="PoolAllocator"/> and as the planned allocator's fallback.
/// </summary>
public sealed class PoolMemory : IDisposable
{
    private readonly Accelerator? accelerator;
    private readonly CachingPool pool;
    private readonly List<MemoryBuffer1D<byte, ILGPU.Stride1D.Dense>?> segments = new();
    private readonly Dictionary<long, PoolBlock> blocks = new();

    /// <summary>A pool following <paramref name="policy"/> on <paramref name="accelerator"/> (null: virtual).</summary>
    public PoolMemory(PoolPolicy policy, Accelerator? accelerator)
    {
        this.accelerator = accelerator;
        pool = new CachingPool(policy);
    }

    /// <summary>The policy's state: segments, free blocks, reserved and in-use bytes.</summary>
    public CachingPool State => pool;
    /// <summary>Bytes of the segments held now.</summary>
    public long ReservedBytes => pool.Reserved;
    /// <summary>Bytes of the blocks handed out and not freed.</summary>
    public long InUseBytes => pool.InUse;

    /// <summary>Bytes of new device memory a request of <paramref name="bytes"/> would take now: a new segment's size, or 0
    /// when a cached free block fits.</summary>
    public long NewSegmentBytes(long bytes) => pool.NewSegmentBytes(bytes);

    /// <summary>A block for request <paramref name="id"/> of <paramref name="bytes"/> bytes; a new segment takes device memory.</summary>
    public DeviceBlock Place(long id, long bytes, string tag)
    {
        var b = pool.Allocate(bytes);
        while (segments.Count < pool.SegmentCount) segments.Add(accelerator?.Allocate1D<byte>(pool.SegmentSize(segments.Count)));
        blocks.Add(id, b);
        return new DeviceBlock(id, bytes, b.Offset, b.Length, tag, segments[b.Segment], b.Segment);
    }

    /// <summary>Takes back a block this pool placed.</summary>
    public void Release(DeviceBlock block)
    {
        if (!blocks.Remove(block.Id, out var b)) throw new InvalidOperationException($"block {block.Id} ({block.Tag}) is not in this pool");
        pool.Free(b);
    }

    /// <summary>Gives the device memory of every wholly free segment back; returns the bytes released.</summary>
    public long ReleaseCached()
    {
        long before = pool.Reserved;
        foreach (var s in pool.ReleaseCached())
        {
            segments[s]?.Dispose();
            segments[s] = null;
        }
        return before - pool.Reserved;
    }

    /// <summary>Frees every segment's device memory.</summary>
    public void Dispose()
    {
        foreach (var s in segments) s?.Dispose();
        segments.Clear();
    }
}

/// <summary>A pool baseline on a device (<c>pool</c>: CuPy's policy; <c>torch-pool</c>: PyTorch's), see <see cref="PoolMemory"/>.</summary>
public sealed class PoolAllocator : DeviceAllocator
{
    private readonly PoolMemory memory;

    /// <summary>A pool following <paramref name="policy"/> on <paramref name="accelerator"/> (null: virtual, for dry runs);
    /// <paramref name="record"/> records iteration traces; <paramref name="limit"/> caps the reserved bytes (null: none).</summary>
    public PoolAllocator(PoolPolicy policy, ILGPU.Runtime.Accelerator? accelerator, bool record = false, long? limit = null) : base(accelerator, record, limit)
    {
        memory = new PoolMemory(policy, accelerator);
        Kind = policy.IsTorch ? AllocatorKind.TorchPool : AllocatorKind.Pool;
    }

    public override AllocatorKind Kind { get; }

    /// <summary>The policy's state (segments, free blocks).</summary>
    public CachingPool State => memory.State;

    protected override DeviceBlock Place(long id, long bytes, string tag)
    {
        EnsureRoom(tag, bytes, memory.NewSegmentBytes(bytes));
        var block = memory.Place(id, bytes, tag);
        ReservedBytes = memory.ReservedBytes;
        return block;
    }

    protected override void Release(DeviceBlock block) => memory.Release(block);

    /// <summary>Under memory pressure, like CuPy and PyTorch: gives back every wholly free segment.</summary>
    protected override void ReleaseCached()
    {
        memory.ReleaseCached();
        ReservedBytes = memory.ReservedBytes;
    }

    public override void Dispose() => memory.Dispose();
}
