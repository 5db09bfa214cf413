using Pgmo.Training;

namespace Pgmo.Tests;

/// <summary>Training on the digits with the CPU accelerator: it learns, it is deterministic, the default CNN is accurate.</summary>
[Collection("cpu")]
public sealed class TrainingTests(CpuFixture fx)
{
    static readonly Dataset Data = Digits.Load();

    TrainResult Fit(string model, int steps, int seed = 1, int batch = 32)
    {
        using var t = new Trainer(new TrainOptions { Model = model, Steps = steps, Seed = seed, Batch = batch }, fx.Device);
        return t.Fit(Data);
    }

    [Theory]
    [InlineData("mlp")]
    [InlineData("lenet")]
    [InlineData("resnet")]
    public void LossDropsWithin20Steps(string model)
    {
        var r = Fit(model, 20, batch: 16);
        Assert.True(r.Losses.TakeLast(5).Average() < r.Losses.Take(5).Average(), $"{model}: losses {string.Join(", ", r.Losses)}");
    }

    [Fact]
    public void SameSeedGivesIdenticalLosses()
    {
        var a = Fit("cnn", 8, seed: 7, batch: 16);
        var b = Fit("cnn", 8, seed: 7, batch: 16);
        Assert.Equal(a.Losses, b.Losses);
    }

    [Fact]
    public void DefaultCnnReaches93Percent()
    {
        var r = Fit(Pgmo.Models.ModelZoo.Default, 150);
        Assert.True(r.TestAccuracy >= 0.93, $"test accuracy {r.TestAccuracy:P2}");
    }
}
