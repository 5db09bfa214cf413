using Pgmo.Planner;

namespace Pgmo.Memory;

/// <summary>
/// The planned allocator's one device buffer, in the small steps of TFLite's arena: <see cref="Commit"/> takes the
/// buffer at a size (the owner allocated it, within its limit), <see cref="Resolve"/> hands out the block at a planned offset, <see cref="Fit"/> finds the lowest
/// free offset among the live blocks (first fit, for requests outside a plan), <see cref="Move"/> points a live block at
/// a new offset, and <see cref="Release"/> gives the buffer back. It knows every live block's range; in debug mode every
/// placement is checked against them and an overlap throws. It never plans, caches or falls back: the planned allocator
/// does that.
/// </summary>
public sealed class Arena : IDisposable
{
    /// <summary><see cref="DeviceBlock.SegmentIndex"/> of blocks in the arena.</summary>
    public const int Segment = -1;

    private readonly bool debug;
    private readonly Dictionary<long, (long Start, long End)> live = new();
    private MemoryBuffer1D<byte, Stride1D.Dense>? buffer;

    /// <summary>An empty arena; <paramref name="debug"/> checks every placement for overlaps.</summary>
    public Arena(bool debug) => this.debug = debug;

    /// <summary>Bytes of the committed buffer (0 before <see cref="Commit"/> and after <see cref="Release"/>).</summary>
    public long Bytes { get; private set; }
    /// <summary>Number of live blocks in the arena.</summary>
    public int LiveBlocks => live.Count;
    /// <summary>Placements checked for overlap (debug mode).</summary>
    public long OverlapChecks { get; private set; }

    /// <summary>Makes <paramref name="device"/> (null when virtual) the arena's buffer of <paramref name="bytes"/> bytes;
    /// the arena must be empty and released.</summary>
    public void Commit(long bytes, MemoryBuffer1D<byte, Stride1D.Dense>? device)
    {
        if (Bytes != 0 || live.Count != 0) throw new InvalidOperationException("the arena is committed already: release it first");
        if (device is not null && device.LengthInBytes != bytes) throw new InvalidOperationException($"arena: a buffer of {device.LengthInBytes} B for an arena of {bytes} B");
        buffer = device;
        Bytes = bytes;
    }

    /// <summary>Gives the buffer back; no block may live in it (moved ones are removed first).</summary>
    public void Release()
    {
        if (live.Count != 0) throw new InvalidOperationException($"the arena still holds {live.Count} live blocks");
        DeviceMemory.Free(buffer);
        buffer = null;
        Bytes = 0;
    }


    /// <summary>The block of request <paramref name="id"/> at <paramref name="offset"/> with <paramref name="length"/>
    /// bytes; throws when it is misaligned or outside the buffer, and in debug mode when it overlaps a live block.</summary>
    public DeviceBlock Resolve(long id, long requested, long offset, long length, string tag)
    {
        if (offset < 0 || offset % DeviceAllocator.Alignment != 0 || offset + length > Bytes)
            throw new InvalidOperationException($"arena: block {id} ({tag}) at offset {offset} with {length} B does not fit the arena of {Bytes} B with {DeviceAllocator.Alignment}-B alignment");
        Track(id, offset, length, tag);
        return new DeviceBlock(id, requested, offset, length, tag, buffer, Segment);
    }

    /// <summary>The lowest offset (a multiple of 256) where <paramref name="length"/> bytes fit between the live blocks
    /// (the planner's placement primitive, first fit), or -1 when none does inside the buffer.</summary>
    public long Fit(long length)
    {
        var placed = live.Values.OrderBy(r => r.Start).ToArray();
        long at = PlannerApi.LowestFit(length, DeviceAllocator.Alignment, placed.Select(r => r.Start).ToArray(), placed.Select(r => r.End).ToArray(), placed.Length);
        return at + length <= Bytes ? at : -1;
    }

    /// <summary>Points live block <paramref name="block"/> (removed from its old place) at <paramref name="offset"/>
    /// with <paramref name="length"/> bytes; the caller copies its bytes.</summary>
    public void Move(DeviceBlock block, long offset, long length)
    {
        Track(block.Id, offset, length, block.Tag);
        block.MoveTo(buffer, Segment, offset, length);
    }

    /// <summary>Live block <paramref name="block"/>, whose range was forgotten while it was away, holds its range again;
    /// in debug mode an overlap with a live block throws.</summary>
    public void Reinstate(DeviceBlock block) => Track(block.Id, block.Offset, block.Length, block.Tag);

    /// <summary>Forgets block <paramref name="id"/>'s range (freed, away, or about to move).</summary>
    public void Remove(long id) => live.Remove(id);

    /// <summary>Debug mode: throws, before anything moves, when the new places overlap each other or a live block that stays.</summary>
    public void CheckMoves(IReadOnlyList<(DeviceBlock Block, long Offset, long Size)> moves)
    {
        if (!debug) return;
        var moving = moves.Select(m => m.Block.Id).ToHashSet();
        var placed = live.Where(kv => !moving.Contains(kv.Key)).Select(kv => (Id: kv.Key, kv.Value.Start, kv.Value.End)).ToList();
        foreach (var (b, offset, size) in moves)
        {
            OverlapChecks++;
            foreach (var (other, start, end) in placed)
                if (offset < end && start < offset + size)
                    throw new InvalidOperationException($"planned arena (debug): persistent block {b.Id} ({b.Tag}) at [{offset}, {offset + size}) overlaps live block {other} at [{start}, {end})");
            placed.Add((b.Id, offset, offset + size));
        }
    }

    private void Track(long id, long offset, long length, string tag)
    {
        long end = offset + length;
        if (debug)
        {
            OverlapChecks++;
            foreach (var (other, r) in live)
                if (offset < r.End && r.Start < end)
                    throw new InvalidOperationException($"planned arena (debug): block {id} ({tag}) at [{offset}, {end}) overlaps live block {other} at [{r.Start}, {r.End})");
        }
        live[id] = (offset, end);
    }

    /// <summary>Gives the buffer's device memory back.</summary>
    public void Dispose()
    {
        DeviceMemory.Free(buffer);
        buffer = null;
        Bytes = 0;
        live.Clear();
    }
}
