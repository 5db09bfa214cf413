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

    /// <summary>GoogLeNet has dropout before its classifier: the masks come from the seed, so two runs give the same
    /// loss (one step each: the loss is computed through the first mask, and the slow CPU path keeps it short).</summary>
    [Fact]
    public void PaperNetworkOnSyntheticDataGivesFiniteLossesIdenticalForTheSameSeed()
    {
        TrainResult Run()
        {
            using var t = new Trainer(new TrainOptions { Model = "googlenet", ImageSize = 16, Batch = 2, Steps = 1, Seed = 3, LearningRate = 0.01f }, fx.Device);
            return t.FitSynthetic();
        }
        var (a, b) = (Run(), Run());
        Assert.All(a.Losses, l => Assert.True(float.IsFinite(l), $"losses {string.Join(", ", a.Losses)}"));
        Assert.Equal(a.Losses, b.Losses);
        Assert.Null(a.TestAccuracy);
    }

    /// <summary>The host GEMM's AVX-512 and AVX2 micro-kernels give the same bits (see HostGemm), so a network trains
    /// to the same losses with either.</summary>
    [SkippableFact]
    public void Avx512AndAvx2KernelsTrainToIdenticalLosses()
    {
        Skip.IfNot(Pgmo.Kernels.HostCpu.Supported == Pgmo.Kernels.HostIsa.Avx512, "this CPU has no AVX-512: one vector kernel only");
        TrainResult Run(Pgmo.Kernels.HostIsa isa)
        {
            using var _ = Pgmo.Kernels.HostCpu.Use(isa);
            return Fit("resnet", 4, seed: 5, batch: 16);
        }
        var (wide, narrow) = (Run(Pgmo.Kernels.HostIsa.Avx512), Run(Pgmo.Kernels.HostIsa.Avx2));
        Assert.Equal(narrow.Losses, wide.Losses);
    }

    [Fact]
    public void SyntheticDataIsSeededAndShaped()
    {
        var (a, b) = (new SyntheticData(new[] { 3, 5, 4 }, 7, 1).Take(9), new SyntheticData(new[] { 3, 5, 4 }, 7, 1).Take(9));
        Assert.Equal(a.Labels, b.Labels);
        Assert.Equal(a.Samples.SelectMany(x => x), b.Samples.SelectMany(x => x));
        Assert.All(a.Samples, x => Assert.Equal(60, x.Length));
        Assert.All(a.Samples.SelectMany(x => x), v => Assert.InRange(v, -1f, 1f));
        Assert.All(a.Labels, l => Assert.InRange(l, 0, 6));
        Assert.NotEqual(a.Labels, new SyntheticData(new[] { 3, 5, 4 }, 7, 2).Take(9).Labels);
    }

    [Fact]
    public void DefaultCnnReaches93Percent()
    {
        var r = Fit(Pgmo.Models.ModelZoo.Default, 150);
        Assert.True(r.TestAccuracy >= 0.93, $"test accuracy {r.TestAccuracy:P2}");
    }
}
