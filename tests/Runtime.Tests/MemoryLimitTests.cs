namespace Pgmo.Tests;

/// <summary>Every allocator under a device memory limit (virtual allocators, hand-made request sequences).</summary>
public sealed class MemoryLimitTests
{
    [Theory]
    [InlineData(AllocatorKind.Pool)]
    [InlineData(AllocatorKind.TorchPool)]
    [InlineData(AllocatorKind.TorchExpandable)]
    [InlineData(AllocatorKind.Naive)]
    [InlineData(AllocatorKind.Planned)]
    public void ARequestPastTheLimitThrowsNamingRequestReservedLiveLimitAndAllocator(AllocatorKind kind)
    {
        long limit = kind is AllocatorKind.TorchPool or AllocatorKind.TorchExpandable ? 2L << 20 : 4096;   // PyTorch's smallest segment or page is 2 MiB
        using var a = Allocators.Create(kind, null, limit: limit);
        var held = a.Allocate(1000, "held");
        var e = Assert.Throws<OutOfDeviceMemoryException>(() => a.Allocate(limit, "big"));
        Assert.StartsWith("out of memory", e.Message);
        Assert.Equal((kind.Name(), "big", limit, (long?)limit), (e.Allocator, e.Tag, e.Request, e.Limit));
        Assert.Equal((a.ReservedBytes, a.InUseBytes), (e.Reserved, e.InUse));
        Assert.Contains(kind.Name(), e.Message);
        Assert.Contains($"{limit:N0} B", e.Message);
        Assert.True(a.PeakReservedBytes <= limit, $"peak {a.PeakReservedBytes} passed the limit {limit}");
        a.Free(held);
    }

    [Fact]
    public void TorchExpandableUnmapsTheWholeFreePagesBeforeFailing()
    {
        const long MiB = 1L << 20;
        using (var a = Allocators.Create(AllocatorKind.TorchExpandable, null, limit: 40 * MiB))
        {
            var big = a.Allocate(3 * MiB, "a");        // a 20 MiB page of the large pool
            a.Free(a.Allocate(512, "b"));              // a 2 MiB page of the small pool, cached
            Assert.Equal(22 * MiB, a.ReservedBytes);
            // 30 MiB after the 17 MiB free at the large segment's end needs one more page: 42 MiB would pass 40, so the
            // small pool's wholly free page is unmapped first, and then it fits
            var c = a.Allocate(30 * MiB, "c");
            Assert.Equal((40 * MiB, 40 * MiB), (a.ReservedBytes, a.PeakReservedBytes));
            a.Free(c);
            a.Free(big);
        }
        using (var a = Allocators.Create(AllocatorKind.TorchExpandable, null, limit: 24 * MiB))
        {
            a.Free(a.Allocate(512, "x"));
            a.Free(a.Allocate(3 * MiB, "y"));
            // 23 MiB would map one page after the cached 20 MiB one (42 MiB); once the cache is emptied the large
            // segment is gone and a new one needs two pages (40 MiB): out of memory either way, and never past the limit
            var e = Assert.Throws<OutOfDeviceMemoryException>(() => a.Allocate(23 * MiB, "z"));
            Assert.Equal(40 * MiB, e.Needed);
            Assert.Equal(0, a.ReservedBytes);
            Assert.True(a.PeakReservedBytes <= 24 * MiB);
        }
    }

    [Theory]
    [InlineData(AllocatorKind.Pool, 2048)]
    [InlineData(AllocatorKind.TorchPool, 4L << 20)]
    public void PoolsGiveBackCachedSegmentsBeforeFailing(AllocatorKind kind, long limit)
    {
        using var a = Allocators.Create(kind, null, limit: limit);
        // CuPy: a 1024-B segment stays cached after the free; the 2048-B request needs a new one and only fits once the
        // cached one is given back. PyTorch: a 2 MiB small segment, then a 1.5 MiB request of the large pool (20 MiB).
        long first = kind == AllocatorKind.Pool ? 1024 : 512;
        long second = kind == AllocatorKind.Pool ? 2048 : 2L << 20;
        var x = a.Allocate(first, "x");
        a.Free(x);
        Assert.True(a.ReservedBytes > 0);
        if (kind == AllocatorKind.TorchPool)
        {
            // 2 MiB held + a 20 MiB segment would pass 4 MiB even after the release: out of memory, and the cache is gone
            Assert.Throws<OutOfDeviceMemoryException>(() => a.Allocate(second, "y"));
            Assert.Equal(0, a.ReservedBytes);
            var z = a.Allocate(1L << 20, "z");   // a small-pool request fits in a fresh 2 MiB segment
            Assert.Equal(2L << 20, a.ReservedBytes);
            a.Free(z);
            return;
        }
        var y = a.Allocate(second, "y");
        Assert.Equal(second, a.ReservedBytes);
        Assert.True(a.PeakReservedBytes <= limit);
        a.Free(y);
    }

    // one iteration: a and b allocated, then freed in order (see PlannedAllocatorUnitTests)
    static void Iteration(PlannedAllocator p, long a, long b) => PlannedAllocatorUnitTests.Iteration(p, a, b);

    [Fact]
    public void PlannedMismatchFallbackAndCacheStayWithinTheLimit()
    {
        using var p = new PlannedAllocator(null, new PlannedAllocatorOptions { Debug = true }, limit: 8192);
        Iteration(p, 1000, 1000);          // profiled in the pool (2 x 1024), planned: arena 2048
        Iteration(p, 5000, 1000);          // diverges at once: served by the pool (5120 + 1024 beside the arena), replanned: arena 6144
        Iteration(p, 1000, 1000);          // the 2048 plan again: switched to from the cache
        Iteration(p, 5000, 1000);          // and back
        Assert.Equal(2, p.Plans.Count);
        Assert.Single(p.Log, e => e.Kind == PlannedEventKind.Mismatch);
        Assert.Equal(2, p.Log.Count(e => e.Kind == PlannedEventKind.Switched));
        Assert.Equal(2, p.ReplayedIterations);
        Assert.Equal(6144, p.ArenaBytes);
        Assert.Equal(8192, p.PeakReservedBytes);
        Assert.True(p.OverlapChecks > 0);

        using var tight = new PlannedAllocator(null, new PlannedAllocatorOptions(), limit: 4096);
        Iteration(tight, 1000, 1000);
        tight.BeginIteration();
        Assert.Throws<OutOfDeviceMemoryException>(() => tight.Allocate(5000, "a"));   // 2048 arena + 5120 in the pool
    }

    [Fact]
    public void AFirstTracePlansBeforeTheFirstRequestAndTheArenaMustFitTheLimit()
    {
        using var profiled = new PlannedAllocator(null);
        Iteration(profiled, 1000, 3000);
        var trace = profiled.LastTrace!;
        using var p = new PlannedAllocator(null, new PlannedAllocatorOptions { Debug = true, FirstTrace = trace }, limit: 4096);
        Assert.Equal(4096, p.ArenaBytes);   // 1024 + 3072, both live at step 1
        Iteration(p, 1000, 3000);
        Assert.Equal(1, p.ReplayedIterations);
        Assert.Equal(4096, p.PeakReservedBytes);
        Assert.Equal(0, p.FallbackReservedBytes);
        var e = Assert.Throws<OutOfDeviceMemoryException>(() => new PlannedAllocator(null, new PlannedAllocatorOptions { FirstTrace = trace }, limit: 4095));
        Assert.Contains("the arena", e.Message);
    }
}

/// <summary>Training under a memory limit on the CPU accelerator: the plan's own peak is enough, and larger batches fit.</summary>
[Collection("cpu")]
public sealed class LimitedTrainingTests(CpuFixture fx)
{
    static readonly Dataset Data = Digits.Load();

    [Fact]
    public void APlannedRunUnderItsOwnPeakTrainsToTheSameLosses()
    {
        var options = new TrainOptions { Model = "cnn", Allocator = AllocatorKind.Planned, Steps = 4, Batch = 16, Seed = 2 };
        TrainResult free, limited;
        using (var t = new Trainer(options, fx.Device)) free = t.Fit(Data);
        Assert.Equal(free.TrainPeakBytes, free.PeakBytes);   // evaluation fits the idle arena
        using (var t = new Trainer(options with { MemoryLimit = free.PeakBytes }, fx.Device)) limited = t.Fit(Data);
        Assert.Equal(free.Losses, limited.Losses);
        Assert.Equal(free.TestAccuracy, limited.TestAccuracy);
        // the dry-run plan commits the arena before the weights: one byte less and nothing fits
        Assert.Throws<OutOfDeviceMemoryException>(() => new Trainer(options with { MemoryLimit = free.PeakBytes - 1 }, fx.Device));
    }

    [Fact]
    public void TheLargestBatchUnderALimitIsLargestWithThePlanAndConfirmedByARealStep()
    {
        var options = new TrainOptions { Model = "cnn", MemoryLimit = 1L << 20, Planned = new PlannedAllocatorOptions() };
        var batches = new[] { AllocatorKind.Pool, AllocatorKind.TorchPool, AllocatorKind.Planned }
            .ToDictionary(k => k, k => MaxBatch.ForRun(options with { Allocator = k }, evaluation: true, cap: 4096).Batch);
        Assert.True(batches[AllocatorKind.Planned] >= batches[AllocatorKind.Pool], string.Join(", ", batches));
        Assert.True(batches[AllocatorKind.Pool] > 0, string.Join(", ", batches));
        foreach (var (kind, b) in batches)
        {
            if (b == 0) continue;
            Assert.True(MaxBatch.FitsDryRun(options with { Allocator = kind, Batch = b }, evaluation: true));
            if (b < 4096) Assert.False(MaxBatch.FitsDryRun(options with { Allocator = kind, Batch = b + 1 }, evaluation: true), $"{kind}: batch {b + 1} fits too");
        }
        int planned = batches[AllocatorKind.Planned];
        Assert.True(MaxBatch.FitsRealStep(options with { Allocator = AllocatorKind.Planned, Batch = planned }, fx.Device, Data));
    }
}
