using ILGPU;
using ILGPU.Runtime;

namespace Pgmo.Memory;

/// <summary>
/// Shared bookkeeping of all allocators: request ids, the live blocks, in-use and reserved counters with their peaks,
/// and, when recording, the <see cref="IterationRecorder"/> that turns each marked iteration into an
/// <see cref="IterationTrace"/>. Subclasses decide where a block lives. Under a <see cref="MemoryLimit"/>, every
/// subclass asks <see cref="EnsureRoom"/> before it takes new device memory.
/// </summary>
public abstract class DeviceAllocator : IDeviceAllocator, IIterationAllocator
{
    /// <summary>Every block starts at a multiple of this many bytes (cudaMalloc's alignment).</summary>
    public const long Alignment = 256;

    private long nextId;
    private long reserved;
    private readonly Dictionary<long, DeviceBlock> live = new();

    /// <summary>An allocator on <paramref name="accelerator"/>, or a virtual one when it is null; <paramref name="record"/>
    /// records the trace of every iteration marked with <see cref="BeginIteration"/>/<see cref="EndIteration"/>;
    /// <paramref name="limit"/> caps the reserved bytes (null: no limit).</summary>
    protected DeviceAllocator(Accelerator? accelerator, bool record, long? limit = null)
    {
        if (limit is < 0) throw new ArgumentOutOfRangeException(nameof(limit), limit, "a memory limit cannot be negative");
        Accelerator = accelerator;
        Recorder = record ? new IterationRecorder() : null;
        MemoryLimit = limit;
    }

    /// <summary>The most device memory the allocator may hold, in bytes (null: no limit).</summary>
    public long? MemoryLimit { get; }

    /// <summary>Records marked iterations (null when recording is off).</summary>
    protected IterationRecorder? Recorder { get; }

    /// <summary>The blocks live now.</summary>
    protected IEnumerable<DeviceBlock> Live => live.Values;

    /// <summary>The accelerator holding the memory, or null for a virtual allocator.</summary>
    protected Accelerator? Accelerator { get; }

    public abstract AllocatorKind Kind { get; }
    public string Name => Kind.Name();
    public bool IsVirtual => Accelerator is null;
    public long InUseBytes { get; private set; }
    public long PeakInUseBytes { get; private set; }
    public long ReservedBytes
    {
        get => reserved;
        protected set { reserved = value; PeakReservedBytes = Math.Max(PeakReservedBytes, value); }
    }
    public long PeakReservedBytes { get; private set; }
    public int LiveBlocks => live.Count;
    public IterationTrace? LastTrace => Recorder is { HasTrace: true } r ? r.Trace : null;

    /// <summary>The next requests belong to a new iteration; the blocks live now are its persistent buffers.</summary>
    public virtual void BeginIteration() => Recorder?.Begin(live.Values);

    /// <summary>The iteration's last request has been made; its trace is <see cref="LastTrace"/> when recording.</summary>
    public virtual void EndIteration() => Recorder?.End();

    /// <summary>The request rounded up to a multiple of <see cref="Alignment"/>: a block's size in traces and plans.</summary>
    public static long Aligned(long bytes) => Pgmo.Planner.Numbers.alignUp(Alignment, bytes);

    public virtual AllocatorReport Report() => new(Kind, PeakReservedBytes, PeakInUseBytes);

    public DeviceBlock Allocate(long bytes, string tag)
    {
        if (bytes <= 0) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, $"allocation '{tag}' must ask for at least one byte");
        long id = nextId++;
        Recorder?.Alloc(id, bytes, tag);
        var block = Place(id, bytes, tag);
        live.Add(id, block);
        InUseBytes += block.Length;
        PeakInUseBytes = Math.Max(PeakInUseBytes, InUseBytes);
        PeakReservedBytes = Math.Max(PeakReservedBytes, ReservedBytes);
        return block;
    }

    public void Free(DeviceBlock block)
    {
        if (block.Freed || !live.Remove(block.Id)) throw new InvalidOperationException($"block {block.Id} ({block.Tag}) freed twice or not from this allocator");
        Recorder?.Free(block.Id);
        block.Freed = true;
        if (!block.IsAway) InUseBytes -= block.Length;
        block.IsAway = false;
        Release(block);
    }

    public void Away(DeviceBlock block)
    {
        if (block.Freed || !live.ContainsKey(block.Id)) throw new InvalidOperationException($"block {block.Id} ({block.Tag}) cannot go away: it is not live in this allocator");
        if (block.IsAway) throw new InvalidOperationException($"block {block.Id} ({block.Tag}) is away already");
        Recorder?.Mark(block.Id, back: false);
        Vacate(block);
        block.IsAway = true;
        InUseBytes -= block.Length;
    }

    public void Back(DeviceBlock block)
    {
        if (block.Freed || !live.ContainsKey(block.Id)) throw new InvalidOperationException($"block {block.Id} ({block.Tag}) cannot come back: it is not live in this allocator");
        if (!block.IsAway) throw new InvalidOperationException($"block {block.Id} ({block.Tag}) is not away");
        Recorder?.Mark(block.Id, back: true);
        Reoccupy(block);
        block.IsAway = false;
        InUseBytes += block.Length;
        PeakInUseBytes = Math.Max(PeakInUseBytes, InUseBytes);
        PeakReservedBytes = Math.Max(PeakReservedBytes, ReservedBytes);
    }

    public int TraceBuffer(DeviceBlock block) => Recorder?.BufferOf(block.Id) ?? -1;

    public int TraceStep => Recorder is { InIteration: true } r ? r.Events.Count : -1;

    /// <summary>Block <paramref name="block"/> goes away (<see cref="Away"/>, after the recorder marked it): an allocator that can use its place
    /// meanwhile takes it back here; the default keeps its bytes.</summary>
    protected virtual void Vacate(DeviceBlock block) { }

    /// <summary>Block <paramref name="block"/> comes back (<see cref="Back"/>, after the recorder marked it): an
    /// allocator that used its place finds it room here (it may move the block); the default has kept its bytes.</summary>
    protected virtual void Reoccupy(DeviceBlock block) { }

    /// <summary>Accounts for a live block whose length changed (it moved to a place of another rounding).</summary>
    protected void AdjustInUse(long delta)
    {
        InUseBytes += delta;
        PeakInUseBytes = Math.Max(PeakInUseBytes, InUseBytes);
    }

    /// <summary>
    /// Called before taking <paramref name="needed"/> bytes of new device memory for request <paramref name="tag"/> of
    /// <paramref name="request"/> bytes. Under a <see cref="MemoryLimit"/> that the reserved bytes would pass, the
    /// allocator first gives back what it caches (<see cref="ReleaseCached"/>) and checks once more; if the bytes still
    /// do not fit, throws <see cref="OutOfDeviceMemoryException"/>.
    /// </summary>
    protected void EnsureRoom(string tag, long request, long needed)
    {
        if (needed <= 0 || MemoryLimit is not long limit || ReservedBytes + needed <= limit) return;
        ReleaseCached();
        if (ReservedBytes + needed <= limit) return;
        throw new OutOfDeviceMemoryException(Name, tag, request, needed, ReservedBytes, InUseBytes, limit);
    }

    /// <summary>Gives back the device memory the allocator caches without live blocks in it (the pools' wholly free
    /// segments) and updates <see cref="ReservedBytes"/>; allocators that cache nothing do nothing.</summary>
    protected virtual void ReleaseCached() { }

    /// <summary>Finds room for a new block; updates <see cref="ReservedBytes"/> when it takes device memory.</summary>
    protected abstract DeviceBlock Place(long id, long bytes, string tag);

    /// <summary>Takes a freed block back.</summary>
    protected abstract void Release(DeviceBlock block);

    /// <summary>A device buffer of <paramref name="bytes"/> bytes, or null when virtual.</summary>
    protected MemoryBuffer1D<byte, Stride1D.Dense>? NewSegment(long bytes) => Accelerator?.Allocate1D<byte>(bytes);

    /// <summary>Wraps a placement in a block.</summary>
    protected static DeviceBlock MakeBlock(long id, long requested, long offset, long length, string tag, MemoryBuffer1D<byte, Stride1D.Dense>? segment, int segmentIndex) =>
        new(id, requested, offset, length, tag, segment, segmentIndex);

    public abstract void Dispose();
}

/// <summary>One device allocation per request (rounded to 256 B), given back to the device on free.</summary>
public sealed class NaiveAllocator : DeviceAllocator
{
    private int segments;

    /// <summary>A naive allocator on <paramref name="accelerator"/> (null: virtual) under <paramref name="limit"/> (null: none).</summary>
    public NaiveAllocator(Accelerator? accelerator, bool record = false, long? limit = null) : base(accelerator, record, limit) { }

    public override AllocatorKind Kind => AllocatorKind.Naive;

    protected override DeviceBlock Place(long id, long bytes, string tag)
    {
        long length = Aligned(bytes);
        EnsureRoom(tag, bytes, length);
        ReservedBytes += length;
        return MakeBlock(id, bytes, 0, length, tag, NewSegment(length), segments++);
    }

    protected override void Release(DeviceBlock block)
    {
        ReservedBytes -= block.Length;
        block.Segment?.Dispose();
    }

    public override void Dispose() { }
}
