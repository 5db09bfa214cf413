using ILGPU.Runtime;

namespace Pgmo.Tests.Faults;

/// <summary>
/// Each allocator when the device refuses memory (<see cref="DeviceMemory.Watch"/>): allocate, then account, then
/// commit, so a refused request changes nothing; the pools give back their cache and retry once; the plan switch keeps
/// the weights when the new arena cannot be had; every device buffer is given back by Dispose.
/// </summary>
[Collection("cpu")]
public sealed class AllocatorFaultTests(CpuFixture fx)
{
    [Theory]
    [InlineData(AllocatorKind.Pool)]
    [InlineData(AllocatorKind.TorchPool)]
    [InlineData(AllocatorKind.Naive)]
    [InlineData(AllocatorKind.Planned)]
    public void ARefusedRequestChangesNothingAndNamesTheDevicesError(AllocatorKind kind)
    {
        using var watch = DeviceMemory.Watch(n => n >= 2);
        var a = Allocators.Create(kind, fx.Device.Accelerator);
        var held = a.Allocate(1000, "held");
        var (reserved, inUse, live) = (a.ReservedBytes, a.InUseBytes, a.LiveBlocks);
        var e = Assert.Throws<OutOfDeviceMemoryException>(() => a.Allocate(64L << 20, "big"));
        Assert.True(e.DeviceRefused);
        Assert.StartsWith("out of memory: the device refused", e.Message);
        Assert.Contains("big", e.Message);
        Assert.Contains("fault injected", e.Message);
        Assert.Null(e.Limit);
        Assert.IsType<OutOfMemoryException>(e.InnerException);
        Assert.Equal((reserved, inUse, live), (a.ReservedBytes, a.InUseBytes, a.LiveBlocks));
        Assert.Equal(3, watch.Attempts);   // the first block, then the big one twice: before and after giving the cache back
        a.Free(held);
        a.Dispose();
        Assert.Equal(0, watch.HeldBuffers);
        a.Dispose();   // twice is harmless
        Assert.Throws<ObjectDisposedException>(() => a.Allocate(1, "after"));
    }

    [Theory]
    [InlineData(AllocatorKind.Pool)]
    [InlineData(AllocatorKind.TorchPool)]
    public void APoolGivesBackItsCacheAndRetriesWhenTheDeviceRefuses(AllocatorKind kind)
    {
        using var watch = DeviceMemory.Watch(n => n == 2);
        using var a = Allocators.Create(kind, fx.Device.Accelerator);
        a.Free(a.Allocate(1000, "cached"));
        Assert.True(a.ReservedBytes > 0);
        var big = a.Allocate(64L << 20, "big");   // refused once, then served once the cached segment is gone
        Assert.Equal(big.Length >= 64L << 20 ? big.Segment!.LengthInBytes : -1, a.ReservedBytes);
        Assert.Equal(1, watch.Refused);
        Assert.Equal(1, watch.HeldBuffers);
        a.Free(big);
    }

    [Fact]
    public void ANaiveAllocatorGivesLiveBlocksBackOnDispose()
    {
        using var watch = DeviceMemory.Watch();
        var a = Allocators.Create(AllocatorKind.Naive, fx.Device.Accelerator);
        var x = a.Allocate(1000, "x");
        a.Allocate(3000, "y");
        Assert.Equal(2, watch.HeldBuffers);
        a.Dispose();
        Assert.Equal(0, watch.HeldBuffers);
        Assert.True(x.Freed);
    }

    /// <summary>A weight in the fallback pool, one profiled iteration, and the switch to the plan at its end, with the
    /// device allocations <paramref name="refuse"/> names refused (counted from the switch).</summary>
    (PlannedAllocator Allocator, DeviceBlock Weight, byte[] Bytes, OutOfDeviceMemoryException? Error) Switch(Func<int, bool> refuse)
    {
        var p = new PlannedAllocator(fx.Device.Accelerator, new PlannedAllocatorOptions { Debug = true });
        var w = p.Allocate(1000, "weight");
        var bytes = Enumerable.Range(0, 1000).Select(i => (byte)(i * 7 + 3)).ToArray();
        w.View<byte>(1000).CopyFromCPU(bytes);
        p.BeginIteration();
        p.Free(p.Allocate(5000, "activation"));
        using var watch = DeviceMemory.Watch(refuse);
        OutOfDeviceMemoryException? error = null;
        try { p.EndIteration(); }   // plans, then moves the weight into the new arena
        catch (OutOfDeviceMemoryException e) { error = e; }
        return (p, w, bytes, error);
    }

    static byte[] Read(DeviceBlock b)
    {
        var host = new byte[b.Requested];
        b.View<byte>(b.Requested).CopyToCPU(host);
        return host;
    }

    [Fact]
    public void TheSwitchToThePlanMovesTheWeightIntoTheArenaWhenTheArenaIsRefusedOnce()
    {
        var (p, w, bytes, error) = Switch(n => n == 1);
        using var _ = p;
        Assert.Null(error);
        Assert.Equal(PlannedAllocator.ArenaSegment, w.SegmentIndex);
        Assert.Equal(bytes, Read(w));
    }

    [Fact]
    public void WhenTheArenaCannotBeHadTheWeightGoesBackToThePoolIntactAndTheErrorIsThrown()
    {
        using var watch = DeviceMemory.Watch();
        var (p, w, bytes, error) = Switch(n => n <= 2);   // the arena, before and after giving the cache back
        Assert.NotNull(error);
        Assert.Contains("the arena", error!.Message);
        Assert.False(w.Lost);
        Assert.NotEqual(PlannedAllocator.ArenaSegment, w.SegmentIndex);
        Assert.Equal(bytes, Read(w));
        Assert.Equal(0, p.ArenaBytes);
        Assert.Equal(p.FallbackReservedBytes, p.ReservedBytes);
        p.Free(w);
        p.Dispose();
        Assert.Equal(0, watch.HeldBuffers);
    }

    [Fact]
    public void WhenNothingCanBeHadTheWeightIsLostLoudlyAndEverythingIsGivenBack()
    {
        using var watch = DeviceMemory.Watch();
        var (p, w, _, error) = Switch(_ => true);
        Assert.NotNull(error);
        Assert.True(w.Lost);
        Assert.Contains("lost", Assert.Throws<InvalidOperationException>(() => w.View<byte>(1)).Message);
        p.Free(w);
        p.Dispose();
        Assert.Equal(0, watch.HeldBuffers);
    }
}
