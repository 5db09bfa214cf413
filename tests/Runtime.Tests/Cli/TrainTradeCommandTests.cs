namespace Pgmo.Tests.Cli;

/// <summary>`pgmo train --trade`: offload and recompute planned with the layout under --memory-limit, and what it
/// refuses; `pgmo infer --trade` refuses every trade (inference keeps nothing for backward).</summary>
[Collection("Console")]
public sealed class TrainTradeCommandTests
{
    [Theory]
    [InlineData("offload", "--allocator", "pool")]
    [InlineData("recompute", "--plan-from", "profile")]
    [InlineData("both", "--conv-workspace", "auto")]
    [InlineData("swap")]
    public void RefusedTradesExit2NamingTheOption(string trade, params string[] more)
    {
        var r = CliRunner.Run(["train", "--trade", trade, .. more, "--memory-limit", "1MiB", "--accelerator", "cpu"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--trade", r.Err);
    }

    [Theory]
    [InlineData("offload")]
    [InlineData("recompute")]
    [InlineData("both")]
    public void InferRefusesTradesExit2(string trade)
    {
        var r = CliRunner.Run("infer", "--model", "cnn", "--trade", trade, "--memory-limit", "1MiB", "--accelerator", "cpu");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("inference keeps nothing for backward", r.Err);
    }

    [Fact]
    public void BatchMaxWithBothReportsTheTradeOffsChosen()
    {
        var r = CliRunner.Run("train", "--model", "cnn", "--data", "synthetic", "--batch", "max", "--memory-limit", "512KiB", "--trade", "both",
            "--steps", "2", "--accelerator", "cpu", "--json");
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Contains("trade-off costs: copies", r.Err);   // measured once, before the search
        var j = r.Json;
        Assert.Equal("both", j.GetProperty("trade").GetString());
        var t = j.GetProperty("trades");
        Assert.True(t.GetProperty("fits").GetBoolean());
        Assert.True(t.GetProperty("planPeakBytes").GetInt64() <= 512 * 1024);
        Assert.Equal(t.GetProperty("chosen").GetArrayLength(), t.GetProperty("offloadedPerStep").GetInt32() + t.GetProperty("recomputedPerStep").GetInt32());
        Assert.True(t.GetProperty("offloadBytesPerUs").GetDouble() > 0 && t.GetProperty("elementwiseBytesPerUs").GetDouble() > 0);
        Assert.StartsWith("measured on", t.GetProperty("costSource").GetString());
        Assert.True(t.GetProperty("measuredExtraMillis").GetDouble() > 0);
        Assert.True(j.GetProperty("trainPeakBytes").GetInt64() <= 512 * 1024);
        Assert.True(float.IsFinite(j.GetProperty("finalLoss").GetSingle()));
    }

    [Fact]
    public void RecomputeRerunsBatchNormAndReluInPlace()
    {
        // resnet at batch 16 with 16 KiB workspaces: 1,099,776 B planned without trade-offs, 952,576 B with every
        // recomputable buffer dropped
        var r = CliRunner.Run("train", "--model", "resnet", "--data", "synthetic", "--batch", "16", "--conv-workspace", "16KiB", "--memory-limit", "1002KiB",
            "--trade", "recompute", "--steps", "2", "--accelerator", "cpu", "--json");
        Assert.True(r.ExitCode == 0, r.Err);
        var t = r.Json.GetProperty("trades");
        Assert.True(t.GetProperty("fits").GetBoolean());
        var chosen = t.GetProperty("chosen").EnumerateArray().ToList();
        Assert.NotEmpty(chosen);
        Assert.All(chosen, c => Assert.Equal("recompute", c.GetProperty("trade").GetString()));
        Assert.All(chosen, c => Assert.NotEmpty(c.GetProperty("needs").EnumerateArray()));
        Assert.Equal(chosen.Count, t.GetProperty("recomputedPerStep").GetInt32());
        Assert.Equal(0, t.GetProperty("offloadedPerStep").GetInt32());
        Assert.True(t.GetProperty("measuredRecomputeMillis").GetDouble() > 0);
        Assert.True(r.Json.GetProperty("trainPeakBytes").GetInt64() <= 1002 * 1024);
        Assert.True(float.IsFinite(r.Json.GetProperty("finalLoss").GetSingle()));
    }
}
