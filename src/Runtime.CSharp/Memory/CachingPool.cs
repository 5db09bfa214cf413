namespace Pgmo.Memory;

/// <summary>
/// The CuPy/PyTorch caching policy as pure bookkeeping, without device memory (CONTRACT.md "The pool baseline,
/// exactly"): requests round up to 512 B; the smallest free chunk that fits wins (ties: earliest device allocation,
/// then lowest offset) and is split; a freed chunk coalesces with free neighbours of the same device allocation;
/// when nothing fits a new device allocation of exactly the rounded size is made; nothing is ever released.
/// </summary>
public sealed class CachingPool
{
    /// <summary>Every request is rounded up to a multiple of this.</summary>
    public const long Rounding = 512;

    private sealed class Chunk
    {
        public required int Segment;
        public required long Offset;
        public required long Size;
        public bool Free;
        public Chunk? Prev, Next;
    }

    private readonly List<long> segmentSizes = new();
    private readonly List<Chunk> chunks = new(); // every chunk, live or free
    private readonly Dictionary<(int, long), Chunk> used = new();

    /// <summary>Sizes of the device allocations made so far, in order.</summary>
    public IReadOnlyList<long> SegmentSizes => segmentSizes;
    /// <summary>Total bytes of device allocations (the pool's reserved bytes).</summary>
    public long ReservedBytes { get; private set; }
    /// <summary>Bytes in chunks handed out now.</summary>
    public long InUseBytes { get; private set; }
    /// <summary>Number of free chunks (after coalescing).</summary>
    public int FreeChunks => chunks.Count(c => c.Free);

    /// <summary>Places a request of <paramref name="bytes"/>; returns the device allocation index, the offset in it,
    /// the rounded length, and whether a new device allocation was made.</summary>
    public (int Segment, long Offset, long Length, bool NewSegment) Allocate(long bytes)
    {
        if (bytes <= 0) throw new ArgumentOutOfRangeException(nameof(bytes));
        long size = DeviceAllocator.RoundUp(bytes, Rounding);
        Chunk? best = null;
        foreach (var c in chunks)
        {
            if (!c.Free || c.Size < size) continue;
            if (best is null || c.Size < best.Size || (c.Size == best.Size && (c.Segment < best.Segment || (c.Segment == best.Segment && c.Offset < best.Offset))))
                best = c;
        }
        bool fresh = false;
        if (best is null)
        {
            best = new Chunk { Segment = segmentSizes.Count, Offset = 0, Size = size, Free = true };
            segmentSizes.Add(size);
            ReservedBytes += size;
            chunks.Add(best);
            fresh = true;
        }
        if (best.Size > size)
        {
            var rest = new Chunk { Segment = best.Segment, Offset = best.Offset + size, Size = best.Size - size, Free = true, Prev = best, Next = best.Next };
            if (best.Next is not null) best.Next.Prev = rest;
            best.Next = rest;
            best.Size = size;
            chunks.Add(rest);
        }
        best.Free = false;
        used[(best.Segment, best.Offset)] = best;
        InUseBytes += size;
        return (best.Segment, best.Offset, size, fresh);
    }

    /// <summary>Frees the chunk at (segment, offset) and coalesces it with free neighbours.</summary>
    public void Free(int segment, long offset)
    {
        if (!used.Remove((segment, offset), out var c)) throw new InvalidOperationException($"no chunk in use at device allocation {segment}, offset {offset}");
        c.Free = true;
        InUseBytes -= c.Size;
        if (c.Next is { Free: true } n) { c.Size += n.Size; c.Next = n.Next; if (n.Next is not null) n.Next.Prev = c; chunks.Remove(n); }
        if (c.Prev is { Free: true } p) { p.Size += c.Size; p.Next = c.Next; if (c.Next is not null) c.Next.Prev = p; chunks.Remove(c); }
    }
}

/// <summary>The pool baseline on a device: <see cref="CachingPool"/> placing blocks in cached device allocations.</summary>
public sealed class PoolAllocator : DeviceAllocator
{
    private readonly CachingPool pool = new();
    private readonly List<ILGPU.Runtime.MemoryBuffer1D<byte, ILGPU.Stride1D.Dense>?> segments = new();

    /// <summary>A pool on <paramref name="accelerator"/> (null: virtual, for dry runs); <paramref name="record"/> keeps the request log.</summary>
    public PoolAllocator(ILGPU.Runtime.Accelerator? accelerator, bool record = false) : base(accelerator, record) { }

    public override string Name => "pool";

    /// <summary>The policy's state (device allocation sizes, free chunks).</summary>
    public CachingPool Policy => pool;

    protected override DeviceBlock Place(long id, long bytes, string tag)
    {
        var (seg, offset, length, fresh) = pool.Allocate(bytes);
        if (fresh) segments.Add(NewSegment(length));
        ReservedBytes = pool.ReservedBytes;
        return MakeBlock(id, bytes, offset, length, tag, segments[seg], seg);
    }

    protected override void Release(DeviceBlock block) => pool.Free(block.SegmentIndex, block.Offset);

    public override void Dispose()
    {
        foreach (var s in segments) s?.Dispose();
        segments.Clear();
    }
}
