namespace Pgmo.Tests;

/// <summary>Every operation's backward pass against central finite differences of L = sum(r * op(inputs)).</summary>
[Collection("cpu")]
public sealed class GradientCheckTests(CpuFixture fx)
{
    /// <summary>Checks d/d(input i) of sum(r * f(inputs)) for every input marked in <paramref name="differentiable"/>.</summary>
    /// <paramref name="workspace"/> bounds the convolution workspace (null: the default).
    void Check(int[][] shapes, Func<Tape, Tensor[], Tensor> f, bool[]? differentiable = null, float h = 1e-2f, float tol = 2e-2f, int seed = 1, long? workspace = null)
    {
        var tape = Host.Tape(fx.Device, out var alloc);
        if (workspace is { } bytes) tape.ConvWorkspaceBytes = bytes;
        var data = shapes.Select((s, i) => Host.Random((int)Tensor.Count(s), seed + i)).ToArray();
        differentiable ??= shapes.Select(_ => true).ToArray();

        double Loss(float[][] xs, float[] r)
        {
            tape.Recording = false;
            var y = f(tape, xs.Select((x, i) => tape.Upload(x, shapes[i], "in")).ToArray());
            var v = tape.Download(y);
            y.Release();
            tape.Recording = true;
            double s = 0;
            for (int i = 0; i < v.Length; i++) s += (double)v[i] * r[i];
            return s;
        }

        var inputs = data.Select((x, i) => { var t = tape.Upload(x, shapes[i], "in"); t.RequiresGrad = differentiable[i]; return t; }).ToArray();
        foreach (var t in inputs) t.Share();                        // keep a handle to read the gradient
        var yv = f(tape, inputs);
        var r = Host.Random((int)yv.Length, 99);
        tape.Backward(yv, tape.Upload(r, yv.Shape, "seed"));
        yv.Release();
        for (int i = 0; i < inputs.Length; i++)
        {
            if (!differentiable[i]) { Assert.Null(inputs[i].Grad); inputs[i].Release(); continue; }
            var g = tape.Download(inputs[i].Grad!);
            for (int e = 0; e < data[i].Length; e++)
            {
                float keep = data[i][e];
                data[i][e] = keep + h; double up = Loss(data, r);
                data[i][e] = keep - h; double down = Loss(data, r);
                data[i][e] = keep;
                double num = (up - down) / (2 * h);
                Assert.True(Math.Abs(num - g[e]) <= tol * (1 + Math.Abs(num)), $"input {i} element {e}: numeric {num:0.00000}, backward {g[e]:0.00000}");
            }
            inputs[i].Grad!.Release();
            inputs[i].Release();
        }
        Assert.Equal(0, tape.PendingNodes);
        Assert.Equal(0, alloc.LiveBlocks);
    }

    [Fact] public void Linear() => Check(new[] { new[] { 3, 4 }, new[] { 5, 4 }, new[] { 5 } }, (t, x) => t.Linear(x[0], x[1], x[2]));

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 1)]
    [InlineData(1, 0)]
    public void Conv2d(int stride, int pad) =>
        Check(new[] { new[] { 2, 2, 5, 5 }, new[] { 3, 2, 3, 3 }, new[] { 3 } }, (t, x) => t.Conv2d(x[0], x[1], x[2], stride, pad));

    /// <summary>A workspace of 7 output positions' columns (2*3*3 floats each): tiles split samples and rows.</summary>
    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 0)]
    public void Conv2dInTiles(int stride, int pad) =>
        Check(new[] { new[] { 2, 2, 5, 6 }, new[] { 3, 2, 3, 3 }, new[] { 3 } }, (t, x) => t.Conv2d(x[0], x[1], x[2], stride, pad), workspace: 7 * 18 * sizeof(float));

    [Fact] public void PointwiseConv() => Check(new[] { new[] { 2, 3, 2, 2 }, new[] { 2, 3, 1, 1 } }, (t, x) => t.Conv2d(x[0], x[1], null));

    [Fact] public void AsymmetricConv() => Check(new[] { new[] { 1, 2, 4, 5 }, new[] { 2, 2, 1, 3 } }, (t, x) => t.Conv2d(x[0], x[1], null, 1, 0, 1));

    [Fact] public void MaxPool() => Check(new[] { new[] { 2, 2, 5, 5 } }, (t, x) => t.MaxPool(x[0], 3, 2, 1), h: 1e-3f);

    [Fact] public void AvgPool() => Check(new[] { new[] { 2, 2, 5, 5 } }, (t, x) => t.AvgPool(x[0], 3, 2, 1));

    [Fact] public void AdaptiveAvgPool() => Check(new[] { new[] { 2, 2, 5, 7 } }, (t, x) => t.AdaptiveAvgPool(x[0], 3, 4));

    [Fact] public void AdaptiveAvgPoolEnlarging() => Check(new[] { new[] { 1, 2, 2, 3 } }, (t, x) => t.AdaptiveAvgPool(x[0], 5, 4));

    [Fact] public void Dropout() => Check(new[] { new[] { 3, 17 } }, (t, x) => t.Dropout(x[0], 0.4f, seed: 5));

    [Fact] public void Relu() => Check(new[] { new[] { 17 } }, (t, x) => t.Relu(x[0]), h: 1e-3f);

    [Fact] public void AddWithSharedInput() => Check(new[] { new[] { 2, 3 }, new[] { 2, 3 } }, (t, x) => t.Add(t.Relu(x[0].Share()), t.Add(x[0], x[1])), h: 1e-3f);

    [Fact]
    public void BatchNorm()
    {
        var stats = new List<Tensor>();
        Check(new[] { new[] { 3, 2, 2, 2 }, new[] { 2 }, new[] { 2 } }, (t, x) =>
        {
            var m = t.Full(new[] { 2 }, 0f, "rm"); var v = t.Full(new[] { 2 }, 1f, "rv");
            var y = t.BatchNorm(x[0], x[1], x[2], m, v, training: true);
            m.Release(); v.Release();   // the op does not keep running statistics alive
            return y;
        }, h: 1e-2f, tol: 3e-2f);
    }

    [Fact] public void ConcatAndFlatten() => Check(new[] { new[] { 2, 1, 2, 2 }, new[] { 2, 3, 2, 2 } }, (t, x) => t.Flatten(t.Concat(new[] { x[0], x[1] })));

    [Fact]
    public void SoftmaxCrossEntropy() => Check(new[] { new[] { 4, 5 } }, (t, x) =>
        t.SoftmaxCrossEntropy(x[0], t.UploadInt(new[] { 0, 4, 2, 2 }, new[] { 4 }, "labels")));

    [Fact]
    public void InputWithoutGradientGetsNone() =>
        Check(new[] { new[] { 1, 2, 4, 4 }, new[] { 2, 2, 3, 3 } }, (t, x) => t.Conv2d(x[0], x[1], null, 1, 1), differentiable: new[] { false, true });
}
