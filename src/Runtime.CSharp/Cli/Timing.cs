using MathNet.Numerics;
using MathNet.Numerics.Statistics;

namespace Pgmo.Cli;

/// <summary>Repeated timings of one thing, summarized: the median and the interquartile range as its spread, in ms.</summary>
public readonly record struct TimingSummary(double MedianMillis, double SpreadMillis, double MinMillis, int Runs)
{
    /// <summary>"median ±half the spread", for tables.</summary>
    public override string ToString() => $"{Output.Millis(MedianMillis)} ±{Output.Millis(SpreadMillis / 2)}";
}

/// <summary>
/// The statistics of every timing figure the command line reports (<c>bench</c>, <c>train --compare-allocators</c>,
/// and for <c>bench-kernels</c>): MathNet.Numerics computes the median and spread of repeated runs and the growth
/// exponent of a time against a size.
/// </summary>
public static class Timing
{
    /// <summary>Median, interquartile range and minimum of <paramref name="millis"/> (at least one value).</summary>
    public static TimingSummary Summarize(IReadOnlyCollection<double> millis)
    {
        if (millis.Count == 0) throw new ArgumentException("no timings to summarize", nameof(millis));
        return new TimingSummary(millis.Median(), millis.Count > 1 ? millis.InterquartileRange() : 0, millis.Minimum(), millis.Count);
    }

    /// <summary>Runs <paramref name="action"/> <paramref name="runs"/> times and summarizes the wall-clock times.</summary>
    public static TimingSummary Measure(int runs, Action action)
    {
        var times = new List<double>(runs);
        for (int i = 0; i < runs; i++)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            action();
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        return Summarize(times);
    }

    /// <summary>
    /// The exponent b of time ≈ a·n^b: the slope of a least-squares line through (log n, log time) (MathNet
    /// <c>Fit.Line</c>). NaN with fewer than two distinct sizes or a non-positive figure.
    /// </summary>
    public static double GrowthExponent(IReadOnlyList<double> sizes, IReadOnlyList<double> millis)
    {
        if (sizes.Count != millis.Count) throw new ArgumentException("one time per size");
        if (sizes.Distinct().Count() < 2 || sizes.Any(n => n <= 0) || millis.Any(t => !(t > 0))) return double.NaN;
        var (_, slope) = Fit.Line(sizes.Select(n => Math.Log(n)).ToArray(), millis.Select(t => Math.Log(t)).ToArray());
        return slope;
    }
}
