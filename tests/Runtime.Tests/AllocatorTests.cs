using Pgmo.Planner;
using Pgmo.Memory;

namespace Pgmo.Tests;

/// <summary>The CuPy caching policy on hand-made request sequences.</summary>
public sealed class CachingPoolTests
{
    [Fact]
    public void RoundsTo512AndReusesFreedChunks()
    {
        var p = new CachingPool();
        var a = p.Allocate(1);
        Assert.Equal((0, 0L, 512L, true), a);
        p.Free(a.Segment, a.Offset);
        var b = p.Allocate(300);
        Assert.Equal((0, 0L, 512L, false), b);
        Assert.Equal(512, p.ReservedBytes);
    }

    [Fact]
    public void SplitsTheSmallestFitAndCoalescesNeighbours()
    {
        var p = new CachingPool();
        var big = p.Allocate(4096);       // segment 0
        var small = p.Allocate(1024);     // segment 1
        p.Free(big.Segment, big.Offset);
        p.Free(small.Segment, small.Offset);
        var x = p.Allocate(1000);         // smallest fit: segment 1 (1024), not segment 0 (4096)
        Assert.Equal((1, 0L), (x.Segment, x.Offset));
        var y = p.Allocate(1024);         // splits segment 0
        var z = p.Allocate(1024);
        Assert.Equal((0, 0L), (y.Segment, y.Offset));
        Assert.Equal((0, 1024L), (z.Segment, z.Offset));
        Assert.Equal(2, p.SegmentSizes.Count);
        p.Free(y.Segment, y.Offset);
        p.Free(z.Segment, z.Offset);      // coalesces with y and with the 2048 rest
        var w = p.Allocate(4096);
        Assert.Equal((0, 0L, false), (w.Segment, w.Offset, w.NewSegment));
        Assert.Equal(5120, p.ReservedBytes);
    }

    [Fact]
    public void TiesGoToEarliestAllocationThenLowestOffset()
    {
        var p = new CachingPool();
        var a = p.Allocate(512); var b = p.Allocate(512); var c = p.Allocate(512);  // three segments
        p.Free(c.Segment, c.Offset); p.Free(a.Segment, a.Offset);
        Assert.Equal(0, p.Allocate(512).Segment);
        Assert.Equal(2, p.Allocate(512).Segment);
        Assert.Equal(1536, p.ReservedBytes);
        _ = b;
    }

    [Fact]
    public void NeverCoalescesAcrossDeviceAllocations()
    {
        var p = new CachingPool();
        var a = p.Allocate(512); var b = p.Allocate(512);
        p.Free(a.Segment, a.Offset); p.Free(b.Segment, b.Offset);
        var c = p.Allocate(1024);
        Assert.True(c.NewSegment);
        Assert.Equal(2048, p.ReservedBytes);
    }
}

/// <summary>The device allocators: alignment, peaks, the request log, and no leak across a training step.</summary>
[Collection("cpu")]
public sealed class DeviceAllocatorTests(CpuFixture fx)
{
    [Theory]
    [InlineData("naive")]
    [InlineData("pool")]
    public void BlocksAreAlignedAndCounted(string name)
    {
        using var a = fx.Device.CreateAllocator(name, record: true);
        var marks = (IIterationAllocator)a;
        var w = a.Allocate(100, "w");           // live when the iteration begins: persistent
        marks.BeginIteration();
        var x = a.Allocate(4, "x"); var y = a.Allocate(1000, "y");
        Assert.Equal(0, x.Offset % DeviceAllocator.Alignment);
        Assert.Equal(0, y.Offset % DeviceAllocator.Alignment);
        Assert.Equal(250, y.View<float>(250).Length);
        a.Free(x);
        Assert.Throws<InvalidOperationException>(() => a.Free(x));
        a.Free(y);
        marks.EndIteration();
        a.Free(w);
        Assert.Equal(0, a.LiveBlocks);
        Assert.Equal(0, a.InUseBytes);
        Assert.True(a.PeakReservedBytes >= a.PeakInUseBytes);
        var trace = a.LastTrace!;
        Assert.Equal(new long[] { 256, 1024, -2, -3 }, trace.Events);
        Assert.Equal(new long[] { 256 }, trace.PersistentSizes);
        Assert.Equal(new[] { "w", "x", "y" }, trace.Tags);
        Assert.Equal(new[] { new Lifetime(0, 4), new Lifetime(0, 2), new Lifetime(1, 3) }, trace.Problem.Buffers.Select(b => b.Lifetime));
    }

    [Theory]
    [InlineData("cnn", "pool")]
    [InlineData("resnet", "naive")]
    public void OnlyPersistentBlocksOutliveAStep(string model, string allocator)
    {
        using var t = new Pgmo.Training.Trainer(new Pgmo.Training.TrainOptions { Model = model, Allocator = allocator, Batch = 4 }, fx.Device);
        var data = Pgmo.Training.Digits.Load();
        t.Step(data.Samples.Take(4).ToArray(), data.Labels.Take(4).ToArray());
        Assert.Equal(t.PersistentBlocks, t.Allocator.LiveBlocks);
        t.Accuracy(data.Subset(Enumerable.Range(0, 5)), 4);
        Assert.Equal(t.PersistentBlocks, t.Allocator.LiveBlocks);
        Assert.Equal(0, t.Tape.PendingNodes);
    }
}
