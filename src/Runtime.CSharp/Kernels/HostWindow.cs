using ILGPU;

namespace Pgmo.Kernels;

/// <summary>
/// im2col and col2im on the CPU accelerator's host memory (see <see cref="HostGemm"/>): the same arithmetic as
/// <see cref="KernelBodies.Im2Col"/> and <see cref="KernelBodies.Col2Im"/>, but one task per row of the column
/// matrix (or of the input gradient), so the index divisions are paid per row, not per element.
/// </summary>
internal static unsafe class HostWindow
{
    /// <summary>Below this many elements a call runs on the calling thread only.</summary>
    private const long ParallelThreshold = 1 << 15;

    /// <summary>The im2col columns of one tile (see <see cref="KernelBodies.Im2Col"/>).</summary>
    public static void Im2Col(ArrayView<float> x, ArrayView<float> col, WindowParams p, ConvTile tile)
    {
        float* xs = HostGemm.Address(x), cs = HostGemm.Address(col);
        int ckk = p.Ckk, rows = tile.Nb * ckk;
        For(rows, tile.Columns * ckk, row =>
        {
            int nl = row / ckk, r = row % ckk;
            int kw = r % p.KW, kh = r / p.KW % p.KH, ch = r / (p.KW * p.KH);
            float* dst = cs + (long)row * tile.T;
            float* plane = xs + ((long)(tile.N0 + nl) * p.C + ch) * p.H * p.W;
            int oh = tile.Q0 / p.OW, ow = tile.Q0 % p.OW;
            for (int q = 0; q < tile.T; q++)
            {
                int h = oh * p.Stride - p.PadH + kh, w = ow * p.Stride - p.PadW + kw;
                dst[q] = h >= 0 && h < p.H && w >= 0 && w < p.W ? plane[h * p.W + w] : 0f;
                if (++ow == p.OW) { ow = 0; oh++; }
            }
        });
    }

    /// <summary>One tile's columns back into the input gradient (see <see cref="KernelBodies.Col2Im"/>).</summary>
    public static void Col2Im(ArrayView<float> col, ArrayView<float> dx, WindowParams p, ConvTile tile)
    {
        float* cs = HostGemm.Address(col), ds = HostGemm.Address(dx);
        int hRows = tile.H1 - tile.H0, ckk = p.Ckk;
        For(tile.Nb * p.C * hRows, (long)tile.Nb * p.C * hRows * p.W, row =>
        {
            int h = row % hRows + tile.H0, ch = row / hRows % p.C, nl = row / (hRows * p.C);
            float* dst = ds + (((long)(tile.N0 + nl) * p.C + ch) * p.H + h) * p.W;
            float* src = cs + (long)nl * ckk * tile.T;
            for (int w = 0; w < p.W; w++)
            {
                float sum = 0f;
                for (int kh = 0; kh < p.KH; kh++)
                {
                    int th = h + p.PadH - kh;
                    if (th < 0 || th % p.Stride != 0 || th / p.Stride >= p.OH) continue;
                    for (int kw = 0; kw < p.KW; kw++)
                    {
                        int tw = w + p.PadW - kw;
                        if (tw < 0 || tw % p.Stride != 0 || tw / p.Stride >= p.OW) continue;
                        int q = (th / p.Stride) * p.OW + tw / p.Stride - tile.Q0;
                        if (q < 0 || q >= tile.T) continue;
                        sum += src[(long)((ch * p.KH + kh) * p.KW + kw) * tile.T + q];
                    }
                }
                dst[w] = tile.Accumulate != 0 ? dst[w] + sum : sum;
            }
        });
    }

    /// <summary>Runs body(0 .. rows-1), over the cores when the work (<paramref name="elements"/>) is large enough.</summary>
    private static void For(int rows, long elements, Action<int> body)
    {
        if (elements < ParallelThreshold) { for (int r = 0; r < rows; r++) body(r); }
        else Parallel.For(0, rows, body);
    }
}
