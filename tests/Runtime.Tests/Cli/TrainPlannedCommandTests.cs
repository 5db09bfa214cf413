namespace Pgmo.Tests.Cli;

/// <summary>`pgmo train --allocator planned`: its figures against independent computations from the written trace (the
/// reference pools of <see cref="ReferencePool"/>, a plain scan for the lower bound) and against what the run itself
/// reserved.</summary>
[Collection("Console")]
public sealed class TrainPlannedCommandTests
{
    [Theory]
    [InlineData("--trace", "x.csv", "--trace")]
    [InlineData("--algorithm", "search", "--algorithm")]
    [InlineData("--planner", "greedy-size", "--algorithm")]
    [InlineData("--time-limit", "2", "--time-limit")]
    [InlineData("--plan-from", "profile", "--plan-from")]
    [InlineData("--planner-debug", null, "--planner-debug")]
    public void APlannedAllocatorOptionWithAnotherAllocatorExits2NamingIt(string option, string? value, string named)
    {
        foreach (var allocator in new[] { "pool", "torch-pool", "naive" })
        {
            string[] args = value is null ? ["train", "--allocator", allocator, option, "--steps", "1"] : ["train", "--allocator", allocator, option, value, "--steps", "1"];
            var r = CliRunner.Run(args);
            Assert.Equal(2, r.ExitCode);
            Assert.Contains($"{named} needs --allocator planned (the allocator is {allocator})", r.Err);
        }
    }

    [Fact]
    public void SearchPlansWithinTheTimeLimitGiven()
    {
        var r = CliRunner.Success("train", "--model", "mlp", "--steps", "2", "--batch", "8", "--accelerator", "cpu", "--allocator", "planned",
            "--algorithm", "search", "--time-limit", "0.5", "--json");
        Assert.Equal("search", r.Json.GetProperty("planner").GetString());
        Assert.Equal(2, CliRunner.Run("train", "--allocator", "planned", "--time-limit", "-1").ExitCode);
    }

    [Theory]
    [InlineData("best-fit", "dry-run", 3)]
    [InlineData("greedy-size", "profile", 2)]
    public void ReportedFiguresMatchIndependentComputationsAndTheRunsOwnPeak(string planner, string planFrom, int replayed)
    {
        var trace = Path.Combine(Path.GetTempPath(), $"pgmo-trace-{Guid.NewGuid():N}.csv");
        try
        {
            var r = CliRunner.Success("train", "--model", "mlp", "--steps", "3", "--batch", "8", "--accelerator", "cpu",
                "--allocator", "planned", "--planner", planner, "--plan-from", planFrom, "--planner-debug", "--trace", trace, "--json");
            var j = r.Json;
            var parsed = Csv.parseProblem(trace, File.ReadAllText(trace));
            Assert.True(parsed.IsOk);
            var problem = parsed.ResultValue;
            long pool = ReferencePool.ReservedFor(problem, torch: false);
            long torch = ReferencePool.ReservedFor(problem, torch: true);
            long bound = ReferencePool.LowerBound(problem);
            long planPeak = j.GetProperty("planPeakBytes").GetInt64();
            Assert.Equal("planned", j.GetProperty("allocator").GetString());
            Assert.Equal(planner, j.GetProperty("planner").GetString());
            Assert.Equal(pool, j.GetProperty("poolPeakBytes").GetInt64());
            Assert.Equal(torch, j.GetProperty("torchPoolPeakBytes").GetInt64());
            Assert.Equal(bound, j.GetProperty("lowerBoundBytes").GetInt64());
            Assert.Equal(100.0 * (pool - planPeak) / pool, j.GetProperty("reductionPercent").GetDouble(), 9);
            Assert.Equal(100.0 * (torch - planPeak) / torch, j.GetProperty("torchReductionPercent").GetDouble(), 9);
            Assert.True(bound <= planPeak && planPeak <= pool, $"bound {bound}, plan {planPeak}, pool {pool}");
            Assert.Equal(0, planPeak % 256);
            // what the run reserved: the arena is the plan's peak, checked against every live block at run time
            // (--planner-debug); from a dry run that is the whole run's peak, training and evaluation; from a profile the
            // first iteration is served by the fallback CuPy pool, weights included, and the switch never holds both
            Assert.Equal(planPeak, j.GetProperty("arenaBytes").GetInt64());
            long expectedPeak = planFrom == "dry-run" ? planPeak : Math.Max(pool, planPeak);
            Assert.Equal(expectedPeak, j.GetProperty("peakBytes").GetInt64());
            Assert.Equal(replayed, j.GetProperty("replayedIterations").GetInt32());
            Assert.Equal(planFrom, j.GetProperty("planFrom").GetString());
            Assert.Contains($"planned allocator, iteration {3 - replayed}: planned", r.Err);
        }
        finally { File.Delete(trace); }
    }
}
