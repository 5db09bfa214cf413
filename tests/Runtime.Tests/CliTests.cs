namespace Pgmo.Tests;

/// <summary>`pgmo train` and `pgmo models` argument handling.</summary>
public sealed class TrainCommandTests
{
    [Theory]
    [InlineData("--model", "nosuchnet")]
    [InlineData("--batch", "0")]
    [InlineData("--accelerator", "tpu")]
    [InlineData("--allocator", "magic")]
    [InlineData("--image-size", "9")]
    [InlineData("--data", "mnist")]
    public void BadArgumentsExit2(string option, string value)
    {
        var err = new StringWriter();
        var old = Console.Error;
        Console.SetError(err);
        try { Assert.Equal(2, Pgmo.Cli.Commands.Run(new[] { "train", option, value })); }
        finally { Console.SetError(old); }
        Assert.Contains(option, err.ToString());
    }

    [Fact]
    public void ModelsListsEveryNetwork()
    {
        var output = new StringWriter();
        var old = Console.Out;
        Console.SetOut(output);
        try { Assert.Equal(0, Pgmo.Cli.Commands.Run(new[] { "models", "--json" })); }
        finally { Console.SetOut(old); }
        var last = output.ToString().TrimEnd().Split('\n')[^1];
        foreach (var m in new[] { "cnn", "alexnet", "vgg16", "googlenet", "resnet50", "inception3" }) Assert.Contains($"\"{m}\"", last);
    }
}
