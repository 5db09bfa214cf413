namespace Pgmo.Kernels;

/// <summary>
/// A batched, strided GEMM: for every batch b (or summed over all batches when <see cref="ReduceBatch"/> is 1)
/// C[b,i,j] = Alpha * sum_k A[b,i,k] * B[b,k,j] + Beta * C[b,i,j]. Element (i,k) of A lives at
/// A[b*ABatch + i*ARow + k*ACol]; strides express transposes, so one kernel serves every layer.
/// </summary>
public struct GemmParams
{
    public int M, N, K, Batch, ReduceBatch;
    /// <summary>Element strides (64-bit: a batch stride times the batch index can exceed 2^31).</summary>
    public long ABatch, ARow, ACol, BBatch, BRow, BCol, CBatch, CRow, CCol;
    public float Alpha, Beta;

    /// <summary>Row-major C[M,N] = op(A) op(B) for one matrix pair, with optional transposes.</summary>
    public static GemmParams Plain(int m, int n, int k, bool transA, bool transB, float beta = 0f) => new()
    {
        M = m, N = n, K = k, Batch = 1, Alpha = 1f, Beta = beta,
        ARow = transA ? 1 : k, ACol = transA ? m : 1,
        BRow = transB ? 1 : n, BCol = transB ? k : 1,
        CRow = n, CCol = 1,
    };

    /// <summary>Number of output elements one launch computes.</summary>
    public readonly long Outputs => (long)(ReduceBatch != 0 ? 1 : Batch) * M * N;
}

/// <summary>The input rows (or columns) [Lo, Hi) a pooling window covers along one axis.</summary>
public struct PoolRange
{
    public int Lo, Hi;

    /// <summary>Rows (or columns) in the range.</summary>
    public readonly int Length => Hi - Lo;
    /// <summary>Whether row (or column) <paramref name="i"/> lies in the range.</summary>
    public readonly bool Holds(int i) => i >= Lo && i < Hi;
}

/// <summary>The windows of a pooling layer: output (oh, ow) reads input rows Rows(oh) and columns Cols(ow). The ILGPU
/// pooling kernels are generic over this, so fixed and adaptive windows share their loops.</summary>
public interface IPoolWindows
{
    /// <summary>The input rows of output row <paramref name="oh"/>'s windows, inside the input.</summary>
    PoolRange Rows(int oh);
    /// <summary>The input columns of output column <paramref name="ow"/>'s windows, inside the input.</summary>
    PoolRange Cols(int ow);
    /// <summary>What the mean over the window of <paramref name="rows"/> and <paramref name="cols"/> divides by.</summary>
    int Count(PoolRange rows, PoolRange cols);
}

/// <summary>The geometry of a 2-D window operation (convolution or pooling) on NCHW tensors.</summary>
public struct WindowParams : IPoolWindows
{
    public int N, C, H, W, KH, KW, Stride, PadH, PadW, OH, OW;

    /// <summary>Geometry with the output size derived from the input size (floor mode; 0 when the window does not fit).</summary>
    public static WindowParams Create(int n, int c, int h, int w, int kh, int kw, int stride, int padH, int padW) => new()
    {
        N = n, C = c, H = h, W = w, KH = kh, KW = kw, Stride = stride, PadH = padH, PadW = padW,
        OH = OutputSize(h, kh, stride, padH), OW = OutputSize(w, kw, stride, padW),
    };

    /// <summary>floor((size + 2 pad - kernel) / stride) + 1, or 0 when the padded input is smaller than the kernel
    /// (C#'s division truncates towards zero, which would give 1 for a window overhanging by less than a stride).</summary>
    public static int OutputSize(int size, int kernel, int stride, int pad) =>
        size + 2 * pad < kernel ? 0 : (size + 2 * pad - kernel) / stride + 1;

    /// <summary>Rows of the im2col matrix of one sample: C*KH*KW.</summary>
    public readonly int Ckk => C * KH * KW;
    /// <summary>Output pixels per channel: OH*OW.</summary>
    public readonly int Ohw => OH * OW;

    /// <summary>The input rows of output row <paramref name="oh"/>'s windows, the padding left out.</summary>
    public readonly PoolRange Rows(int oh) => Inside(oh * Stride - PadH, KH, H);
    /// <summary>The input columns of output column <paramref name="ow"/>'s windows, the padding left out.</summary>
    public readonly PoolRange Cols(int ow) => Inside(ow * Stride - PadW, KW, W);
    /// <summary>A fixed window's mean divides by its whole size, padding included (count_include_pad).</summary>
    public readonly int Count(PoolRange rows, PoolRange cols) => KH * KW;

    /// <summary>[start, start + kernel) clipped to [0, size).</summary>
    private static PoolRange Inside(int start, int kernel, int size) =>
        new() { Lo = start > 0 ? start : 0, Hi = start + kernel < size ? start + kernel : size };
}

/// <summary>Per-channel geometry (batch norm, channel sums): N samples, C channels, HW pixels per channel.</summary>
public struct ChannelParams
{
    public int N, C, HW;
    /// <summary>Batch-norm epsilon and running-statistics momentum.</summary>
    public float Eps, Momentum;
    /// <summary>Factor a channel sum is multiplied by (1 for plain sums, 1/rows for a mean loss).</summary>
    public float Scale;
    /// <summary>Elements per channel: N*HW.</summary>
    public readonly long Count => (long)N * HW;
}

/// <summary>
/// One tile of a convolution's im2col workspace: samples [N0, N0+Nb) and output positions [Q0, Q0+T) of each
/// (q = oh*OW + ow), laid out as [Nb, C*KH*KW, T]. H0..H1 are the input rows the tile's windows touch (for col2im);
/// Accumulate is 1 when col2im adds to the input gradient (tiles that split a sample) and 0 when it writes.
/// </summary>
public struct ConvTile
{
    public int N0, Nb, Q0, T, H0, H1, Accumulate;
    /// <summary>Output positions in the tile: Nb*T.</summary>
    public readonly long Columns => (long)Nb * T;
}

/// <summary>The element indices [Start, End) one kernel launch covers (see <see cref="LaunchSplit"/>).</summary>
public struct ElementRange
{
    public long Start, End;
    /// <summary>Number of elements in the range.</summary>
    public readonly long Count => End - Start;
}
