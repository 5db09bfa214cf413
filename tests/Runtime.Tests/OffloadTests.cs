using Pgmo.Memory;
using Pgmo.Planner;
using Pgmo.Training;

namespace Pgmo.Tests;

/// <summary>
/// Offload planned with the layout (<c>--trade offload</c>, issue 17): under a limit halfway between the plan without trade-offs and the least
/// plan offload reaches,
/// the planner offloads buffers saved for backward, the planned allocator serves the trace with their gaps, the tape
/// copies them to host arrays and back, and the losses are bitwise those of the run without trade-offs.
/// </summary>
[Collection("cpu")]
public sealed class OffloadTests(CpuFixture fx)
{

    static TrainOptions Options(string model, int batch, int steps) =>
        new() { Model = model, Batch = batch, Steps = steps, Seed = 5, Planned = PlannedAllocatorOptions.Defaults with { Debug = true } };

    /// <summary>The plan peak of the run without trade-offs (a dry run, best-fit).</summary>
    static long PlainPeak(TrainOptions options)
    {
        var trace = Session.DryRunTrace(options);
        return PlannerApi.Peak(trace.Problem, BestFit.plan(trace.Problem));
    }

    [Theory]
    [InlineData("cnn", 16)]
    [InlineData("resnet", 8)]
    public void OffloadUnderALimitGivesBitwiseTheLossesOfTheRunWithout(string model, int batch)
    {
        var plain = Options(model, batch, steps: 4);
        long peak = PlainPeak(plain);
        // every candidate offloaded (a limit of 1 B cannot be met): the least peak offload reaches
        long floor = TradePlanning.Plan(plain with { Trade = TradeChoice.Offload, MemoryLimit = 1 }).Result.Peak;
        Assert.True(floor < peak, $"{model}: offloading everything lowers the plan ({floor} B against {peak} B)");
        long limit = floor + (peak - floor) / 2;
        var traded = plain with { Trade = TradeChoice.Offload, MemoryLimit = limit };

        using var a = new Trainer(plain, fx.Device);
        var ra = a.FitSynthetic();
        using var b = new Trainer(traded, fx.Device);
        var rb = b.FitSynthetic();

        var trades = b.Trades!;
        Assert.True(trades.Result.Fits, $"{model}: offload fits {limit} B (plain plan {peak} B; traded plan {trades.Result.Peak} B)");
        Assert.NotEmpty(trades.Result.Choices);
        Assert.True(trades.Result.Peak <= limit, $"{model}: the traded plan's peak {trades.Result.Peak} B is within {limit} B");
        Assert.Empty(PlannerApi.Violations(trades.Trace.Problem, new Plan(trades.Plan.Offsets)));
        Assert.Equal(trades.Result.Choices.Length, b.Tape.Offloaded);
        Assert.True(rb.TrainPeakBytes <= limit, $"{model}: the run reserved {rb.TrainPeakBytes} B, above {limit} B");
        Assert.Equal(ra.Losses, rb.Losses);
        var report = b.Allocator.Report();
        Assert.Equal(report.Iterations, report.ReplayedIterations);
    }

    [Fact]
    public void WithoutALimitNothingIsTraded()
    {
        using var t = new Trainer(Options("mlp", 8, 1) with { Trade = TradeChoice.Offload }, fx.Device);
        Assert.Empty(t.Trades!.Result.Choices);
        Assert.True(t.Trades.Candidates > 0, "an mlp saves activations for backward");
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

    [Fact]
    public void TradeOffsNeedThePlannedAllocatorFromADryRun()
    {
        Assert.Throws<NotSupportedException>(() => new Trainer(Options("mlp", 4, 1) with { Trade = TradeChoice.Offload, Allocator = AllocatorKind.Pool }, fx.Device));
        Assert.Throws<NotSupportedException>(() => new Trainer(Options("mlp", 4, 1) with { Trade = TradeChoice.Recompute, MemoryLimit = 1 << 30 }, fx.Device));
    }
}
