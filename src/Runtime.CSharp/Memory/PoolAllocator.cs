using ILGPU.Runtime;
using Pgmo.Planner;

namespace Pgmo.Memory;

/// <summary>
/// The blocks of a pool policy in device memory: the policy's state is the planner's <see cref="CachingPool"/> (the one
/// implementation of CuPy's and PyTorch's pools, which the planner's <c>pool</c>, <c>torch-pool</c> and
/// <c>torch-expandable</c> simulate); this class only gives each of its segments a device buffer and each block a
/// <see cref="DeviceBlock"/> in it. Expandable segments are the exception: ILGPU has no virtual memory mapping
/// (cuMemAddressReserve / cuMemMap), so under <c>torch-expandable</c> each block gets a device buffer of its own, and
/// the pages the policy maps are what the allocator counts, reports and limits. Used by <see cref="PoolAllocator"/>
/// and as the planned allocator's fallback.
/// </summary>
public sealed class PoolMemory : IDisposable
{
    private readonly Accelerator? accelerator;
    private readonly CachingPool pool;
    private readonly bool expandable;
    private readonly List<MemoryBuffer1D<byte, ILGPU.Stride1D.Dense>?> segments = new();
    private readonly Dictionary<long, PoolBlock> blocks = new();
    private readonly Dictionary<long, MemoryBuffer1D<byte, ILGPU.Stride1D.Dense>> ownBuffers = new();

    /// <summary>A pool following <paramref name="policy"/> on <paramref name="accelerator"/> (null: virtual).</summary>
    public PoolMemory(PoolPolicy policy, Accelerator? accelerator)
    {
        this.accelerator = accelerator;
        pool = new CachingPool(policy);
        expandable = policy.IsTorchExpandable;
    }

    /// <summary>The policy's state: segments, free blocks, reserved and in-use bytes.</summary>
    public CachingPool State => pool;
    /// <summary>Bytes of the segments held now (for torch-expandable, of the pages mapped now).</summary>
    public long ReservedBytes => pool.Reserved;
    /// <summary>Bytes of the blocks handed out and not freed.</summary>
    public long InUseBytes => pool.InUse;

    /// <summary>Bytes of new device memory a request of <paramref name="bytes"/> would take now: a new segment's size (or
    /// the pages it would map), or 0 when a cached free block fits.</summary>
    public long NewSegmentBytes(long bytes) => pool.NewSegmentBytes(bytes);

    /// <summary>A block for request <paramref name="id"/> of <paramref name="bytes"/> bytes; a new segment takes device memory.</summary>
    public DeviceBlock Place(long id, long bytes, string tag)
    {
        var b = pool.Allocate(bytes);
        blocks.Add(id, b);
        if (expandable)
        {
            var own = accelerator?.Allocate1D<byte>(b.Length);
            if (own is not null) ownBuffers.Add(id, own);
            return new DeviceBlock(id, bytes, 0, b.Length, tag, own, b.Segment);
        }
        while (segments.Count < pool.SegmentCount) segments.Add(accelerator?.Allocate1D<byte>(pool.SegmentSize(segments.Count)));
        return new DeviceBlock(id, bytes, b.Offset, b.Length, tag, segments[b.Segment], b.Segment);
    }

    /// <summary>Takes back a block this pool placed.</summary>
    public void Release(DeviceBlock block)
    {
        if (!blocks.Remove(block.Id, out var b)) throw new InvalidOperationException($"block {block.Id} ({block.Tag}) is not in this pool");
        pool.Free(b);
        if (ownBuffers.Remove(block.Id, out var own)) own.Dispose();
    }

    /// <summary>Gives the device memory of every wholly free segment back (torch-expandable: unmaps the whole free pages);
    /// returns the bytes released.</summary>
    public long ReleaseCached()
    {
        long before = pool.Reserved;
        foreach (var s in pool.ReleaseCached())
            if (s < segments.Count)
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
        foreach (var b in ownBuffers.Values) b.Dispose();
        ownBuffers.Clear();
    }
}

/// <summary>A pool baseline on a device (<c>pool</c>: CuPy's policy; <c>torch-pool</c>: PyTorch's; <c>torch-expandable</c>:
/// PyTorch's with expandable segments), see <see cref="PoolMemory"/>.</summary>
public sealed class PoolAllocator : DeviceAllocator
{
    private readonly PoolMemory memory;

    /// <summary>A pool following <paramref name="policy"/> on <paramref name="accelerator"/> (null: virtual, for dry runs);
    /// <paramref name="record"/> records iteration traces; <paramref name="limit"/> caps the reserved bytes (null: none).</summary>
    public PoolAllocator(PoolPolicy policy, ILGPU.Runtime.Accelerator? accelerator, bool record = false, long? limit = null) : base(accelerator, record, limit)
    {
        memory = new PoolMemory(policy, accelerator);
        Kind = Allocators.OfPolicy(policy);
    }

    public override AllocatorKind Kind { get; }

    /// <summary>The policy's state (segments, free blocks).</summary>
    public CachingPool State => memory.State;

    protected override DeviceBlock Place(long id, long bytes, string tag)
    {
        EnsureRoom(tag, bytes, memory.NewSegmentBytes(bytes));
        // giving the cache back can change what the request takes (torch-expandable: a segment left without pages is
        // given back, and a new one maps from its start), so the room is checked again with the bytes it takes now
        EnsureRoom(tag, bytes, memory.NewSegmentBytes(bytes));
        var block = memory.Place(id, bytes, tag);
        ReservedBytes = memory.ReservedBytes;
        return block;
    }

    protected override void Release(DeviceBlock block) => memory.Release(block);

    /// <summary>Under memory pressure, like CuPy and PyTorch: gives back every wholly free segment (torch-expandable:
    /// every whole free page).</summary>
    protected override void ReleaseCached()
    {
        memory.ReleaseCached();
        ReservedBytes = memory.ReservedBytes;
    }

    public override void Dispose() => memory.Dispose();
}
