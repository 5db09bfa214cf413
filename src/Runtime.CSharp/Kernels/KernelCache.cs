using ILGPU;
using ILGPU.Runtime;

namespace Pgmo.Kernels;

/// <summary>
/// Every kernel loaded once per accelerator (lazily, on first use) with typed launch methods. The GEMM is the tiled
/// shared-memory kernel on GPUs and the simple one on the CPU accelerator, unless <see cref="ForceTiledGemm"/> is set.
/// </summary>
public sealed partial class KernelCache
{
    private readonly Accelerator acc;
    private readonly bool tiled;

    /// <summary>Kernels for <paramref name="accelerator"/>.</summary>
    public KernelCache(Accelerator accelerator)
    {
        acc = accelerator;
        tiled = accelerator.AcceleratorType != AcceleratorType.CPU;
        cpuThreads = accelerator.MaxNumThreads;
    }

    /// <summary>
    /// Threads to launch for <paramref name="n"/> elements: all of them on a GPU; on the CPU accelerator at most a few
    /// per core (every kernel is a grid-stride loop), because its per-group cost dwarfs one element's work.
    /// </summary>
    private Index1D Extent(int n) => acc.AcceleratorType == AcceleratorType.CPU ? Math.Max(1, Math.Min(n, cpuThreads)) : Math.Max(1, n);

    private readonly int cpuThreads;

    /// <summary>Use the tiled GEMM even on the CPU accelerator (tests of the GPU path).</summary>
    public bool ForceTiledGemm { get; set; }

    /// <summary>True when GEMMs use the tiled kernel.</summary>
    public bool UsesTiledGemm => tiled || ForceTiledGemm;

    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>? gemmSimple;
    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>? gemmTiled;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, WindowParams>? im2col, col2im, avgPool, avgPoolBack;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int, int>? addBias;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int, int, int>? channelSum;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, WindowParams>? maxPool;
    private Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, WindowParams>? maxPoolBack;
    private Action<Index1D, ArrayView<float>, ArrayView<float>>? relu;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>? reluBack, add;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, float>? axpy;
    private Action<Index1D, ArrayView<float>, float>? fill;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int, int, int>? copyChannels;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelParams>? bnStats;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelParams, int>? bnApply;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelParams>? bnGradStats;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelParams>? bnBack;
    private Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int>? sce;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, int, float>? sumScaled;
    private Action<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int>? sceBack;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float, float>? sgd;

    /// <summary>Batched strided GEMM (see <see cref="GemmParams"/>).</summary>
    public void Gemm(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmParams p)
    {
        if (p.M == 0 || p.N == 0) return;
        if (UsesTiledGemm)
        {
            gemmTiled ??= acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>(KernelBodies.GemmTiled);
            int t = KernelBodies.Tile;
            var grid = new Index3D((p.N + t - 1) / t, (p.M + t - 1) / t, p.ReduceBatch != 0 ? 1 : p.Batch);
            gemmTiled(new KernelConfig(grid, new Index3D(t, t, 1)), a, b, c, p);
        }
        else
        {
            gemmSimple ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>(KernelBodies.GemmSimple);
            gemmSimple(Extent(p.Outputs), a, b, c, p);
        }
    }

    public void Im2Col(ArrayView<float> x, ArrayView<float> col, WindowParams p) =>
        (im2col ??= Load<WindowParams>(KernelBodies.Im2Col))(Extent(p.N * p.Ckk * p.Ohw), x, col, p);

    public void Col2Im(ArrayView<float> col, ArrayView<float> dx, WindowParams p) =>
        (col2im ??= Load<WindowParams>(KernelBodies.Col2Im))(Extent(p.N * p.C * p.H * p.W), col, dx, p);

    public void AddBias(ArrayView<float> y, ArrayView<float> bias, int channels, int hw) =>
        (addBias ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(KernelBodies.AddBias))(Extent((int)y.Length), y, bias, channels, hw);

    public void ChannelSum(ArrayView<float> v, ArrayView<float> sum, int n, int channels, int hw) =>
        (channelSum ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int>(KernelBodies.ChannelSum))(Extent(channels), v, sum, n, channels, hw);

    public void MaxPool(ArrayView<float> x, ArrayView<float> y, ArrayView<int> arg, WindowParams p) =>
        (maxPool ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, WindowParams>(KernelBodies.MaxPool))(Extent(p.N * p.C * p.Ohw), x, y, arg, p);

    public void MaxPoolBackward(ArrayView<float> dy, ArrayView<int> arg, ArrayView<float> dx, WindowParams p) =>
        (maxPoolBack ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, WindowParams>(KernelBodies.MaxPoolBackward))(Extent(p.N * p.C * p.H * p.W), dy, arg, dx, p);

    public void AvgPool(ArrayView<float> x, ArrayView<float> y, WindowParams p) =>
        (avgPool ??= Load<WindowParams>(KernelBodies.AvgPool))(Extent(p.N * p.C * p.Ohw), x, y, p);

    public void AvgPoolBackward(ArrayView<float> dy, ArrayView<float> dx, WindowParams p) =>
        (avgPoolBack ??= Load<WindowParams>(KernelBodies.AvgPoolBackward))(Extent(p.N * p.C * p.H * p.W), dy, dx, p);

    public void Relu(ArrayView<float> x, ArrayView<float> y) =>
        (relu ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>>(KernelBodies.Relu))(Extent((int)y.Length), x, y);

    public void ReluBackward(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx) =>
        (reluBack ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(KernelBodies.ReluBackward))(Extent((int)dx.Length), y, dy, dx);

    public void Add(ArrayView<float> a, ArrayView<float> b, ArrayView<float> y) =>
        (add ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(KernelBodies.Add))(Extent((int)y.Length), a, b, y);

    /// <summary>y += alpha * x.</summary>
    public void Axpy(ArrayView<float> x, ArrayView<float> y, float alpha) =>
        (axpy ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, float>(KernelBodies.Axpy))(Extent((int)y.Length), x, y, alpha);

    public void Fill(ArrayView<float> y, float value) =>
        (fill ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float>(KernelBodies.Fill))(Extent((int)y.Length), y, value);

    /// <summary>Copies all channels of src into channels [dstOff, dstOff + srcC) of dst, or back when reverse.</summary>
    public void CopyChannels(ArrayView<float> src, ArrayView<float> dst, int n, int srcC, int dstC, int dstOff, int hw, bool reverse) =>
        (copyChannels ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int, int, int>(KernelBodies.CopyChannels))(Extent(n * srcC * hw), src, dst, srcC, srcC, dstC, dstOff, hw, reverse ? 1 : 0);

    public void BatchNormStats(ArrayView<float> x, ArrayView<float> mean, ArrayView<float> invStd, ArrayView<float> runMean, ArrayView<float> runVar, ChannelParams p) =>
        (bnStats ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelParams>(KernelBodies.BatchNormStats))(Extent(p.C), x, mean, invStd, runMean, runVar, p);

    public void BatchNormApply(ArrayView<float> x, ArrayView<float> y, ArrayView<float> mean, ArrayView<float> scale, ArrayView<float> gamma, ArrayView<float> beta, ChannelParams p, bool scaleIsVariance) =>
        (bnApply ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelParams, int>(KernelBodies.BatchNormApply))(Extent((int)y.Length), x, y, mean, scale, gamma, beta, p, scaleIsVariance ? 1 : 0);

    public void BatchNormGradStats(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> mean, ArrayView<float> invStd, ArrayView<float> dgamma, ArrayView<float> dbeta, ChannelParams p) =>
        (bnGradStats ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelParams>(KernelBodies.BatchNormGradStats))(Extent(p.C), x, dy, mean, invStd, dgamma, dbeta, p);

    public void BatchNormBackward(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> mean, ArrayView<float> invStd, ArrayView<float> gamma, ArrayView<float> dgamma, ArrayView<float> dbeta, ArrayView<float> dx, ChannelParams p) =>
        (bnBack ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ChannelParams>(KernelBodies.BatchNormBackward))(Extent((int)dx.Length), x, dy, mean, invStd, gamma, dgamma, dbeta, dx, p);

    /// <summary>Per-row losses into <paramref name="rowLoss"/>, then their mean into <paramref name="loss"/>[0].</summary>
    public void SoftmaxCrossEntropy(ArrayView<float> z, ArrayView<int> labels, ArrayView<float> rowLoss, ArrayView<float> loss, int rows, int classes)
    {
        (sce ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int>(KernelBodies.SoftmaxCrossEntropy))(Extent(rows), z, labels, rowLoss, classes);
        (sumScaled ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, float>(KernelBodies.SumScaled))(Extent(1), rowLoss, loss, rows, 1f / rows);
    }

    public void SoftmaxCrossEntropyBackward(ArrayView<float> z, ArrayView<int> labels, ArrayView<float> dloss, ArrayView<float> dz, int rows, int classes) =>
        (sceBack ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, int, int>(KernelBodies.SoftmaxCrossEntropyBackward))(Extent(rows * classes), z, labels, dloss, dz, classes, rows);

    public void Sgd(ArrayView<float> w, ArrayView<float> g, ArrayView<float> v, float lr, float momentum, float decay) =>
        (sgd ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, float, float, float>(KernelBodies.Sgd))(Extent((int)w.Length), w, g, v, lr, momentum, decay);

    private Action<Index1D, ArrayView<float>, ArrayView<float>, T> Load<T>(Action<Index1D, ArrayView<float>, ArrayView<float>, T> body) where T : struct =>
        acc.LoadAutoGroupedStreamKernel(body);
}
