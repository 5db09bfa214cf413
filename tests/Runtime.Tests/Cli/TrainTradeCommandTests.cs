namespace Pgmo.Tests.Cli;

/// <summary>`pgmo train --trade`: offload planned with the layout under --memory-limit, and what it refuses.</summary>
[Collection("Console")]
public sealed class TrainTradeCommandTests
{
    [Theory]
    [InlineData("recompute")]                                   // the runtime does not recompute yet: said, not pretended
    [InlineData("offload", "--allocator", "pool")]
    [InlineData("offload", "--plan-from", "profile")]
    [InlineData("offload", "--conv-workspace", "auto")]
    [InlineData("swap")]
    public void RefusedTradesExit2NamingTheOption(string trade, params string[] more)
    {
        var r = CliRunner.Run(["train", "--trade", trade, .. more, "--memory-limit", "1MiB", "--accelerator", "cpu"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--trade", r.Err);
    }

    [Fact]
    public void BatchMaxWithOffloadReportsTheTradeOffsChosen()
    {
        var r = CliRunner.Run("train", "--model", "cnn", "--data", "synthetic", "--batch", "max", "--memory-limit", "512KiB", "--trade", "both",
            "--steps", "2", "--accelerator", "cpu", "--json");
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Contains("planning offload only", r.Err);
        var j = r.Json;
        Assert.Equal("both", j.GetProperty("trade").GetString());
        var t = j.GetProperty("trades");
        Assert.True(t.GetProperty("fits").GetBoolean());
        Assert.True(t.GetProperty("planPeakBytes").GetInt64() <= 512 * 1024);
        Assert.Equal(t.GetProperty("chosen").GetArrayLength(), t.GetProperty("offloadedPerStep").GetInt32());
        Assert.True(j.GetProperty("trainPeakBytes").GetInt64() <= 512 * 1024);
        Assert.True(float.IsFinite(j.GetProperty("finalLoss").GetSingle()));
    }
}
