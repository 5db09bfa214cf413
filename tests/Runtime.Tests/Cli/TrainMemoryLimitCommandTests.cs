namespace Pgmo.Tests.Cli;

/// <summary>`pgmo train --memory-limit`, `--batch max` and `--compare-allocators`.</summary>
[Collection("Console")]
public sealed class TrainMemoryLimitCommandTests
{
    [Fact]
    public void APoolPastTheLimitPrintsOneOutOfMemoryLineAndExits1()
    {
        var r = CliRunner.Run("train", "--allocator", "pool", "--memory-limit", "64KiB", "--accelerator", "cpu", "--json");
        Assert.Equal(1, r.ExitCode);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines, l => l.Contains("out of memory"));
        Assert.DoesNotContain(" at Pgmo.", r.Err);      // no stack trace
        Assert.DoesNotContain("{", r.Out);              // no JSON, no half report
    }

    [Theory]
    [InlineData("--batch", "max")]                          // max needs a limit on the CPU
    [InlineData("--batch", "0")]
    [InlineData("--memory-limit", "lots")]
    [InlineData("--plan-from", "guess")]
    [InlineData("--conv-workspace", "auto", "--allocator", "torch-pool")]      // auto grows into a plan's slack
    [InlineData("--conv-workspace", "auto", "--plan-from", "profile")]
    [InlineData("--compare-workspaces", "--plan-from", "profile")]
    public void BadLimitBatchOrPlanSourceExits2(string option, params string[] values)
    {
        var r = CliRunner.Run(["train", option, .. values, "--accelerator", "cpu"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(option, r.Err);
    }

    [Fact]
    public void BatchMaxTrainsTheLargestBatchThatFitsAndComparesAllocators()
    {
        var j = CliRunner.Json("train", "--model", "mlp", "--batch", "max", "--memory-limit", "256KiB", "--allocator", "planned",
            "--steps", "2", "--accelerator", "cpu", "--compare-allocators", "--json");
        int batch = j.GetProperty("batch").GetInt32();
        Assert.True(batch > 1, $"batch {batch}");
        Assert.True(j.GetProperty("peakBytes").GetInt64() <= 256 * 1024);
        Assert.True(j.GetProperty("samplesPerSecond").GetDouble() > 0);
        var runs = j.GetProperty("allocators").EnumerateArray().ToDictionary(e => e.GetProperty("allocator").GetString()!);
        Assert.Equal(["pool", "torch-pool", "torch-expandable", "planned"], runs.Keys);
        Assert.Equal(batch, runs["planned"].GetProperty("batch").GetInt32());
        Assert.True(batch >= runs["pool"].GetProperty("batch").GetInt32());
        Assert.Equal(0, runs["torch-pool"].GetProperty("batch").GetInt32());   // its smallest segment is 2 MiB
        Assert.Equal(0, runs["torch-expandable"].GetProperty("batch").GetInt32());   // and its smallest page
        foreach (var name in new[] { "pool", "planned" })
        {
            Assert.True(runs[name].GetProperty("peakBytes").GetInt64() <= 256 * 1024);
            Assert.True(runs[name].GetProperty("samplesPerSecond").GetDouble() > 0);
        }
    }

    [Fact]
    public void TorchExpandableTrainsAndReportsThePagesItMaps()
    {
        var j = CliRunner.Json("train", "--model", "mlp", "--allocator", "torch-expandable", "--steps", "2", "--accelerator", "cpu", "--json");
        Assert.Equal("torch-expandable", j.GetProperty("allocator").GetString());
        long peak = j.GetProperty("peakBytes").GetInt64();
        Assert.Equal(peak, j.GetProperty("torchExpandablePeakBytes").GetInt64());
        Assert.Equal(0, peak % (2L << 20));                 // whole 2 MiB pages of the small pool
        var planned = CliRunner.Run("train", "--model", "mlp", "--allocator", "planned", "--steps", "2", "--accelerator", "cpu", "--json");
        Assert.True(planned.ExitCode == 0, planned.Err);
        Assert.True(planned.Json.GetProperty("torchExpandablePeakBytes").GetInt64() >= planned.Json.GetProperty("planPeakBytes").GetInt64());
        Assert.True(planned.Json.GetProperty("torchExpandableReductionPercent").GetDouble() >= 0);
    }
}
