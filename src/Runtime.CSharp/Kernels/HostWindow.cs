using System.Runtime.CompilerServices;
using ILGPU;

namespace Pgmo.Kernels;

/// <summary>
/// im2col and col2im on the CPU accelerator's host memory (see <see cref="HostGemm"/>): the same results as
/// <see cref="KernelBodies.Im2Col"/> and <see cref="KernelBodies.Col2Im"/>, but one task per row of the column
/// matrix (or per input plane), walking output positions incrementally, so no index division is paid per element.
/// </summary>
internal static unsafe class HostWindow
{
    /// <summary>Below this many elements a call runs on the calling thread only.</summary>
    private const long ParallelThreshold = 1 << 15;

    /// <summary>
    /// The positions of one tile walked for one window offset (kh, kw), one output row at a time:
    /// body(base, h, ow, a, b, end) gets the run's output columns [ow, end) (tile position base + o holds output column
    /// o), the input row h (outside [0, H) in the padding) and the columns [a, b) whose input column o*S - PadW + kw
    /// lies inside the input row (empty when h is outside).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Runs(WindowParams p, ConvTile tile, int kh, int kw, RunBody body)
    {
        int owLo = p.PadW - kw > 0 ? (p.PadW - kw + p.Stride - 1) / p.Stride : 0;
        int owHi = p.W - 1 + p.PadW - kw < 0 ? 0 : Math.Min(p.OW, (p.W - 1 + p.PadW - kw) / p.Stride + 1);
        int oh = tile.Q0 / p.OW, ow = tile.Q0 % p.OW;
        for (int q = 0; q < tile.T; oh++, ow = 0)
        {
            int run = Math.Min(tile.T - q, p.OW - ow), end = ow + run;
            int h = oh * p.Stride - p.PadH + kh;
            int a = h < 0 || h >= p.H ? end : Math.Clamp(owLo, ow, end), b = Math.Clamp(owHi, a, end);
            body(q - ow, h, ow, a, b, end);
            q += run;
        }
    }

    private delegate void RunBody(int @base, int h, int ow, int a, int b, int end);

    /// <summary>The im2col columns of one tile (see <see cref="KernelBodies.Im2Col"/>): per row of the column matrix,
    /// each output row's run is a zero fill where the window is in the padding and, in between, a copy of the input
    /// row (contiguous at stride 1).</summary>
    public static void Im2Col(ArrayView<float> x, ArrayView<float> col, WindowParams p, ConvTile tile)
    {
        nint xs = (nint)HostGemm.Address(x), cs = (nint)HostGemm.Address(col);
        int ckk = p.Ckk, rows = tile.Nb * ckk;
        For(rows, tile.Columns * ckk, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (row) =>
        {
            int nl = row / ckk, r = row % ckk;
            int kw = r % p.KW, kh = r / p.KW % p.KH, ch = r / (p.KW * p.KH);
            nint dst = (nint)((float*)cs + (long)row * tile.T);
            nint plane = (nint)((float*)xs + ((long)(tile.N0 + nl) * p.C + ch) * p.H * p.W);
            Runs(p, tile, kh, kw, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (@base, h, ow, a, b, end) =>
            {
                float* seg = (float*)dst + @base;
                new Span<float>(seg + ow, a - ow).Clear();
                if (b > a)
                {
                    float* src = (float*)plane + h * p.W - p.PadW + kw;   // src[o * S]: input column o*S - PadW + kw
                    if (p.Stride == 1) new Span<float>(src + a, b - a).CopyTo(new Span<float>(seg + a, b - a));
                    else for (int o = a; o < b; o++) seg[o] = src[o * p.Stride];
                }
                new Span<float>(seg + b, end - b).Clear();
            });
        });
    }

    /// <summary>
    /// One tile's columns back into the input gradient (the adjoint of <see cref="Im2Col"/>): one task per (sample,
    /// channel) plane, which zeroes its rows [H0, H1) unless the tile accumulates, then adds every column entry to the
    /// input pixel it came from, run by run, in a fixed order (deterministic).
    /// </summary>
    public static void Col2Im(ArrayView<float> col, ArrayView<float> dx, WindowParams p, ConvTile tile)
    {
        nint cs = (nint)HostGemm.Address(col), ds = (nint)HostGemm.Address(dx);
        int ckk = p.Ckk;
        For(tile.Nb * p.C, tile.Columns * ckk, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (plane) =>
        {
            int nl = plane / p.C, ch = plane % p.C;
            float* dst = (float*)ds + ((long)(tile.N0 + nl) * p.C + ch) * p.H * p.W;
            if (tile.Accumulate == 0)
                new Span<float>(dst + tile.H0 * p.W, (tile.H1 - tile.H0) * p.W).Clear();
            nint pd = (nint)dst;
            for (int kh = 0; kh < p.KH; kh++)
                for (int kw = 0; kw < p.KW; kw++)
                {
                    nint src = (nint)((float*)cs + ((long)nl * ckk + (ch * p.KH + kh) * p.KW + kw) * tile.T);
                    int kwc = kw;
                    Runs(p, tile, kh, kw, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (@base, h, ow, a, b, end) =>
                    {
                        float* row = (float*)pd + h * p.W - p.PadW + kwc, seg = (float*)src + @base;
                        if (p.Stride == 1) Add(row + a, seg + a, b - a);
                        else for (int o = a; o < b; o++) row[o * p.Stride] += seg[o];
                    });
                }
        });
    }

    /// <summary>dst[0..n) += x[0..n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Add(float* dst, float* x, int n)
    {
        int w = System.Numerics.Vector<float>.Count, i = 0;
        for (; i + w <= n; i += w)
            Unsafe.Write(dst + i, Unsafe.Read<System.Numerics.Vector<float>>(dst + i) + Unsafe.Read<System.Numerics.Vector<float>>(x + i));
        for (; i < n; i++) dst[i] += x[i];
    }

    /// <summary>Runs body(0 .. rows-1), over the cores when the work (<paramref name="elements"/>) is large enough.</summary>
    private static void For(int rows, long elements, Action<int> body) => HostParallel.For(rows, elements < ParallelThreshold ? 0 : long.MaxValue, body);
}
