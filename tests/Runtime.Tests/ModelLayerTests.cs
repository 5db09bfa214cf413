namespace Pgmo.Tests;

/// <summary>The paper networks' extra layers: adaptive average pooling and dropout against C# references.</summary>
[Collection("cpu")]
public sealed class ModelLayerTests(CpuFixture fx)
{
    [Theory]
    [InlineData(1, 1, 1, 1, 1, 1)]      // identity
    [InlineData(2, 3, 7, 7, 1, 1)]      // global average
    [InlineData(1, 2, 13, 9, 6, 7)]     // overlapping windows of unequal sizes
    [InlineData(2, 1, 1, 1, 6, 6)]      // a 1x1 map enlarged to 6x6 (AlexNet at its smallest size)
    [InlineData(1, 17, 3, 5, 7, 7)]     // enlarged unevenly
    public void AdaptiveAvgPoolMatchesPyTorchsDefinition(int n, int c, int h, int w, int oh, int ow)
    {
        var tape = Host.Tape(fx.Device, out var alloc);
        var xh = Host.Random(n * c * h * w, 11);
        var y = tape.AdaptiveAvgPool(tape.Upload(xh, new[] { n, c, h, w }, "x"), oh, ow);
        Assert.Equal(new[] { n, c, oh, ow }, y.Shape);
        var e = new float[n * c * oh * ow];
        for (int pl = 0; pl < n * c; pl++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    // torch: start = floor(i * h / oh), end = ceil((i + 1) * h / oh)
                    int h0 = (int)Math.Floor(i * (double)h / oh), h1 = (int)Math.Ceiling((i + 1) * (double)h / oh);
                    int w0 = (int)Math.Floor(j * (double)w / ow), w1 = (int)Math.Ceiling((j + 1) * (double)w / ow);
                    double s = 0;
                    for (int u = h0; u < h1; u++) for (int v = w0; v < w1; v++) s += xh[(pl * h + u) * w + v];
                    e[(pl * oh + i) * ow + j] = (float)(s / ((h1 - h0) * (w1 - w0)));
                }
        Host.Close(e, tape.Download(y), 1e-5f);
        y.Release();
        Assert.Equal(0, alloc.LiveBlocks);
    }

    [Theory]
    [InlineData(1, 0.5f)]
    [InlineData(17, 0.4f)]
    [InlineData(20_000, 0.5f)]
    [InlineData(20_000, 0f)]
    public void DropoutKeepsEachElementWithProbabilityOneMinusPAndScalesIt(int n, float p)
    {
        var tape = Host.Tape(fx.Device, out var alloc);
        var xh = Host.Random(n, 12);
        var (y, mask) = Dropout(tape, xh, p, seed: 42);
        Assert.Equal(mask, Dropout(tape, xh, p, seed: 42).Mask);
        float scale = 1f / (1f - p);
        for (int i = 0; i < n; i++)
        {
            Assert.True(mask[i] == 0f || mask[i] == scale, $"mask[{i}] = {mask[i]}");
            Assert.Equal(xh[i] * mask[i], y[i]);
        }
        if (n >= 10_000)
        {
            double kept = mask.Count(m => m != 0f) / (double)n;
            Assert.InRange(kept, 1 - p - 0.02, 1 - p + 0.02);
            if (p > 0) Assert.NotEqual(mask, Dropout(tape, xh, p, seed: 43).Mask);
        }
        Assert.Equal(0, alloc.LiveBlocks);
    }

    /// <summary>y and the mask of one dropout, read back through the backward pass (dx = dy * mask with dy = 1).</summary>
    static (float[] Y, float[] Mask) Dropout(Tape tape, float[] xh, float p, ulong seed)
    {
        var x = tape.Upload(xh, new[] { xh.Length }, "x");
        x.RequiresGrad = true;
        x.Share();
        var y = tape.Dropout(x, p, seed);
        var yh = tape.Download(y);
        tape.Backward(y, tape.Full(y.Shape, 1f, "dy"));
        y.Release();
        var mask = tape.Download(x.Grad!);
        x.Grad!.Release();
        x.Release();
        return (yh, mask);
    }

    [Fact]
    public void DropoutLayerDrawsANewMaskEveryTrainingStepAndIsTheIdentityInInference()
    {
        var tape = Host.Tape(fx.Device, out var alloc);
        tape.Recording = false;
        var layer = new Dropout(new ParameterFactory(tape, 1), "d", 0.5f);
        var x = tape.Upload(Host.Random(64, 13), new[] { 64 }, "x");
        float[] Step() { var y = layer.Forward(tape, x.Share()); var h = tape.Download(y); y.Release(); return h; }
        var (first, second) = (Step(), Step());
        Assert.NotEqual(first, second);
        Assert.Contains(0f, first);
        layer.SetTraining(false);
        int live = alloc.LiveBlocks;
        Assert.Same(x, layer.Forward(tape, x));
        Assert.Equal(live, alloc.LiveBlocks);
        x.Release();
        Assert.Equal(0, alloc.LiveBlocks);
    }

    [Fact]
    public void StreamSeedsDependOnTheSeedAndTheNameOnly()
    {
        using var device = Device.ShapesOnly();
        using var alloc = Allocators.Create(AllocatorKind.Naive, device.Accelerator);
        var tape = new Tape(device, alloc);
        var a = new ParameterFactory(tape, 1);
        Assert.Equal(a.StreamSeed("dropout:fc"), new ParameterFactory(tape, 1).StreamSeed("dropout:fc"));
        Assert.NotEqual(a.StreamSeed("dropout:fc"), new ParameterFactory(tape, 2).StreamSeed("dropout:fc"));
        Assert.NotEqual(a.StreamSeed("dropout:fc"), a.StreamSeed("dropout:fc2"));
    }
}
