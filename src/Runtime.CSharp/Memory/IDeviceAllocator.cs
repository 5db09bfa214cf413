namespace Pgmo.Memory;

/// <summary>
/// The one source of device memory for tensor data: activations, gradients, weights, optimizer state and workspaces.
/// Blocks are aligned to <see cref="DeviceAllocator.Alignment"/> bytes. A planned allocator serves the same
/// request sequence from one arena at precomputed offsets, so callers must make the same requests in the same order.
/// </summary>
public interface IDeviceAllocator : IDisposable
{
    /// <summary>Which allocator this is.</summary>
    AllocatorKind Kind { get; }
    /// <summary>The allocator's name on the command line (see <see cref="Allocators.Name"/>).</summary>
    string Name { get; }
    /// <summary>What the allocator did so far: peaks and, for the planned allocator, its plan and arena.</summary>
    AllocatorReport Report();
    /// <summary>True when blocks carry no device memory (shapes-only / dry-run mode).</summary>
    bool IsVirtual { get; }
    /// <summary>A block of at least <paramref name="bytes"/> bytes (bytes &gt; 0) tagged for traces.</summary>
    DeviceBlock Allocate(long bytes, string tag);
    /// <summary>Gives a block back; freeing twice is an error.</summary>
    void Free(DeviceBlock block);
    /// <summary>
    /// Live block <paramref name="block"/> goes away until <see cref="Back"/>: its bytes were copied to the host or
    /// will be recomputed, and reading it throws meanwhile. The planned allocator lets other buffers of its plan use
    /// the place (the buffer's gap); the pools keep the bytes reserved. In an iteration, the recorder marks it.
    /// </summary>
    void Away(DeviceBlock block);
    /// <summary>Block <paramref name="block"/>, away, comes back: at its planned offset while the plan replays, else
    /// wherever the allocator puts it (its place may change; its bytes are the caller's to restore).</summary>
    void Back(DeviceBlock block);
    /// <summary>The buffer index of live block <paramref name="block"/> in the trace of the iteration in progress, or
    /// -1 (not recording, outside an iteration, or not a block of it).</summary>
    int TraceBuffer(DeviceBlock block);
    /// <summary>Events recorded so far in the iteration in progress (the step the next event will take), or -1 when not
    /// recording or outside an iteration.</summary>
    int TraceStep { get; }
    /// <summary>Bytes of live blocks that are not away (as requested, rounded to the allocator's alignment).</summary>
    long InUseBytes { get; }
    /// <summary>Maximum of <see cref="InUseBytes"/> so far.</summary>
    long PeakInUseBytes { get; }
    /// <summary>Bytes of device memory held now (device allocations not yet released).</summary>
    long ReservedBytes { get; }
    /// <summary>Maximum of <see cref="ReservedBytes"/> so far: the allocator's peak.</summary>
    long PeakReservedBytes { get; }
    /// <summary>The most device memory the allocator may hold (null: no limit); a request past it throws
    /// <see cref="OutOfDeviceMemoryException"/> once the allocator has given back what it caches.</summary>
    long? MemoryLimit { get; }
    /// <summary>Number of live blocks.</summary>
    int LiveBlocks { get; }
    /// <summary>The trace of the last iteration marked through <see cref="IIterationAllocator"/>, when recording was
    /// switched on and one has ended (else null).</summary>
    IterationTrace? LastTrace { get; }
}
