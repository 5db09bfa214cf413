namespace Pgmo.Tests;

/// <summary>
/// Traces of one iteration: what a dry run records is what a real run records, and what the pool sees. Every network
/// runs for real: the paper networks on synthetic data at small batches and image sizes, so the slow CPU path stays quick.
/// </summary>
[Collection("cpu")]
public sealed class ProfilerTests(CpuFixture fx)
{
    [Theory, MemberData(nameof(SmallNetworks.All), MemberType = typeof(SmallNetworks))]
    public void DryRunTraceEqualsRealRunTrace(string model, int batch, int? imageSize)
    {
        var info = Pgmo.Models.ModelZoo.Find(model)!;
        var real = Profiler.Real(model, batch, fx.Device, info.Digits ? Digits.Load() : null, imageSize);
        var dry = Profiler.DryRun(model, batch, imageSize);
        Assert.Equal(PlannerApi.TraceCsv(real.Trace.Problem, real.Trace.Tags), PlannerApi.TraceCsv(dry.Trace.Problem, dry.Trace.Tags));
        Assert.Equal(real.Trace.Events, dry.Trace.Events);
        Assert.Equal(real.Trace.Signature, dry.Trace.Signature);
        Assert.Equal(real.PoolReservedBytes, dry.PoolReservedBytes);
        Assert.Equal(real.Trace.Persistent, dry.Trace.Persistent);
        Assert.Equal(imageSize ?? info.ImageSize, real.ImageSize);
        bool dropout = info.Name is "alexnet" or "vgg16" or "googlenet" or "inception3";
        Assert.Equal(dropout, real.Trace.Tags.Any(t => t.StartsWith("dropout.mask", StringComparison.Ordinal)));
    }
}

/// <summary>The shape of a trace (its agreement with the planner's pool simulation: <see cref="PoolSimulationTests"/>).</summary>
public sealed class TraceShapeTests
{
    [Fact]
    public void PersistentBuffersLiveOverTheWholeIterationAndEverySizeIsRoundedTo256()
    {
        var trace = Profiler.DryRun("lenet", 5).Trace;
        var buffers = trace.Problem.Buffers;
        long end = buffers.Max(b => b.Lifetime.End);
        Assert.Equal(trace.Events.Count, end);
        Assert.True(trace.Persistent > 0);
        for (int i = 0; i < buffers.Length; i++)
        {
            Assert.True(buffers[i].Size % 256 == 0, $"buffer {buffers[i].Id} has size {buffers[i].Size}");
            Assert.Equal(256L, buffers[i].Alignment);
            Assert.NotEqual("", trace.Tags[i]);
            if (i < trace.Persistent) Assert.Equal(new Lifetime(0, end), buffers[i].Lifetime);
        }
        var persistentTags = trace.Tags.Take(trace.Persistent).ToList();
        Assert.Contains(persistentTags, t => t.StartsWith("param:", StringComparison.Ordinal));
        Assert.Contains(persistentTags, t => t.StartsWith("momentum:", StringComparison.Ordinal));
        // one step per allocation or free event: every step starts or ends exactly one transient buffer
        var events = buffers.Skip(trace.Persistent).SelectMany(b => new[] { b.Lifetime.Start, b.Lifetime.End }).Where(s => s < end).ToList();
        Assert.Equal(events.Count, events.Distinct().Count());
        Assert.Equal(2L * (buffers.Length - trace.Persistent), end);
        Assert.Equal(trace.Persistent, buffers.Count(b => b.Lifetime.End == end));
    }

    [Fact]
    public void TraceCsvReadsBackAsTheSameProblemWithTheTagColumnIgnored()
    {
        var trace = Profiler.DryRun("cnn", 3).Trace;
        var csv = PlannerApi.TraceCsv(trace.Problem, trace.Tags);
        Assert.StartsWith("id,lower,upper,size,alignment,tag\n", csv);
        Assert.True(PlannerApi.TryParseProblem("trace.csv", csv, out var parsed, out var error), error?.Message);
        Assert.Equal(trace.Problem.Buffers, parsed.Buffers);
        PlannerApi.TryFindAlgorithm("best-fit", out var bestFit);
        var plan = PlannerApi.Plan(bestFit, trace.Problem).Plan;
        Assert.Empty(PlannerApi.Violations(trace.Problem, plan));
        Assert.True(PlannerApi.Peak(trace.Problem, plan) >= PlannerApi.LowerBound(trace.Problem));
    }
}

/// <summary>The exponential + binary search for the largest fitting batch.</summary>
public sealed class MaxBatchTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(17)]
    [InlineData(64)]
    [InlineData(1025)]
    public void FindsTheThresholdOfAMonotonePredicate(int threshold)
    {
        var asked = new HashSet<int>();
        int found = MaxBatch.Largest(b => { asked.Add(b); return b <= threshold; });
        Assert.Equal(threshold, found);
        Assert.True(asked.Count <= 2 * (int)Math.Ceiling(Math.Log2(threshold + 1)) + 2, $"asked {asked.Count} batch sizes");
    }

    [Fact]
    public void NothingFitsGivesZeroAndTheCapIsRespected()
    {
        Assert.Equal(0, MaxBatch.Largest(_ => false));
        Assert.Equal(100, MaxBatch.Largest(_ => true, cap: 100));
        Assert.Equal(1, MaxBatch.Largest(_ => true, cap: 1));
    }

    [Fact]
    public void UnderALimitThePoolsFitAtLeastTheBatchWhoseUnlimitedReservedBytesFitAndThePlanAtLeastAsMuch()
    {
        const long budget = 1L << 20;
        var options = new TrainOptions { Model = "cnn", MemoryLimit = budget };
        var found = new[] { AllocatorKind.Pool, AllocatorKind.Planned }.ToDictionary(k => k, k => MaxBatch.ForRun(options with { Allocator = k }, evaluation: false));
        int pool = found[AllocatorKind.Pool].Batch, plan = found[AllocatorKind.Planned].Batch;
        Assert.InRange(pool, 2, 10_000);
        Assert.True(found[AllocatorKind.Pool].PeakReservedBytes <= budget);
        // without a limit the pool never gives its cache back: the largest batch whose one iteration it serves within
        // the budget (its reserved bytes replay the trace, as the planner's pool simulation does) fits under the limit too
        int unlimited = MaxBatch.Largest(b => Profiler.DryRun("cnn", b).PoolReservedBytes <= budget);
        Assert.True(pool >= unlimited, $"pool under the limit {pool}, without {unlimited}");
        Assert.False(MaxBatch.FitsDryRun(options with { Allocator = AllocatorKind.Pool, Batch = pool + 1 }, evaluation: false));
        Assert.True(plan >= pool, $"plan {plan} < pool {pool}");
        // the plan's arena is the dry-run plan's peak: a batch fits exactly when that peak is within the budget
        Assert.True(Profiler.DryRun("cnn", plan).Trace.Problem is var p && Aligned(PlannerApi.Peak(p, Algorithms.bestFit.Plan(p, Algorithms.defaults).Plan)) <= budget);
        Assert.True(Profiler.DryRun("cnn", plan + 1).Trace.Problem is var q && Aligned(PlannerApi.Peak(q, Algorithms.bestFit.Plan(q, Algorithms.defaults).Plan)) > budget);
        Assert.Equal(0, MaxBatch.ForRun(options with { Allocator = AllocatorKind.TorchPool }, evaluation: false).Batch);   // PyTorch's smallest segment is 2 MiB
        Assert.Equal(0, MaxBatch.ForRun(options with { Allocator = AllocatorKind.TorchExpandable }, evaluation: false).Batch);   // nor its smallest page
        Assert.True(MaxBatch.ForRun(options with { Allocator = AllocatorKind.TorchExpandable, MemoryLimit = 8L << 20 }, evaluation: false) is { Batch: > 0 } e8 && e8.PeakReservedBytes <= 8L << 20);

        static long Aligned(long bytes) => DeviceAllocator.Aligned(bytes);
    }
}
