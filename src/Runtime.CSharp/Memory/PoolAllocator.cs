using ILGPU.Runtime;
using Pgmo.Planner;

namespace Pgmo.Memory;

/// <summary>
/// The blocks of a pool policy in device memory: the policy's state is the planner's <see cref="CachingPool"/> (the one
/// implementation of CuPy's and PyTorch's pools, which the planner's <c>pool</c> and <c>torch-pool</c> simulate); this
/// class only gives each of its segments a device buffer and each block a <see cref="DeviceBlock"/> in it. It takes no
/// device memory itself: a request that needs a new segment (<see cref="NewSegmentBytes"/>) comes with the segment's
/// buffer, which the owner took from the device first. Used by <see cref="PoolAllocator"/> and as the planned
/// allocator's fallback.
/// </summary>
public sealed class PoolMemory : IDisposable
{
    private readonly CachingPool pool;
    private readonly List<MemoryBuffer1D<byte, ILGPU.Stride1D.Dense>?> segments = new();
    private readonly Dictionary<long, PoolBlock> blocks = new();

    /// <summary>An empty pool following <paramref name="policy"/>.</summary>
    public PoolMemory(PoolPolicy policy) => pool = new CachingPool(policy);

    /// <summary>The policy's state: segments, free blocks, reserved and in-use bytes.</summary>
    public CachingPool State => pool;
    /// <summary>Bytes of the segments held now.</summary>
    public long ReservedBytes => pool.Reserved;
    /// <summary>Bytes of the blocks handed out and not freed.</summary>
    public long InUseBytes => pool.InUse;

    /// <summary>Bytes of new device memory a request of <paramref name="bytes"/> would take now: a new segment's size, or 0
    /// when a cached free block fits.</summary>
    public long NewSegmentBytes(long bytes) => pool.NewSegmentBytes(bytes);

    /// <summary>A block for request <paramref name="id"/> of <paramref name="bytes"/> bytes. When the request needs a new
    /// segment, <paramref name="fresh"/> is its device buffer of <see cref="NewSegmentBytes"/> bytes (null when virtual);
    /// the pool accounts for it, then keeps it.</summary>
    public DeviceBlock Place(long id, long bytes, string tag, MemoryBuffer1D<byte, ILGPU.Stride1D.Dense>? fresh)
    {
        if (fresh is not null && fresh.LengthInBytes != pool.NewSegmentBytes(bytes))
            throw new InvalidOperationException($"pool: request {id} ({tag}) needs a new segment of {pool.NewSegmentBytes(bytes)} B, was given {fresh.LengthInBytes} B");
        int before = pool.SegmentCount;
        var b = pool.Allocate(bytes);
        if (pool.SegmentCount != before) segments.Add(fresh);
        blocks.Add(id, b);
        return new DeviceBlock(id, bytes, b.Offset, b.Length, tag, segments[b.Segment], b.Segment);
    }

    /// <summary>Places live block <paramref name="block"/> (given back by its old place; its owner copies its bytes) in
    /// the pool, like a request of its <see cref="DeviceBlock.Requested"/> bytes; <paramref name="fresh"/> as in
    /// <see cref="Place"/>.</summary>
    public void Adopt(DeviceBlock block, MemoryBuffer1D<byte, ILGPU.Stride1D.Dense>? fresh)
    {
        var placed = Place(block.Id, block.Requested, block.Tag, fresh);
        block.MoveTo(placed.Segment, placed.SegmentIndex, placed.Offset, placed.Length);
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
            DeviceMemory.Free(segments[s]);
            segments[s] = null;
        }
        return before - pool.Reserved;
    }

    /// <summary>Gives every segment's device memory back.</summary>
    public void Dispose()
    {
        foreach (var s in segments) DeviceMemory.Free(s);
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
        memory = new PoolMemory(policy);
        Kind = policy.IsTorch ? AllocatorKind.TorchPool : AllocatorKind.Pool;
    }

    public override AllocatorKind Kind { get; }

    /// <summary>The policy's state (segments, free blocks).</summary>
    public CachingPool State => memory.State;

    protected override DeviceBlock Place(long id, long bytes, string tag)
    {
        // allocate (the new segment, if any: releasing the cache does not change which one, as no wholly free segment
        // fits the request), then account and commit
        var fresh = TakeDeviceMemory(tag, bytes, memory.NewSegmentBytes(bytes));
        var block = memory.Place(id, bytes, tag, fresh);
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

    protected override void GiveBackAll() => memory.Dispose();
}
