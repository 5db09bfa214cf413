namespace Pgmo.Tests.Cli;

/// <summary>`pgmo train --data synthetic --image-size S`: any network trains; digits only for the digits networks.</summary>
[Collection("Console")]
public sealed class TrainDataCommandTests
{
    [Fact]
    public void PaperNetworkTrainsOnSyntheticDataByDefault()
    {
        var r = CliRunner.Success("train", "--model", "googlenet", "--image-size", "16", "--batch", "1", "--steps", "1", "--accelerator", "cpu", "--json");
        var j = r.Json;
        Assert.Equal("synthetic", j.GetProperty("data").GetString());
        Assert.Equal(16, j.GetProperty("imageSize").GetInt32());
        Assert.True(float.IsFinite(j.GetProperty("finalLoss").GetSingle()), r.Out);
        Assert.Equal(System.Text.Json.JsonValueKind.Null, j.GetProperty("testAccuracy").ValueKind);
    }

    [Theory]
    [InlineData("--data", "--model", "vgg16", "--data", "digits")]
    [InlineData("--image-size", "--model", "alexnet", "--image-size", "62")]
    [InlineData("--image-size", "--model", "alexnet", "--image-size", "0")]
    [InlineData("--image-size", "--model", "mlp", "--data", "synthetic", "--image-size", "28")]
    public void DataOrImageSizeANetworkCannotTakeExits2(string option, params string[] args)
    {
        var r = CliRunner.Run(["train", .. args]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(option, r.Err);
    }
}
