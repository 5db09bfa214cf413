namespace Pgmo.Tests.Cli;

/// <summary>`pgmo train --op-times` and `--tf32`: the op times in the JSON (the table goes to the process's own
/// stdout, which the in-process runner does not capture); TF32 says it has no effect on the CPU.</summary>
[Collection("Console")]
public sealed class TrainOpTimesCommandTests
{
    [Fact]
    public void OpTimesPrintsATableAndCarriesItInTheJson()
    {
        var r = CliRunner.Success("train", "--model", "cnn", "--steps", "3", "--batch", "8", "--accelerator", "cpu", "--op-times", "--tf32", "--json");
        Assert.Contains("--tf32: no effect on cpu", r.Err);
        var j = r.Json;
        Assert.False(j.GetProperty("tf32").GetBoolean());
        var times = j.GetProperty("opTimes");
        Assert.Equal(2, times.GetProperty("steps").GetInt32());   // the first of three steps is the warm-up
        var rows = times.GetProperty("rows").EnumerateArray().ToDictionary(e => e.GetProperty("op").GetString()!);
        Assert.Equal(2, rows["conv2d"].GetProperty("calls").GetDouble());
        Assert.True(rows["conv2d"].GetProperty("backwardMillis").GetDouble() > 0, r.Out);
        Assert.InRange(rows.Values.Sum(e => e.GetProperty("share").GetDouble()), 0.05, 1.0001);
    }

    [Fact]
    public void WithoutOpTimesTheJsonHasNone()
    {
        var r = CliRunner.Success("train", "--model", "mlp", "--steps", "1", "--batch", "4", "--accelerator", "cpu", "--json");
        Assert.Equal(System.Text.Json.JsonValueKind.Null, r.Json.GetProperty("opTimes").ValueKind);
    }
}
