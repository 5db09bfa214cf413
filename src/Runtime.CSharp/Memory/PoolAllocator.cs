using Pgmo.Planner;

namespace Pgmo.Memory;

/// <summary>
/// The blocks of a pool policy in device memory: the policy's state is the planner's <see cref="CachingPool"/> (the one
/// implementation of CuPy's and PyTorch's pools, which the planner's <c>pool</c>, <c>torch-pool</c> and
/// <c>torch-expandable</c> simulate); this class only gives each of its segments a device buffer and each block a
/// <see cref="DeviceBlock"/> in it. Expandable segments are the exception: ILGPU has no virtual memory mapping
/// (cuMemAddressReserve / cuMemMap), so under <c>torch-expandable</c> each block gets a device buffer of its own, and
/// the pages the policy maps are what the allocator counts, reports and limits. It takes device memory only through the
/// owner's function (<see cref="Place"/>): a new segment is allocated before the pool accounts for it, and an expandable
/// block's own buffer right after (the block is taken back when that fails). Used by <see cref="PoolAllocator"/> and as
/// the planned allocator's fallback.
/// </summary>
public sealed class PoolMemory : IDisposable
{
    private readonly CachingPool pool;
    private readonly bool expandable;
    private readonly List<MemoryBuffer1D<byte, ILGPU.Stride1D.Dense>?> segments = new();
    private readonly Dictionary<long, PoolBlock> blocks = new();
    private readonly Dictionary<long, MemoryBuffer1D<byte, ILGPU.Stride1D.Dense>> ownBuffers = new();

    /// <summary>An empty pool following <paramref name="policy"/>.</summary>
    public PoolMemory(PoolPolicy policy)
    {
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

    /// <summary>
    /// A block for request <paramref name="id"/> of <paramref name="bytes"/> bytes. <paramref name="take"/> gives a device
    /// buffer of the bytes asked (null when virtual), or throws: for a new segment (<see cref="NewSegmentBytes"/>) it is
    /// called before the pool accounts for anything, for an expandable block's own buffer right after the block is
    /// placed, which is taken back when <paramref name="take"/> throws. Either way a failed request changes nothing.
    /// </summary>
    public DeviceBlock Place(long id, long bytes, string tag, Func<long, MemoryBuffer1D<byte, ILGPU.Stride1D.Dense>?> take)
    {
        if (expandable)
        {
            var e = pool.Allocate(bytes);
            MemoryBuffer1D<byte, ILGPU.Stride1D.Dense>? own;
            try { own = take(e.Length); }
            catch
            {
                pool.Free(e);
                throw;
            }
            blocks.Add(id, e);
            if (own is not null) ownBuffers.Add(id, own);
            return new DeviceBlock(id, bytes, 0, e.Length, tag, own, e.Segment);
        }
        long fresh = pool.NewSegmentBytes(bytes);
        var buffer = fresh > 0 ? take(fresh) : null;            // allocate,
        int before = pool.SegmentCount;
        var b = pool.Allocate(bytes);                           // account,
        if (pool.SegmentCount != before) segments.Add(buffer);   // commit
        blocks.Add(id, b);
        return new DeviceBlock(id, bytes, b.Offset, b.Length, tag, segments[b.Segment], b.Segment);
    }

    /// <summary>Places live block <paramref name="block"/> (given back by its old place; its owner copies its bytes) in
    /// the pool, like a request of its <see cref="DeviceBlock.Requested"/> bytes; <paramref name="take"/> as in
    /// <see cref="Place"/>.</summary>
    public void Adopt(DeviceBlock block, Func<long, MemoryBuffer1D<byte, ILGPU.Stride1D.Dense>?> take)
    {
        var placed = Place(block.Id, block.Requested, block.Tag, take);
        block.MoveTo(placed.Segment, placed.SegmentIndex, placed.Offset, placed.Length);
    }

    /// <summary>Takes back a block this pool placed.</summary>
    public void Release(DeviceBlock block)
    {
        if (!blocks.Remove(block.Id, out var b)) throw new InvalidOperationException($"block {block.Id} ({block.Tag}) is not in this pool");
        pool.Free(b);
        if (ownBuffers.Remove(block.Id, out var own)) DeviceMemory.Free(own);
    }

    /// <summary>Gives the device memory of every wholly free segment back (torch-expandable: unmaps the whole free pages);
    /// returns the bytes released.</summary>
    public long ReleaseCached()
    {
        long before = pool.Reserved;
        foreach (var s in pool.ReleaseCached())
            if (s < segments.Count)
            {
                DeviceMemory.Free(segments[s]);
                segments[s] = null;
            }
        return before - pool.Reserved;
    }

    /// <summary>Gives every segment's and every own buffer's device memory back.</summary>
    public void Dispose()
    {
        foreach (var s in segments) DeviceMemory.Free(s);
        segments.Clear();
        foreach (var b in ownBuffers.Values) DeviceMemory.Free(b);
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
        memory = new PoolMemory(policy);
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
        // allocate (the new segment, if any: giving back the cache on a refusal does not change which one, as no
        // wholly free segment fits the request), then account and commit
        var block = memory.Place(id, bytes, tag, n => TakeDeviceBuffer(tag, bytes, n));
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

    protected override void GiveBackAll() => memory.Dispose();
}
