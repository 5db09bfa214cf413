namespace Pgmo.Tests;

/// <summary>The pool allocators map the planner's pool policy (CachingPool) to device memory, block for block.</summary>
[Collection("cpu")]
public sealed class PoolAllocatorTests(CpuFixture fx)
{
    const long MiB = 1024 * 1024;

    [Theory]
    [InlineData(AllocatorKind.Pool)]
    [InlineData(AllocatorKind.TorchPool)]
    public void BlocksSitWhereThePolicyPutsThem(AllocatorKind kind)
    {
        using var a = (PoolAllocator)Allocators.Create(kind, fx.Device.Accelerator);
        var reference = new CachingPool(kind.Policy()!);
        long[] sizes = [1, 4096, 3 * MiB, 700, 11 * MiB, 512];
        var blocks = sizes.Select(s => a.Allocate(s, "x")).ToList();
        var expected = sizes.Select(s => reference.Allocate(s)).ToList();
        a.Free(blocks[1]); reference.Free(expected[1]);
        blocks.Add(a.Allocate(2000, "y")); expected.Add(reference.Allocate(2000));
        for (int i = 0; i < blocks.Count; i++)
            Assert.Equal((expected[i].Segment, expected[i].Offset, expected[i].Length), (blocks[i].SegmentIndex, blocks[i].Offset, blocks[i].Length));
        Assert.Equal(reference.Reserved, a.ReservedBytes);
        Assert.Equal(kind, a.Kind);
        // every block is usable device memory inside its segment
        var big = blocks[4];
        var view = big.View<float>(11 * MiB / 4).SubView(11 * MiB / 4 - 1, 1);
        ILGPU.Runtime.ArrayViewExtensions.CopyFromCPU(view, new[] { 42f });
        var back = new float[1];
        ILGPU.Runtime.ArrayViewExtensions.CopyToCPU(view, back);
        Assert.Equal(42f, back[0]);
    }

    [Fact]
    public void TorchExpandableCountsThePagesItMapsAndGivesEachBlockItsOwnBuffer()
    {
        using var a = (PoolAllocator)Allocators.Create(AllocatorKind.TorchExpandable, fx.Device.Accelerator);
        var reference = new CachingPool(PoolPolicy.TorchExpandable);
        long[] sizes = [1, 8 * MiB, 30 * MiB, 700];
        var blocks = sizes.Select(s => a.Allocate(s, "x")).ToList();
        var expected = sizes.Select(s => reference.Allocate(s)).ToList();
        for (int i = 0; i < blocks.Count; i++)
            Assert.Equal((expected[i].Segment, expected[i].Length, 0L), (blocks[i].SegmentIndex, blocks[i].Length, blocks[i].Offset));
        Assert.Equal((2 * MiB + 40 * MiB, reference.Reserved), (a.ReservedBytes, a.ReservedBytes));
        Assert.Equal(("torch-expandable", AllocatorKind.TorchExpandable), (a.Name, a.Kind));
        var view = blocks[2].View<float>(30 * MiB / 4).SubView(30 * MiB / 4 - 1, 1);
        ILGPU.Runtime.ArrayViewExtensions.CopyFromCPU(view, new[] { 7f });
        var back = new float[1];
        ILGPU.Runtime.ArrayViewExtensions.CopyToCPU(view, back);
        Assert.Equal(7f, back[0]);
        var segment = blocks[2].Segment!;
        a.Free(blocks[2]);
        Assert.True(segment.IsDisposed);
        Assert.Equal(42 * MiB, a.ReservedBytes);
    }

    [Fact]
    public void TorchPoolReservesItsSegmentSizes()
    {
        using var a = Allocators.Create(AllocatorKind.TorchPool, null);
        a.Allocate(1, "small");
        Assert.Equal(2 * MiB, a.ReservedBytes);
        a.Allocate(MiB + 1, "large");
        Assert.Equal(22 * MiB, a.ReservedBytes);
        Assert.Equal("torch-pool", a.Name);
    }

    [Fact]
    public void ReleasingCachedSegmentsFreesTheirDeviceMemory()
    {
        using var memory = new PoolMemory(PoolPolicy.Torch);
        var acc = fx.Device.Accelerator!;
        var asked = new List<long>();
        Func<long, ILGPU.Runtime.MemoryBuffer1D<byte, ILGPU.Stride1D.Dense>?> take = n => { asked.Add(n); return acc.Allocate1D<byte>(n); };
        var small = memory.Place(0, 100, "s", take);
        var large = memory.Place(1, 3 * MiB, "l", take);
        memory.Release(memory.Place(2, 100, "s2", take));   // fits the small segment: no device memory taken
        Assert.Equal([2 * MiB, 20 * MiB], asked);
        // a refusal changes nothing: the next request of the large pool asks again for the same segment
        Assert.Throws<OutOfMemoryException>(() => memory.Place(3, 30 * MiB, "refused", _ => throw new OutOfMemoryException()));
        Assert.Equal(22 * MiB, memory.ReservedBytes);
        memory.Release(large);
        Assert.Equal(20 * MiB, memory.ReleaseCached());
        Assert.Equal(2 * MiB, memory.ReservedBytes);
        Assert.True(large.Segment!.IsDisposed);
        Assert.False(small.Segment!.IsDisposed);
        memory.Release(small);
        Assert.Throws<InvalidOperationException>(() => memory.Release(small));
    }
}

/// <summary>The device allocators: alignment, peaks, the recorded trace, and no leak across a training step.</summary>
[Collection("cpu")]
public sealed class DeviceAllocatorTests(CpuFixture fx)
{
    [Theory]
    [InlineData(AllocatorKind.Naive)]
    [InlineData(AllocatorKind.Pool)]
    [InlineData(AllocatorKind.TorchPool)]
    [InlineData(AllocatorKind.TorchExpandable)]
    public void BlocksAreAlignedAndCounted(AllocatorKind kind)
    {
        using var a = Allocators.Create(kind, fx.Device.Accelerator, record: true);
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
        Assert.Equal(new[] { MemoryEvent.Alloc(1, 256), MemoryEvent.Alloc(2, 1024), MemoryEvent.Free(1), MemoryEvent.Free(2) }, trace.Events);
        Assert.Equal(new long[] { 256 }, trace.PersistentSizes);
        Assert.Equal(new[] { "w", "x", "y" }, trace.Tags);
        Assert.Equal(new[] { new Lifetime(0, 4), new Lifetime(0, 2), new Lifetime(1, 3) }, trace.Problem.Buffers.Select(b => b.Lifetime));
    }

    [Theory]
    [InlineData("cnn", AllocatorKind.Pool)]
    [InlineData("lenet", AllocatorKind.TorchPool)]
    [InlineData("resnet", AllocatorKind.Naive)]
    [InlineData("cnn", AllocatorKind.TorchExpandable)]
    public void OnlyPersistentBlocksOutliveAStep(string model, AllocatorKind allocator)
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
