namespace Pgmo.Tests;

/// <summary>The planned allocator on hand-made request sequences (virtual, no device memory).</summary>
public sealed class PlannedAllocatorUnitTests
{
    //  step   0     1     2     3
    //  a      [-----------)            a: 1000 B (1024 rounded), freed at step 2
    //  b            [-----------)      b: 1000 B, freed at step 3
    internal static void Iteration(PlannedAllocator p, long a = 1000, long b = 1000)
    {
        p.BeginIteration();
        var x = p.Allocate(a, "a");
        var y = p.Allocate(b, "b");
        p.Free(x);
        p.Free(y);
        p.EndIteration();
    }

    [Fact]
    public void ProfilesThenReplaysAtPlannedOffsets()
    {
        using var p = new PlannedAllocator(null, new PlannedAllocatorOptions { Debug = true });
        Iteration(p);
        Assert.Single(p.Plans);
        var r = p.Plans[0];
        Assert.Equal(2048, r.PlanPeakBytes);
        Assert.Equal(2048, r.LowerBoundBytes);
        Assert.Equal(2048, r.PoolPeakBytes);
        Assert.Equal(new[] { MemoryEvent.Alloc(0, 1024), MemoryEvent.Alloc(1, 1024), MemoryEvent.Free(0), MemoryEvent.Free(1) }, r.Trace.Events);
        Assert.Empty(Validate.plan(r.Trace.Problem, null, new Plan(r.Offsets)));
        p.BeginIteration();
        Assert.True(p.Replaying);
        var x = p.Allocate(1000, "a");
        var y = p.Allocate(1000, "b");
        Assert.Equal((PlannedAllocator.ArenaSegment, r.Offsets[0]), (x.SegmentIndex, x.Offset));
        Assert.Equal((PlannedAllocator.ArenaSegment, r.Offsets[1]), (y.SegmentIndex, y.Offset));
        p.Free(x); p.Free(y);
        p.EndIteration();
        Assert.Equal(1, p.ReplayedIterations);
        Assert.Equal(2048, p.ArenaBytes);
    }

    [Fact]
    public void ADifferentSizeFallsBackToThePoolAndIsPlannedOnce()
    {
        using var p = new PlannedAllocator(null, new PlannedAllocatorOptions { Debug = true });
        Iteration(p);
        p.BeginIteration();
        var x = p.Allocate(1000, "a");
        var y = p.Allocate(5000, "b");   // the plan says 1024 B here
        Assert.Equal(PlannedAllocator.ArenaSegment, x.SegmentIndex);
        Assert.NotEqual(PlannedAllocator.ArenaSegment, y.SegmentIndex);
        Assert.False(p.Replaying);
        p.Free(x); p.Free(y);
        p.EndIteration();
        Assert.Equal(2, p.Plans.Count);
        Assert.Contains(p.Log, e => e.Kind == PlannedEventKind.Mismatch);
        Iteration(p, 1000, 5000);        // replays the second plan
        Iteration(p);                    // event 1 diverges while arena block a is live: fallback, then a cache hit (no third plan)
        Iteration(p);                    // replays the first plan
        Assert.Equal(2, p.Plans.Count);
        Assert.Contains(p.Log, e => e.Kind == PlannedEventKind.CacheHit);
        Assert.Equal(2, p.ReplayedIterations);
    }

    [Fact]
    public void AFreeOutOfOrderFallsBack()
    {
        using var p = new PlannedAllocator(null, new PlannedAllocatorOptions { Debug = true });
        Iteration(p);
        p.BeginIteration();
        var x = p.Allocate(1000, "a");
        var y = p.Allocate(1000, "b");
        p.Free(y);                       // the plan frees a first
        Assert.False(p.Replaying);
        p.Free(x);
        p.EndIteration();
        Assert.Equal(2, p.Plans.Count);
    }

    [Fact]
    public void DebugModeThrowsOnAnOverlappingPlan()
    {
        // Every buffer at offset 0: a and b overlap in time and in address; the validator is switched off.
        var options = new PlannedAllocatorOptions { Debug = true, ValidatePlans = false, Planner = problem => new Plan(new long[problem.Buffers.Length]) };
        using var p = new PlannedAllocator(null, options);
        Iteration(p);
        p.BeginIteration();
        p.Allocate(1000, "a");
        var e = Assert.Throws<InvalidOperationException>(() => p.Allocate(1000, "b"));
        Assert.Contains("overlaps", e.Message);
    }

    [Fact]
    public void AnOverlappingPlanIsRejectedByTheValidatorWhenDebugIsOff()
    {
        var options = new PlannedAllocatorOptions { Planner = problem => new Plan(new long[problem.Buffers.Length]) };
        using var p = new PlannedAllocator(null, options);
        var e = Assert.Throws<InvalidOperationException>(() => Iteration(p));
        Assert.Contains("invalid", e.Message);
    }

    [Fact]
    public void PersistentBlocksAreWholeIterationBuffersAndMoveIntoTheArena()
    {
        using var p = new PlannedAllocator(null, new PlannedAllocatorOptions { Debug = true });
        var w = p.Allocate(3000, "weight");  // outside an iteration: the fallback pool
        Assert.NotEqual(PlannedAllocator.ArenaSegment, w.SegmentIndex);
        Iteration(p);
        var r = p.Plans[0];
        Assert.Equal(1, r.Trace.Persistent);
        Assert.Equal((0L, 4L, 3072L), (r.Trace.Problem.Buffers[0].Lifetime.Start, r.Trace.Problem.Buffers[0].Lifetime.End, r.Trace.Problem.Buffers[0].Size));
        Assert.Equal("weight", r.Trace.Tags[0]);
        Assert.Equal((PlannedAllocator.ArenaSegment, r.Offsets[0]), (w.SegmentIndex, w.Offset));
        Assert.Equal(0, p.FallbackReservedBytes);
        Assert.Equal(3072 + 2048, p.ArenaBytes);
        Assert.Equal(3072 + 2048, p.PeakReservedBytes);   // the pool is given back before the arena is taken, never both
        Iteration(p);
        Assert.Equal(1, p.ReplayedIterations);
    }

    //  after the plan, outside any iteration (evaluation): the arena [0, 2048) is idle
    //  e1 -> [0, 1024), e2 -> [1024, 2048) (first fit), e3 -> fallback pool (no gap left)
    [Fact]
    public void RequestsOutsideAnIterationTakeTheIdleArenaFirstFitThenThePool()
    {
        using var p = new PlannedAllocator(null, new PlannedAllocatorOptions { Debug = true });
        Iteration(p);
        var e1 = p.Allocate(1000, "eval1");
        var e2 = p.Allocate(1, "eval2");
        var e3 = p.Allocate(1000, "eval3");
        Assert.Equal((PlannedAllocator.ArenaSegment, 0L), (e1.SegmentIndex, e1.Offset));
        Assert.Equal((PlannedAllocator.ArenaSegment, 1024L), (e2.SegmentIndex, e2.Offset));
        Assert.NotEqual(PlannedAllocator.ArenaSegment, e3.SegmentIndex);
        p.Free(e1);
        var e4 = p.Allocate(500, "eval4");  // the gap e1 left
        Assert.Equal((PlannedAllocator.ArenaSegment, 0L), (e4.SegmentIndex, e4.Offset));
        p.Free(e2); p.Free(e3); p.Free(e4);
        Assert.Equal(2048 + 1024, p.PeakReservedBytes);
        Iteration(p);
        Assert.Equal(1, p.ReplayedIterations);
        Assert.Single(p.Plans);
    }

    [Fact]
    public void TraceCsvHasATagColumnAndParsesAsAProblem()
    {
        using var p = new PlannedAllocator(null);
        Iteration(p);
        var csv = PlannerApi.TraceCsv(p.Plans[0].Trace.Problem, p.Plans[0].Trace.Tags);
        Assert.StartsWith("id,lower,upper,size,alignment,tag\n", csv);
        var parsed = Csv.parseProblem("trace.csv", csv);
        Assert.True(parsed.IsOk);
        Assert.Equal(p.Plans[0].Trace.Problem, parsed.ResultValue);
    }
}

/// <summary>Training with the planned arena on the CPU accelerator: same numbers as the pool, fallback and cache, no overlaps.</summary>
[Collection("cpu")]
public sealed class PlannedTrainingTests(CpuFixture fx)
{
    static readonly Dataset Data = Digits.Load();

    static (float[][] X, int[] Y) Batch(int start, int n) =>
        (Enumerable.Range(start, n).Select(i => Data.Samples[i]).ToArray(), Enumerable.Range(start, n).Select(i => Data.Labels[i]).ToArray());

    /// <summary>Runs one step per batch size and returns the losses and the final weights.</summary>
    (List<float> Losses, float[][] Weights) Run(Trainer t, IEnumerable<int> batches)
    {
        var losses = new List<float>();
        int start = 0;
        foreach (var n in batches)
        {
            var (x, y) = Batch(start, n);
            start += n;
            losses.Add(t.Step(x, y));
        }
        return (losses, t.Model.Parameters.Select(p => t.Tape.Download(p.Value)).ToArray());
    }

    // these tests step at batch sizes of their own: the first plan comes from the profile of the first iteration
    Trainer New(string model, AllocatorKind allocator, bool debug = true) =>
        new(new TrainOptions { Model = model, Allocator = allocator, Seed = 3, Planned = new PlannedAllocatorOptions { Debug = debug, PlanFrom = PlanSource.Profile } }, fx.Device);

    [Fact]
    public void ADryRunPlanServesTheFirstIterationAndTheRunPeakIsThePlans()
    {
        var batches = Enumerable.Repeat(8, 3).ToArray();
        using var pool = New("resnet", AllocatorKind.Pool);
        using var planned = new Trainer(new TrainOptions { Model = "resnet", Allocator = AllocatorKind.Planned, Seed = 3, Batch = 8, Planned = new PlannedAllocatorOptions { Debug = true } }, fx.Device);
        var alloc = (PlannedAllocator)planned.Allocator;
        Assert.Single(alloc.Plans);                                  // planned from the dry run, before any step
        Assert.Equal(alloc.Plans[0].PlanPeakBytes, alloc.ArenaBytes);
        var a = Run(pool, batches);
        var b = Run(planned, batches);
        Assert.Equal(a.Losses, b.Losses);
        for (int i = 0; i < a.Weights.Length; i++) Assert.Equal(a.Weights[i], b.Weights[i]);
        Assert.Equal(3, alloc.ReplayedIterations);                   // the first iteration too
        Assert.Single(alloc.Plans);
        Assert.Equal(alloc.Plans[0].PlanPeakBytes, alloc.PeakReservedBytes);
        Assert.Equal(0, alloc.FallbackReservedBytes);
    }

    [Theory]
    [InlineData("cnn")]
    [InlineData("resnet")]
    public void PlannedGivesBitwiseTheSameLossesAndWeightsAsThePool(string model)
    {
        var batches = Enumerable.Repeat(8, 5).ToArray();
        using var pool = New(model, AllocatorKind.Pool);
        using var planned = New(model, AllocatorKind.Planned);
        var a = Run(pool, batches);
        var b = Run(planned, batches);
        Assert.Equal(a.Losses, b.Losses);
        for (int i = 0; i < a.Weights.Length; i++) Assert.Equal(a.Weights[i], b.Weights[i]);
        var alloc = (PlannedAllocator)planned.Allocator;
        Assert.Equal(4, alloc.ReplayedIterations);
        Assert.Single(alloc.Plans);
        Assert.True(alloc.OverlapChecks > 0);
    }

    [Fact]
    public void ChangedBatchSizeFallsBackReplansAndAlternatingSizesHitTheCache()
    {
        int[] batches = [8, 8, 5, 5, 8, 5, 8];
        using var pool = New("cnn", AllocatorKind.Pool);
        using var planned = New("cnn", AllocatorKind.Planned);
        var a = Run(pool, batches);
        var b = Run(planned, batches);
        Assert.Equal(a.Losses, b.Losses);
        for (int i = 0; i < a.Weights.Length; i++) Assert.Equal(a.Weights[i], b.Weights[i]);
        var alloc = (PlannedAllocator)planned.Allocator;
        Assert.Equal(2, alloc.Plans.Count);                                            // batch 8, then batch 5: no third plan
        Assert.Single(alloc.Log, e => e.Kind == PlannedEventKind.Mismatch);          // only the first batch-5 iteration
        Assert.Equal(3, alloc.Log.Count(e => e.Kind == PlannedEventKind.Switched));  // 8, 5, 8 after that
        Assert.Equal(5, alloc.ReplayedIterations);
        Assert.Equal(alloc.Plans.Max(p => p.PlanPeakBytes), alloc.ArenaBytes);
    }

    [Fact]
    public void InferenceBetweenStepsDoesNotDisturbThePlan()
    {
        using var planned = New("lenet", AllocatorKind.Planned);
        Run(planned, [4, 4]);
        planned.Accuracy(Data.Subset(Enumerable.Range(0, 9)), 4);
        Run(planned, [4, 4]);
        var alloc = (PlannedAllocator)planned.Allocator;
        Assert.Equal(3, alloc.ReplayedIterations);
        Assert.Equal(planned.PersistentBlocks, alloc.LiveBlocks);
    }

    [Fact]
    public void DebugCheckThrowsWhenTrainingWithAnOverlappingPlan()
    {
        var options = new TrainOptions
        {
            Model = "cnn", Allocator = AllocatorKind.Planned, Seed = 3,
            Planned = new PlannedAllocatorOptions { Debug = true, ValidatePlans = false, PlanFrom = PlanSource.Profile, Planner = problem => new Plan(new long[problem.Buffers.Length]) },
        };
        using var t = new Trainer(options, fx.Device);
        var (x, y) = Batch(0, 4);
        var e = Assert.Throws<InvalidOperationException>(() => { t.Step(x, y); t.Step(x, y); });
        Assert.Contains("overlaps", e.Message);
    }
}

/// <summary>The runtime's pools against <see cref="ReferencePool"/>, written from the policy text alone, on recorded
/// request sequences: the same reserved bytes, and every request at the same place.</summary>
public sealed class PoolSimulationTests
{
    [Theory]
    [InlineData("mlp", 16)]
    [InlineData("cnn", 32)]
    [InlineData("lenet", 7)]
    [InlineData("resnet", 16)]
    [InlineData("alexnet", 4)]
    [InlineData("googlenet", 4)]
    [InlineData("resnet50", 2)]
    public void RuntimePoolsPlaceEveryRequestWhereTheReferencePoolDoes(string model, int batch)
    {
        foreach (var kind in new[] { AllocatorKind.Pool, AllocatorKind.TorchPool })
        {
            bool torch = kind == AllocatorKind.TorchPool;
            using var device = Pgmo.Kernels.Device.ShapesOnly();
            using var t = new Trainer(new TrainOptions { Model = model, Allocator = kind, Record = true }, device);
            t.DryStep(batch);
            var problem = t.Allocator.LastTrace!.Problem;
            long reserved = ReferencePool.ReservedFor(problem, torch);
            Assert.Equal(reserved, t.Allocator.PeakReservedBytes);
            // the second iteration reuses the pool's cached blocks: its trace is the same and nothing more is reserved
            t.DryStep(batch);
            Assert.Equal(problem.Buffers, t.Allocator.LastTrace!.Problem.Buffers);
            Assert.Equal(reserved, t.Allocator.PeakReservedBytes);

            // request by request, a fresh runtime pool and the reference place each block in the same segment at the same offset
            using var pool = Allocators.Create(kind, null);
            var reference = new ReferencePool(torch);
            var blocks = new Dictionary<int, DeviceBlock>();
            foreach (var (alloc, i) in ReferencePool.Events(problem))
            {
                if (!alloc) { pool.Free(blocks[i]); reference.Free(i); continue; }
                var b = blocks[i] = pool.Allocate(problem.Buffers[i].Size, problem.Buffers[i].Id);
                Assert.Equal(reference.Allocate(i, problem.Buffers[i].Size), (b.SegmentIndex, b.Offset, b.Length));
            }
            Assert.Equal(reserved, pool.PeakReservedBytes);
        }
    }
}
