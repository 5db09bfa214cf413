namespace Pgmo.Tests;

/// <summary>The slack a plan leaves around a buffer.</summary>
public sealed class PlanSlackTests
{
    static Pgmo.Planner.Buffer B(string id, long start, long end, long size) =>
        PlannerApi.Buffer(id, start, end, size, alignment: 256);

    /// <code>
    ///  1024 ┤ peak     ┌─────┐
    ///   768 ┤          │  c  │
    ///   512 ┤          │     ┌─────┐
    ///   256 ┤    ┌──b──┐     │  d  │
    ///     0 ┼──a─┴─────┴─────┴─────┤ step
    ///       0    1     2     3     4
    /// </code>
    /// a [0, 256) on [0, 4); b [256, 512) on [1, 2); c [768, 1024) on [1, 3); d [256, 768) on [3, 4).
    [Fact]
    public void TheLargestFreeRangeIsBetweenTheBuffersLiveAtTheSameSteps()
    {
        var problem = new Problem(new[] { B("a", 0, 4, 256), B("b", 1, 2, 256), B("c", 1, 3, 256), B("d", 3, 4, 512) });
        long[] offsets = [0, 256, 768, 256];
        Assert.Empty(PlannerApi.Violations(problem, new Plan(offsets), 1024));
        Assert.Equal((256L, 768L), PlanSlack.LargestFreeRange(problem, offsets, 1024, 1));   // b grows up to c
        Assert.Equal((512L, 1024L), PlanSlack.LargestFreeRange(problem, offsets, 1024, 2));  // c grows down to b
        Assert.Equal((0L, 256L), PlanSlack.LargestFreeRange(problem, offsets, 1024, 0));     // a is boxed in by b, c and d
        Assert.Equal((0L, 1024L), PlanSlack.LargestFreeRange(new Problem(new[] { B("a", 0, 1, 256) }), [0], 1024, 0));
    }
}

/// <summary>
/// <c>--conv-workspace auto</c>: workspaces grow into the plan's slack, the peak stays the fixed bound's, and a real run
/// makes exactly the grown dry run's requests.
/// </summary>
[Collection("cpu")]
public sealed class WorkspaceGrowthTests(CpuFixture fx)
{
    /// <summary>A small fixed bound, so that the convolutions of these small networks run in several tiles.</summary>
    const long Bound = 4096;

    public static TheoryData<string, int, int?, bool> Runs => new()
    {
        { "resnet", 8, null, false }, { "vgg16", 2, 32, false }, { "googlenet", 2, 32, false }, { "inception3", 1, 75, false },
        { "resnet", 8, null, true }, { "vgg16", 2, 32, true }, { "inception3", 1, 75, true },
    };

    static RunOptions Options(string model, int batch, int? imageSize, bool inference) => inference
        ? new InferOptions { Model = model, Batch = batch, ImageSize = imageSize, ConvWorkspaceBytes = Bound }
        : new TrainOptions { Model = model, Batch = batch, ImageSize = imageSize, ConvWorkspaceBytes = Bound };

    [Theory, MemberData(nameof(Runs))]
    public void GrownWorkspacesKeepThePlansPeak(string model, int batch, int? imageSize, bool inference)
    {
        var options = Options(model, batch, imageSize, inference);
        var fixedTrace = Session.DryRunTrace(options);
        long fixedPeak = DeviceAllocator.Aligned(PlannerApi.Peak(fixedTrace.Problem, Algorithms.bestFit.Plan(fixedTrace.Problem, Algorithms.defaults).Plan));
        var grown = WorkspaceGrowth.Plan(options with { GrowConvWorkspaces = true });
        var problem = grown.Trace.Problem;
        var plan = new Plan(grown.Plan.Offsets);
        Assert.Empty(PlannerApi.Violations(problem, plan, null));
        Assert.Equal(fixedPeak, grown.PeakBytes);
        Assert.Equal(fixedPeak, DeviceAllocator.Aligned(PlannerApi.Peak(problem, plan)));
        var workspaces = Enumerable.Range(0, problem.Buffers.Length).Where(i => grown.Trace.Tags[i].StartsWith("conv.workspace")).ToList();
        Assert.Equal(workspaces.Count, grown.Bounds.Length);
        Assert.All(workspaces, i => Assert.True(problem.Buffers[i].Size >= fixedTrace.Problem.Buffers[i].Size, grown.Trace.Tags[i]));
        long before = workspaces.Sum(i => fixedTrace.Problem.Buffers[i].Size), after = workspaces.Sum(i => problem.Buffers[i].Size);
        Assert.True(after > 2 * before, $"{model}: workspaces {before} B with the fixed bound, {after} B grown");
    }

    /// <summary>A real run with grown workspaces replays its dry run (its trace is the dry run's), keeps the fixed
    /// bound's peak, and trains as the fixed bound does (other tiles: equal up to rounding).</summary>
    [Fact]
    public void ARealRunMakesTheGrownDryRunsRequestsAtTheFixedPeak()
    {
        var data = Digits.Load();
        var (xs, ys) = (data.Samples.Take(8).ToArray(), data.Labels.Take(8).ToArray());
        var options = new TrainOptions { Model = "resnet", Batch = 8, ConvWorkspaceBytes = Bound, Planned = new PlannedAllocatorOptions { Debug = true } };
        using var fixedBound = new Trainer(options, fx.Device);
        using var grown = new Trainer(options with { GrowConvWorkspaces = true }, fx.Device);
        var alloc = (PlannedAllocator)grown.Allocator;
        var dry = alloc.Plans[0].Trace;
        Assert.EndsWith("workspaces grown", alloc.Plans[0].Algorithm);
        for (int i = 0; i < 3; i++)
        {
            float a = fixedBound.Step(xs, ys), b = grown.Step(xs, ys);
            Assert.True(Math.Abs(a - b) <= 1e-4f * (1 + Math.Abs(a)), $"step {i}: loss {a} with the fixed bound, {b} grown");
            Assert.Equal(dry.Events, alloc.LastTrace!.Events);
            Assert.Equal(dry.Problem.Buffers, alloc.LastTrace.Problem.Buffers);
        }
        Assert.Equal(3, alloc.ReplayedIterations);
        Assert.Single(alloc.Plans);
        Assert.Equal(fixedBound.Allocator.PeakReservedBytes, alloc.PeakReservedBytes);
        Assert.True(dry.Problem.Buffers.Where((b, i) => dry.Tags[i].StartsWith("conv.workspace")).Max(b => b.Size) > Bound);
    }

    /// <summary>The largest batch under a limit is the same with grown workspaces: they never raise the peak.</summary>
    [Fact]
    public void TheLargestBatchUnderALimitDoesNotChange()
    {
        var options = new InferOptions { Model = "resnet", ConvWorkspaceBytes = Bound, MemoryLimit = 512 << 10 };
        Assert.Equal(Profiling.MaxBatch.ForRun(options, false, 1024).Batch, Profiling.MaxBatch.ForRun(options with { GrowConvWorkspaces = true }, false, 1024).Batch);
    }
}
