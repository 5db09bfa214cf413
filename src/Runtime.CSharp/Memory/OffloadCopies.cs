using ILGPU.Runtime.Cuda;
using Pgmo.Kernels;

namespace Pgmo.Memory;

/// <summary>
/// Where offloaded buffers go and how they travel (issue 17): one page-locked host array per offloaded trace buffer
/// (host memory, not counted against the device limit, kept from step to step), and a copy stream beside the
/// accelerator's default stream, on which the kernels run.
/// <list type="bullet">
/// <item><see cref="Out"/> copies a buffer to its host array on the copy stream, after everything issued to the
/// default stream so far (the buffer's producer and its last forward reader), and returns at once: the copy overlaps
/// the kernels that follow.</item>
/// <item>Its bytes may then be given to other blocks. <see cref="BeforeWrite"/>, called for every block placed, makes
/// the default stream wait for each copy still reading bytes the block overlaps, so no kernel overwrites bytes before
/// they are on the host.</item>
/// <item><see cref="In"/> copies the host array back on the default stream, after the buffer's copy out: the copy in
/// is on the critical path, because the plan gives the buffer its bytes back only at its first backward use.</item>
/// </list>
/// On the CPU accelerator the copies finish when their calls return, so nothing overlaps and the order holds by
/// itself; the same calls run.
/// </summary>
public sealed class OffloadCopies : IDisposable
{
    private readonly Accelerator accelerator;
    private readonly AcceleratorStream copy;
    private readonly StreamOrder order;
    private readonly Dictionary<int, PageLockedArray1D<byte>> host = new();
    // copies out that may still be reading their bytes: the block's place then, and the copy stream's point after it
    private readonly List<(int Buffer, object Segment, long Offset, long Length, StreamOrder.Point Done)> pending = new();

    /// <summary>Copies for <paramref name="accelerator"/>, with a copy stream of their own.</summary>
    public OffloadCopies(Accelerator accelerator)
    {
        this.accelerator = accelerator;
        copy = accelerator is CudaAccelerator cuda ? cuda.CreateStream(StreamFlags.CU_STREAM_NON_BLOCKING) : accelerator.CreateStream();
        order = new StreamOrder();
    }

    /// <summary>Host bytes held (the page-locked arrays).</summary>
    public long HostBytes => host.Values.Sum(a => a.Length);

    /// <summary>Copies out still pending (not yet waited for by the default stream).</summary>
    public int Pending => pending.Count;

    /// <summary>Sends trace buffer <paramref name="buffer"/>'s bytes (block <paramref name="block"/>, live and not yet
    /// away) to its host array on the copy stream.</summary>
    public void Out(int buffer, DeviceBlock block)
    {
        var bytes = block.View<byte>(block.Requested);
        if (!host.TryGetValue(buffer, out var array) || array.Length != block.Requested)
        {
            if (array is not null) { Settle(); accelerator.Synchronize(); array.Dispose(); }
            host[buffer] = array = accelerator.AllocatePageLocked1D<byte>(block.Requested);
        }
        var after = order.Mark(accelerator.DefaultStream);
        order.Wait(copy, after);
        order.Release(after);
        bytes.CopyTo(copy, array.ArrayView);
        pending.Add((buffer, block.Segment!, block.Offset, block.Length, order.Mark(copy)));
    }

    /// <summary>Block <paramref name="block"/> was just placed (allocated, or back from away): the default stream waits
    /// for every pending copy out of bytes it overlaps.</summary>
    public void BeforeWrite(DeviceBlock block)
    {
        if (pending.Count == 0 || block.Segment is null) return;
        for (int i = pending.Count - 1; i >= 0; i--)
        {
            var p = pending[i];
            if (ReferenceEquals(p.Segment, block.Segment) && p.Offset < block.Offset + block.Length && block.Offset < p.Offset + p.Length)
                Finish(i);
        }
    }

    /// <summary>Brings trace buffer <paramref name="buffer"/>'s bytes back from its host array into block
    /// <paramref name="block"/> (placed again) on the default stream, after its copy out.</summary>
    public void In(int buffer, DeviceBlock block)
    {
        var array = host.TryGetValue(buffer, out var a) ? a : throw new InvalidOperationException($"buffer {buffer} ({block.Tag}) was never copied to the host");
        for (int i = pending.Count - 1; i >= 0; i--)
            if (pending[i].Buffer == buffer) Finish(i);
        array.ArrayView.CopyTo(accelerator.DefaultStream, block.View<byte>(block.Requested));
    }

    /// <summary>The default stream waits for every pending copy out (at the end of an iteration).</summary>
    public void Settle()
    {
        for (int i = pending.Count - 1; i >= 0; i--) Finish(i);
    }

    private void Finish(int i)
    {
        var done = pending[i].Done;
        pending.RemoveAt(i);
        order.Wait(accelerator.DefaultStream, done);
        order.Release(done);
    }

    public void Dispose()
    {
        copy.Synchronize();
        accelerator.Synchronize();
        pending.Clear();
        foreach (var a in host.Values) a.Dispose();
        host.Clear();
        order.Dispose();
        copy.Dispose();
    }
}
