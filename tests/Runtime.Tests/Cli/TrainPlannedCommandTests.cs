using Pgmo.Planner;

namespace Pgmo.Tests.Cli;

/// <summary>`pgmo train --allocator planned`: its figures against an independent computation from the written trace.</summary>
[Collection("Console")]
public sealed class TrainPlannedCommandTests
{
    [Fact]
    public void TraceWithoutPlannedExits2() =>
        Assert.Equal(2, CliRunner.Run("train", "--allocator", "pool", "--trace", "x.csv").ExitCode);

    [Theory]
    [InlineData("best-fit", "dry-run", 3)]
    [InlineData("greedy-size", "profile", 2)]
    public void ReportedReductionMatchesTheTrace(string planner, string planFrom, int replayed)
    {
        var trace = Path.Combine(Path.GetTempPath(), $"pgmo-trace-{Guid.NewGuid():N}.csv");
        try
        {
            var r = CliRunner.Run("train", "--model", "mlp", "--steps", "3", "--batch", "8", "--accelerator", "cpu",
                "--allocator", "planned", "--planner", planner, "--plan-from", planFrom, "--planner-debug", "--trace", trace, "--json");
            Assert.True(r.ExitCode == 0, r.Err);
            var j = r.Json;
            var parsed = Csv.parseProblem(trace, File.ReadAllText(trace));
            Assert.True(parsed.IsOk);
            var problem = parsed.ResultValue;
            Assert.True(PlannerApi.TryFindAlgorithm(planner, out var algorithm));
            var plan = algorithm.Plan(problem, Algorithms.defaults).Plan;
            Assert.Empty(PlannerApi.Violations(problem, plan, null));
            long planPeak = PlannerApi.Peak(problem, plan);
            long pool = PlannerApi.SimulatePool(PoolPolicy.CuPy, problem).Reserved;
            long torch = PlannerApi.SimulatePool(PoolPolicy.Torch, problem).Reserved;
            long bound = Bounds.lowerBound(problem);
            Assert.Equal("planned", j.GetProperty("allocator").GetString());
            Assert.Equal(planPeak, j.GetProperty("planPeakBytes").GetInt64());
            Assert.Equal(pool, j.GetProperty("poolPeakBytes").GetInt64());
            Assert.Equal(torch, j.GetProperty("torchPoolPeakBytes").GetInt64());
            Assert.Equal(100.0 * (torch - planPeak) / torch, j.GetProperty("torchReductionPercent").GetDouble(), 9);
            Assert.Equal(bound, j.GetProperty("lowerBoundBytes").GetInt64());
            Assert.Equal(100.0 * (pool - planPeak) / pool, j.GetProperty("reductionPercent").GetDouble(), 9);
            Assert.True(bound <= planPeak && planPeak <= pool, $"bound {bound}, plan {planPeak}, pool {pool}");
            Assert.True(j.GetProperty("peakBytes").GetInt64() > 0);
            Assert.Equal(replayed, j.GetProperty("replayedIterations").GetInt32());
            Assert.Equal(planFrom, j.GetProperty("planFrom").GetString());
            Assert.Contains($"planned allocator, iteration {3 - replayed}: planned", r.Err);
            if (planFrom == "dry-run") Assert.Equal(planPeak, j.GetProperty("peakBytes").GetInt64());   // training and evaluation
        }
        finally { File.Delete(trace); }
    }
}
