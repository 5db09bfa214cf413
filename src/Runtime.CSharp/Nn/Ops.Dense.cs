using Pgmo.Kernels;

namespace Pgmo.Nn;

public sealed partial class Tape
{
    /// <summary>y = x W^T + b for x [N, In], W [Out, In], b [Out] (b may be null); consumes its arguments.</summary>
    public Tensor Linear(Tensor x, Tensor w, Tensor? b)
    {
        int n = x[0], inF = x[1], outF = w[0];
        using var _ = Time(OpKind.Linear, OpPhase.Forward, 2.0 * n * inF * outF);
        if (x.Shape.Length != 2 || w[1] != inF) throw new ArgumentException($"linear: x {Dims(x)} does not match W {Dims(w)}");
        var y = Empty(new[] { n, outF }, Tag("linear.out"));
        if (K is { } k)
        {
            k.Gemm(x.View, w.View, y.View, GemmParams.Plain(n, outF, inF, transA: false, transB: true));
            if (b is not null) k.AddBias(y.View, b.View, outF, 1);
        }
        return Record(new LinearNode { Output = y, Inputs = b is null ? new[] { x, w } : new[] { x, w, b } });
    }

    private sealed class LinearNode : Node
    {
        public override string Kind => OpKind.Linear;
        public override double BackwardFlop => 2.0 * Inputs[0][0] * Inputs[0][1] * Inputs[1][0] * ((Inputs[0].RequiresGrad ? 1 : 0) + (Inputs[1].RequiresGrad ? 1 : 0));
        public override Tensor?[] Backward(Tape t, Tensor gy)
        {
            var (x, w) = (Inputs[0], Inputs[1]);
            int n = x[0], inF = x[1], outF = w[0];
            var g = new Tensor?[Inputs.Length];
            if (x.RequiresGrad)
            {
                g[0] = t.Empty(x.Shape, t.Tag("linear.dx"));
                t.K?.Gemm(gy.View, w.View, g[0]!.View, GemmParams.Plain(n, inF, outF, false, false));
            }
            if (w.RequiresGrad)
            {
                g[1] = t.Empty(w.Shape, t.Tag("linear.dw"));
                t.K?.Gemm(gy.View, x.View, g[1]!.View, GemmParams.Plain(outF, inF, n, true, false));
            }
            if (Inputs.Length > 2 && Inputs[2].RequiresGrad)
            {
                g[2] = t.Empty(Inputs[2].Shape, t.Tag("linear.db"));
                t.K?.ChannelSum(gy.View, g[2]!.View, n, outF, 1);
            }
            gy.Release();
            return g;
        }

        public override void ReleaseSaved() { foreach (var i in Inputs) i.Release(); }
    }

    /// <summary>Flattens [N, ...] to [N, rest] over the same storage; consumes x.</summary>
    public Tensor Flatten(Tensor x)
    {
        using var _ = Time(OpKind.Reshape);
        var shape = x.Shape;
        var y = x.Reshaped(new[] { shape[0], (int)(x.Length / shape[0]) });
        return Record(new ReshapeNode { Output = y, Inputs = new[] { x }, InputShape = shape });
    }

    private sealed class ReshapeNode : Node
    {
        public required int[] InputShape;
        public override string Kind => OpKind.Reshape;
        public override Tensor?[] Backward(Tape t, Tensor gy) => new Tensor?[] { gy.Reshaped(InputShape) };
        public override void ReleaseSaved() { }
    }

    /// <summary>max(x, 0); keeps the output (not the input) for the backward pass; consumes x.</summary>
    public Tensor Relu(Tensor x)
    {
        using var _ = Time(OpKind.Relu);
        var y = Empty(x.Shape, Tag("relu.out"));
        K?.Relu(x.View, y.View);
        x.Release();
        return Record(new ReluNode { Output = y, Inputs = new[] { x }, Saved = Recording ? y.Share() : null });
    }

    private sealed class ReluNode : Node
    {
        public Tensor? Saved;
        public override string Kind => OpKind.Relu;
        public override bool Elementwise => true;
        public override void Rerun(KernelCache k, ArrayView<float>[] inputs, ArrayView<float> y) => k.Relu(inputs[0], y);
        public override Tensor?[] Backward(Tape t, Tensor gy)
        {
            var dx = t.Empty(gy.Shape, t.Tag("relu.dx"));
            t.K?.ReluBackward(Saved!.View, gy.View, dx.View);
            gy.Release();
            return new Tensor?[] { dx };
        }
        public override void ReleaseSaved() { Saved?.Release(); Saved = null; }
    }

    /// <summary>a + b of equal shapes (residual connections); consumes both.</summary>
    public Tensor Add(Tensor a, Tensor b) => Add(a, b, relu: false);

    /// <summary>
    /// a + b, then ReLU when <paramref name="relu"/> (a residual block's output): while not recording (inference:
    /// no backward pass) both in one pass over one output buffer, with the floats of the two ops one after the other
    /// (timed as add); while recording two ops, so the ReLU's backward pass has its output. Consumes both.
    /// </summary>
    public Tensor Add(Tensor a, Tensor b, bool relu)
    {
        if (relu && Recording) return Relu(Add(a, b, relu: false));
        if (a.Length != b.Length) throw new ArgumentException($"add: {Dims(a)} vs {Dims(b)}");
        using var _ = Time(OpKind.Add);
        var y = Empty(a.Shape, Tag("add.out"));
        K?.Add(a.View, b.View, y.View, relu);
        a.Release();
        b.Release();
        return Record(new AddNode { Output = y, Inputs = new[] { a, b } });
    }

    private sealed class AddNode : Node
    {
        public override string Kind => OpKind.Add;
        public override bool Elementwise => true;
        public override void Rerun(KernelCache k, ArrayView<float>[] inputs, ArrayView<float> y) => k.Add(inputs[0], inputs[1], y);
        public override Tensor?[] Backward(Tape t, Tensor gy)
        {
            bool ga = Inputs[0].RequiresGrad, gb = Inputs[1].RequiresGrad;
            if (ga && gb) return new Tensor?[] { gy.Share(), gy };
            if (ga) return new Tensor?[] { gy, null };
            if (gb) return new Tensor?[] { null, gy };
            gy.Release();
            return new Tensor?[2];
        }
        public override void ReleaseSaved() { }
    }

    /// <summary>Concatenates NCHW tensors along channels; consumes them.</summary>
    public Tensor Concat(IReadOnlyList<Tensor> xs)
    {
        using var _ = Time(OpKind.Concat);
        int n = xs[0][0], h = xs[0][2], w = xs[0][3];
        int total = xs.Sum(x => x[1]);
        foreach (var x in xs)
            if (x[0] != n || x[2] != h || x[3] != w) throw new ArgumentException($"concat: {Dims(x)} does not match {Dims(xs[0])}");
        var y = Empty(new[] { n, total, h, w }, Tag("concat.out"));
        int off = 0;
        foreach (var x in xs)
        {
            K?.CopyChannels(x.View, y.View, n, x[1], total, off, h * w, reverse: false);
            off += x[1];
            x.Release();
        }
        return Record(new ConcatNode { Output = y, Inputs = xs.ToArray() });
    }

    private sealed class ConcatNode : Node
    {
        public override string Kind => OpKind.Concat;
        public override Tensor?[] Backward(Tape t, Tensor gy)
        {
            var g = new Tensor?[Inputs.Length];
            int off = 0, total = gy[1], hw = gy[2] * gy[3];
            for (int i = 0; i < Inputs.Length; i++)
            {
                var x = Inputs[i];
                if (x.RequiresGrad)
                {
                    g[i] = t.Empty(x.Shape, t.Tag("concat.dx"));
                    t.K?.CopyChannels(g[i]!.View, gy.View, x[0], x[1], total, off, hw, reverse: true);
                }
                off += x[1];
            }
            gy.Release();
            return g;
        }
        public override void ReleaseSaved() { }
    }

    /// <summary>Mean softmax cross-entropy of logits [N, C] against int labels [N]: a scalar; consumes both.</summary>
    public Tensor SoftmaxCrossEntropy(Tensor logits, Tensor labels)
    {
        using var _ = Time(OpKind.Loss);
        int n = logits[0], c = logits[1];
        var rows = Empty(new[] { n }, Tag("loss.rows"));
        var loss = Empty(new[] { 1 }, Tag("loss"));
        K?.SoftmaxCrossEntropy(logits.View, labels.IntView, rows.View, loss.View, n, c);
        rows.Release();
        return Record(new SceNode { Output = loss, Inputs = new[] { logits, labels } });
    }

    private sealed class SceNode : Node
    {
        public override string Kind => OpKind.Loss;
        public override Tensor?[] Backward(Tape t, Tensor gy)
        {
            var z = Inputs[0];
            var dz = t.Empty(z.Shape, t.Tag("loss.dlogits"));
            t.K?.SoftmaxCrossEntropyBackward(z.View, Inputs[1].IntView, gy.View, dz.View, z[0], z[1]);
            gy.Release();
            return new Tensor?[] { dz, null };
        }
        public override void ReleaseSaved() { Inputs[0].Release(); Inputs[1].Release(); }
    }

    internal static string Dims(Tensor t) => "[" + string.Join("x", t.Shape) + "]";
}
