using ILGPU.Runtime;

namespace Pgmo.Tests;

/// <summary>
/// Every host kernel of the CPU accelerator against its ILGPU kernel, run on the same CPU accelerator with
/// <see cref="KernelCache.HostKernels"/> off, at awkward sizes (1, 17, 1025, planes that do not fill a vector,
/// windows hanging over the padding). Kernels that promise the ILGPU kernel's floats (pooling forward, dropout, the
/// loss, copies) are compared exactly; reductions summed in another order to a relative 1e-5.
/// </summary>
[Collection("cpu")]
public sealed class HostKernelParityTests(CpuFixture fx)
{
    /// <summary>The outputs of <paramref name="run"/> with the ILGPU kernels, then with the host kernels.</summary>
    Dictionary<string, float[]>[] Both(Action<Tape, KernelCache, Dictionary<string, float[]>> run)
    {
        var k = fx.Device.Kernels!;
        var results = new Dictionary<string, float[]>[2];
        bool old = k.HostKernels;
        try
        {
            for (int i = 0; i < 2; i++)
            {
                k.HostKernels = i == 1;
                using var alloc = Allocators.Create(AllocatorKind.Pool, fx.Device.Accelerator);
                var tape = new Tape(fx.Device, alloc);
                results[i] = new Dictionary<string, float[]>();
                run(tape, k, results[i]);
                fx.Device.Synchronize();
            }
        }
        finally { k.HostKernels = old; }
        return results;
    }

    static void Same(Dictionary<string, float[]>[] r, float tol, string what)
    {
        Assert.Equal(r[0].Keys, r[1].Keys);
        foreach (var (name, values) in r[0])
        {
            if (tol == 0) Assert.True(values.SequenceEqual(r[1][name]), $"{what}: {name} differs");
            else Near.Check(values, r[1][name], tol, $"{what}: {name}");
        }
    }

    /// <summary>Uploads, runs, downloads and releases: the download of every tensor named in <paramref name="outputs"/>.</summary>
    static void Keep(Tape t, Dictionary<string, float[]> into, params (string Name, Tensor T)[] outputs)
    {
        foreach (var (name, tensor) in outputs)
        {
            if (tensor.DType == DType.I32)
            {
                var ints = new int[tensor.Length];
                tensor.IntView.CopyToCPU(ints);
                into[name] = ints.Select(v => (float)v).ToArray();
            }
            else into[name] = t.Download(tensor);
            tensor.Release();
        }
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(2, 17, 1)]
    [InlineData(3, 5, 17)]
    [InlineData(1, 3, 1025)]
    [InlineData(2, 1025, 1)]
    public void BiasAndChannelSums(int n, int c, int hw)
    {
        var r = Both((t, k, o) =>
        {
            var y = t.Upload(Host.Random(n * c * hw, 1), new[] { n * c * hw }, "y");
            var b = t.Upload(Host.Random(c, 2), new[] { c }, "b");
            var s = t.Empty(new[] { c }, "s");
            k.AddBias(y.View, b.View, c, hw);
            k.ChannelSum(y.View, s.View, n, c, hw);
            Keep(t, o, ("y", y), ("sum", s));
            b.Release();
        });
        Same(r, 1e-5f, $"bias {n}x{c}x{hw}");
    }

    [Theory]
    [InlineData(1, 1, 1, 0f)]
    [InlineData(2, 3, 17, 0f)]
    [InlineData(1, 17, 1025, 5f)]
    [InlineData(3, 2, 33, -40f)]
    public void BatchNormForwardBackwardAndInference(int n, int c, int hw, float offset)
    {
        var p = new ChannelParams { N = n, C = c, HW = hw, Eps = 1e-5f, Momentum = 0.1f };
        var r = Both((t, k, o) =>
        {
            var x = t.Upload(Host.Random(n * c * hw, 3, 2f).Select(v => v + offset).ToArray(), new[] { n * c * hw }, "x");
            var dy = t.Upload(Host.Random(n * c * hw, 4), new[] { n * c * hw }, "dy");
            var gamma = t.Upload(Host.Random(c, 5), new[] { c }, "gamma");
            var beta = t.Upload(Host.Random(c, 6), new[] { c }, "beta");
            var rm = t.Upload(Host.Random(c, 7), new[] { c }, "rm");
            var rv = t.Upload(Host.Random(c, 8).Select(v => v + 2f).ToArray(), new[] { c }, "rv");
            var (mean, inv, y, dg, db, dx, yi) = (t.Empty(new[] { c }, "m"), t.Empty(new[] { c }, "i"), t.Empty(x.Shape, "y"),
                t.Empty(new[] { c }, "dg"), t.Empty(new[] { c }, "db"), t.Empty(x.Shape, "dx"), t.Empty(x.Shape, "yi"));
            k.BatchNormStats(x.View, mean.View, inv.View, rm.View, rv.View, p);
            k.BatchNormApply(x.View, y.View, mean.View, inv.View, gamma.View, beta.View, p, scaleIsVariance: false);
            k.BatchNormGradStats(x.View, dy.View, mean.View, inv.View, dg.View, db.View, p);
            k.BatchNormBackward(x.View, dy.View, mean.View, inv.View, gamma.View, dg.View, db.View, dx.View, p);
            k.BatchNormApply(x.View, yi.View, rm.View, rv.View, gamma.View, beta.View, p, scaleIsVariance: true);
            Keep(t, o, ("mean", mean), ("invstd", inv), ("running mean", rm), ("running var", rv), ("y", y), ("dgamma", dg), ("dbeta", db), ("dx", dx), ("inference y", yi));
            foreach (var u in new[] { x, dy, gamma, beta }) u.Release();
        });
        // the host statistics are summed about a shift in double: closer to the truth than the kernel's float sums
        Same(r, 2e-4f, $"batch norm {n}x{c}x{hw}+{offset}");
    }

    public static TheoryData<int, int, int, int, int, int, int> Windows => new()
    {
        // n, c, h, w, kernel, stride, pad
        { 1, 1, 1, 1, 1, 1, 0 },
        { 2, 3, 17, 17, 3, 2, 1 },
        { 1, 2, 17, 13, 2, 2, 0 },
        { 1, 3, 9, 9, 3, 1, 1 },
        { 2, 1, 35, 35, 3, 2, 0 },
        { 1, 2, 7, 7, 7, 1, 0 },
        { 1, 1, 33, 33, 5, 3, 2 },
        { 2, 3, 40, 57, 3, 2, 1 },     // ResNet's: stride 2, pad 1, rows of 28 outputs (8 at a time, then the rest)
        { 1, 2, 55, 55, 3, 2, 0 },     // AlexNet's
        { 1, 2, 30, 41, 3, 1, 1 },     // stride 1
        { 1, 1, 24, 50, 2, 2, 0 },     // VGG's
    };

    [Theory, MemberData(nameof(Windows))]
    public void MaxAndAveragePoolingForwardAndBackward(int n, int c, int h, int w, int kernel, int stride, int pad)
    {
        foreach (var isa in Enum.GetValues<HostIsa>().Where(i => i <= HostCpu.Supported))
            using (HostCpu.Use(isa)) Pooling(n, c, h, w, kernel, stride, pad);
    }

    void Pooling(int n, int c, int h, int w, int kernel, int stride, int pad)
    {
        var p = WindowParams.Create(n, c, h, w, kernel, kernel, stride, pad, pad);
        var r = Both((t, k, o) =>
        {
            // ties: coarse values make equal maxima in a window, whose first one must win
            var x = t.Upload(Host.Random(n * c * h * w, 9).Select(v => MathF.Round(v * 3)).ToArray(), new[] { n * c * h * w }, "x");
            var dy = t.Upload(Host.Random(n * c * p.OH * p.OW, 10), new[] { n * c * p.OH * p.OW }, "dy");
            var (y, arg, dx, ya, dxa) = (t.Empty(dy.Shape, "y"), t.Empty(dy.Shape, "arg", DType.I32), t.Empty(x.Shape, "dx"), t.Empty(dy.Shape, "ya"), t.Empty(x.Shape, "dxa"));
            k.MaxPool(x.View, y.View, arg.IntView, p);
            k.MaxPoolBackward(dy.View, arg.IntView, dx.View, p);
            k.AvgPool(x.View, ya.View, p);
            k.AvgPoolBackward(dy.View, dxa.View, p);
            Keep(t, o, ("max", y), ("argmax", arg), ("max dx", dx), ("avg", ya), ("avg dx", dxa));
            x.Release(); dy.Release();
        });
        Same(r, 1e-5f, $"pooling {n}x{c}x{h}x{w} k{kernel} s{stride} p{pad}");
        Assert.True(r[0]["max"].SequenceEqual(r[1]["max"]) && r[0]["argmax"].SequenceEqual(r[1]["argmax"]) && r[0]["avg"].SequenceEqual(r[1]["avg"]), "the forward passes give the kernels' floats");
    }

    public static TheoryData<int, int, int, int, int, int, int, int, int> Convolutions => new()
    {
        // n, c, h, w, kh, kw, stride, padH, padW
        { 2, 3, 17, 19, 3, 3, 1, 1, 1 },
        { 3, 5, 13, 13, 3, 3, 1, 1, 1 },       // AlexNet's 13x13 layers: runs shorter than a vector
        { 1, 2, 23, 150, 11, 11, 4, 2, 2 },    // AlexNet's first layer: stride 4, runs of 36
        { 1, 2, 20, 90, 7, 7, 2, 3, 3 },       // ResNet's first layer: stride 2, runs of 45
        { 1, 2, 20, 60, 5, 5, 3, 2, 2 },       // stride 3
        { 2, 3, 9, 40, 1, 7, 1, 0, 3 },        // Inception's 1x7 and 7x1
        { 2, 3, 40, 9, 7, 1, 1, 3, 0 },
        { 2, 4, 14, 70, 1, 1, 2, 0, 0 },       // a strided 1x1 (downsampling) convolution
        { 1, 1, 3, 3, 5, 5, 1, 2, 2 },         // windows larger than the input
    };

    /// <summary>im2col and col2im tile by tile, whole samples to a tile and tiles that split samples, with every
    /// instruction set of the host kernels: im2col's copies exactly, col2im's sums to 1e-5.</summary>
    [Theory, MemberData(nameof(Convolutions))]
    public void Im2ColAndCol2ImInTiles(int n, int c, int h, int w, int kh, int kw, int stride, int padH, int padW)
    {
        var p = WindowParams.Create(n, c, h, w, kh, kw, stride, padH, padW);
        long column = (long)p.Ckk * sizeof(float);
        foreach (var bytes in new[] { long.MaxValue, column * (p.Ohw / 3 + 1) })
        foreach (var isa in Enum.GetValues<HostIsa>().Where(i => i <= HostCpu.Supported))
        {
            using var _ = HostCpu.Use(isa);
            var tiles = ConvTiling.Tiles(p, bytes).ToList();
            Assert.True(bytes == long.MaxValue || tiles.Any(t => t.T < p.Ohw), "the smaller workspace splits samples");
            var r = Both((t, k, o) =>
            {
                var x = t.Upload(Host.Random(n * c * h * w, 16), new[] { n * c * h * w }, "x");
                var dx = t.Full(x.Shape, 3f, "dx");
                var col = t.Empty(new[] { (int)ConvTiling.WorkspaceElements(p, bytes) }, "col");
                var cols = new List<float>();
                foreach (var tile in tiles)
                {
                    k.Im2Col(x.View, col.View, p, tile);
                    t.Device.Synchronize();
                    var all = t.Download(col);
                    cols.AddRange(all.Take((int)(tile.Columns * p.Ckk)));
                    k.Col2Im(col.View, dx.View, p, tile);
                }
                o["columns"] = cols.ToArray();
                Keep(t, o, ("dx", dx));
                x.Release(); col.Release();
            });
            Assert.True(r[0]["columns"].SequenceEqual(r[1]["columns"]), $"im2col {isa}, {bytes} B workspace: the columns differ");
            Same(r, 1e-5f, $"col2im {isa}, {bytes} B workspace");
        }
    }

    /// <summary>The inference fusions (batch norm then ReLU, add then ReLU, one pass each) give the floats of the two
    /// ops one after the other, on the host kernels and on the ILGPU kernels, ties at zero and −0 included.</summary>
    [Theory]
    [InlineData(2, 3, 17)]
    [InlineData(1, 17, 1025)]
    public void FusedReluGivesTheFloatsOfTheOpsInTurn(int n, int c, int hw)
    {
        var r = Both((t, k, o) =>
        {
            t.Recording = false;
            // coarse values: many sums are exactly 0 or −0
            float[] Values(int seed) => Host.Random(n * c * hw, seed).Select(v => MathF.Round(v * 4) / 4).Select((v, i) => i % 7 == 0 ? -0f : v).ToArray();
            var shape = new[] { n, c, hw, 1 };
            Tensor Up(float[] v, string name) => t.Upload(v, shape, name);
            Tensor Channel(int seed, float add) => t.Upload(Host.Random(c, seed).Select(v => MathF.Round(v * 4) / 4 + add).ToArray(), new[] { c }, "ch");
            var (rm, rv) = (Channel(21, 0f), Channel(22, 2f));
            var (xs, ys) = (Values(23), Values(24));
            var fusedBn = t.BatchNorm(Up(xs, "x"), Channel(25, 0f), Channel(26, 0f), rm, rv, training: false, relu: true);
            var plainBn = t.Relu(t.BatchNorm(Up(xs, "x"), Channel(25, 0f), Channel(26, 0f), rm, rv, training: false));
            var fusedAdd = t.Add(Up(xs, "a"), Up(ys, "b"), relu: true);
            var plainAdd = t.Relu(t.Add(Up(xs, "a"), Up(ys, "b")));
            Keep(t, o, ("bn+relu fused", fusedBn), ("bn then relu", plainBn), ("add+relu fused", fusedAdd), ("add then relu", plainAdd));
            rm.Release(); rv.Release();
        });
        foreach (var run in r)
        {
            Assert.True(run["bn+relu fused"].SequenceEqual(run["bn then relu"]), "batch norm + ReLU");
            Assert.True(run["add+relu fused"].SequenceEqual(run["add then relu"]), "add + ReLU");
            Assert.Contains(run["add then relu"], v => v == 0f);
        }
        Same(r, 1e-6f, $"fused ReLU {n}x{c}x{hw}");
    }

    [Theory]
    [InlineData(17, 17, 6, 6)]
    [InlineData(1, 1, 7, 7)]
    [InlineData(5, 3, 2, 4)]
    [InlineData(13, 13, 1, 1)]
    public void AdaptiveAveragePoolingForwardAndBackward(int h, int w, int oh, int ow)
    {
        var p = new AdaptivePoolParams { H = h, W = w, OH = oh, OW = ow };
        var r = Both((t, k, o) =>
        {
            var x = t.Upload(Host.Random(3 * h * w, 11), new[] { 3 * h * w }, "x");
            var dy = t.Upload(Host.Random(3 * oh * ow, 12), new[] { 3 * oh * ow }, "dy");
            var (y, dx) = (t.Empty(dy.Shape, "y"), t.Empty(x.Shape, "dx"));
            k.AdaptiveAvgPool(x.View, y.View, p);
            k.AdaptiveAvgPoolBackward(dy.View, dx.View, p);
            Keep(t, o, ("y", y), ("dx", dx));
            x.Release(); dy.Release();
        });
        Same(r, 1e-5f, $"adaptive {h}x{w} -> {oh}x{ow}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(1025)]
    [InlineData(70_001)]   // more than one chunk of the host loops
    public void DropoutMultiplyAndConcatenation(int n)
    {
        var r = Both((t, k, o) =>
        {
            var x = t.Upload(Host.Random(n, 13), new[] { n }, "x");
            var (y, mask, prod) = (t.Empty(x.Shape, "y"), t.Empty(x.Shape, "mask"), t.Empty(x.Shape, "prod"));
            k.Dropout(x.View, y.View, mask.View, 0.3f, 12345);
            k.Multiply(y.View, x.View, prod.View);
            // concatenation: x as [1, 1, n] into channel 1 of [1, 3, n] and back
            var cat = t.Full(new[] { 3 * n }, 7f, "cat");
            var back = t.Empty(x.Shape, "back");
            k.CopyChannels(x.View, cat.View, 1, 1, 3, 1, n, reverse: false);
            k.CopyChannels(back.View, cat.View, 1, 1, 3, 1, n, reverse: true);
            Keep(t, o, ("y", y), ("mask", mask), ("prod", prod), ("cat", cat), ("back", back));
            x.Release();
        });
        Same(r, 0, $"dropout {n}");
    }

    [Theory]
    [InlineData(3, 5, 17, 7, 17)]
    [InlineData(2, 17, 40, 23, 1)]
    [InlineData(1, 1, 1, 0, 1025)]
    public void ConcatenationAcrossSamples(int n, int srcC, int dstC, int off, int hw)
    {
        var r = Both((t, k, o) =>
        {
            var src = t.Upload(Host.Random(n * srcC * hw, 14), new[] { n * srcC * hw }, "src");
            var dst = t.Full(new[] { n * dstC * hw }, -1f, "dst");
            var back = t.Empty(src.Shape, "back");
            k.CopyChannels(src.View, dst.View, n, srcC, dstC, off, hw, reverse: false);
            k.CopyChannels(back.View, dst.View, n, srcC, dstC, off, hw, reverse: true);
            Keep(t, o, ("dst", dst), ("back", back));
            src.Release();
        });
        Same(r, 0, $"concat {n}x{srcC} into {dstC}@{off}, {hw}");
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(17, 10)]
    [InlineData(3, 1025)]
    public void SoftmaxCrossEntropyForwardAndBackward(int rows, int classes)
    {
        var r = Both((t, k, o) =>
        {
            var z = t.Upload(Host.Random(rows * classes, 15, 6f), new[] { rows * classes }, "z");
            var labels = t.UploadInt(Enumerable.Range(0, rows).Select(i => (i * 7) % classes).ToArray(), new[] { rows }, "labels");
            var (rowLoss, loss, dz) = (t.Empty(new[] { rows }, "rows"), t.Empty(new[] { 1 }, "loss"), t.Empty(z.Shape, "dz"));
            var seed = t.Full(new[] { 1 }, 0.75f, "seed");
            k.SoftmaxCrossEntropy(z.View, labels.IntView, rowLoss.View, loss.View, rows, classes);
            k.SoftmaxCrossEntropyBackward(z.View, labels.IntView, seed.View, dz.View, rows, classes);
            Keep(t, o, ("rows", rowLoss), ("loss", loss), ("dz", dz));
            z.Release(); labels.Release(); seed.Release();
        });
        Same(r, 0, $"loss {rows}x{classes}");
    }
}
