namespace Pgmo.Tests;

/// <summary>Shapes-only mode: the full-size networks infer the published shapes and parameter counts.</summary>
public sealed class ShapeInferenceTests
{
    [Theory]
    [InlineData("alexnet", 61_100_840L)]
    [InlineData("vgg16", 138_357_544L)]
    [InlineData("googlenet", 6_998_552L)]
    [InlineData("resnet50", 25_557_032L)]
    [InlineData("inception3", 23_834_568L)]
    public void FullSizeNetworksGivePublishedShapes(string name, long parameters)
    {
        using var device = Device.ShapesOnly();
        using var alloc = Allocators.Create(AllocatorKind.Pool, device.Accelerator);
        var tape = new Tape(device, alloc);
        using var model = ModelZoo.Create(name, new ParameterFactory(tape, 0));
        Assert.Equal(parameters, model.ParameterCount);
        var x = tape.Empty(new[] { 2 }.Concat(model.InputShape).ToArray(), "input");
        tape.Recording = false;
        var y = model.Forward(tape, x);
        Assert.Equal(new[] { 2, 1000 }, y.Shape);
        y.Release();
    }

    /// <summary>The smallest inputs torchvision's implementations accept (AlexNet: 63, VGG: 32, Inception-v3: 75;
    /// GoogLeNet and ResNet-50 pad every window, so a 1x1 input keeps a 1x1 map down to the adaptive pool).</summary>
    [Theory]
    [InlineData("alexnet", 63)]
    [InlineData("vgg16", 32)]
    [InlineData("googlenet", 1)]
    [InlineData("resnet50", 1)]
    [InlineData("inception3", 75)]
    public void SmallestImageSizeIsTorchvisions(string name, int smallest)
    {
        var info = ModelZoo.Find(name)!;
        Assert.Equal(smallest, ModelZoo.MinimumImageSize(info));
        Assert.Null(ModelZoo.ImageSizeError(info, smallest));
        if (smallest > 1) Assert.Contains($"smallest size is {smallest}x{smallest}", ModelZoo.ImageSizeError(info, smallest - 1));
        Assert.NotNull(ModelZoo.ImageSizeError(info, ModelZoo.MaxImageSize + 1));
    }

    [Theory]
    [InlineData("alexnet", 96)]
    [InlineData("vgg16", 129)]
    [InlineData("googlenet", 33)]
    [InlineData("resnet50", 96)]
    [InlineData("inception3", 96)]
    [InlineData("inception3", 75)]
    public void PaperNetworksGiveLogitsAtOtherImageSizes(string name, int size)
    {
        using var device = Device.ShapesOnly();
        using var alloc = Allocators.Create(AllocatorKind.Pool, device.Accelerator);
        var tape = new Tape(device, alloc) { Recording = false };
        using var model = ModelZoo.Create(name, new ParameterFactory(tape, 0), size);
        Assert.Equal(new[] { 3, size, size }, model.InputShape);
        var y = model.Forward(tape, tape.Empty(new[] { 2, 3, size, size }, "input"));
        Assert.Equal(new[] { 2, 1000 }, y.Shape);
        y.Release();
    }

    [Fact]
    public void DigitsNetworksTakeEightPixelsOnly()
    {
        var info = ModelZoo.Find("cnn")!;
        Assert.Equal(8, ModelZoo.MinimumImageSize(info));
        Assert.Null(ModelZoo.ImageSizeError(info, 8));
        Assert.Contains("8x8 inputs only", ModelZoo.ImageSizeError(info, 9));
        using var device = Device.ShapesOnly();
        using var alloc = Allocators.Create(AllocatorKind.Pool, device.Accelerator);
        Assert.Throws<ArgumentException>(() => ModelZoo.Create("cnn", new ParameterFactory(new Tape(device, alloc), 0), 16));
    }

    [Fact]
    public void DryRunOfResNet50AtBatch64IsQuickAndLeaksNothing()
    {
        using var device = Device.ShapesOnly();
        using var t = new Trainer(new TrainOptions { Model = "resnet50", Record = true, Allocator = AllocatorKind.Pool }, device);
        t.DryStep(64);
        Assert.Equal(t.PersistentBlocks, t.Allocator.LiveBlocks);
        Assert.True(t.Allocator.PeakReservedBytes > 4L << 30, $"peak {t.Allocator.PeakReservedBytes}");
        Assert.True(t.Allocator.LastTrace!.Events.Count > 1000);
    }
}

/// <summary>A dry run makes exactly the allocator requests of a real run.</summary>
[Collection("cpu")]
public sealed class DryRunTraceTests(CpuFixture fx)
{
    [Theory]
    [InlineData("cnn")]
    [InlineData("resnet")]
    public void DryRunTraceEqualsRealTrace(string model)
    {
        var data = Digits.Load();
        using var real = new Trainer(new TrainOptions { Model = model, Record = true, Batch = 8, Allocator = AllocatorKind.Pool }, fx.Device);
        real.Step(data.Samples.Take(8).ToArray(), data.Labels.Take(8).ToArray());
        using var shapes = Device.ShapesOnly();
        using var dry = new Trainer(new TrainOptions { Model = model, Record = true, Batch = 8, Allocator = AllocatorKind.Pool }, shapes);
        dry.DryStep(8);
        Assert.Equal(real.Allocator.LastTrace!.PersistentSizes, dry.Allocator.LastTrace!.PersistentSizes);
        Assert.Equal(real.Allocator.LastTrace.Events, dry.Allocator.LastTrace.Events);
        Assert.Equal(real.Allocator.LastTrace.Tags, dry.Allocator.LastTrace.Tags);
        Assert.Equal(real.Allocator.PeakReservedBytes, dry.Allocator.PeakReservedBytes);
    }
}

/// <summary>The CUDA path: selected when a GPU exists (skipped otherwise).</summary>
public sealed class CudaTests
{
    [SkippableFact]
    public void AutoSelectsCudaWhenPresent()
    {
        Skip.IfNot(Device.CudaAvailable(), "no CUDA device");
        using var d = Device.Create(AcceleratorChoice.Auto);
        Assert.Equal("cuda", d.Name);
        Assert.NotEqual(GemmKernel.HostBlocked, d.Kernels!.GemmKernel);
    }
}
