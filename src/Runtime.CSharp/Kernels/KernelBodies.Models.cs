using System.Runtime.CompilerServices;

namespace Pgmo.Kernels;

/// <summary>Kernels of the paper networks' extra layers: dropout and adaptive average pooling. Element indices are
/// 64-bit, so a view longer than 2^31 elements is walked correctly by the grid-stride loops. The stride and the length
/// are read once before each loop: on the CPU accelerator every read of Grid/Group dimensions is a thread-static
/// lookup, and reading them per element made an elementwise kernel about 30 times slower.</summary>
internal static partial class KernelBodies
{
    /// <summary>A uniform float in [0, 1) from (seed, index): SplitMix64 of the counter, so any thread draws any
    /// element's number without state, and the mask depends only on the seed (not on the launch geometry).</summary>
    internal static float Uniform(ulong seed, long index) => (Mix(seed + (ulong)(index + 1) * 0x9E3779B97F4A7C15UL) >> 40) * (1f / 16777216f);

    /// <summary>The SplitMix64 finalizer: a bijection of 64-bit words that scatters nearby inputs.</summary>
    internal static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Inverted dropout: mask[i] = Scale where the element is kept (probability 1 - P), else 0; y = x * mask.</summary>
    internal static void Dropout(Index1D first, ArrayView<float> x, ArrayView<float> y, ArrayView<float> mask, DropoutParams p)
    {
        long n = y.Length;
        int stride = GridStride();
        for (long i = first; i < n; i += stride)
        {
            float m = Uniform(p.Seed, i) >= p.P ? p.Scale : 0f;
            mask[i] = m;
            y[i] = x[i] * m;
        }
    }

    /// <summary>y = a * b element by element.</summary>
    internal static void Multiply(Index1D first, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y)
    {
        long n = y.Length;
        int stride = GridStride();
        for (long i = first; i < n; i += stride) y[i] = a[i] * b[i];
    }

    /// <summary>Each output pixel (oh, ow) averages input rows [floor(oh H / OH), ceil((oh + 1) H / OH)) and the
    /// same columns (PyTorch's adaptive average pooling).</summary>
    internal static void AdaptiveAvgPool(Index1D first, ArrayView<float> x, ArrayView<float> y, AdaptivePoolParams p)
    {
        long n = y.Length;
        int stride = GridStride();
        for (long idx = first; idx < n; idx += stride) y[idx] = WindowMean(x, PlaneIndex.Of(idx, p.OH, p.OW), p.H, p.W, p);
    }

    /// <summary>dx[h, w] = sum over the output pixels whose window holds (h, w) of dy / window size.</summary>
    internal static void AdaptiveAvgPoolBackward(Index1D first, ArrayView<float> dy, ArrayView<float> dx, AdaptivePoolParams p)
    {
        long n = dx.Length;
        int stride = GridStride();
        for (long idx = first; idx < n; idx += stride)
        {
            var at = PlaneIndex.Of(idx, p.H, p.W);
            long plane = at.Plane * p.OH * p.OW;
            float sum = 0f;
            // the windows holding row h are among oh in [floor(h OH / H), ceil((h + 1) OH / H)): the same formulas
            // with the input and output sizes swapped
            PoolRange ohs = p.Range(at.Row, p.OH, p.H), ows = p.Range(at.Col, p.OW, p.W);
            for (int oh = ohs.Lo; oh < ohs.Hi; oh++)
            {
                var rows = p.Rows(oh);
                if (!rows.Holds(at.Row)) continue;
                for (int ow = ows.Lo; ow < ows.Hi; ow++)
                {
                    var cols = p.Cols(ow);
                    if (cols.Holds(at.Col)) sum += dy[plane + oh * p.OW + ow] / p.Count(rows, cols);
                }
            }
            dx[idx] = sum;
        }
    }
}

/// <summary>Dropout settings of one launch: drop probability, the scale 1 / (1 - P) of kept elements, and the seed.</summary>
public struct DropoutParams
{
    public float P, Scale;
    public ulong Seed;
}

/// <summary>Adaptive average pooling of N*C planes of H x W to OH x OW.</summary>
public struct AdaptivePoolParams : IPoolWindows
{
    public int H, W, OH, OW;

    /// <summary>First input row (or column) of output window <paramref name="o"/>: floor(o * size / outSize).</summary>
    public readonly int Start(int o, int size, int outSize) => (int)((long)o * size / outSize);
    /// <summary>One past the last input row of window <paramref name="o"/>: ceil((o + 1) * size / outSize).</summary>
    public readonly int End(int o, int size, int outSize) => (int)((((long)o + 1) * size + outSize - 1) / outSize);

    /// <summary>[Start, End) of window <paramref name="o"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly PoolRange Range(int o, int size, int outSize) => new() { Lo = Start(o, size, outSize), Hi = End(o, size, outSize) };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly PoolRange Rows(int oh) => Range(oh, H, OH);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly PoolRange Cols(int ow) => Range(ow, W, OW);
    /// <summary>An adaptive window's mean divides by the pixels in it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly int Count(PoolRange rows, PoolRange cols) => rows.Length * cols.Length;
}
