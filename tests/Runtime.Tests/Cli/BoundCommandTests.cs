namespace Pgmo.Tests.Cli;

/// <summary>`pgmo bound` as a user runs it: the raised bound, its witness rechecked by `solve`, exit codes.</summary>
[Collection("Console")]
public sealed class BoundCommandTests : IDisposable
{
    readonly TempFolder dir = new("pgmo-bound-");

    public void Dispose() => dir.Dispose();

    /// <summary>Max load 12, optimum 13: a at 0 puts b (even offset) at 8; b at 0 puts a at 6.</summary>
    string Aligned() => dir.Write("aligned.csv", "id,lower,upper,size,alignment\na,0,2,7,2\nb,1,2,5,2\n");

    [Fact]
    public void BoundRisesAboveTheMaxLoadAndItsWitnessIsInfeasible()
    {
        var witness = Path.Combine(dir, "witness.csv");
        var r = CliRunner.Run("bound", Aligned(), "--witness", witness, "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(13, r.Json.GetProperty("bound").GetInt64());
        Assert.Equal(12, r.Json.GetProperty("lowerBound").GetInt64());
        Assert.True(r.Json.GetProperty("raised").GetBoolean());
        Assert.True(r.Json.GetProperty("optimal").GetBoolean());
        var recheck = CliRunner.Run("solve", witness, "--capacity", "12", "--solver", "exact", "--json");
        Assert.Equal("infeasible", recheck.Json.GetProperty("status").GetString());
        var optimum = CliRunner.Run("solve", Aligned(), "--solver", "exact", "--json");
        Assert.Equal(13, optimum.Json.GetProperty("peak").GetInt64());
    }

    [Fact]
    public void BoundStaysAtTheMaxLoadWhenAPlanReachesIt()
    {
        var witness = Path.Combine(dir, "none.csv");
        var r = CliRunner.Run("bound", CliRunner.Dataset("minimalloc/input.12.csv"), "--witness", witness, "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(12, r.Json.GetProperty("bound").GetInt64());
        Assert.False(r.Json.GetProperty("raised").GetBoolean());
        Assert.All(r.Json.GetProperty("attempts").EnumerateArray(), a => Assert.StartsWith("fits at 12", a.GetProperty("outcome").GetString()));
        Assert.False(File.Exists(witness));
    }

    [Theory]
    [InlineData("--nodes", "0")]
    [InlineData("--time-limit", "-1")]
    public void BoundRejectsBadArguments(string option, string value) =>
        Assert.Equal(2, CliRunner.Run("bound", CliRunner.Dataset("minimalloc/input.12.csv"), option, value).ExitCode);

    [Fact]
    public void BoundOnABadProblemExitsTwoNamingTheLine()
    {
        var path = Path.Combine(dir, "bad.csv");
        File.WriteAllText(path, "id,lower,upper,size\na,0,2,7\nb,3,1,5\n");
        var r = CliRunner.Run("bound", path);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("bad.csv:3", r.Err);
    }
}
