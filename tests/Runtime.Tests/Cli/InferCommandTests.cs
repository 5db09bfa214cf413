namespace Pgmo.Tests.Cli;

/// <summary>`pgmo infer`: every network under every compared allocator, `--batch max`, `--trace`, and bad arguments.</summary>
[Collection("Console")]
public sealed class InferCommandTests
{
    /// <summary>Each network at a small image size, the three allocators side by side in one process.</summary>
    [Theory]
    [InlineData("mlp", null)]
    [InlineData("cnn", null)]
    [InlineData("lenet", null)]
    [InlineData("resnet", null)]
    [InlineData("alexnet", "63")]
    [InlineData("vgg16", "32")]
    [InlineData("googlenet", "32")]
    [InlineData("resnet50", "32")]
    [InlineData("inception3", "75")]
    public void EveryNetworkRunsUnderEveryComparedAllocator(string model, string? imageSize)
    {
        string[] size = imageSize is null ? [] : ["--image-size", imageSize];
        var r = CliRunner.Success(["infer", "--model", model, .. size, "--batch", "2", "--steps", "1", "--accelerator", "cpu", "--compare-allocators", "--json"]);
        var j = r.Json;
        Assert.Equal(model, j.GetProperty("model").GetString());
        Assert.Equal("planned", j.GetProperty("allocator").GetString());          // the default
        Assert.Equal(2, j.GetProperty("replayedIterations").GetInt32());           // warm-up and timed batch, both from the dry-run plan
        Assert.Equal(j.GetProperty("planPeakBytes").GetInt64(), j.GetProperty("peakBytes").GetInt64());
        long bound = j.GetProperty("lowerBoundBytes").GetInt64();
        Assert.True(bound <= j.GetProperty("planPeakBytes").GetInt64() && bound <= j.GetProperty("poolPeakBytes").GetInt64() && bound <= j.GetProperty("torchPoolPeakBytes").GetInt64()
                    && bound <= j.GetProperty("torchExpandablePeakBytes").GetInt64(), r.Out);
        Assert.True(j.GetProperty("latencyMillis").GetDouble() > 0);
        var runs = j.GetProperty("allocators").EnumerateArray().ToDictionary(e => e.GetProperty("allocator").GetString()!);
        Assert.Equal(["pool", "torch-pool", "torch-expandable", "planned"], runs.Keys);
        foreach (var (name, run) in runs)
        {
            Assert.Equal(2, run.GetProperty("batch").GetInt32());
            Assert.True(run.GetProperty("samplesPerSecond").GetDouble() > 0, name);
            Assert.True(run.GetProperty("peakBytes").GetInt64() >= bound, name);
        }
    }

    [Fact]
    public void BatchMaxFindsEachAllocatorsLargestBatchWithinTheLimit()
    {
        var r = CliRunner.Success("infer", "--model", "cnn", "--batch", "max", "--memory-limit", "512KiB", "--steps", "1", "--accelerator", "cpu",
            "--compare-allocators", "--json");
        var j = r.Json;
        var max = j.GetProperty("maxBatch");
        int planned = max.GetProperty("planned").GetInt32(), pool = max.GetProperty("pool").GetInt32();
        Assert.Equal(planned, j.GetProperty("batch").GetInt32());
        Assert.True(planned > 1 && pool > 1, r.Out);
        Assert.Equal(0, max.GetProperty("torch-pool").GetInt32());                 // its smallest segment is 2 MiB
        Assert.Equal(0, max.GetProperty("torch-expandable").GetInt32());           // and its smallest page
        Assert.True(j.GetProperty("peakBytes").GetInt64() <= 512 * 1024);
        var runs = j.GetProperty("allocators").EnumerateArray().ToDictionary(e => e.GetProperty("allocator").GetString()!);
        Assert.Equal(pool, runs["pool"].GetProperty("batch").GetInt32());
        Assert.Equal(planned, runs["planned"].GetProperty("batch").GetInt32());
        Assert.All(runs.Values, run => Assert.True(run.GetProperty("peakBytes").GetInt64() <= 512 * 1024));
    }

    [Fact]
    public void TraceIsTheDryRunsTrace()
    {
        var path = Path.Combine(Path.GetTempPath(), $"pgmo-infer-trace-{Guid.NewGuid():N}.csv");
        try
        {
            var r = CliRunner.Success("infer", "--model", "lenet", "--batch", "5", "--steps", "1", "--accelerator", "cpu", "--trace", path, "--json");
            var dry = Pgmo.Training.Session.DryRunTrace(new Pgmo.Inference.InferOptions { Model = "lenet", Batch = 5 });
            Assert.Equal(PlannerApi.TraceCsv(dry.Problem, dry.Tags), File.ReadAllText(path));
            Assert.Equal(Bounds.lowerBound(dry.Problem), r.Json.GetProperty("lowerBoundBytes").GetInt64());
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData("--model", "--batch", "2")]                                        // --model is required
    [InlineData("--model", "--model", "nosuchnet")]
    [InlineData("--batch", "--model", "cnn", "--batch", "0")]
    [InlineData("--batch", "--model", "cnn", "--batch", "max", "--accelerator", "cpu")]   // max needs a limit on the CPU
    [InlineData("--steps", "--model", "cnn", "--steps", "0")]
    [InlineData("--allocator", "--model", "cnn", "--allocator", "magic")]
    [InlineData("--trace needs --allocator planned (the allocator is pool)", "--model", "cnn", "--allocator", "pool", "--trace", "x.csv")]
    [InlineData("--algorithm needs --allocator planned (the allocator is pool)", "--model", "cnn", "--allocator", "pool", "--algorithm", "search")]
    [InlineData("--algorithm needs --allocator planned (the allocator is torch-pool)", "--model", "cnn", "--allocator", "torch-pool", "--planner", "first-fit")]
    [InlineData("--time-limit needs --allocator planned (the allocator is naive)", "--model", "cnn", "--allocator", "naive", "--time-limit", "1")]
    [InlineData("--image-size", "--model", "alexnet", "--image-size", "62")]
    [InlineData("--memory-limit", "--model", "cnn", "--memory-limit", "lots")]
    [InlineData("--conv-workspace", "--model", "cnn", "--allocator", "pool", "--conv-workspace", "auto")]   // auto needs a plan
    [InlineData("--conv-workspace", "--model", "cnn", "--conv-workspace", "0")]
    public void BadArgumentsExit2(string option, params string[] args)
    {
        var r = CliRunner.Run(["infer", .. args]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(option, r.Err);
    }

    /// <summary>The fixed workspace bound and auto side by side: the same plan peak, and the grown run replays its plan.</summary>
    [Fact]
    public void CompareWorkspacesRunsTheFixedBoundAndAutoAtTheSamePeak()
    {
        var j = CliRunner.Json("infer", "--model", "cnn", "--batch", "16", "--steps", "2", "--accelerator", "cpu", "--conv-workspace", "auto",
            "--compare-workspaces", "--json");
        Assert.True(j.GetProperty("convWorkspaceAuto").GetBoolean());
        Assert.Equal("best-fit, workspaces grown", j.GetProperty("planner").GetString());
        Assert.Equal(3, j.GetProperty("replayedIterations").GetInt32());
        var runs = j.GetProperty("workspaces").EnumerateArray().ToList();
        Assert.Equal(["8 MiB", "auto"], runs.Select(w => w.GetProperty("workspace").GetString()));
        Assert.Equal(runs[0].GetProperty("planPeakBytes").GetInt64(), runs[1].GetProperty("planPeakBytes").GetInt64());
        Assert.Equal(runs[0].GetProperty("peakBytes").GetInt64(), runs[1].GetProperty("peakBytes").GetInt64());
        Assert.All(runs, w => Assert.True(w.GetProperty("samplesPerSecond").GetDouble() > 0));
    }

    /// <summary>--op-times times the timed batches (not the warm-up): forward ops only, and every row's share adds up
    /// to at most the batch.</summary>
    [Fact]
    public void OpTimesCoverTheTimedBatchesForwardOnly()
    {
        var j = CliRunner.Json("infer", "--model", "resnet", "--batch", "8", "--steps", "3", "--accelerator", "cpu", "--op-times", "--tf32", "--json");
        Assert.False(j.GetProperty("tf32").GetBoolean());                           // no effect on the CPU
        var times = j.GetProperty("opTimes");
        Assert.Equal(3, times.GetProperty("steps").GetInt32());
        var rows = times.GetProperty("rows").EnumerateArray().ToDictionary(e => e.GetProperty("op").GetString()!);
        Assert.Contains("conv2d", rows.Keys);
        Assert.Contains("batch-norm", rows.Keys);
        Assert.All(rows.Values, e => Assert.Equal(0, e.GetProperty("backwardMillis").GetDouble()));
        Assert.True(rows.Values.Sum(e => e.GetProperty("share").GetDouble()) <= 1.0 + 1e-9);
    }

    [Fact]
    public void OutOfMemoryIsOneLineAndExit1()
    {
        var r = CliRunner.Run("infer", "--model", "cnn", "--allocator", "pool", "--memory-limit", "16KiB", "--accelerator", "cpu", "--json");
        Assert.Equal(1, r.ExitCode);
        Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.Contains("out of memory"));
        Assert.DoesNotContain(" at Pgmo.", r.Err);
        Assert.DoesNotContain("{", r.Out);
    }
}
