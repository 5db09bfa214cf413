using System.Buffers;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ILGPU;
using ILGPU.Runtime;

namespace Pgmo.Kernels;

/// <summary>
/// The CPU accelerator's GEMM: the ILGPU CPU accelerator's buffers are host memory, so this runs plain C# on their
/// addresses. Cache-blocked in the BLIS manner: a KC-deep slice of A is packed into MR-row panels and of B into
/// NR-column panels (zero-padded, so the strides of <see cref="GemmParams"/> — transposes — are paid once per
/// element), and a 6x16 micro-kernel keeps C in twelve AVX registers with FMA (a scalar micro-kernel where AVX2/FMA
/// are missing). Blocks of C are spread over the cores with Parallel.For.
/// </summary>
internal static unsafe class HostGemm
{
    private const int MR = 6, NR = 16, KC = 256, MC = 72, NC = 256;

    /// <summary>True when the vectorized micro-kernel runs (AVX2 and FMA present).</summary>
    public static bool Vectorized => Fma.IsSupported && Avx.IsSupported;

    /// <summary>Below this many multiply-adds one GEMM runs on the calling thread only.</summary>
    private const long ParallelThreshold = 1L << 18;

    /// <summary>The host address of a view on the CPU accelerator.</summary>
    public static float* Address(ArrayView<float> view) => (float*)view.LoadEffectiveAddressAsPtr();

    /// <summary>C = Alpha op(A) op(B) + Beta C for every batch (or summed over batches), as <see cref="GemmParams"/> says.</summary>
    public static void Run(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmParams p) => Run(Address(a), Address(b), Address(c), p);

    /// <summary>The same on raw host pointers (also used by the benchmark on managed arrays).</summary>
    public static void Run(float* a, float* b, float* c, GemmParams p)
    {
        for (int bt = 0; bt < p.Batch; bt++)
        {
            bool reduce = p.ReduceBatch != 0;
            float beta = reduce && bt > 0 ? 1f : p.Beta;
            Single(a + bt * p.ABatch, b + bt * p.BBatch, reduce ? c : c + bt * p.CBatch, p, beta);
        }
    }

    /// <summary>One matrix product C = Alpha A B + beta C with the strides of <paramref name="p"/>.</summary>
    private static void Single(float* a, float* b, float* c, GemmParams p, float beta)
    {
        int m = p.M, n = p.N, k = p.K;
        if (k == 0)
        {
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) { float* cij = c + i * p.CRow + j * p.CCol; *cij = beta == 0f ? 0f : beta * *cij; }
            return;
        }
        int mPanels = (m + MR - 1) / MR, nPanels = (n + NR - 1) / NR;
        var packA = ArrayPool<float>.Shared.Rent(mPanels * MR * KC);
        var packB = ArrayPool<float>.Shared.Rent(nPanels * NR * KC);
        int mBlocks = (m + MC - 1) / MC, nBlocks = (n + NC - 1) / NC;
        bool parallel = (long)m * n * k >= ParallelThreshold && mBlocks * nBlocks > 1;
        try
        {
            fixed (float* ap = packA, bp = packB)
            {
                float* apc = ap, bpc = bp;
                for (int k0 = 0; k0 < k; k0 += KC)
                {
                    int kc = Math.Min(KC, k - k0);
                    float blockBeta = k0 == 0 ? beta : 1f;
                    float* ak = a + k0 * p.ACol, bk = b + k0 * p.BRow;
                    if (parallel)
                    {
                        Parallel.For(0, mPanels, i => PackA(ak, apc, p, i, kc));
                        Parallel.For(0, nPanels, j => PackB(bk, bpc, p, j, kc));
                        Parallel.For(0, mBlocks * nBlocks, blk => Block(apc, bpc, c, p, kc, blk / nBlocks, blk % nBlocks, blockBeta));
                    }
                    else
                    {
                        for (int i = 0; i < mPanels; i++) PackA(ak, apc, p, i, kc);
                        for (int j = 0; j < nPanels; j++) PackB(bk, bpc, p, j, kc);
                        for (int blk = 0; blk < mBlocks * nBlocks; blk++) Block(apc, bpc, c, p, kc, blk / nBlocks, blk % nBlocks, blockBeta);
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(packA);
            ArrayPool<float>.Shared.Return(packB);
        }
    }

    /// <summary>Rows [panel*MR, +MR) of the KC slice of A as kc x MR (row r of the panel fastest), zero past M.</summary>
    private static void PackA(float* a, float* ap, GemmParams p, int panel, int kc)
    {
        float* dst = ap + (long)panel * MR * kc;
        int i0 = panel * MR, rows = Math.Min(MR, p.M - i0);
        for (int r = 0; r < MR; r++)
        {
            if (r >= rows) { for (int q = 0; q < kc; q++) dst[q * MR + r] = 0f; continue; }
            float* src = a + (i0 + r) * p.ARow;
            long step = p.ACol;
            for (int q = 0; q < kc; q++) dst[q * MR + r] = src[q * step];
        }
    }

    /// <summary>Columns [panel*NR, +NR) of the KC slice of B as kc x NR (column fastest), zero past N.</summary>
    private static void PackB(float* b, float* bp, GemmParams p, int panel, int kc)
    {
        float* dst = bp + (long)panel * NR * kc;
        int j0 = panel * NR, cols = Math.Min(NR, p.N - j0);
        for (int q = 0; q < kc; q++)
        {
            float* src = b + q * p.BRow + j0 * p.BCol;
            float* d = dst + q * NR;
            if (cols == NR && p.BCol == 1) { Buffer.MemoryCopy(src, d, NR * sizeof(float), NR * sizeof(float)); continue; }
            int j = 0;
            for (; j < cols; j++) d[j] = src[j * p.BCol];
            for (; j < NR; j++) d[j] = 0f;
        }
    }

    /// <summary>One MC x NC block of C: every (MR-row, NR-column) micro-tile of it.</summary>
    private static void Block(float* ap, float* bp, float* c, GemmParams p, int kc, int mb, int nb, float beta)
    {
        float* acc = stackalloc float[MR * NR];
        int iEnd = Math.Min(p.M, (mb + 1) * MC), jEnd = Math.Min(p.N, (nb + 1) * NC);
        for (int j0 = nb * NC; j0 < jEnd; j0 += NR)
        {
            float* bPanel = bp + (long)(j0 / NR) * NR * kc;
            for (int i0 = mb * MC; i0 < iEnd; i0 += MR)
            {
                float* aPanel = ap + (long)(i0 / MR) * MR * kc;
                if (Vectorized) MicroAvx(kc, aPanel, bPanel, acc);
                else MicroScalar(kc, aPanel, bPanel, acc);
                Store(acc, c, p, i0, j0, Math.Min(MR, p.M - i0), Math.Min(NR, p.N - j0), beta);
            }
        }
    }

    /// <summary>C[i0.., j0..] = Alpha acc + beta C over the valid rows and columns of the micro-tile.</summary>
    private static void Store(float* acc, float* c, GemmParams p, int i0, int j0, int rows, int cols, float beta)
    {
        float alpha = p.Alpha;
        for (int r = 0; r < rows; r++)
        {
            float* row = c + (i0 + r) * p.CRow + j0 * p.CCol;
            float* src = acc + r * NR;
            if (p.CCol == 1 && cols == NR && Vectorized)
            {
                var va = Vector256.Create(alpha);
                for (int h = 0; h < NR; h += 8)
                {
                    var v = Avx.Multiply(va, Avx.LoadVector256(src + h));
                    if (beta != 0f) v = Fma.MultiplyAdd(Vector256.Create(beta), Avx.LoadVector256(row + h), v);
                    Avx.Store(row + h, v);
                }
                continue;
            }
            for (int j = 0; j < cols; j++)
            {
                float* cij = row + j * p.CCol;
                *cij = beta == 0f ? alpha * src[j] : alpha * src[j] + beta * *cij;
            }
        }
    }

    /// <summary>acc[6x16] = sum over kc of A panel column x B panel row, with twelve 8-wide FMA accumulators.</summary>
    private static void MicroAvx(int kc, float* a, float* b, float* acc)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int q = 0; q < kc; q++, a += MR, b += NR)
        {
            var b0 = Avx.LoadVector256(b);
            var b1 = Avx.LoadVector256(b + 8);
            var x = Avx.BroadcastScalarToVector256(a);
            c00 = Fma.MultiplyAdd(x, b0, c00); c01 = Fma.MultiplyAdd(x, b1, c01);
            x = Avx.BroadcastScalarToVector256(a + 1);
            c10 = Fma.MultiplyAdd(x, b0, c10); c11 = Fma.MultiplyAdd(x, b1, c11);
            x = Avx.BroadcastScalarToVector256(a + 2);
            c20 = Fma.MultiplyAdd(x, b0, c20); c21 = Fma.MultiplyAdd(x, b1, c21);
            x = Avx.BroadcastScalarToVector256(a + 3);
            c30 = Fma.MultiplyAdd(x, b0, c30); c31 = Fma.MultiplyAdd(x, b1, c31);
            x = Avx.BroadcastScalarToVector256(a + 4);
            c40 = Fma.MultiplyAdd(x, b0, c40); c41 = Fma.MultiplyAdd(x, b1, c41);
            x = Avx.BroadcastScalarToVector256(a + 5);
            c50 = Fma.MultiplyAdd(x, b0, c50); c51 = Fma.MultiplyAdd(x, b1, c51);
        }
        Avx.Store(acc, c00); Avx.Store(acc + 8, c01);
        Avx.Store(acc + 16, c10); Avx.Store(acc + 24, c11);
        Avx.Store(acc + 32, c20); Avx.Store(acc + 40, c21);
        Avx.Store(acc + 48, c30); Avx.Store(acc + 56, c31);
        Avx.Store(acc + 64, c40); Avx.Store(acc + 72, c41);
        Avx.Store(acc + 80, c50); Avx.Store(acc + 88, c51);
    }

    /// <summary>The micro-kernel without intrinsics (machines without AVX2/FMA).</summary>
    private static void MicroScalar(int kc, float* a, float* b, float* acc)
    {
        for (int t = 0; t < MR * NR; t++) acc[t] = 0f;
        for (int q = 0; q < kc; q++, a += MR, b += NR)
            for (int r = 0; r < MR; r++)
            {
                float x = a[r];
                float* row = acc + r * NR;
                for (int j = 0; j < NR; j++) row[j] += x * b[j];
            }
    }
}
