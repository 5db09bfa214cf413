using System.Numerics;
using System.Runtime.CompilerServices;

namespace Pgmo.Kernels;

/// <summary>
/// The per-channel kernels of NCHW tensors as host code on the CPU accelerator's memory (see <see cref="HostGemm"/>):
/// bias, channel sums, and batch normalization (statistics, normalization, backward). A channel's elements are N
/// contiguous planes of HW floats, walked with <see cref="Vector{T}"/> arithmetic; channels (or planes) spread over
/// the cores. Same formulas as <see cref="KernelBodies"/>; sums run in another order (vector lanes, then planes), so
/// results agree to rounding.
/// </summary>
internal static unsafe class HostChannels
{
    private static float* At(ArrayView<float> v) => HostGemm.Address(v);

    /// <summary>y[n, c, :] += bias[c].</summary>
    public static void AddBias(ArrayView<float> y, ArrayView<float> bias, int channels, int hw)
    {
        float* ys = At(y), bs = At(bias);
        long planes = y.Length / ((long)channels * hw) * channels;
        if (hw == 1)
        {
            // [N, C] rows (a fully connected layer): each row += bias
            HostParallel.For((int)planes / channels, y.Length, n => Vec.Add(ys + (long)n * channels, bs, channels));
            return;
        }
        HostParallel.For((int)planes, y.Length, pl => Vec.AddScalar(ys + (long)pl * hw, bs[pl % channels], hw));
    }

    /// <summary>sum[c] = Scale * (sum over samples and pixels of v[n, c, pixel]).</summary>
    public static void ChannelSum(ArrayView<float> v, ArrayView<float> sum, ChannelParams p)
    {
        float* vs = At(v), ss = At(sum);
        if (p.HW == 1 && p.C > 1)
        {
            // [N, C] rows: column sums, accumulated row by row over runs of columns
            const int Run = 512;
            HostParallel.For((p.C + Run - 1) / Run, p.Count * p.C, t =>
            {
                int c0 = t * Run, w = Math.Min(Run, p.C - c0);
                float* acc = stackalloc float[Run];
                new Span<float>(acc, w).Clear();
                for (int n = 0; n < p.N; n++) Vec.Add(acc, vs + (long)n * p.C + c0, w);
                for (int c = 0; c < w; c++) ss[c0 + c] = acc[c] * p.Scale;
            });
            return;
        }
        HostParallel.For(p.C, p.Count * p.C, c =>
        {
            float s = 0f;
            for (int n = 0; n < p.N; n++) s += Vec.Sum(vs + ((long)n * p.C + c) * p.HW, p.HW);
            ss[c] = s * p.Scale;
        });
    }

    /// <summary>Per channel: batch mean and inverse standard deviation, and the running statistics updated with momentum
    /// (unbiased variance), as <see cref="KernelBodies.BatchNormStats"/>. The variance is accumulated about the channel's
    /// first element (shifted data), so one pass gives it without the cancellation of E[x²] − E[x]².</summary>
    public static void BatchNormStats(ArrayView<float> x, ArrayView<float> mean, ArrayView<float> invStd, ArrayView<float> runMean, ArrayView<float> runVar, ChannelParams p)
    {
        float* xs = At(x), ms = At(mean), iv = At(invStd), rm = At(runMean), rv = At(runVar);
        HostParallel.For(p.C, p.Count * p.C, c =>
        {
            float shift = xs[(long)c * p.HW];
            double s = 0, ss = 0;
            for (int n = 0; n < p.N; n++)
            {
                var (a, b) = Vec.ShiftedSums(xs + ((long)n * p.C + c) * p.HW, shift, p.HW);
                s += a;
                ss += b;
            }
            long m = p.Count;
            double d = s / m, var = Math.Max(0, ss / m - d * d);
            float mu = (float)(shift + d);
            ms[c] = mu;
            iv[c] = 1f / MathF.Sqrt((float)var + p.Eps);
            rm[c] = (1f - p.Momentum) * rm[c] + p.Momentum * mu;
            rv[c] = (1f - p.Momentum) * rv[c] + p.Momentum * (float)(m > 1 ? var * m / (m - 1) : var);
        });
    }

    /// <summary>y = gamma (x − mean) scale + beta per channel, where scale is the inverse std (or, with
    /// <paramref name="scaleIsVariance"/>, the variance, as in inference): one multiply-add per element; with
    /// <paramref name="relu"/> then ReLU (the ReLU kernel's floats) in the same pass.</summary>
    public static void BatchNormApply(ArrayView<float> x, ArrayView<float> y, ArrayView<float> mean, ArrayView<float> scale, ArrayView<float> gamma, ArrayView<float> beta, ChannelParams p, bool scaleIsVariance, bool relu = false)
    {
        float* xs = At(x), ys = At(y), ms = At(mean), sc = At(scale), gs = At(gamma), bs = At(beta);
        HostParallel.For(p.N * p.C, p.Count * p.C, pl =>
        {
            int c = pl % p.C;
            float inv = scaleIsVariance ? 1f / MathF.Sqrt(sc[c] + p.Eps) : sc[c];
            float a = gs[c] * inv, b = bs[c] - ms[c] * a;
            long o = (long)pl * p.HW;
            Vec.Affine(xs + o, ys + o, a, b, p.HW, relu);
        });
    }

    /// <summary>Per channel: dgamma = sum dy (x − mean) invStd and dbeta = sum dy.</summary>
    public static void BatchNormGradStats(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> mean, ArrayView<float> invStd, ArrayView<float> dgamma, ArrayView<float> dbeta, ChannelParams p)
    {
        float* xs = At(x), gs = At(dy), ms = At(mean), iv = At(invStd), dg = At(dgamma), db = At(dbeta);
        HostParallel.For(p.C, p.Count * p.C, c =>
        {
            float sg = 0f, sb = 0f;
            for (int n = 0; n < p.N; n++)
            {
                long o = ((long)n * p.C + c) * p.HW;
                var (a, b) = Vec.GradSums(xs + o, gs + o, ms[c], p.HW);
                sg += a;
                sb += b;
            }
            dg[c] = sg * iv[c];
            db[c] = sb;
        });
    }

    /// <summary>dx = gamma invStd / m (m dy − dbeta − xhat dgamma) per channel (m = N·HW): an affine function of dy and
    /// x per channel, one pass.</summary>
    public static void BatchNormBackward(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> mean, ArrayView<float> invStd, ArrayView<float> gamma, ArrayView<float> dgamma, ArrayView<float> dbeta, ArrayView<float> dx, ChannelParams p)
    {
        float* xs = At(x), gs = At(dy), ms = At(mean), iv = At(invStd), ga = At(gamma), dg = At(dgamma), db = At(dbeta), ds = At(dx);
        HostParallel.For(p.N * p.C, p.Count * p.C, pl =>
        {
            int c = pl % p.C;
            float m = p.Count, k = ga[c] * iv[c] / m;
            // dx = k (m dy - dbeta - (x - mean) invStd dgamma) = (k m) dy + (-k invStd dgamma) x + k (mean invStd dgamma - dbeta)
            float a = k * m, b = -k * iv[c] * dg[c], c0 = k * (ms[c] * iv[c] * dg[c] - db[c]);
            long o = (long)pl * p.HW;
            Vec.Combine(gs + o, xs + o, ds + o, a, b, c0, p.HW);
        });
    }
}

/// <summary>Vectorized loops over float runs (the building blocks of the host kernels).</summary>
internal static unsafe class Vec
{
    private static int W => Vector<float>.Count;
    private static Vector<float> Load(float* p) => Unsafe.ReadUnaligned<Vector<float>>(p);
    private static void Store(float* p, Vector<float> v) => Unsafe.WriteUnaligned(p, v);

    /// <summary>dst[0..n) += x[0..n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Add(float* dst, float* x, int n)
    {
        int i = 0;
        for (; i + W <= n; i += W) Store(dst + i, Load(dst + i) + Load(x + i));
        for (; i < n; i++) dst[i] += x[i];
    }

    /// <summary>dst[0..n) += s.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AddScalar(float* dst, float s, int n)
    {
        var v = new Vector<float>(s);
        int i = 0;
        for (; i + W <= n; i += W) Store(dst + i, Load(dst + i) + v);
        for (; i < n; i++) dst[i] += s;
    }

    /// <summary>The sum of x[0..n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Sum(float* x, int n)
    {
        var s0 = Vector<float>.Zero;
        var s1 = s0;
        int i = 0;
        for (; i + 2 * W <= n; i += 2 * W) { s0 += Load(x + i); s1 += Load(x + i + W); }
        for (; i + W <= n; i += W) s0 += Load(x + i);
        float s = Vector.Sum(s0 + s1);
        for (; i < n; i++) s += x[i];
        return s;
    }

    /// <summary>(sum of x − shift, sum of (x − shift)²) over x[0..n), in double across vector lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static (double Sum, double Squares) ShiftedSums(float* x, float shift, int n)
    {
        var k = new Vector<float>(shift);
        var s = Vector<float>.Zero;
        var q = s;
        int i = 0;
        for (; i + W <= n; i += W)
        {
            var d = Load(x + i) - k;
            s += d;
            q = Vector.FusedMultiplyAdd(d, d, q);
        }
        double ss = Vector.Sum(s), qq = Vector.Sum(q);
        for (; i < n; i++) { double d = x[i] - shift; ss += d; qq += d * d; }
        return (ss, qq);
    }

    /// <summary>(sum of dy (x − mean), sum of dy) over [0..n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static (float Dot, float Sum) GradSums(float* x, float* dy, float mean, int n)
    {
        var mu = new Vector<float>(mean);
        var g = Vector<float>.Zero;
        var b = g;
        int i = 0;
        for (; i + W <= n; i += W)
        {
            var d = Load(dy + i);
            b += d;
            g = Vector.FusedMultiplyAdd(d, Load(x + i) - mu, g);
        }
        float sg = Vector.Sum(g), sb = Vector.Sum(b);
        for (; i < n; i++) { sb += dy[i]; sg += dy[i] * (x[i] - mean); }
        return (sg, sb);
    }

    /// <summary>v where v &gt; 0, else 0: the floats of the ReLU kernel (NaN and −0 give 0).</summary>
    public static Vector<float> Relu(Vector<float> v) => Vector.ConditionalSelect(Vector.GreaterThan(v, Vector<float>.Zero), v, Vector<float>.Zero);

    /// <summary>v where v &gt; 0, else 0.</summary>
    public static float Relu(float v) => v > 0f ? v : 0f;

    /// <summary>y[0..n) = a x + b, then <see cref="Relu(float)"/> with <paramref name="relu"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Affine(float* x, float* y, float a, float b, int n, bool relu)
    {
        var av = new Vector<float>(a);
        var bv = new Vector<float>(b);
        int i = 0;
        if (relu)
        {
            for (; i + W <= n; i += W) Store(y + i, Relu(Vector.FusedMultiplyAdd(Load(x + i), av, bv)));
            for (; i < n; i++) y[i] = Relu(MathF.FusedMultiplyAdd(x[i], a, b));
            return;
        }
        for (; i + W <= n; i += W) Store(y + i, Vector.FusedMultiplyAdd(Load(x + i), av, bv));
        for (; i < n; i++) y[i] = MathF.FusedMultiplyAdd(x[i], a, b);
    }

    /// <summary>z[0..n) = a u + b v + c.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Combine(float* u, float* v, float* z, float a, float b, float c, int n)
    {
        var av = new Vector<float>(a);
        var bv = new Vector<float>(b);
        var cv = new Vector<float>(c);
        int i = 0;
        for (; i + W <= n; i += W) Store(z + i, Vector.FusedMultiplyAdd(Load(u + i), av, Vector.FusedMultiplyAdd(Load(v + i), bv, cv)));
        for (; i < n; i++) z[i] = MathF.FusedMultiplyAdd(u[i], a, MathF.FusedMultiplyAdd(v[i], b, c));
    }

    /// <summary>y[0..n) = a[0..n) * b[0..n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Multiply(float* a, float* b, float* y, int n)
    {
        int i = 0;
        for (; i + W <= n; i += W) Store(y + i, Load(a + i) * Load(b + i));
        for (; i < n; i++) y[i] = a[i] * b[i];
    }
}
