using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Pgmo.Kernels;

/// <summary>
/// Max, average and adaptive average pooling and their gradients as host code on the CPU accelerator's memory (see
/// <see cref="HostGemm"/>): one task per (sample, channel) plane, spread over the cores. The forward passes scan each
/// window in the order of <see cref="KernelBodies"/> (the same floats, the same argmax); the backward passes scatter
/// each output's gradient into its window (the kernels gather), so sums over overlapping windows agree to rounding.
/// </summary>
internal static unsafe class HostPool
{
    private static float* At(ArrayView<float> v) => HostGemm.Address(v);

    /// <summary>y = the window maximum and arg = its index in the plane (h*W + w; the first of equal maxima): eight
    /// outputs at a time with AVX2 where the windows lie inside the row and the stride is 1 or 2, else one by one.</summary>
    public static void MaxPool(ArrayView<float> x, ArrayView<float> y, ArrayView<int> arg, WindowParams p)
    {
        float* xs = At(x), ys = At(y);
        int* args = (int*)arg.LoadEffectiveAddressAsPtr();
        int planes = p.N * p.C, ohw = p.OH * p.OW, hw = p.H * p.W;
        var (vLo, vHi) = MaxVectorColumns(p);   // read here: the tasks run on other threads
        HostParallel.For(planes, (long)planes * ohw * p.KH * p.KW, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (pl) =>
        {
            float* xp = xs + (long)pl * hw, yp = ys + (long)pl * ohw;
            int* ap = args + (long)pl * ohw;
            for (int oh = 0; oh < p.OH; oh++)
            {
                int h0 = oh * p.Stride - p.PadH, hlo = Math.Max(0, h0), hhi = Math.Min(p.H, h0 + p.KH);
                for (int ow = 0; ow < p.OW; ow++)
                {
                    if (ow == vLo && hlo < hhi)
                    {
                        for (; ow + 8 <= vHi; ow += 8) MaxVector(xp, yp + oh * p.OW + ow, ap + oh * p.OW + ow, p, hlo, hhi, ow * p.Stride - p.PadW);
                        if (ow >= p.OW) break;
                    }
                    int w0 = ow * p.Stride - p.PadW, wlo = Math.Max(0, w0), whi = Math.Min(p.W, w0 + p.KW);
                    float best = float.NegativeInfinity;
                    int at = -1;
                    for (int h = hlo; h < hhi; h++)
                    {
                        float* row = xp + h * p.W;
                        for (int w = wlo; w < whi; w++)
                        {
                            float v = row[w];
                            if (at < 0 || v > best) { best = v; at = h * p.W + w; }
                        }
                    }
                    yp[oh * p.OW + ow] = best;
                    ap[oh * p.OW + ow] = at;
                }
            }
        });
    }

    /// <summary>
    /// The output columns [lo, hi) whose windows <see cref="MaxVector"/> may take 8 at a time (stride 1 or 2 with AVX2):
    /// windows wholly inside the row, whose vector loads (up to one float past the last one used) stay in the row.
    /// Empty otherwise.
    /// </summary>
    private static (int Lo, int Hi) MaxVectorColumns(WindowParams p)
    {
        if (!Avx2.IsSupported || HostCpu.Isa == HostIsa.Scalar || p.Stride > 2) return (0, 0);
        int lo = (p.PadW + p.Stride - 1) / p.Stride;
        // the last float a vector reads for output ow: (ow + 7) S − PadW + KW − 1 + (S − 1), which must be below W
        int hi = 0;
        for (int ow = lo; ow < p.OW; ow++)
            if ((ow + 7) * p.Stride - p.PadW + p.KW - 1 + p.Stride - 1 < p.W) hi = ow + 8;
        return (lo, Math.Max(lo, Math.Min(hi, p.OW)));
    }

    /// <summary>Eight outputs of one output row (windows of rows [hlo, hhi) starting at input column w0, w0 + S, ...):
    /// the window maximum and its index, taps scanned in <see cref="MaxPool"/>'s order (rows, then columns; a later tap
    /// wins only when greater, so the first of equal maxima stays).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MaxVector(float* xp, float* y, int* arg, WindowParams p, int hlo, int hhi, int w0)
    {
        var lanes = Vector256<int>.Indices * p.Stride;
        Vector256<float> best = default;
        Vector256<int> at = default;
        bool first = true;
        for (int h = hlo; h < hhi; h++)
            for (int kw = 0; kw < p.KW; kw++)
            {
                int w = w0 + kw;
                float* src = xp + h * p.W + w;
                var v = p.Stride == 1 ? Avx.LoadVector256(src) : Evens(src);
                var index = Vector256.Create(h * p.W + w) + lanes;
                if (first) { (best, at, first) = (v, index, false); continue; }
                var greater = Avx.CompareGreaterThan(v, best);
                best = Avx.BlendVariable(best, v, greater);
                at = Avx.BlendVariable(at.AsSingle(), index.AsSingle(), greater).AsInt32();
            }
        Avx.Store(y, best);
        Avx.Store(arg, at);
    }

    /// <summary>src[0], src[2], ..., src[14] (reads src[0..16)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Evens(float* src)
    {
        var mixed = Avx.Shuffle(Avx.LoadVector256(src), Avx.LoadVector256(src + 8), 0b10_00_10_00);
        return Avx2.Permute4x64(mixed.AsDouble(), 0b11_01_10_00).AsSingle();
    }

    /// <summary>dx = the sum of dy over the outputs whose argmax is the element (zero elsewhere).</summary>
    public static void MaxPoolBackward(ArrayView<float> dy, ArrayView<int> arg, ArrayView<float> dx, WindowParams p)
    {
        float* gs = At(dy), ds = At(dx);
        int* args = (int*)arg.LoadEffectiveAddressAsPtr();
        int planes = p.N * p.C, ohw = p.OH * p.OW, hw = p.H * p.W;
        HostParallel.For(planes, (long)planes * (hw + ohw), pl =>
        {
            float* d = ds + (long)pl * hw, g = gs + (long)pl * ohw;
            int* a = args + (long)pl * ohw;
            new Span<float>(d, hw).Clear();
            for (int o = 0; o < ohw; o++)
                if (a[o] >= 0) d[a[o]] += g[o];
        });
    }

    /// <summary>y = the window mean, padding counted as zeros (count_include_pad).</summary>
    public static void AvgPool(ArrayView<float> x, ArrayView<float> y, WindowParams p)
    {
        float* xs = At(x), ys = At(y);
        int planes = p.N * p.C, ohw = p.OH * p.OW, hw = p.H * p.W, k = p.KH * p.KW;
        HostParallel.For(planes, (long)planes * ohw * k, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (pl) =>
        {
            float* xp = xs + (long)pl * hw, yp = ys + (long)pl * ohw;
            for (int oh = 0; oh < p.OH; oh++)
            {
                int h0 = oh * p.Stride - p.PadH, hlo = Math.Max(0, h0), hhi = Math.Min(p.H, h0 + p.KH);
                for (int ow = 0; ow < p.OW; ow++)
                {
                    int w0 = ow * p.Stride - p.PadW, wlo = Math.Max(0, w0), whi = Math.Min(p.W, w0 + p.KW);
                    float s = 0f;
                    for (int h = hlo; h < hhi; h++)
                    {
                        float* row = xp + h * p.W;
                        for (int w = wlo; w < whi; w++) s += row[w];
                    }
                    yp[oh * p.OW + ow] = s / k;
                }
            }
        });
    }

    /// <summary>dx = the sum over the windows holding the element of dy / window size.</summary>
    public static void AvgPoolBackward(ArrayView<float> dy, ArrayView<float> dx, WindowParams p)
    {
        float* gs = At(dy), ds = At(dx);
        int planes = p.N * p.C, ohw = p.OH * p.OW, hw = p.H * p.W, k = p.KH * p.KW;
        HostParallel.For(planes, (long)planes * (hw + ohw * k), [MethodImpl(MethodImplOptions.AggressiveOptimization)] (pl) =>
        {
            float* d = ds + (long)pl * hw, g = gs + (long)pl * ohw;
            new Span<float>(d, hw).Clear();
            for (int oh = 0; oh < p.OH; oh++)
            {
                int h0 = oh * p.Stride - p.PadH, hlo = Math.Max(0, h0), hhi = Math.Min(p.H, h0 + p.KH);
                for (int ow = 0; ow < p.OW; ow++)
                {
                    int w0 = ow * p.Stride - p.PadW, wlo = Math.Max(0, w0), whi = Math.Min(p.W, w0 + p.KW);
                    float v = g[oh * p.OW + ow] / k;
                    for (int h = hlo; h < hhi; h++)
                    {
                        float* row = d + h * p.W;
                        for (int w = wlo; w < whi; w++) row[w] += v;
                    }
                }
            }
        });
    }

    /// <summary>Adaptive average pooling (see <see cref="KernelBodies.AdaptiveAvgPool"/>).</summary>
    public static void AdaptiveAvgPool(ArrayView<float> x, ArrayView<float> y, AdaptivePoolParams p) =>
        Adaptive(At(x), At(y), (int)(y.Length / (p.OH * p.OW)), p, backward: false);

    /// <summary>The gradient of <see cref="AdaptiveAvgPool"/>: each output's dy / window size into its window.</summary>
    public static void AdaptiveAvgPoolBackward(ArrayView<float> dy, ArrayView<float> dx, AdaptivePoolParams p) =>
        Adaptive(At(dx), At(dy), (int)(dx.Length / (p.H * p.W)), p, backward: true);

    /// <summary>Adaptive average pooling one way or the other, one task per plane of H x W inputs
    /// (<paramref name="x"/>) and OH x OW outputs (<paramref name="y"/>): forward, each output the mean of its window;
    /// <paramref name="backward"/>, x (the input gradient) zeroed, then each output's gradient over the window size
    /// added into its window.</summary>
    private static void Adaptive(float* x, float* y, int planes, AdaptivePoolParams p, bool backward)
    {
        int hw = p.H * p.W, ohw = p.OH * p.OW;
        HostParallel.For(planes, (long)planes * Math.Max(hw, ohw), [MethodImpl(MethodImplOptions.AggressiveOptimization)] (pl) =>
        {
            float* xp = x + (long)pl * hw, yp = y + (long)pl * ohw;
            if (backward) new Span<float>(xp, hw).Clear();
            for (int oh = 0; oh < p.OH; oh++)
            {
                var rows = p.Rows(oh);
                for (int ow = 0; ow < p.OW; ow++)
                {
                    var cols = p.Cols(ow);
                    float* o = yp + oh * p.OW + ow;
                    if (backward) Spread(xp, p.W, rows, cols, *o / p.Count(rows, cols));
                    else *o = Sum(xp, p.W, rows, cols) / p.Count(rows, cols);
                }
            }
        });
    }

    /// <summary>The sum of the window of <paramref name="rows"/> and <paramref name="cols"/> in a plane of rows of
    /// <paramref name="w"/>, row by row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Sum(float* plane, int w, PoolRange rows, PoolRange cols)
    {
        float s = 0f;
        for (int r = rows.Lo; r < rows.Hi; r++)
        {
            float* row = plane + (long)r * w;
            for (int c = cols.Lo; c < cols.Hi; c++) s += row[c];
        }
        return s;
    }

    /// <summary>Adds <paramref name="v"/> to the window of <paramref name="rows"/> and <paramref name="cols"/> in a
    /// plane of rows of <paramref name="w"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Spread(float* plane, int w, PoolRange rows, PoolRange cols, float v)
    {
        for (int r = rows.Lo; r < rows.Hi; r++)
        {
            float* row = plane + (long)r * w;
            for (int c = cols.Lo; c < cols.Hi; c++) row[c] += v;
        }
    }
}
