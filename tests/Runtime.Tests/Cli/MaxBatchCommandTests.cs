namespace Pgmo.Tests.Cli;

/// <summary>`pgmo max-batch` and `pgmo train --batch max` give one answer: the largest batch a real run trains within
/// the limit under each allocator.</summary>
[Collection("Console")]
public sealed class MaxBatchCommandTests
{
    const string Budget = "4MiB";
    const long BudgetBytes = 4L << 20;

    [Theory]
    [InlineData("mlp")]
    [InlineData("cnn")]
    [InlineData("lenet")]
    [InlineData("resnet")]
    public void MaxBatchAndTrainBatchMaxAgreeOnEveryAllocatorAndTheNextBatchRunsOutOfMemory(string model)
    {
        var m = CliRunner.Run("max-batch", "--model", model, "--budget", Budget, "--json");
        Assert.True(m.ExitCode == 0, m.Err);
        var found = m.Json.GetProperty("allocators").EnumerateArray().ToDictionary(a => a.GetProperty("allocator").GetString()!, a => a.GetProperty("batch").GetInt32());
        Assert.Equal(["pool", "torch-pool", "torch-expandable", "planned", "naive"], found.Keys);
        Assert.Equal(found["pool"], m.Json.GetProperty("poolMaxBatch").GetInt32());
        Assert.Equal(found["torch-pool"], m.Json.GetProperty("torchPoolMaxBatch").GetInt32());
        Assert.Equal(found["planned"], m.Json.GetProperty("planMaxBatch").GetInt32());
        Assert.True(found["planned"] >= found["pool"] && found["planned"] >= found["torch-pool"], string.Join(", ", found));
        foreach (var (allocator, batch) in found)
        {
            Assert.True(batch > 0, $"{model}, {allocator}: no batch fits {Budget}");
            var t = Train(model, allocator, "max", 1);
            Assert.True(t.ExitCode == 0, $"{model}, {allocator}: {t.Err}");
            Assert.Equal(batch, t.Json.GetProperty("batch").GetInt32());
            Assert.True(t.Json.GetProperty("peakBytes").GetInt64() <= BudgetBytes);
            // one more sample runs out of memory within the iterations the search tried
            var next = Train(model, allocator, (batch + 1).ToString(), 8);
            Assert.True(next.ExitCode == 1, $"{model}, {allocator}: batch {batch + 1} trained within {Budget}: {next.Err}");
            Assert.Contains("out of memory", next.Err);
        }
    }

    static CliRunner.Result Train(string model, string allocator, string batch, int steps) =>
        CliRunner.Run("train", "--model", model, "--allocator", allocator, "--batch", batch, "--memory-limit", Budget, "--steps", steps.ToString(),
            "--accelerator", "cpu", "--json");

    [Fact]
    public void APaperNetworkTrainsWithoutEvaluationAndTheImageSizeCounts()
    {
        var small = CliRunner.Run("max-batch", "--model", "alexnet", "--budget", "2GiB", "--image-size", "63", "--json");
        var large = CliRunner.Run("max-batch", "--model", "alexnet", "--budget", "2GiB", "--image-size", "127", "--json");
        Assert.True(small.ExitCode == 0 && large.ExitCode == 0, small.Err + large.Err);
        Assert.False(small.Json.GetProperty("evaluation").GetBoolean());
        Assert.Equal(63, small.Json.GetProperty("imageSize").GetInt32());
        Assert.True(small.Json.GetProperty("planMaxBatch").GetInt32() > large.Json.GetProperty("planMaxBatch").GetInt32());
    }
}
