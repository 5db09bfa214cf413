using Pgmo.Kernels;

namespace Pgmo.Nn;

public sealed partial class Tape
{
    /// <summary>
    /// 2-D convolution of x [N, C, H, W] with w [OC, C, KH, KW] and optional bias [OC], by im2col + batched GEMM.
    /// The im2col workspace comes from the allocator and is freed before returning (the backward pass recomputes it);
    /// 1x1 stride-1 unpadded convolutions use x directly. Consumes its arguments.
    /// </summary>
    public Tensor Conv2d(Tensor x, Tensor w, Tensor? b, int stride = 1, int pad = 0) => Conv2d(x, w, b, stride, pad, pad);

    /// <summary>2-D convolution with separate vertical and horizontal padding (for 1x7 / 7x1 kernels).</summary>
    public Tensor Conv2d(Tensor x, Tensor w, Tensor? b, int stride, int padH, int padW)
    {
        if (x.Shape.Length != 4 || w.Shape.Length != 4 || x[1] != w[1])
            throw new ArgumentException($"conv2d: x {Dims(x)} does not match w {Dims(w)}");
        var p = WindowParams.Create(x[0], x[1], x[2], x[3], w[2], w[3], stride, padH, padW);
        if (p.OH <= 0 || p.OW <= 0) throw new ArgumentException($"conv2d: input {Dims(x)} too small for kernel {Dims(w)}");
        int oc = w[0];
        var y = Empty(new[] { p.N, oc, p.OH, p.OW }, Tag("conv.out"));
        var col = Im2Col(x, p, "conv.col");
        if (K is { } k)
        {
            k.Gemm(w.View, col.View, y.View, new GemmParams
            {
                M = oc, N = p.Ohw, K = p.Ckk, Batch = p.N, Alpha = 1f,
                ABatch = 0, ARow = p.Ckk, ACol = 1,
                BBatch = p.Ckk * p.Ohw, BRow = p.Ohw, BCol = 1,
                CBatch = oc * p.Ohw, CRow = p.Ohw, CCol = 1,
            });
            if (b is not null) k.AddBias(y.View, b.View, oc, p.Ohw);
        }
        col.Release();
        return Record(new ConvNode { Output = y, Inputs = b is null ? new[] { x, w } : new[] { x, w, b }, P = p });
    }

    /// <summary>The im2col matrix [N, C*KH*KW, OH*OW] of x (a new handle on x itself for 1x1/stride 1/pad 0).</summary>
    private Tensor Im2Col(Tensor x, WindowParams p, string tag)
    {
        if (IsPointwise(p)) return x.Share();
        var col = Empty(new[] { p.N, p.Ckk, p.Ohw }, Tag(tag));
        K?.Im2Col(x.View, col.View, p);
        return col;
    }

    private static bool IsPointwise(WindowParams p) => p.KH == 1 && p.KW == 1 && p.Stride == 1 && p.PadH == 0 && p.PadW == 0;

    private sealed class ConvNode : Node
    {
        public required WindowParams P;

        public override Tensor?[] Backward(Tape t, Tensor gy)
        {
            var (x, w) = (Inputs[0], Inputs[1]);
            var p = P;
            int oc = w[0];
            var g = new Tensor?[Inputs.Length];
            if (Inputs.Length > 2 && Inputs[2].RequiresGrad)
            {
                g[2] = t.Empty(Inputs[2].Shape, t.Tag("conv.db"));
                t.K?.ChannelSum(gy.View, g[2]!.View, p.N, oc, p.Ohw);
            }
            if (w.RequiresGrad)
            {
                var col = t.Im2Col(x, p, "conv.col.bwd");
                g[1] = t.Empty(w.Shape, t.Tag("conv.dw"));
                t.K?.Gemm(gy.View, col.View, g[1]!.View, new GemmParams
                {
                    M = oc, N = p.Ckk, K = p.Ohw, Batch = p.N, ReduceBatch = 1, Alpha = 1f,
                    ABatch = oc * p.Ohw, ARow = p.Ohw, ACol = 1,
                    BBatch = p.Ckk * p.Ohw, BRow = 1, BCol = p.Ohw,
                    CBatch = 0, CRow = p.Ckk, CCol = 1,
                });
                col.Release();
            }
            if (x.RequiresGrad)
            {
                bool pointwise = IsPointwise(p);
                var dcol = t.Empty(pointwise ? x.Shape : new[] { p.N, p.Ckk, p.Ohw }, t.Tag(pointwise ? "conv.dx" : "conv.dcol"));
                t.K?.Gemm(w.View, gy.View, dcol.View, new GemmParams
                {
                    M = p.Ckk, N = p.Ohw, K = oc, Batch = p.N, Alpha = 1f,
                    ABatch = 0, ARow = 1, ACol = p.Ckk,
                    BBatch = oc * p.Ohw, BRow = p.Ohw, BCol = 1,
                    CBatch = p.Ckk * p.Ohw, CRow = p.Ohw, CCol = 1,
                });
                if (pointwise) g[0] = dcol;
                else
                {
                    gy.Release();
                    gy = null!;
                    g[0] = t.Empty(x.Shape, t.Tag("conv.dx"));
                    t.K?.Col2Im(dcol.View, g[0]!.View, p);
                    dcol.Release();
                }
            }
            gy?.Release();
            return g;
        }

        public override void ReleaseSaved() { foreach (var i in Inputs) i.Release(); }
    }

    /// <summary>Max pooling with a square window; keeps the argmax (int) for the backward pass; consumes x.</summary>
    public Tensor MaxPool(Tensor x, int kernel, int stride, int pad = 0)
    {
        var p = Window(x, kernel, stride, pad, "maxpool");
        var y = Empty(new[] { p.N, p.C, p.OH, p.OW }, Tag("maxpool.out"));
        var arg = Empty(y.Shape, Tag("maxpool.argmax"), DType.I32);
        K?.MaxPool(x.View, y.View, arg.IntView, p);
        x.Release();
        return Record(new MaxPoolNode { Output = y, Inputs = new[] { x }, P = p, Arg = arg });
    }

    private sealed class MaxPoolNode : Node
    {
        public required WindowParams P;
        public Tensor? Arg;
        public override Tensor?[] Backward(Tape t, Tensor gy)
        {
            var dx = t.Empty(new[] { P.N, P.C, P.H, P.W }, t.Tag("maxpool.dx"));
            t.K?.MaxPoolBackward(gy.View, Arg!.IntView, dx.View, P);
            gy.Release();
            return new Tensor?[] { dx };
        }
        public override void ReleaseSaved() { Arg?.Release(); Arg = null; }
    }

    /// <summary>Average pooling with a square window (padding counts as zero); consumes x.</summary>
    public Tensor AvgPool(Tensor x, int kernel, int stride, int pad = 0)
    {
        var p = Window(x, kernel, stride, pad, "avgpool");
        var y = Empty(new[] { p.N, p.C, p.OH, p.OW }, Tag("avgpool.out"));
        K?.AvgPool(x.View, y.View, p);
        x.Release();
        return Record(new AvgPoolNode { Output = y, Inputs = new[] { x }, P = p });
    }

    /// <summary>Average over the whole plane: [N, C, H, W] to [N, C, 1, 1]; consumes x.</summary>
    public Tensor GlobalAvgPool(Tensor x)
    {
        if (x[2] != x[3]) throw new ArgumentException($"global average pool needs a square plane, got {Dims(x)}");
        return AvgPool(x, x[2], 1);
    }

    private sealed class AvgPoolNode : Node
    {
        public required WindowParams P;
        public override Tensor?[] Backward(Tape t, Tensor gy)
        {
            var dx = t.Empty(new[] { P.N, P.C, P.H, P.W }, t.Tag("avgpool.dx"));
            t.K?.AvgPoolBackward(gy.View, dx.View, P);
            gy.Release();
            return new Tensor?[] { dx };
        }
        public override void ReleaseSaved() { }
    }

    private static WindowParams Window(Tensor x, int kernel, int stride, int pad, string op)
    {
        if (x.Shape.Length != 4) throw new ArgumentException($"{op}: expected NCHW, got {Dims(x)}");
        var p = WindowParams.Create(x[0], x[1], x[2], x[3], kernel, kernel, stride, pad, pad);
        if (p.OH <= 0 || p.OW <= 0) throw new ArgumentException($"{op}: input {Dims(x)} too small for window {kernel}");
        return p;
    }

    /// <summary>
    /// Batch normalization over N, H, W per channel. Training: batch statistics (kept with x for the backward pass)
    /// and running statistics updated with momentum; inference: running statistics. Consumes x, gamma and beta.
    /// </summary>
    public Tensor BatchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar, bool training, float momentum = 0.1f, float eps = 1e-5f)
    {
        int hw = x.Shape.Length == 4 ? x[2] * x[3] : 1;
        var p = new ChannelParams { N = x[0], C = x[1], HW = hw, Eps = eps, Momentum = momentum };
        var y = Empty(x.Shape, Tag("bn.out"));
        if (!training)
        {
            K?.BatchNormApply(x.View, y.View, runMean.View, runVar.View, gamma.View, beta.View, p, scaleIsVariance: true);
            return Record(new BatchNormNode { Output = y, Inputs = new[] { x, gamma, beta }, P = p, Mean = null, InvStd = null });
        }
        var mean = Empty(new[] { p.C }, Tag("bn.mean"));
        var inv = Empty(new[] { p.C }, Tag("bn.invstd"));
        if (K is { } k)
        {
            k.BatchNormStats(x.View, mean.View, inv.View, runMean.View, runVar.View, p);
            k.BatchNormApply(x.View, y.View, mean.View, inv.View, gamma.View, beta.View, p, scaleIsVariance: false);
        }
        return Record(new BatchNormNode { Output = y, Inputs = new[] { x, gamma, beta }, P = p, Mean = mean, InvStd = inv });
    }

    private sealed class BatchNormNode : Node
    {
        public required ChannelParams P;
        public required Tensor? Mean, InvStd;

        public override Tensor?[] Backward(Tape t, Tensor gy)
        {
            if (Mean is null || InvStd is null) throw new InvalidOperationException("batch norm in inference mode has no backward pass");
            var (x, gamma) = (Inputs[0], Inputs[1]);
            var dgamma = t.Empty(gamma.Shape, t.Tag("bn.dgamma"));
            var dbeta = t.Empty(gamma.Shape, t.Tag("bn.dbeta"));
            t.K?.BatchNormGradStats(x.View, gy.View, Mean.View, InvStd.View, dgamma.View, dbeta.View, P);
            Tensor? dx = null;
            if (x.RequiresGrad)
            {
                dx = t.Empty(x.Shape, t.Tag("bn.dx"));
                t.K?.BatchNormBackward(x.View, gy.View, Mean.View, InvStd.View, gamma.View, dgamma.View, dbeta.View, dx.View, P);
            }
            gy.Release();
            return new Tensor?[] { dx, dgamma, dbeta };
        }

        public override void ReleaseSaved()
        {
            foreach (var i in Inputs) i.Release();
            Mean?.Release();
            InvStd?.Release();
            Mean = InvStd = null;
        }
    }
}
