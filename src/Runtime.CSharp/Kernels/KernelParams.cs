namespace Pgmo.Kernels;

/// <summary>
/// A batched, strided GEMM: for every batch b (or summed over all batches when <see cref="ReduceBatch"/> is 1)
/// C[b,i,j] = Alpha * sum_k A[b,i,k] * B[b,k,j] + Beta * C[b,i,j]. Element (i,k) of A lives at
/// A[b*ABatch + i*ARow + k*ACol]; strides express transposes, so one kernel serves every layer.
/// </summary>
public struct GemmParams
{
    public int M, N, K, Batch, ReduceBatch;
    public int ABatch, ARow, ACol, BBatch, BRow, BCol, CBatch, CRow, CCol;
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
    public readonly int Outputs => (ReduceBatch != 0 ? 1 : Batch) * M * N;
}

/// <summary>The geometry of a 2-D window operation (convolution or pooling) on NCHW tensors.</summary>
public struct WindowParams
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
}

/// <summary>Batch-norm geometry: N samples, C channels, HW pixels per channel.</summary>
public struct ChannelParams
{
    public int N, C, HW;
    public float Eps, Momentum;
    public readonly int Count => N * HW;
}
