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
        ObjectDisposedException.ThrowIf(disposed, this);
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
        if (!HasRoom(needed)) ReleaseCached();
        if (!HasRoom(needed)) throw new OutOfDeviceMemoryException(Name, tag, request, needed, ReservedBytes, InUseBytes, MemoryLimit!.Value);
    }

    /// <summary>True when <paramref name="needed"/> more bytes keep the reserved bytes within the <see cref="MemoryLimit"/>.</summary>
    protected bool HasRoom(long needed) => needed <= 0 || MemoryLimit is not long limit || ReservedBytes + needed <= limit;

    /// <summary>
    /// The first of the three steps of taking device memory (allocate, then account, then commit): a new device buffer
    /// of <paramref name="bytes"/> bytes for request <paramref name="tag"/> of <paramref name="request"/> bytes, or null
    /// when the allocator is virtual. Within the <see cref="MemoryLimit"/> (see <see cref="EnsureRoom"/>); when the
    /// device refuses, the allocator gives back what it caches and tries once more, as CuPy's and PyTorch's pools do;
    /// a second refusal throws <see cref="OutOfDeviceMemoryException"/> wrapping the device's error. Nothing is
    /// accounted here: the caller accounts the buffer once it has it.
    /// </summary>
    protected MemoryBuffer1D<byte, Stride1D.Dense>? TakeDeviceMemory(string tag, long request, long bytes)
    {
        EnsureRoom(tag, request, bytes);
        return TakeDeviceBuffer(tag, request, bytes);
    }

    /// <summary>As <see cref="TakeDeviceMemory"/>, for bytes the caller has already checked against the limit (or
    /// that the limit does not count: an expandable pool counts its pages, not its blocks' buffers).</summary>
    protected MemoryBuffer1D<byte, Stride1D.Dense>? TakeDeviceBuffer(string tag, long request, long bytes)
    {
        if (Accelerator is null || bytes <= 0) return null;
        if (DeviceMemory.TryAllocate(Accelerator, bytes, out var buffer, out _)) return buffer;
        ReleaseCached();
        if (DeviceMemory.TryAllocate(Accelerator, bytes, out buffer, out var error)) return buffer;
        throw new OutOfDeviceMemoryException(Name, tag, request, bytes, ReservedBytes, InUseBytes, MemoryLimit, error!);
    }

    /// <summary>Tries once, without giving anything back, to take <paramref name="bytes"/> of new device memory within
    /// the <see cref="MemoryLimit"/>; false when the limit or the device refuses (buffer null also when virtual).</summary>
    protected bool TryTakeDeviceMemory(long bytes, out MemoryBuffer1D<byte, Stride1D.Dense>? buffer)
    {
        buffer = null;
        if (!HasRoom(bytes)) return false;
        return Accelerator is null || bytes <= 0 || DeviceMemory.TryAllocate(Accelerator, bytes, out buffer, out _);
    }

    /// <summary>Gives a device buffer back (null: nothing).</summary>
    protected static void GiveBack(MemoryBuffer1D<byte, Stride1D.Dense>? buffer) => DeviceMemory.Free(buffer);

    /// <summary>Gives back the device memory the allocator caches without live blocks in it (the pools' wholly free
    /// segments) and updates <see cref="ReservedBytes"/>; allocators that cache nothing do nothing.</summary>
    protected virtual void ReleaseCached() { }

    /// <summary>Finds room for a new block; updates <see cref="ReservedBytes"/> when it takes device memory.</summary>
    protected abstract DeviceBlock Place(long id, long bytes, string tag);

    /// <summary>Takes a freed block back.</summary>
    protected abstract void Release(DeviceBlock block);

    /// <summary>Wraps a placement in a block.</summary>
    protected static DeviceBlock MakeBlock(long id, long requested, long offset, long length, string tag, MemoryBuffer1D<byte, Stride1D.Dense>? segment, int segmentIndex) =>
        new(id, requested, offset, length, tag, segment, segmentIndex);

    private bool disposed;

    /// <summary>Gives all of the allocator's device memory back (live blocks included: they count as freed after it).
    /// Safe to call twice.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        GiveBackAll();
        foreach (var b in live.Values) b.Freed = true;
        live.Clear();
        InUseBytes = 0;
        ReservedBytes = 0;
    }

    /// <summary>Gives every device buffer the allocator holds back (<see cref="Dispose"/>).</summary>
    protected abstract void GiveBackAll();
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
        var segment = TakeDeviceMemory(tag, bytes, length);
        ReservedBytes += length;
        return MakeBlock(id, bytes, 0, length, tag, segment, segments++);
    }

    protected override void Release(DeviceBlock block)
    {
        GiveBack(block.Segment);
        ReservedBytes -= block.Length;
    }

    protected override void GiveBackAll()
    {
        foreach (var b in Live) GiveBack(b.Segment);
    }
}
