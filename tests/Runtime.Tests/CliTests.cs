using Pgmo.Tests.Cli;

namespace Pgmo.Tests;

/// <summary>`pgmo train` and `pgmo models` argument handling, through the CLI runner (which holds the console lock).</summary>
[Collection("Console")]
public sealed class TrainCommandTests
{
    [Theory]
    [InlineData("--model", "nosuchnet")]
    [InlineData("--batch", "0")]
    [InlineData("--accelerator", "tpu")]
    [InlineData("--allocator", "magic")]
    [InlineData("--image-size", "9")]
    [InlineData("--data", "mnist")]
    [InlineData("--algorithm", "magic")]
    public void BadArgumentsExit2(string option, string value)
    {
        var r = CliRunner.Run("train", option, value);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(option, r.Err);
    }

    [Fact]
    public void PlannerIsAnAliasOfAlgorithm()
    {
        var r = CliRunner.Run("train", "--planner", "magic");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("unknown algorithm 'magic'", r.Err);
    }

    [Fact]
    public void BenchKernelsRefusesRoundsOutOfRange()
    {
        var r = CliRunner.Run("bench-kernels", "--compare-isas", "--rounds", "0");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--rounds", r.Err);
    }

    [Fact]
    public void ModelsListsEveryNetwork()
    {
        var r = CliRunner.Run("models", "--json");
        Assert.Equal(0, r.ExitCode);
        var last = r.Out.TrimEnd().Split('\n')[^1];
        foreach (var m in new[] { "cnn", "alexnet", "vgg16", "googlenet", "resnet50", "inception3" }) Assert.Contains($"\"{m}\"", last);
    }
}
