using ILGPU.Runtime.Cuda;

namespace Pgmo.Kernels;

/// <summary>Which GEMM implementation a <see cref="KernelCache"/> runs.</summary>
public enum GemmKernel
{
    /// <summary>Cache-blocked, vectorized, multi-threaded C# on the CPU accelerator's host memory (<see cref="HostGemm"/>).</summary>
    HostBlocked,
    /// <summary>One ILGPU thread per output element (the reference).</summary>
    Simple,
    /// <summary>The ILGPU shared-memory tiled kernel (GPUs without cuBLAS).</summary>
    Tiled,
    /// <summary>NVIDIA cuBLAS through ILGPU.Algorithms (CUDA).</summary>
    CuBlas,
}

/// <summary>
/// Every kernel loaded once per accelerator (lazily, on first use) with typed launch methods. Element launches are
/// split by <see cref="LaunchSplit"/> so no extent passes 2^31 - 1 threads. GEMMs run through <see cref="Gemm"/>'s
/// choice of <see cref="GemmKernel"/>; channel reductions run one group per channel on GPUs
/// (<see cref="ParallelReductions"/>) and one thread per channel on the CPU accelerator.
/// </summary>
public sealed partial class KernelCache : IDisposable
{
    private readonly Accelerator acc;
    private readonly bool cpu;
    private readonly int cpuThreads;
    private readonly CuBlas? blas;

    /// <summary>Kernels for <paramref name="accelerator"/>.</summary>
    public KernelCache(Accelerator accelerator)
    {
        acc = accelerator;
        cpu = accelerator.AcceleratorType == AcceleratorType.CPU;
        cpuThreads = accelerator.MaxNumThreads;
        if (accelerator is CudaAccelerator cuda)
        {
            try { blas = new CuBlas(cuda) { Stream = (CudaStream)cuda.DefaultStream }; }
            catch (Exception e)
            {
                // any failure to load or initialize cuBLAS leaves the tiled kernel in charge, with the reason kept
                CuBlasError = $"{e.GetType().Name}: {e.Message}";
            }
        }
        GemmKernel = cpu ? GemmKernel.HostBlocked : blas is not null ? GemmKernel.CuBlas : GemmKernel.Tiled;
        ParallelReductions = !cpu;
        host = cpu;
        MaxPartElements = cpu ? long.MaxValue : LaunchSplit.MaxThreads;
    }

    /// <summary>The GEMM implementation in use (settable, for tests and benchmarks; CuBlas needs a CUDA accelerator
    /// with cuBLAS found, HostBlocked the CPU accelerator).</summary>
    public GemmKernel GemmKernel
    {
        get => gemmKernel;
        set
        {
            if (value == GemmKernel.CuBlas && blas is null) throw new InvalidOperationException($"cuBLAS is not available on {acc.Name}{(CuBlasError is null ? "" : ": " + CuBlasError)}");
            if (value == GemmKernel.HostBlocked && !cpu) throw new InvalidOperationException("the host GEMM needs the CPU accelerator");
            gemmKernel = value;
        }
    }
    private GemmKernel gemmKernel;

    /// <summary>Why cuBLAS could not be loaded on a CUDA accelerator (null when it was, or on other accelerators).</summary>
    public string? CuBlasError { get; }

    /// <summary>
    /// TF32 tensor-core math for the cuBLAS GEMMs (cuBLAS's CUBLAS_TF32_TENSOR_OP_MATH: inputs rounded to 10 mantissa
    /// bits, FP32 accumulation), off by default. It changes nothing where cuBLAS is not in use (the CPU accelerator,
    /// the ILGPU GEMMs); <see cref="Tf32Active"/> says whether it applies.
    /// </summary>
    public bool Tf32
    {
        get => tf32;
        set
        {
            tf32 = value;
            if (blas is not null) blas.MathMode = value ? Tf32TensorOpMath : CuBlasMathMode.DefaultMath;
        }
    }
    private bool tf32;

    /// <summary>cuBLAS's CUBLAS_TF32_TENSOR_OP_MATH (3), which ILGPU's <see cref="CuBlasMathMode"/> does not name.</summary>
    private const CuBlasMathMode Tf32TensorOpMath = (CuBlasMathMode)3;

    /// <summary>True when <see cref="Tf32"/> is on and the GEMMs run through cuBLAS.</summary>
    public bool Tf32Active => tf32 && blas is not null && GemmKernel == GemmKernel.CuBlas;

    /// <summary>True when every kernel of a step other than the GEMM runs as vectorized, multi-threaded host code on
    /// the CPU accelerator's memory: im2col and col2im (<see cref="HostWindow"/>), bias, channel sums and batch norm
    /// (<see cref="HostChannels"/>), pooling (<see cref="HostPool"/>), the loss (<see cref="HostLoss"/>), and SGD,
    /// fill, axpy, add, relu, dropout, multiply and concatenation (<see cref="HostElementwise"/>); the default there.
    /// False: the ILGPU kernels (always on GPUs).</summary>
    public bool HostKernels
    {
        get => host;
        set => host = !value || cpu ? value : throw new InvalidOperationException("host kernels need the CPU accelerator");
    }
    private bool host;

    /// <summary>True when GEMMs use the tiled ILGPU kernel.</summary>
    public bool UsesTiledGemm => GemmKernel == GemmKernel.Tiled;

    /// <summary>True when channel sums, batch-norm statistics and the loss total run as group reductions (one group
    /// of <see cref="KernelBodies.ReduceGroup"/> threads per channel); the default on GPUs.</summary>
    public bool ParallelReductions { get; set; }

    /// <summary>
    /// Threads to launch for a part of <paramref name="n"/> elements: all of them on a GPU; on the CPU accelerator at
    /// most a few per core (every kernel is a grid-stride loop), because its per-group cost dwarfs one element's work.
    /// </summary>
    private Index1D Extent(long n) => (int)Math.Max(1, cpu ? Math.Min(n, cpuThreads) : Math.Min(n, LaunchSplit.MaxThreads));

    /// <summary>The most elements one launch covers: 2^31 - 1 on GPUs (one thread each), unbounded on the CPU
    /// accelerator (a few threads loop over all). Tests lower it to run the split on small views.</summary>
    internal long MaxPartElements { get; set; }

    /// <summary>Launches <paramref name="launch"/> once per part of [0, n) (no launch when n is 0).</summary>
    private void ForParts(long n, Action<Index1D, ElementRange> launch) => ForParts(new ElementRange { Start = 0, End = n }, launch);

    /// <summary>Launches <paramref name="launch"/> once per part of <paramref name="range"/>.</summary>
    private void ForParts(ElementRange range, Action<Index1D, ElementRange> launch)
    {
        foreach (var part in LaunchSplit.Parts(range.Count, MaxPartElements))
            launch(Extent(part.Count), new ElementRange { Start = range.Start + part.Start, End = range.Start + part.End });
    }

    private Action<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>? gemmSimple;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>? gemmTiled;
    private Action<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, WindowParams, ConvTile>? im2col, col2im;
    private Action<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, WindowParams>? avgPool, avgPoolBack;
    private Action<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, int, int>? addBias;
    private Action<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, ChannelParams>? channelSum;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ChannelParams>? channelSumGroup;
    private Action<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, ArrayView<int>, WindowParams>? maxPool;
    private Action<Index1D, ElementRange, ArrayView<float>, ArrayView<int>, ArrayView<float>, WindowParams>? maxPoolBack;
    private Action<Index1D, ElementRange, ArrayView<float>, ArrayView<float>>? relu;
    private Action<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, ArrayView<float>>? reluBack, add;
    private Action<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, float>? axpy;
    private Action<Index1D, ElementRange, ArrayView<float>, float>? fill;
    private Action<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, int, int, int, int, int, int>? copyChannels;
    private Action<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelParams>? bnStats;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelParams>? bnStatsGroup;
    private Action<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelParams, int>? bnApply;
    private Action<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelParams>? bnGradStats;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelParams>? bnGradStatsGroup;
    private Action<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelParams>? bnBack;
    private Action<Index1D, ElementRange, ArrayView<float>, ArrayView<int>, ArrayView<float>, int>? sce;
    private Action<Index1D, ElementRange, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int>? sceBack;
    private Action<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float, float>? sgd;

    /// <summary>Batched strided GEMM (see <see cref="GemmParams"/>) with the kernel <see cref="GemmKernel"/> names.</summary>
    public void Gemm(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmParams p)
    {
        if (p.M == 0 || p.N == 0) return;
        switch (GemmKernel)
        {
            case GemmKernel.HostBlocked:
                acc.Synchronize();
                HostGemm.Run(a, b, c, p);
                break;
            case GemmKernel.CuBlas when CuBlasGemm.TryRun(blas!, a, b, c, p):
                break;
            case GemmKernel.Simple:
                gemmSimple ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>(KernelBodies.GemmSimple);
                ForParts(p.Outputs, (e, r) => gemmSimple(e, r, a, b, c, p));
                break;
            default:
                gemmTiled ??= acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>(KernelBodies.GemmTiled);
                int t = KernelBodies.Tile;
                var grid = new Index3D((p.N + t - 1) / t, (p.M + t - 1) / t, p.ReduceBatch != 0 ? 1 : p.Batch);
                gemmTiled(new KernelConfig(grid, new Index3D(t, t, 1)), a, b, c, p);
                break;
        }
    }

    /// <summary>True when <see cref="GemmRowBias"/> takes <paramref name="p"/>: the host GEMM's blocked products (not
    /// the few-row or short-K ones, not sums over batches).</summary>
    public bool FusesRowBias(GemmParams p) => GemmKernel == GemmKernel.HostBlocked && HostGemm.TakesRowBias(p);

    /// <summary>
    /// <see cref="Gemm"/> with c[b, i, j] += bias[i] for every row i (a convolution's output channels) added as the
    /// product is stored, so the bias needs no pass of its own; only where <see cref="FusesRowBias"/> says so.
    /// </summary>
    public void GemmRowBias(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmParams p, ArrayView<float> bias)
    {
        if (!FusesRowBias(p)) throw new InvalidOperationException("this GEMM does not take a row bias (see FusesRowBias)");
        acc.Synchronize();
        HostGemm.RunWithRowBias(a, b, c, p, bias);
    }

    /// <summary>The im2col columns of one tile of a convolution into <paramref name="col"/> (laid out [Nb, C*KH*KW, T]).</summary>
    public void Im2Col(ArrayView<float> x, ArrayView<float> col, WindowParams p, ConvTile tile)
    {
        if (host) { acc.Synchronize(); HostWindow.Im2Col(x, col, p, tile); return; }
        im2col ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, WindowParams, ConvTile>(KernelBodies.Im2Col);
        ForParts(tile.Columns * p.Ckk, (e, r) => im2col(e, r, x, col, p, tile));
    }

    /// <summary>Adds (or writes, see <see cref="ConvTile.Accumulate"/>) one tile's columns back into the input gradient.</summary>
    public void Col2Im(ArrayView<float> col, ArrayView<float> dx, WindowParams p, ConvTile tile)
    {
        if (host) { acc.Synchronize(); HostWindow.Col2Im(col, dx, p, tile); return; }
        col2im ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, WindowParams, ConvTile>(KernelBodies.Col2Im);
        ForParts((long)tile.Nb * p.C * (tile.H1 - tile.H0) * p.W, (e, r) => col2im(e, r, col, dx, p, tile));
    }

    public void AddBias(ArrayView<float> y, ArrayView<float> bias, int channels, int hw)
    {
        if (host) { acc.Synchronize(); HostChannels.AddBias(y, bias, channels, hw); return; }
        addBias ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, int, int>(KernelBodies.AddBias);
        ForParts(y.Length, (e, r) => addBias(e, r, y, bias, channels, hw));
    }

    /// <summary>sum[c] = sum over samples and pixels of v[n, c, pixel].</summary>
    public void ChannelSum(ArrayView<float> v, ArrayView<float> sum, int n, int channels, int hw) =>
        ChannelSum(v, sum, new ChannelParams { N = n, C = channels, HW = hw, Scale = 1f });

    private void ChannelSum(ArrayView<float> v, ArrayView<float> sum, ChannelParams p)
    {
        if (host) { acc.Synchronize(); HostChannels.ChannelSum(v, sum, p); return; }
        if (ParallelReductions)
        {
            channelSumGroup ??= acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ChannelParams>(KernelBodies.ChannelSumGroup);
            channelSumGroup(ReduceConfig(p.C), v, sum, p);
            return;
        }
        channelSum ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, ChannelParams>(KernelBodies.ChannelSum);
        ForParts(p.C, (e, r) => channelSum(e, r, v, sum, p));
    }

    /// <summary>One group per channel, of <see cref="KernelBodies.ReduceGroup"/> threads or the largest power of two
    /// the accelerator's groups hold.</summary>
    private KernelConfig ReduceConfig(int channels)
    {
        int group = KernelBodies.ReduceGroup;
        while (group > acc.MaxNumThreadsPerGroup) group /= 2;
        return new(new Index1D(channels), new Index1D(group));
    }

    public void MaxPool(ArrayView<float> x, ArrayView<float> y, ArrayView<int> arg, WindowParams p)
    {
        if (host) { acc.Synchronize(); HostPool.MaxPool(x, y, arg, p); return; }
        maxPool ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, ArrayView<int>, WindowParams>(KernelBodies.MaxPool);
        ForParts(y.Length, (e, r) => maxPool(e, r, x, y, arg, p));
    }

    public void MaxPoolBackward(ArrayView<float> dy, ArrayView<int> arg, ArrayView<float> dx, WindowParams p)
    {
        if (host) { acc.Synchronize(); HostPool.MaxPoolBackward(dy, arg, dx, p); return; }
        maxPoolBack ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<int>, ArrayView<float>, WindowParams>(KernelBodies.MaxPoolBackward);
        ForParts(dx.Length, (e, r) => maxPoolBack(e, r, dy, arg, dx, p));
    }

    public void AvgPool(ArrayView<float> x, ArrayView<float> y, WindowParams p)
    {
        if (host) { acc.Synchronize(); HostPool.AvgPool(x, y, p); return; }
        avgPool ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, WindowParams>(KernelBodies.AvgPool);
        ForParts(y.Length, (e, r) => avgPool(e, r, x, y, p));
    }

    public void AvgPoolBackward(ArrayView<float> dy, ArrayView<float> dx, WindowParams p)
    {
        if (host) { acc.Synchronize(); HostPool.AvgPoolBackward(dy, dx, p); return; }
        avgPoolBack ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, WindowParams>(KernelBodies.AvgPoolBackward);
        ForParts(dx.Length, (e, r) => avgPoolBack(e, r, dy, dx, p));
    }

    public void Relu(ArrayView<float> x, ArrayView<float> y)
    {
        if (host) { acc.Synchronize(); HostElementwise.Relu(x, y); return; }
        relu ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<float>>(KernelBodies.Relu);
        ForParts(y.Length, (e, r) => relu(e, r, x, y));
    }

    public void ReluBackward(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx)
    {
        if (host) { acc.Synchronize(); HostElementwise.ReluBackward(y, dy, dx); return; }
        reluBack ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, ArrayView<float>>(KernelBodies.ReluBackward);
        ForParts(dx.Length, (e, r) => reluBack(e, r, y, dy, dx));
    }

    /// <summary>y = a + b; with <paramref name="relu"/>, then ReLU (<see cref="Relu"/>'s floats): one pass on the host,
    /// the ReLU in place after it on other accelerators.</summary>
    public void Add(ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, bool relu = false)
    {
        if (host) { acc.Synchronize(); HostElementwise.Add(a, b, y, relu); return; }
        add ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, ArrayView<float>>(KernelBodies.Add);
        ForParts(y.Length, (e, r) => add(e, r, a, b, y));
        if (relu) Relu(y, y);
    }

    /// <summary>y += alpha * x.</summary>
    public void Axpy(ArrayView<float> x, ArrayView<float> y, float alpha)
    {
        if (host) { acc.Synchronize(); HostElementwise.Axpy(x, y, alpha); return; }
        axpy ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, float>(KernelBodies.Axpy);
        ForParts(y.Length, (e, r) => axpy(e, r, x, y, alpha));
    }

    public void Fill(ArrayView<float> y, float value) => Fill(y, value, new ElementRange { Start = 0, End = y.Length });

    /// <summary>Sets elements [range.Start, range.End) of <paramref name="y"/> to <paramref name="value"/>.</summary>
    public void Fill(ArrayView<float> y, float value, ElementRange range)
    {
        if (range.Start < 0 || range.End > y.Length || range.Start > range.End) throw new ArgumentOutOfRangeException(nameof(range), $"[{range.Start}, {range.End}) is not inside a view of {y.Length} elements");
        if (host) { acc.Synchronize(); HostElementwise.Fill(y, value, range); return; }
        fill ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, float>(KernelBodies.Fill);
        ForParts(range, (e, r) => fill(e, r, y, value));
    }

    /// <summary>Copies all channels of src into channels [dstOff, dstOff + srcC) of dst, or back when reverse.</summary>
    public void CopyChannels(ArrayView<float> src, ArrayView<float> dst, int n, int srcC, int dstC, int dstOff, int hw, bool reverse)
    {
        if (host) { acc.Synchronize(); HostElementwise.CopyChannels(src, dst, n, srcC, dstC, dstOff, hw, reverse); return; }
        copyChannels ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, int, int, int, int, int, int>(KernelBodies.CopyChannels);
        ForParts((long)n * srcC * hw, (e, r) => copyChannels(e, r, src, dst, srcC, srcC, dstC, dstOff, hw, reverse ? 1 : 0));
    }

    public void BatchNormStats(ArrayView<float> x, ArrayView<float> mean, ArrayView<float> invStd, ArrayView<float> runMean, ArrayView<float> runVar, ChannelParams p)
    {
        if (host) { acc.Synchronize(); HostChannels.BatchNormStats(x, mean, invStd, runMean, runVar, p); return; }
        if (ParallelReductions)
        {
            bnStatsGroup ??= acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelParams>(KernelBodies.BatchNormStatsGroup);
            bnStatsGroup(ReduceConfig(p.C), x, mean, invStd, runMean, runVar, p);
            return;
        }
        bnStats ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelParams>(KernelBodies.BatchNormStats);
        ForParts(p.C, (e, r) => bnStats(e, r, x, mean, invStd, runMean, runVar, p));
    }

    /// <summary>y = gamma (x − mean) scale + beta per channel (scale the inverse deviation, or the variance with
    /// <paramref name="scaleIsVariance"/>); with <paramref name="relu"/>, then ReLU (<see cref="Relu"/>'s floats): one
    /// pass on the host, the ReLU in place after it on other accelerators.</summary>
    public void BatchNormApply(ArrayView<float> x, ArrayView<float> y, ArrayView<float> mean, ArrayView<float> scale, ArrayView<float> gamma, ArrayView<float> beta, ChannelParams p, bool scaleIsVariance, bool relu = false)
    {
        if (host) { acc.Synchronize(); HostChannels.BatchNormApply(x, y, mean, scale, gamma, beta, p, scaleIsVariance, relu); return; }
        bnApply ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelParams, int>(KernelBodies.BatchNormApply);
        ForParts(y.Length, (e, r) => bnApply(e, r, x, y, mean, scale, gamma, beta, p, scaleIsVariance ? 1 : 0));
        if (relu) Relu(y, y);
    }

    public void BatchNormGradStats(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> mean, ArrayView<float> invStd, ArrayView<float> dgamma, ArrayView<float> dbeta, ChannelParams p)
    {
        if (host) { acc.Synchronize(); HostChannels.BatchNormGradStats(x, dy, mean, invStd, dgamma, dbeta, p); return; }
        if (ParallelReductions)
        {
            bnGradStatsGroup ??= acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelParams>(KernelBodies.BatchNormGradStatsGroup);
            bnGradStatsGroup(ReduceConfig(p.C), x, dy, mean, invStd, dgamma, dbeta, p);
            return;
        }
        bnGradStats ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelParams>(KernelBodies.BatchNormGradStats);
        ForParts(p.C, (e, r) => bnGradStats(e, r, x, dy, mean, invStd, dgamma, dbeta, p));
    }

    public void BatchNormBackward(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> mean, ArrayView<float> invStd, ArrayView<float> gamma, ArrayView<float> dgamma, ArrayView<float> dbeta, ArrayView<float> dx, ChannelParams p)
    {
        if (host) { acc.Synchronize(); HostChannels.BatchNormBackward(x, dy, mean, invStd, gamma, dgamma, dbeta, dx, p); return; }
        bnBack ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelParams>(KernelBodies.BatchNormBackward);
        ForParts(dx.Length, (e, r) => bnBack(e, r, x, dy, mean, invStd, gamma, dgamma, dbeta, dx, p));
    }

    /// <summary>Per-row losses into <paramref name="rowLoss"/>, then their mean into <paramref name="loss"/>[0] (a reduction).</summary>
    public void SoftmaxCrossEntropy(ArrayView<float> z, ArrayView<int> labels, ArrayView<float> rowLoss, ArrayView<float> loss, int rows, int classes)
    {
        if (host) { acc.Synchronize(); HostLoss.SoftmaxCrossEntropy(z, labels, rowLoss, loss, rows, classes); return; }
        sce ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<int>, ArrayView<float>, int>(KernelBodies.SoftmaxCrossEntropy);
        ForParts(rows, (e, r) => sce(e, r, z, labels, rowLoss, classes));
        ChannelSum(rowLoss, loss.SubView(0, 1), new ChannelParams { N = 1, C = 1, HW = rows, Scale = 1f / rows });
    }

    public void SoftmaxCrossEntropyBackward(ArrayView<float> z, ArrayView<int> labels, ArrayView<float> dloss, ArrayView<float> dz, int rows, int classes)
    {
        if (host) { acc.Synchronize(); HostLoss.SoftmaxCrossEntropyBackward(z, labels, dloss, dz, rows, classes); return; }
        sceBack ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int>(KernelBodies.SoftmaxCrossEntropyBackward);
        ForParts((long)rows * classes, (e, r) => sceBack(e, r, z, labels, dloss, dz, classes, rows));
    }

    public void Sgd(ArrayView<float> w, ArrayView<float> g, ArrayView<float> v, float lr, float momentum, float decay)
    {
        if (host) { acc.Synchronize(); HostElementwise.Sgd(w, g, v, lr, momentum, decay); return; }
        sgd ??= acc.LoadAutoGroupedStreamKernel<Index1D, ElementRange, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float, float>(KernelBodies.Sgd);
        ForParts(w.Length, (e, r) => sgd(e, r, w, g, v, lr, momentum, decay));
    }

    /// <summary>Releases the cuBLAS handle (kernels go with the accelerator).</summary>
    public void Dispose() => blas?.Dispose();
}
