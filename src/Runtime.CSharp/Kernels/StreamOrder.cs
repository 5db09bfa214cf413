using System.Runtime.InteropServices;
using ILGPU.Runtime.Cuda;

namespace Pgmo.Kernels;

/// <summary>
/// Order between two streams of one accelerator without stopping the host: <see cref="Mark"/> records the point a
/// stream has reached, and <see cref="Wait"/> makes another stream's later work wait for it on the device. On CUDA a
/// mark is an event (<c>cuEventRecord</c>) and a wait is <c>cuStreamWaitEvent</c>, found in the driver library that
/// ILGPU loaded; where that export cannot be found, a wait blocks the host on the event instead (still correct, without
/// the overlap). On the CPU accelerator every copy and kernel has finished when its call returns, so a mark needs no
/// event and a wait synchronizes the marked stream (which returns at once).
/// </summary>
public sealed class StreamOrder : IDisposable
{
    private readonly List<IntPtr> events = new();
    private readonly Stack<IntPtr> spare = new();
    private static readonly unsafe delegate* unmanaged<IntPtr, IntPtr, uint, int> StreamWaitEvent = FindStreamWaitEvent();

    /// <summary>A point reached by one stream: every copy and kernel issued to it before the mark.</summary>
    public readonly record struct Point(AcceleratorStream Stream, IntPtr Event);

    /// <summary>The point <paramref name="stream"/> has reached now.</summary>
    public Point Mark(AcceleratorStream stream)
    {
        if (stream is not CudaStream cuda) return new(stream, IntPtr.Zero);
        if (!spare.TryPop(out var e))
        {
            Check(CudaAPI.CurrentAPI.CreateEvent(out e, CudaEventFlags.CU_EVENT_DISABLE_TIMING), "cuEventCreate");
            events.Add(e);
        }
        Check(CudaAPI.CurrentAPI.RecordEvent(e, cuda.StreamPtr), "cuEventRecord");
        return new(stream, e);
    }

    /// <summary>Work issued to <paramref name="stream"/> from now on runs after <paramref name="point"/>.</summary>
    public unsafe void Wait(AcceleratorStream stream, Point point)
    {
        if (ReferenceEquals(stream, point.Stream)) return;
        if (point.Event == IntPtr.Zero) { point.Stream.Synchronize(); return; }
        if (StreamWaitEvent != null) Check((CudaError)StreamWaitEvent(((CudaStream)stream).StreamPtr, point.Event, 0), "cuStreamWaitEvent");
        else Check(CudaAPI.CurrentAPI.SynchronizeEvent(point.Event), "cuEventSynchronize");
    }

    /// <summary>Lets <paramref name="point"/>'s event be recorded again (its waits have been issued).</summary>
    public void Release(Point point)
    {
        if (point.Event != IntPtr.Zero) spare.Push(point.Event);
    }

    public void Dispose()
    {
        foreach (var e in events) CudaAPI.CurrentAPI.DestroyEvent(e);
        events.Clear();
        spare.Clear();
    }

    private static void Check(CudaError error, string call)
    {
        if (error != CudaError.CUDA_SUCCESS) throw new CudaException($"{call} failed: {error}");
    }

    // cuStreamWaitEvent(CUstream, CUevent, unsigned int flags), which ILGPU 1.5's CudaAPI does not wrap
    private static unsafe delegate* unmanaged<IntPtr, IntPtr, uint, int> FindStreamWaitEvent()
    {
        foreach (var name in new[] { "libcuda.so.1", "libcuda.so", "nvcuda.dll" })
            if (NativeLibrary.TryLoad(name, out var library) && NativeLibrary.TryGetExport(library, "cuStreamWaitEvent", out var f))
                return (delegate* unmanaged<IntPtr, IntPtr, uint, int>)f;
        return null;
    }
}
