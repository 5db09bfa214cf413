using System.Collections.Concurrent;
using ILGPU.Runtime;

namespace Pgmo.Tests;

/// <summary>
/// Offload and recompute planned with the layout (<c>--trade</c>, issue 17): under a limit halfway between the plan
/// without trade-offs and the least plan the trades reach, the planner offloads or recomputes buffers saved for
/// backward, the planned allocator serves the trace with their gaps, the tape copies them to page-locked host arrays
/// (<see cref="OffloadCopies"/>) and back or reruns their element-by-element segments in place, and the losses are
/// bitwise those of the run without trade-offs.
/// </summary>
[Collection("cpu")]
public sealed class TradeTests(CpuFixture fx)
{
    /// <summary>Fixed costs, so that the choices do not depend on a measurement: recompute (2-3 passes at 10 GB/s) is
    /// cheaper than offload (2 copies at 5 GB/s).</summary>
    static readonly TradeCosts Costs = new(5_000, 10_000, "fixed for the tests");

    static TrainOptions Options(string model, int batch, int steps, int? imageSize = null, int? workspaceKiB = null) =>
        new() { Model = model, Batch = batch, Steps = steps, Seed = 5, ImageSize = imageSize, LearningRate = 0.01f, TradeCosts = Costs,
                ConvWorkspaceBytes = workspaceKiB is int w ? w * 1024L : Pgmo.Kernels.ConvTiling.DefaultWorkspaceBytes,
                Planned = PlannedAllocatorOptions.Defaults with { Debug = true } };

    /// <summary>The plan peak of the run without trade-offs (a dry run, best-fit).</summary>
    static long PlainPeak(TrainOptions options)
    {
        var trace = Session.DryRunTrace(options);
        return PlannerApi.Peak(trace.Problem, BestFit.plan(trace.Problem));
    }

    // the losses of the runs without trade-offs, by model, batch, image size and steps (each trained once)
    static readonly ConcurrentDictionary<string, IReadOnlyList<float>> plainLosses = new();

    [Theory]
    [InlineData("cnn", 16, null, null, 4, TradeChoice.Offload)]
    [InlineData("cnn", 16, null, null, 4, TradeChoice.Both)]        // nothing recomputable (no batch norm): offload alone
    [InlineData("resnet", 8, null, null, 4, TradeChoice.Offload)]
    // the 8 MiB workspace's bound makes resnet's peak a convolution's workspace in backward, where no recomputable
    // buffer is idle: with 16 KiB the activations make it
    [InlineData("resnet", 16, null, 16, 4, TradeChoice.Recompute)]
    [InlineData("resnet", 16, null, 16, 4, TradeChoice.Both)]
    [InlineData("resnet50", 2, 32, null, 2, TradeChoice.Offload)]   // a paper network at a small image size
    [InlineData("resnet50", 2, 32, null, 2, TradeChoice.Recompute)]
    [InlineData("resnet50", 2, 32, null, 2, TradeChoice.Both)]
    public void TradesUnderALimitGiveBitwiseTheLossesOfTheRunWithout(string model, int batch, int? imageSize, int? workspaceKiB, int steps, TradeChoice trade)
    {
        var plain = Options(model, batch, steps, imageSize, workspaceKiB);
        long peak = PlainPeak(plain);
        // every candidate traded (a limit of 1 B cannot be met): the least peak the trades reach
        long floor = TradePlanning.Plan(plain with { Trade = trade, MemoryLimit = 1 }).Result.Peak;
        Assert.True(floor < peak, $"{model}: trading everything lowers the plan ({floor} B against {peak} B)");
        long limit = floor + (peak - floor) / 2;
        var traded = plain with { Trade = trade, MemoryLimit = limit };

        var losses = plainLosses.GetOrAdd($"{model} {batch} {imageSize} {workspaceKiB} {steps}", _ =>
        {
            using var a = new Trainer(plain, fx.Device);
            return a.FitSynthetic().Losses;
        });
        using var b = new Trainer(traded, fx.Device);
        var rb = b.FitSynthetic();

        var trades = b.Trades!;
        var choices = trades.Result.Choices;
        Assert.True(trades.Result.Fits, $"{model}: {trade} fits {limit} B (plain plan {peak} B; traded plan {trades.Result.Peak} B)");
        Assert.NotEmpty(choices);
        Assert.True(trades.Result.Peak <= limit, $"{model}: the traded plan's peak {trades.Result.Peak} B is within {limit} B");
        Assert.Empty(PlannerApi.Violations(trades.Trace.Problem, new Plan(trades.Plan.Offsets)));
        Assert.True(Tradeoffs.conflict(choices) is null, $"{model}: a recomputed buffer needs a traded one");
        int recomputes = choices.Count(c => c.Item2.IsRecompute);
        Assert.Equal(choices.Length - recomputes, b.Tape.Offloaded);
        Assert.Equal(recomputes, b.Tape.Recomputed);
        if (trade == TradeChoice.Offload) Assert.Equal(0, recomputes);
        if (trade == TradeChoice.Recompute) Assert.Equal(choices.Length, recomputes);
        if (trade != TradeChoice.Offload && model != "cnn") Assert.True(recomputes > 0, $"{model}: {trade} recomputes something");
        Assert.True(rb.TrainPeakBytes <= limit, $"{model}: the run reserved {rb.TrainPeakBytes} B, above {limit} B");
        // the real step's trace, with its away and back marks, is the planner's problem, and the plan replayed every step
        TradePlanning.Check(trades.Result.Problem, b.Allocator.LastTrace!.Problem);
        var report = b.Allocator.Report();
        Assert.Equal(report.Iterations, report.ReplayedIterations);
        Assert.Equal(losses, rb.Losses);
        var measured = TradeReport.Of(trades, b.Tape);
        Assert.Equal(steps - 1, measured.MeasuredSteps);
        Assert.True(measured.MeasuredExtraMillis > 0, "copies and recompute kernels take time");
    }

    [Fact]
    public void WithoutALimitNothingIsTraded()
    {
        using var t = new Trainer(Options("mlp", 8, 1) with { Trade = TradeChoice.Both }, fx.Device);
        Assert.Empty(t.Trades!.Result.Choices);
        Assert.True(t.Trades.Candidates > 0, "an mlp saves activations for backward");
        Assert.Equal(0, t.Trades.Recomputable);   // linear then relu: the linear output is freed, and a linear is no element pass
    }

    /// <summary>The copies' order (<see cref="OffloadCopies"/>): a copy out is waited for only by a block placed over
    /// its bytes, and after its place was overwritten the copy in brings the bytes back from the page-locked array.</summary>
    [Fact]
    public void OffloadedBytesComeBackAfterTheirPlaceIsOverwrittenAndOnlyOverlappingBlocksWait()
    {
        var acc = fx.Device.Accelerator!;
        using var segment = acc.Allocate1D<byte>(4096);
        var a = new DeviceBlock(0, 1000, 0, 1024, "a", segment, 0);
        var apart = new DeviceBlock(1, 512, 2048, 512, "apart", segment, 0);
        var over = new DeviceBlock(2, 1024, 768, 1024, "over", segment, 0);
        var data = Enumerable.Range(0, 1000).Select(i => (byte)(i * 7 + 3)).ToArray();
        a.View<byte>(1000).CopyFromCPU(data);
        using var copies = new OffloadCopies(acc);
        copies.Out(3, a);
        Assert.Equal(1, copies.Pending);
        Assert.Equal(1000, copies.HostBytes);
        copies.BeforeWrite(apart);
        Assert.Equal(1, copies.Pending);
        copies.BeforeWrite(over);
        Assert.Equal(0, copies.Pending);
        over.View<byte>(1024).CopyFromCPU(Enumerable.Repeat((byte)0xFF, 1024).ToArray());
        copies.In(3, a);
        acc.Synchronize();
        var back = new byte[1000];
        a.View<byte>(1000).CopyToCPU(back);
        Assert.Equal(data, back);
        // a second round reuses the host array; a buffer never sent out cannot come back
        copies.Out(3, a);
        copies.Settle();
        Assert.Equal(0, copies.Pending);
        Assert.Equal(1000, copies.HostBytes);
        var e = Assert.Throws<InvalidOperationException>(() => copies.In(4, a));
        Assert.Contains("never copied", e.Message);
    }

    [Fact]
    public void ReadingAnOffloadedBufferBeforeItIsBackThrows()
    {
        using var t = new Trainer(Options("mlp", 4, 1), fx.Device);
        var x = t.Tape.Full(new[] { 3 }, 1f, "x");
        t.Allocator.Away(x.Block);
        var e = Assert.Throws<InvalidOperationException>(() => x.View);
        Assert.Contains("away", e.Message);
        t.Allocator.Back(x.Block);
        Assert.Equal(3, x.View.Length);
        x.Release();
    }

    /// <summary>A small graph on a recording pool: x [2, 4] (kept) and a parameter w; h = x + w, r = relu(h) (h is
    /// freed, so r is recomputable from x and w), then s = r + x and u = s + r read r twice in forward. The schedule is
    /// filled as the buffers appear.</summary>
    sealed class Graph : IDisposable
    {
        public readonly IDeviceAllocator Allocator;
        public readonly Tape Tape;
        public readonly Dictionary<int, ScheduledAway[]> Schedule = new();
        public Tensor X = null!, W = null!, R = null!;

        public Graph(Pgmo.Kernels.Device device)
        {
            Allocator = Allocators.Create(AllocatorKind.Pool, device.Accelerator, record: true);
            Tape = new Tape(device, Allocator) { AwayAfter = Schedule };
            W = Tape.Upload(new float[] { 1, -2, 3, -4, 5, -6, 7, -8 }, new[] { 2, 4 }, "w");
            W.RequiresGrad = true;
            ((IIterationAllocator)Allocator).BeginIteration();
            Tape.BeginIteration();
            X = Tape.Upload(new float[] { 0.5f, 1, 1.5f, 2, -0.5f, 3, -7, 9 }, new[] { 2, 4 }, "x");
        }

        public int Buffer(Tensor t) => Allocator.TraceBuffer(t.Block);

        public Tensor H() => Tape.Add(X.Share(), W.Share());               // node 0
        public Tensor Relu(Tensor h) => R = Tape.Relu(h);                  // node 1
        public Tensor Rest()
        {
            var s = Tape.Add(R.Share(), X.Share());                          // node 2
            return Tape.Add(s, R.Share());                                    // node 3
        }

        public void Backward(Tensor u) => Tape.Backward(u, Tape.Full(u.Shape, 1f, "seed"));

        public void Dispose()
        {
            Tape.Clear();
            Allocator.Dispose();
        }
    }

    [Fact]
    public void ReadingARecomputedBufferBeforeItIsBackThrows()
    {
        using var g = new Graph(fx.Device);
        var r = g.Relu(g.H());
        g.Schedule[2] = new[] { new ScheduledAway(g.Buffer(r), Recompute: true) };   // after its first forward read, not its last
        var e = Assert.Throws<InvalidOperationException>(() => g.Rest());
        Assert.Contains("away", e.Message);
        Assert.Contains(r.Tag, e.Message);
    }

    [Fact]
    public void ARecomputedBufferComesBackWithItsValuesAndARecomputeFromAnAwayBufferThrows()
    {
        // the rule kept: r recomputed from x and w, which stay
        using (var g = new Graph(fx.Device))
        {
            var r = g.Relu(g.H());
            var expected = g.Tape.Download(r);
            g.Schedule[3] = new[] { new ScheduledAway(g.Buffer(r), Recompute: true) };
            var u = g.Rest();
            Assert.True(r.Block.IsAway);
            g.Backward(u);
            Assert.Equal(1, g.Tape.Recomputed);
            Assert.False(r.Block.IsAway);
            Assert.Equal(expected, g.Tape.Download(r));   // relu(x + w), rerun in place
            u.Release();
            g.Tape.EndIteration();
            Assert.Equal(1, g.Tape.TradeSteps.Single().Recomputed);
        }
        // the rule broken: x, which r's recompute reads, is offloaded after its last forward read (node 2) and comes back
        // only before node 2 runs backward, after node 3 brought r back
        using (var g = new Graph(fx.Device))
        {
            g.Schedule[2] = new[] { new ScheduledAway(g.Buffer(g.X), Recompute: false) };
            var r = g.Relu(g.H());
            g.Schedule[3] = new[] { new ScheduledAway(g.Buffer(r), Recompute: true) };
            var u = g.Rest();
            var e = Assert.Throws<InvalidOperationException>(() => g.Backward(u));
            Assert.Contains("away", e.Message);
            Assert.Contains(g.X.Tag, e.Message);
        }
    }
}
