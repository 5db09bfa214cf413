using Pgmo.Kernels;

namespace Pgmo.Nn;

public sealed partial class Tape
{
    /// <summary>
    /// The most bytes one convolution's im2col workspace may take (default <see cref="ConvTiling.DefaultWorkspaceBytes"/>,
    /// 8 MiB); a tile still holds at least one output position's column (C*KH*KW floats). Set it before the first
    /// step: a planned allocator replays the request sizes it was profiled with.
    /// </summary>
    public long ConvWorkspaceBytes
    {
        get => convWorkspaceBytes;
        set => convWorkspaceBytes = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "the convolution workspace must be positive");
    }
    private long convWorkspaceBytes = ConvTiling.DefaultWorkspaceBytes;

    /// <summary>
    /// The bound of each workspace request of an iteration, in request order (the i-th bounds the i-th
    /// <c>conv.workspace</c> allocation after <see cref="BeginIteration"/>; requests past the list, and every request
    /// outside an iteration, get <see cref="ConvWorkspaceBytes"/>). Null: every request gets
    /// <see cref="ConvWorkspaceBytes"/>. <c>--conv-workspace auto</c> sets it to the bytes free in the plan at each
    /// request (<see cref="Training.WorkspaceGrowth"/>); set it before the first iteration.
    /// </summary>
    public IReadOnlyList<long>? WorkspaceBounds
    {
        get => workspaceBounds;
        set => workspaceBounds = value is null || value.All(b => b >= 1) ? value : throw new ArgumentOutOfRangeException(nameof(value), "every workspace bound must be positive");
    }
    private IReadOnlyList<long>? workspaceBounds;
    private int workspaceRequests = -1;   // workspace requests of the iteration in progress; -1: outside an iteration

    /// <summary>An iteration begins: its workspace requests take <see cref="WorkspaceBounds"/> in order, and its trade
    /// bookkeeping starts (<see cref="AwayAfter"/>).</summary>
    public void BeginIteration() { workspaceRequests = 0; BeginTrades(); }

    /// <summary>The iteration has ended: later workspace requests take <see cref="ConvWorkspaceBytes"/>; the saved windows
    /// it saw are noted (<see cref="SavedWindows"/>).</summary>
    public void EndIteration() { workspaceRequests = -1; EndTrades(); }

    /// <summary>The bound of the next workspace request (counted within an iteration).</summary>
    private long NextWorkspaceBound()
    {
        if (workspaceRequests < 0) return ConvWorkspaceBytes;
        int i = workspaceRequests++;
        return workspaceBounds is { } b && i < b.Count ? b[i] : ConvWorkspaceBytes;
    }

    /// <summary>
    /// 2-D convolution of x [N, C, H, W] with w [OC, C, KH, KW] and optional bias [OC], by im2col + GEMM over tiles of
    /// output positions whose columns fit in one workspace of at most its bound (<see cref="ConvWorkspaceBytes"/>, or
    /// its entry in <see cref="WorkspaceBounds"/>; an allocator buffer tagged conv.workspace, freed before returning;
    /// the backward pass recomputes the columns in a workspace of its own bound). 1x1 stride-1
    /// unpadded convolutions use x directly, with no workspace. Consumes its arguments.
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
        using var _ = Time(OpKind.Conv, OpPhase.Forward, Flop(p, oc));
        var y = Empty(new[] { p.N, oc, p.OH, p.OW }, Tag("conv.out"));
        // the bias goes in with the GEMM's stores where the host GEMM takes it (M and K, the same for every tile, decide)
        bool fuseBias = b is not null && K is { } kb && kb.FusesRowBias(ForwardGemm(p, oc, 1, 1));
        void Gemm(KernelCache k, ArrayView<float> cols, ArrayView<float> output, GemmParams g)
        {
            if (fuseBias) k.GemmRowBias(w.View, cols, output, g, b!.View);
            else k.Gemm(w.View, cols, output, g);
        }
        if (IsPointwise(p))
        {
            if (K is { } k) using (Part("gemm")) Gemm(k, x.View, y.View, ForwardGemm(p, oc, p.N, p.Ohw));
        }
        else
        {
            long limit = NextWorkspaceBound();
            var ws = Empty(new[] { checked((int)ConvTiling.WorkspaceElements(p, limit)) }, Tag("conv.workspace"));
            if (K is { } k)
                foreach (var tile in ConvTiling.Tiles(p, limit))
                {
                    using (Part("im2col")) k.Im2Col(x.View, ws.View, p, tile);
                    using (Part("gemm")) Gemm(k, ws.View, y.View.SubView(OutputOffset(p, oc, tile)), ForwardGemm(p, oc, tile.Nb, tile.T));
                }
            ws.Release();
        }
        if (b is not null && !fuseBias) using (Part("bias")) K?.AddBias(y.View, b.View, oc, p.Ohw);
        return Record(new ConvNode { Output = y, Inputs = b is null ? new[] { x, w } : new[] { x, w, b }, P = p });
    }

    /// <summary>Multiply-adds times two of one convolution's GEMM (forward; each gradient costs the same).</summary>
    private static double Flop(WindowParams p, int oc) => 2.0 * p.N * oc * p.Ohw * p.Ckk;

    private static bool IsPointwise(WindowParams p) => p.KH == 1 && p.KW == 1 && p.Stride == 1 && p.PadH == 0 && p.PadW == 0;

    /// <summary>Where a tile's first output (or output gradient) element lives in y [N, OC, OH*OW].</summary>
    private static long OutputOffset(WindowParams p, int oc, ConvTile tile) => (long)tile.N0 * oc * p.Ohw + tile.Q0;

    /// <summary>y[n, :, q] = W [OC, Ckk] x col[n, Ckk, q] for <paramref name="samples"/> samples of <paramref name="positions"/> columns.</summary>
    internal static GemmParams ForwardGemm(WindowParams p, int oc, int samples, int positions) => new()
    {
        M = oc, N = positions, K = p.Ckk, Batch = samples, Alpha = 1f,
        ABatch = 0, ARow = p.Ckk, ACol = 1,
        BBatch = (long)p.Ckk * positions, BRow = positions, BCol = 1,
        CBatch = (long)oc * p.Ohw, CRow = p.Ohw, CCol = 1,
    };

    /// <summary>dW [OC, Ckk] (+)= sum over samples of gy[n, :, q] x col[n, Ckk, q]^T.</summary>
    internal static GemmParams WeightGradGemm(WindowParams p, int oc, int samples, int positions, bool accumulate) => new()
    {
        M = oc, N = p.Ckk, K = positions, Batch = samples, ReduceBatch = 1, Alpha = 1f, Beta = accumulate ? 1f : 0f,
        ABatch = (long)oc * p.Ohw, ARow = p.Ohw, ACol = 1,
        BBatch = (long)p.Ckk * positions, BRow = 1, BCol = positions,
        CBatch = 0, CRow = p.Ckk, CCol = 1,
    };

    /// <summary>dcol[n, Ckk, q] = W^T x gy[n, :, q].</summary>
    internal static GemmParams InputGradGemm(WindowParams p, int oc, int samples, int positions) => new()
    {
        M = p.Ckk, N = positions, K = oc, Batch = samples, Alpha = 1f,
        ABatch = 0, ARow = 1, ACol = p.Ckk,
        BBatch = (long)oc * p.Ohw, BRow = p.Ohw, BCol = 1,
        CBatch = (long)p.Ckk * positions, CRow = positions, CCol = 1,
    };

    private sealed class ConvNode : Node
    {
        public required WindowParams P;
        public override string Kind => OpKind.Conv;
        public override double BackwardFlop => Flop(P, Inputs[1][0]) * ((Inputs[0].RequiresGrad ? 1 : 0) + (Inputs[1].RequiresGrad ? 1 : 0));

        public override Tensor?[] Backward(Tape t, Tensor gy)
        {
            var (x, w) = (Inputs[0], Inputs[1]);
            var p = P;
            int oc = w[0];
            var g = new Tensor?[Inputs.Length];
            var k = t.K;
            if (Inputs.Length > 2 && Inputs[2].RequiresGrad)
            {
                g[2] = t.Empty(Inputs[2].Shape, t.Tag("conv.db"));
                using (t.Part("bias")) k?.ChannelSum(gy.View, g[2]!.View, p.N, oc, p.Ohw);
            }
            bool dw = w.RequiresGrad, dx = x.RequiresGrad;
            if (dw) g[1] = t.Empty(w.Shape, t.Tag("conv.dw"));
            if (dx) g[0] = t.Empty(x.Shape, t.Tag("conv.dx"));
            if (IsPointwise(p))
            {
                if (dw) using (t.Part("gemm dW")) k?.Gemm(gy.View, x.View, g[1]!.View, WeightGradGemm(p, oc, p.N, p.Ohw, accumulate: false));
                if (dx) using (t.Part("gemm dX")) k?.Gemm(w.View, gy.View, g[0]!.View, InputGradGemm(p, oc, p.N, p.Ohw));
            }
            else if (dw || dx)
            {
                long bound = t.NextWorkspaceBound();
                var ws = t.Empty(new[] { checked((int)ConvTiling.WorkspaceElements(p, bound)) }, t.Tag("conv.workspace"));
                if (k is not null)
                {
                    if (dx && ConvTiling.SplitsSamples(p, bound)) k.Fill(g[0]!.View, 0f);
                    bool first = true;
                    foreach (var tile in ConvTiling.Tiles(p, bound))
                    {
                        var gyTile = gy.View.SubView(OutputOffset(p, oc, tile));
                        if (dw)
                        {
                            using (t.Part("im2col")) k.Im2Col(x.View, ws.View, p, tile);
                            using (t.Part("gemm dW")) k.Gemm(gyTile, ws.View, g[1]!.View, WeightGradGemm(p, oc, tile.Nb, tile.T, accumulate: !first));
                            first = false;
                        }
                        if (dx)
                        {
                            using (t.Part("gemm dX")) k.Gemm(w.View, gyTile, ws.View, InputGradGemm(p, oc, tile.Nb, tile.T));
                            using (t.Part("col2im")) k.Col2Im(ws.View, g[0]!.View, p, tile);
                        }
                    }
                }
                ws.Release();
            }
            gy.Release();
            return g;
        }

        public override void ReleaseSaved() { foreach (var i in Inputs) i.Release(); }
    }

    /// <summary>Max pooling with a square window; keeps the argmax (int) for the backward pass; consumes x.</summary>
    public Tensor MaxPool(Tensor x, int kernel, int stride, int pad = 0)
    {
        using var _ = Time(OpKind.MaxPool);
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
        public override string Kind => OpKind.MaxPool;
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
        using var _ = Time(OpKind.AvgPool);
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
        public override string Kind => OpKind.AvgPool;
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
    public Tensor BatchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar, bool training, float momentum = 0.1f, float eps = 1e-5f) =>
        BatchNorm(x, gamma, beta, runMean, runVar, training, relu: false, momentum, eps);

    /// <summary>
    /// <see cref="BatchNorm(Tensor, Tensor, Tensor, Tensor, Tensor, bool, float, float)"/>, then ReLU when
    /// <paramref name="relu"/>: in inference (no backward pass through batch norm) both in one pass over one output
    /// buffer, with the floats of the two ops one after the other (timed as batch norm); in training two ops.
    /// </summary>
    public Tensor BatchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor runMean, Tensor runVar, bool training, bool relu, float momentum = 0.1f, float eps = 1e-5f)
    {
        if (training && relu) return Relu(BatchNorm(x, gamma, beta, runMean, runVar, training, relu: false, momentum, eps));
        using var _ = Time(OpKind.BatchNorm);
        int hw = x.Shape.Length == 4 ? x[2] * x[3] : 1;
        var p = new ChannelParams { N = x[0], C = x[1], HW = hw, Eps = eps, Momentum = momentum };
        var y = Empty(x.Shape, Tag("bn.out"));
        if (!training)
        {
            K?.BatchNormApply(x.View, y.View, runMean.View, runVar.View, gamma.View, beta.View, p, scaleIsVariance: true, relu);
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
        public override string Kind => OpKind.BatchNorm;
        // training mode: the apply with the batch statistics the forward pass saved (the same kernel, the same floats)
        public override bool Elementwise => Mean is not null && InvStd is not null;
        public override IEnumerable<Tensor> RerunReads => new[] { Mean!, InvStd! };
        public override void Rerun(KernelCache k, ArrayView<float>[] inputs, ArrayView<float> y) =>
            k.BatchNormApply(inputs[0], y, Mean!.View, InvStd!.View, inputs[1], inputs[2], P, scaleIsVariance: false);

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
