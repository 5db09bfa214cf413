using Pgmo.Cli;

namespace Pgmo.Tests.Cli;

/// <summary>The timing statistics (MathNet) and the growth exponent `bench` reports.</summary>
[Collection("Console")]
public sealed class TimingTests
{
    [Fact]
    public void SummarizesMedianSpreadAndMinimum()
    {
        var s = Timing.Summarize([5.0, 1.0, 4.0, 2.0, 3.0]);
        Assert.Equal(3.0, s.MedianMillis, 9);
        Assert.Equal(1.0, s.MinMillis);
        Assert.True(s.SpreadMillis > 0 && s.SpreadMillis < 4, $"interquartile range {s.SpreadMillis}");
        Assert.Equal(0, Timing.Summarize([7.0]).SpreadMillis);
    }

    [Fact]
    public void MeasuresEveryRun()
    {
        int calls = 0;
        var s = Timing.Measure(4, () => calls++);
        Assert.Equal((4, 4), (calls, s.Runs));
        Assert.True(s.MinMillis >= 0 && s.MinMillis <= s.MedianMillis);
    }

    [Fact]
    public void GrowthExponentIsTheLogLogSlope()
    {
        double[] n = [1000, 10000, 100000];
        Assert.Equal(1.5, Timing.GrowthExponent(n, n.Select(x => 3e-3 * Math.Pow(x, 1.5)).ToArray()), 9);
        Assert.Equal(1.0, Timing.GrowthExponent(n, n.Select(x => 0.01 * x).ToArray()), 9);
        Assert.True(double.IsNaN(Timing.GrowthExponent([1000], [1.0])), "one size has no slope");
    }

    [Fact]
    public void BenchJsonCarriesAnExponentPerAlgorithm()
    {
        var r = CliRunner.Success("bench", "--sizes", "100,400", "--algorithms", "best-fit,torch-pool", "--repeats", "1", "--json");
        var exponent = r.Json.GetProperty("exponent");
        Assert.True(exponent.TryGetProperty("best-fit", out _));
        Assert.True(exponent.TryGetProperty("torch-pool", out _));
        Assert.Equal(4, r.Json.GetProperty("rows").GetArrayLength());
    }
}
