using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Pgmo.Kernels;

/// <summary>
/// im2col and col2im on the CPU accelerator's host memory (see <see cref="HostGemm"/>): the same results as
/// <see cref="KernelBodies.Im2Col"/> and <see cref="KernelBodies.Col2Im"/>, but one task per row of the column
/// matrix (or per input plane), walking output positions run by run (one output row of one window offset at a time),
/// so no index division is paid per element: a run is a zero fill where the window is in the padding and, in between,
/// a vector copy of the input row (stride 1) or a strided gather (larger strides). The walker calls its body through a
/// struct type parameter, which the JIT specializes and inlines (no delegate call or closure per run). With AVX-512
/// (<see cref="HostCpu.Isa"/>) a short run is covered 16 positions at a time by masked loads and stores, zeros and copy
/// in one pass, a long one by whole vectors with masks at its ends, and strides 2 and 4 gather by permutes; the values
/// are the same with any instruction set (copies only).
/// </summary>
internal static unsafe class HostWindow
{
    /// <summary>Below this many elements a call runs on the calling thread only.</summary>
    private const long ParallelThreshold = 1 << 15;

    /// <summary>What is done with one run of output positions (see <see cref="Runs{TBody}"/>).</summary>
    private interface IRunBody
    {
        void Run(int @base, int h, int ow, int a, int b, int end);
    }

    /// <summary>
    /// The positions of one tile walked for one window offset (kh, kw), one output row at a time:
    /// body.Run(base, h, ow, a, b, end) gets the run's output columns [ow, end) (tile position base + o holds output column
    /// o), the input row h (outside [0, H) in the padding) and the columns [a, b) whose input column o*S - PadW + kw
    /// lies inside the input row (empty when h is outside).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.AggressiveInlining)]
    private static void Runs<TBody>(WindowParams p, ConvTile tile, int kh, int kw, ref TBody body) where TBody : struct, IRunBody
    {
        int owLo = p.PadW - kw > 0 ? (p.PadW - kw + p.Stride - 1) / p.Stride : 0;
        int owHi = p.W - 1 + p.PadW - kw < 0 ? 0 : Math.Min(p.OW, (p.W - 1 + p.PadW - kw) / p.Stride + 1);
        int oh = tile.Q0 / p.OW, ow = tile.Q0 % p.OW;
        for (int q = 0; q < tile.T; oh++, ow = 0)
        {
            int run = Math.Min(tile.T - q, p.OW - ow), end = ow + run;
            int h = oh * p.Stride - p.PadH + kh;
            int a = h < 0 || h >= p.H ? end : Math.Clamp(owLo, ow, end), b = Math.Clamp(owHi, a, end);
            body.Run(q - ow, h, ow, a, b, end);
            q += run;
        }
    }

    /// <summary>The im2col columns of one tile (see <see cref="KernelBodies.Im2Col"/>): one task per row of the column
    /// matrix (a sample's channel and window offset).</summary>
    public static void Im2Col(ArrayView<float> x, ArrayView<float> col, WindowParams p, ConvTile tile)
    {
        nint xs = (nint)HostGemm.Address(x), cs = (nint)HostGemm.Address(col);
        int ckk = p.Ckk, rows = tile.Nb * ckk;
        bool wide = HostCpu.Isa == HostIsa.Avx512;   // read here: the tasks run on other threads
        For(rows, tile.Columns * ckk, row => Im2ColRow((float*)xs, (float*)cs, p, tile, row, wide));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Im2ColRow(float* x, float* col, WindowParams p, ConvTile tile, int row, bool wide)
    {
        int ckk = p.Ckk, nl = row / ckk, r = row % ckk;
        int kw = r % p.KW, kh = r / p.KW % p.KH, ch = r / (p.KW * p.KH);
        float* dst = col + (long)row * tile.T, plane = x + ((long)(tile.N0 + nl) * p.C + ch) * p.H * p.W;
        if (wide)
        {
            var body = new GatherWide { Dst = dst, Plane = plane, Offset = kw - p.PadW, W = p.W, Stride = p.Stride };
            Runs(p, tile, kh, kw, ref body);
        }
        else
        {
            var body = new Gather { Dst = dst, Plane = plane, Offset = kw - p.PadW, W = p.W, Stride = p.Stride };
            Runs(p, tile, kh, kw, ref body);
        }
    }

    /// <summary>One run of an im2col row: zeros, the input row's pixels at the window's columns, zeros.</summary>
    private struct Gather : IRunBody
    {
        public float* Dst, Plane;
        public int Offset, W, Stride;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run(int @base, int h, int ow, int a, int b, int end)
        {
            float* seg = Dst + @base;
            Zero(seg + ow, a - ow);
            if (b > a)
            {
                float* src = Plane + (long)h * W + Offset;   // src[o * S]: input column o*S - PadW + kw
                if (Stride == 1) Copy(seg + a, src + a, b - a);
                else
                {
                    int s = Stride;
                    float* from = src + (long)a * s;
                    for (int o = 0; o < b - a; o++) seg[a + o] = from[o * s];
                }
            }
            Zero(seg + b, end - b);
        }
    }

    /// <summary><see cref="Gather"/> 16 positions at a time with AVX-512: lanes outside [a, b) are loaded as zeros
    /// (masked, so nothing outside the input row is touched) and lanes past the run's end are not stored.</summary>
    private struct GatherWide : IRunBody
    {
        public float* Dst, Plane;
        public int Offset, W, Stride;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run(int @base, int h, int ow, int a, int b, int end)
        {
            float* seg = Dst + @base, src = Plane + (long)h * W + Offset;   // src[o * S]: input column o*S - PadW + kw
            var lanes = Vector512<int>.Indices;
            if (b <= a || Stride == 1 && end - ow <= 32)
            {
                // a short run (AlexNet's 13 positions): one or two masked loads and stores for zeros and copy together
                for (int o = ow; o < end; o += 16)
                {
                    var at = lanes + Vector512.Create(o);
                    var store = Vector512.LessThan(at, Vector512.Create(end));
                    var load = store & Vector512.GreaterThanOrEqual(at, Vector512.Create(a)) & Vector512.LessThan(at, Vector512.Create(b));
                    // h outside the input (b <= a): every lane zero, src never read
                    var v = Avx512F.MaskLoad(src + o, load.AsSingle(), Vector512<float>.Zero);
                    Avx512F.MaskStore(seg + o, store.AsSingle(), v);
                }
                return;
            }
            ZeroWide(seg + ow, a - ow);
            int s = Stride, n = b - a, i = 0;
            float* from = src + (long)a * s, to = seg + a;
            if (s == 1)
            {
                // a long run: whole vectors, a mask at the end only (masked stores are slower than plain ones)
                for (; i + 16 <= n; i += 16) Vector512.Load(from + i).Store(to + i);
                if (i < n)
                {
                    var m = Vector512.LessThan(lanes, Vector512.Create(n - i)).AsSingle();
                    Avx512F.MaskStore(to + i, m, Avx512F.MaskLoad(from + i, m, Vector512<float>.Zero));
                }
                i = n;
            }
            // whole vectors while their last input, (i + 16) s - 1, lies before (n - 1) s: inside the row's used part
            if (s == 2)
            {
                var even = lanes * 2;
                for (; i + 17 <= n; i += 16)
                    Avx512F.PermuteVar16x32x2(Vector512.Load(from + 2 * i), even, Vector512.Load(from + 2 * i + 16)).Store(to + i);
            }
            else if (s == 4)
            {
                // lanes 0..7 of each pair's permute are every fourth float of 32; two halves joined by a third permute
                var fourth = lanes * 4;
                var join = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
                for (; i + 17 <= n; i += 16)
                {
                    float* f = from + 4 * i;
                    var lo = Avx512F.PermuteVar16x32x2(Vector512.Load(f), fourth, Vector512.Load(f + 16));
                    var hi = Avx512F.PermuteVar16x32x2(Vector512.Load(f + 32), fourth, Vector512.Load(f + 48));
                    Avx512F.PermuteVar16x32x2(lo, join, hi).Store(to + i);
                }
            }
            for (; i < n; i++) to[i] = from[(long)i * s];
            ZeroWide(seg + b, end - b);
        }
    }

    /// <summary>
    /// One tile's columns back into the input gradient (the adjoint of <see cref="Im2Col"/>): one task per (sample,
    /// channel) plane, which zeroes its rows [H0, H1) unless the tile accumulates, then adds every column entry to the
    /// input pixel it came from, run by run, in a fixed order (deterministic).
    /// </summary>
    public static void Col2Im(ArrayView<float> col, ArrayView<float> dx, WindowParams p, ConvTile tile)
    {
        nint cs = (nint)HostGemm.Address(col), ds = (nint)HostGemm.Address(dx);
        For(tile.Nb * p.C, tile.Columns * p.Ckk, plane => Col2ImPlane((float*)cs, (float*)ds, p, tile, plane));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Col2ImPlane(float* col, float* dx, WindowParams p, ConvTile tile, int plane)
    {
        int nl = plane / p.C, ch = plane % p.C;
        float* dst = dx + ((long)(tile.N0 + nl) * p.C + ch) * p.H * p.W;
        if (tile.Accumulate == 0) Zero(dst + (long)tile.H0 * p.W, (tile.H1 - tile.H0) * p.W);
        for (int kh = 0; kh < p.KH; kh++)
            for (int kw = 0; kw < p.KW; kw++)
            {
                var body = new Scatter
                {
                    Src = col + ((long)nl * p.Ckk + (ch * p.KH + kh) * p.KW + kw) * tile.T,
                    Plane = dst, Offset = kw - p.PadW, W = p.W, Stride = p.Stride,
                };
                Runs(p, tile, kh, kw, ref body);
            }
    }

    /// <summary>One run of a column row added back into the input row it came from.</summary>
    private struct Scatter : IRunBody
    {
        public float* Src, Plane;
        public int Offset, W, Stride;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Run(int @base, int h, int ow, int a, int b, int end)
        {
            if (b <= a) return;
            float* row = Plane + (long)h * W + Offset, seg = Src + @base;
            if (Stride == 1) Add(row + a, seg + a, b - a);
            else
            {
                int s = Stride;
                float* to = row + (long)a * s;
                for (int o = 0; o < b - a; o++) to[o * s] += seg[a + o];
            }
        }
    }

    /// <summary>dst[0..n) = 0 with AVX-512: whole vectors, then one masked store.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ZeroWide(float* dst, int n)
    {
        int i = 0;
        for (; i + 16 <= n; i += 16) Vector512<float>.Zero.Store(dst + i);
        if (i < n) Avx512F.MaskStore(dst + i, Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(n - i)).AsSingle(), Vector512<float>.Zero);
    }

    /// <summary>dst[0..n) = 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Zero(float* dst, int n)
    {
        int i = 0;
        for (; i + 8 <= n; i += 8) Vector256<float>.Zero.Store(dst + i);
        for (; i < n; i++) dst[i] = 0f;
    }

    /// <summary>dst[0..n) = src[0..n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Copy(float* dst, float* src, int n)
    {
        int i = 0;
        for (; i + 8 <= n; i += 8) Vector256.Load(src + i).Store(dst + i);
        for (; i < n; i++) dst[i] = src[i];
    }

    /// <summary>dst[0..n) += x[0..n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Add(float* dst, float* x, int n)
    {
        int i = 0;
        for (; i + 8 <= n; i += 8) (Vector256.Load(dst + i) + Vector256.Load(x + i)).Store(dst + i);
        for (; i < n; i++) dst[i] += x[i];
    }

    /// <summary>Runs body(0 .. rows-1), over the cores when the work (<paramref name="elements"/>) is large enough.</summary>
    private static void For(int rows, long elements, Action<int> body) => HostParallel.For(rows, elements < ParallelThreshold ? 0 : long.MaxValue, body);
}
