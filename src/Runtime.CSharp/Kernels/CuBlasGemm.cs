using ILGPU.Runtime.Cuda;

namespace Pgmo.Kernels;

/// <summary>
/// The CUDA GEMM through cuBLAS (column-major). A row-major C[M,N] = A B is the column-major C^T = B^T A^T, so each
/// operand's unit stride decides its transpose flag and its other stride is the leading dimension. Shapes whose
/// strides cuBLAS cannot express (no unit stride, or a column stride in C) are left to the tiled kernel.
/// </summary>
internal static unsafe class CuBlasGemm
{
    /// <summary>Runs the GEMM and returns true, or returns false (nothing launched) when the strides do not fit cuBLAS.
    /// Batches go to one cublasSgemmStridedBatched call where the library has it (every cuBLAS since 8.0); batches
    /// summed into one C (weight gradients) run one GEMM each, accumulating.</summary>
    public static bool TryRun(CuBlas blas, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmParams p)
    {
        if (!TryLayout(p, out var opA, out var lda, out var opB, out var ldb)) return false;
        int ldc = (int)p.CRow;
        if (p.Batch > 1 && p.ReduceBatch == 0 && StridedBatched is not null)
        {
            blas.PointerMode = CuBlasPointerMode.Host;
            float alpha = p.Alpha, beta = p.Beta;
            int status = StridedBatched(blas.Handle, (int)opB, (int)opA, p.N, p.M, p.K, &alpha,
                b.LoadEffectiveAddressAsPtr(), ldb, p.BBatch, a.LoadEffectiveAddressAsPtr(), lda, p.ABatch,
                &beta, c.LoadEffectiveAddressAsPtr(), ldc, p.CBatch, p.Batch);
            if (status != 0) throw new InvalidOperationException($"cublasSgemmStridedBatched failed with status {status}");
            return true;
        }
        for (int bt = 0; bt < p.Batch; bt++)
        {
            bool reduce = p.ReduceBatch != 0;
            float beta = reduce && bt > 0 ? 1f : p.Beta;
            var av = a.SubView(bt * p.ABatch);
            var bv = b.SubView(bt * p.BBatch);
            var cv = reduce ? c : c.SubView(bt * p.CBatch);
            blas.Gemm(opB, opA, p.N, p.M, p.K, p.Alpha, bv, ldb, av, lda, beta, cv, ldc);
        }
        return true;
    }

    /// <summary>cublasSgemmStridedBatched from the cuBLAS library ILGPU loaded (null where it cannot be found: then
    /// batches run one GEMM each).</summary>
    private static readonly delegate* unmanaged[Cdecl]<IntPtr, int, int, int, int, int, float*, IntPtr, int, long, IntPtr, int, long, float*, IntPtr, int, long, int, int> StridedBatched = FindStridedBatched();

    private static delegate* unmanaged[Cdecl]<IntPtr, int, int, int, int, int, float*, IntPtr, int, long, IntPtr, int, long, float*, IntPtr, int, long, int, int> FindStridedBatched()
    {
        foreach (var name in new[] { "libcublas.so.12", "libcublas.so.11", "libcublas.so.13", "libcublas.so", "cublas64_12.dll", "cublas64_11.dll" })
            if (System.Runtime.InteropServices.NativeLibrary.TryLoad(name, out var lib)
                && System.Runtime.InteropServices.NativeLibrary.TryGetExport(lib, "cublasSgemmStridedBatched", out var f))
                return (delegate* unmanaged[Cdecl]<IntPtr, int, int, int, int, int, float*, IntPtr, int, long, IntPtr, int, long, float*, IntPtr, int, long, int, int>)f;
        return null;
    }

    /// <summary>The transpose flags and leading dimensions of the column-major call, when cuBLAS can express <paramref name="p"/>.</summary>
    internal static bool TryLayout(GemmParams p, out CuBlasOperation opA, out int lda, out CuBlasOperation opB, out int ldb)
    {
        opA = opB = CuBlasOperation.NonTranspose;
        lda = ldb = 0;
        if (p.CCol != 1 || p.CRow < Math.Max(1, p.N) || p.CRow > int.MaxValue) return false;
        // A^T as a K x M column-major matrix: unit stride along k (ACol = 1) is "no transpose", along i (ARow = 1) "transpose".
        if (p.ACol == 1 && p.ARow >= Math.Max(1, p.K) && p.ARow <= int.MaxValue) { opA = CuBlasOperation.NonTranspose; lda = (int)p.ARow; }
        else if (p.ARow == 1 && p.ACol >= Math.Max(1, p.M) && p.ACol <= int.MaxValue) { opA = CuBlasOperation.Transpose; lda = (int)p.ACol; }
        else return false;
        // B^T as an N x K column-major matrix: unit stride along j (BCol = 1) is "no transpose", along k (BRow = 1) "transpose".
        if (p.BCol == 1 && p.BRow >= Math.Max(1, p.N) && p.BRow <= int.MaxValue) { opB = CuBlasOperation.NonTranspose; ldb = (int)p.BRow; }
        else if (p.BRow == 1 && p.BCol >= Math.Max(1, p.K) && p.BCol <= int.MaxValue) { opB = CuBlasOperation.Transpose; ldb = (int)p.BCol; }
        else return false;
        return true;
    }
}
