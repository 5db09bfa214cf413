namespace Pgmo.Tests;

/// <summary>`--op-times`: the tape charges every op to its kind and phase, the warm-up steps are dropped, and the rows
/// add up to no more than the step.</summary>
[Collection("cpu")]
public sealed class OpTimesTests(CpuFixture fx)
{
    [Fact]
    public void EveryOpOfAStepIsChargedToItsKindForwardAndBackward()
    {
        using var trainer = new Trainer(new TrainOptions { Model = "resnet", Batch = 4, Steps = 3 }, fx.Device);
        var times = new OpTimes(fx.Device.Synchronize) { WarmupSteps = 1 };
        trainer.Tape.OpTimes = times;
        var data = Digits.Load();
        var (xs, ys) = (data.Samples.Take(4).ToArray(), data.Labels.Take(4).ToArray());
        for (int i = 0; i < 3; i++) trainer.Step(xs, ys);
        Assert.Equal(2, times.Steps);
        var rows = times.Rows().ToDictionary(r => r.Kind);
        // the digits ResNet: a stem and three blocks of two convolutions, one with a projection: 8 convolutions
        Assert.Equal(8, rows[OpKind.Conv].Calls);
        Assert.Equal(8, rows[OpKind.BatchNorm].Calls);
        Assert.Equal(3, rows[OpKind.Add].Calls);
        Assert.Equal(1, rows[OpKind.Loss].Calls);
        Assert.Equal(1, rows[OpKind.Optimizer].Calls);
        foreach (var kind in new[] { OpKind.Conv, OpKind.BatchNorm, OpKind.Relu, OpKind.Linear, OpKind.Loss })
        {
            Assert.True(rows[kind].ForwardMillis > 0, $"{kind}: no forward time");
            Assert.True(rows[kind].BackwardMillis > 0, $"{kind}: no backward time");
        }
        Assert.True(rows[OpKind.Optimizer].OtherMillis > 0 && rows[OpKind.Optimizer].ForwardMillis == 0, "the optimizer is neither forward nor backward");
        Assert.True(rows[OpKind.GradAccumulate].BackwardMillis > 0 && rows[OpKind.GradAccumulate].ForwardMillis == 0, "accumulation happens in backward only");
        double sum = rows.Values.Sum(r => r.TotalMillis);
        Assert.True(sum <= times.MeanStepMillis * 1.0001, $"ops {sum} ms > step {times.MeanStepMillis} ms");
        Assert.InRange(rows.Values.Sum(r => r.Share), 0.5, 1.0001);
        trainer.Tape.OpTimes = null;
    }

    [Fact]
    public void WarmupStepsAreDroppedAndResetForgets()
    {
        var times = new OpTimes(() => { }) { WarmupSteps = 1 };
        times.BeginStep();
        using (times.Time(OpKind.Relu, OpPhase.Forward)) { }
        times.EndStep();
        Assert.Equal(0, times.Steps);
        Assert.Empty(times.Rows());
        times.BeginStep();
        using (times.Time(OpKind.Conv, OpPhase.Forward))
        using (times.Time(OpKind.Relu, OpPhase.Forward)) { }   // nested: charged to the outer op
        times.EndStep();
        Assert.Equal(1, times.Steps);
        Assert.Equal(new[] { OpKind.Conv }, times.Rows().Select(r => r.Kind));
        using (times.Time(OpKind.Add, OpPhase.Forward)) { }    // outside a step: not counted
        Assert.DoesNotContain(OpKind.Add, times.Rows().Select(r => r.Kind));
        times.Reset();
        Assert.Equal(0, times.Steps);
        Assert.Empty(times.Rows());
    }
}
