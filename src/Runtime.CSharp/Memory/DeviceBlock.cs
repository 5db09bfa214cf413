namespace Pgmo.Memory;

/// <summary>
/// One block handed out by an <see cref="IDeviceAllocator"/>: a byte range [Offset, Offset + Length) inside a
/// device buffer (a "segment"). In shapes-only mode the segment is null and the block owns no memory.
/// </summary>
public sealed class DeviceBlock
{
    internal DeviceBlock(long id, long requested, long offset, long length, string tag, ILGPU.Runtime.MemoryBuffer1D<byte, ILGPU.Stride1D.Dense>? segment, int segmentIndex)
    {
        Id = id; Requested = requested; Offset = offset; Length = length; Tag = tag; Segment = segment; SegmentIndex = segmentIndex;
    }

    /// <summary>Request id, unique per allocator, in request order (0, 1, 2, ...).</summary>
    public long Id { get; }
    /// <summary>Bytes the caller asked for.</summary>
    public long Requested { get; }
    /// <summary>Byte offset inside the segment (a multiple of <see cref="DeviceAllocator.Alignment"/>).</summary>
    public long Offset { get; private set; }
    /// <summary>Bytes reserved for the block (the request rounded up by the allocator's policy).</summary>
    public long Length { get; private set; }
    /// <summary>What the block holds (e.g. "conv1.weight", "relu3.out", "grad:fc.weight").</summary>
    public string Tag { get; }
    /// <summary>The device buffer holding the block, or null when the allocator is virtual.</summary>
    public ILGPU.Runtime.MemoryBuffer1D<byte, ILGPU.Stride1D.Dense>? Segment { get; private set; }
    /// <summary>Which device allocation of the allocator holds the block (0-based, in creation order).</summary>
    public int SegmentIndex { get; private set; }
    /// <summary>True once the block has been given back.</summary>
    public bool Freed { get; internal set; }
    /// <summary>True while the block is away (<see cref="IDeviceAllocator.Away"/>): its bytes are on the host or dropped
    /// for recomputation, and its place may hold other blocks, so reading it is an error until it is back.</summary>
    public bool IsAway { get; internal set; }
    /// <summary>True when the block's bytes are gone: its allocator gave its place back to move it, and then found no
    /// place for it (out of device memory). A lost block can only be freed.</summary>
    public bool Lost { get; private set; }

    /// <summary>Points the block at a new place (its allocator has copied the bytes there): a planned allocator moves
    /// persistent blocks into its arena. Views taken before the move are stale.</summary>
    internal void MoveTo(ILGPU.Runtime.MemoryBuffer1D<byte, ILGPU.Stride1D.Dense>? segment, int segmentIndex, long offset, long length)
    {
        Segment = segment; SegmentIndex = segmentIndex; Offset = offset; Length = length;
    }

    /// <summary>Marks the block lost (see <see cref="Lost"/>): it points at no device memory from now on.</summary>
    internal void Lose()
    {
        Lost = true;
        Segment = null;
    }

    /// <summary>The block's bytes as a typed view; checks alignment, which ILGPU's Cast would silently round down.</summary>
    public ILGPU.ArrayView<T> View<T>(long elements) where T : unmanaged
    {
        if (Lost) throw new InvalidOperationException($"block {Id} ({Tag}) lost its bytes: its allocator ran out of device memory while moving it");
        if (Segment is null) throw new InvalidOperationException($"block {Id} ({Tag}) is virtual: shapes-only mode has no device memory");
        if (Freed) throw new InvalidOperationException($"block {Id} ({Tag}) was used after it was freed");
        if (IsAway) throw new InvalidOperationException($"block {Id} ({Tag}) was used while away (offloaded or dropped for recomputation), before it was back");
        long size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        if (Offset % size != 0) throw new InvalidOperationException($"block {Id} ({Tag}): offset {Offset} is not aligned to {size} bytes");
        if (elements * size > Length) throw new InvalidOperationException($"block {Id} ({Tag}): {elements} elements of {size} B exceed its {Length} B");
        return Segment.View.AsContiguous().SubView(Offset, elements * size).Cast<T>();
    }
}
