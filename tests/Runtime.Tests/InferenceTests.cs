namespace Pgmo.Tests;

/// <summary>
/// Inference: the forward pass alone, with nothing kept for a backward pass. A dry run records what a real run
/// records, every activation goes back at its last use, and a planned run replays its dry-run plan and computes the
/// pool's logits bit for bit.
/// </summary>
[Collection("cpu")]
public sealed class InferenceTests(CpuFixture fx)
{
    static InferOptions Options(string model, int batch, int? imageSize, AllocatorKind allocator) =>
        new() { Model = model, Batch = batch, ImageSize = imageSize, Allocator = allocator, Seed = 3 };

    static float[][] Inputs(Inferencer inferencer, int batch) =>
        new SyntheticData(inferencer.Model.InputShape, inferencer.Model.Classes, 5).Take(batch).Samples;

    [Theory, MemberData(nameof(SmallNetworks.All), MemberType = typeof(SmallNetworks))]
    public void DryRunTraceEqualsRealTrace(string model, int batch, int? imageSize)
    {
        var options = Options(model, batch, imageSize, AllocatorKind.Pool) with { Record = true };
        using var real = new Inferencer(options, fx.Device);
        real.Infer(Inputs(real, batch));
        var (dry, actual) = (Session.DryRunTrace(options), real.Allocator.LastTrace!);
        Assert.Equal(PlannerApi.TraceCsv(actual.Problem, actual.Tags), PlannerApi.TraceCsv(dry.Problem, dry.Tags));
        Assert.Equal(actual.Events, dry.Events);
        Assert.Equal(actual.PersistentSizes, dry.PersistentSizes);
        Assert.Equal(real.PersistentBlocks, real.Allocator.LiveBlocks);
        // no gradient, no optimizer state, no dropout mask: the persistent blocks are the weights and statistics
        Assert.All(actual.Tags.Take(actual.Persistent), t => Assert.True(t.StartsWith("param:") || t.StartsWith("state:"), t));
        Assert.DoesNotContain(actual.Tags, t => t.StartsWith("dropout") || t.Contains(".d") || t.StartsWith("grad"));
    }

    /// <summary>VGG-16 is a chain: with nothing kept for backward, no more than a layer's input, its output and a
    /// convolution's workspace are ever live at once, and nothing outlives the batch.</summary>
    [Fact]
    public void EveryActivationIsFreedAfterItsLastUse()
    {
        using var device = Device.ShapesOnly();
        using var dry = new Inferencer(Options("vgg16", 2, 32, AllocatorKind.Pool) with { Record = true }, device);
        dry.DryStep(2);
        Assert.Equal(0, dry.Tape.PendingNodes);
        var trace = dry.Allocator.LastTrace!;
        int live = 0, most = 0;
        foreach (var e in trace.Events)
        {
            live += e.IsFree ? -1 : 1;
            most = Math.Max(most, live);
        }
        Assert.Equal(0, live);
        Assert.Equal(3, most);
        long steps = trace.Events.Count;
        Assert.All(trace.Problem.Buffers.Skip(trace.Persistent), b => Assert.True(b.Lifetime.End < steps, $"buffer {b.Id} lives to the end"));
    }

    [Theory]
    [InlineData("cnn", 17, null)]
    [InlineData("resnet", 8, null)]
    [InlineData("googlenet", 2, 24)]
    public void PlannedInferenceReplaysItsDryRunPlanAndGivesThePoolsLogits(string model, int batch, int? imageSize)
    {
        using var pool = new Inferencer(Options(model, batch, imageSize, AllocatorKind.Pool), fx.Device);
        using var planned = new Inferencer(Options(model, batch, imageSize, AllocatorKind.Planned) with { Planned = new PlannedAllocatorOptions { Debug = true } }, fx.Device);
        var x = Inputs(pool, batch);
        for (int i = 0; i < 3; i++) Assert.Equal(pool.Infer(x), planned.Infer(x));
        var alloc = (PlannedAllocator)planned.Allocator;
        Assert.Single(alloc.Plans);
        Assert.Equal(3, alloc.ReplayedIterations);
        Assert.Equal(alloc.Plans[0].PlanPeakBytes, alloc.PeakReservedBytes);
        Assert.True(alloc.OverlapChecks > 0);
        Assert.Equal(batch * pool.Model.Classes, pool.Infer(x).Length);
    }

    [Fact]
    public void InferenceNeedsLessMemoryThanTraining()
    {
        var train = Session.DryRunTrace(new TrainOptions { Model = "resnet50", Batch = 4, ImageSize = 64 });
        var infer = Session.DryRunTrace(Options("resnet50", 4, 64, AllocatorKind.Pool));
        Assert.True(3 * Bounds.lowerBound(infer.Problem) < Bounds.lowerBound(train.Problem) * 2,
            $"inference {Bounds.lowerBound(infer.Problem)} B, training {Bounds.lowerBound(train.Problem)} B");
        Assert.True(infer.Events.Count * 2 < train.Events.Count);
    }
}
