using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ILGPU;
using ILGPU.Runtime;

namespace Pgmo.Kernels;

/// <summary>
/// The CPU accelerator's GEMM: the ILGPU CPU accelerator's buffers are host memory, so this runs plain C# on their
/// addresses. Cache-blocked in the BLIS manner: C is cut into MC x NC blocks, one task each (across batches too,
/// so one parallel loop, one barrier, per call); a task packs a KC-deep slice of its rows of A into MR-row panels
/// and of its columns of B into NR-column panels (zero-padded, so the strides of <see cref="GemmParams"/> —
/// transposes — are paid once per element) and runs a 6x16 micro-kernel that keeps C in twelve AVX registers with
/// FMA (a scalar micro-kernel where AVX2/FMA are missing). The hot methods are compiled fully optimized at once
/// (no tier-0 code in the first steps of a short run).
/// </summary>
internal static unsafe class HostGemm
{
    private const int MR = 6, NR = 16, KC = 256, MC = 144, NC = 384;

    /// <summary>True when the vectorized micro-kernel runs (AVX2 and FMA present).</summary>
    public static bool Vectorized => Fma.IsSupported && Avx.IsSupported;

    /// <summary>Below this many multiply-adds a call runs on the calling thread only.</summary>
    private const long ParallelThreshold = 1L << 18;

    /// <summary>Each thread's packing buffers (pinned, allocated once per thread).</summary>
    [ThreadStatic] private static float[]? packA, packB;

    /// <summary>The host address of a view on the CPU accelerator.</summary>
    public static float* Address(ArrayView<float> view) => (float*)view.LoadEffectiveAddressAsPtr();

    /// <summary>C = Alpha op(A) op(B) + Beta C for every batch (or summed over batches), as <see cref="GemmParams"/> says.</summary>
    public static void Run(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmParams p) => Run(Address(a), Address(b), Address(c), p);

    /// <summary>
    /// C = Alpha op(A) op(B) + Beta C + bias[i] for every row i of every batch: the bias of a convolution's output
    /// channels (the rows of its GEMM), added as the products are stored instead of in a pass of its own.
    /// </summary>
    public static void RunWithRowBias(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmParams p, ArrayView<float> bias)
    {
        if (IsSkinny(p) || IsShallow(p) || p.ReduceBatch != 0 || p.K == 0) throw new ArgumentException("a row bias needs the blocked product", nameof(p));
        Run(Address(a), Address(b), Address(c), p, Address(bias));
    }

    /// <summary>True when <see cref="RunWithRowBias"/> takes <paramref name="p"/>.</summary>
    public static bool TakesRowBias(GemmParams p) => !IsSkinny(p) && !IsShallow(p) && p.ReduceBatch == 0 && p.K > 0 && p.M > 0 && p.N > 0;

    /// <summary>The same on raw host pointers.</summary>
    public static void Run(float* a, float* b, float* c, GemmParams p) => Run(a, b, c, p, null);

    private static void Run(float* a, float* b, float* c, GemmParams p, float* rowBias)
    {
        if (p.M == 0 || p.N == 0 || p.Batch == 0) return;
        if (IsSkinny(p) || IsShallow(p))
        {
            for (int bt = 0; bt < p.Batch; bt++)
            {
                bool sum = p.ReduceBatch != 0;
                float* at = a + bt * p.ABatch, btp = b + bt * p.BBatch, ct = sum ? c : c + bt * p.CBatch;
                float beta = sum && bt > 0 ? 1f : p.Beta;
                if (IsSkinny(p)) Skinny(at, btp, ct, p, beta);
                else Shallow(at, btp, ct, p, beta);
            }
            return;
        }
        bool reduce = p.ReduceBatch != 0;
        // Batches that share A (a convolution's weights over the samples of a tile) are one product with their columns
        // side by side, so a layer with few output positions per sample still fills the micro-kernel and packs its
        // weights once; batches summed into one C (a weight gradient) are one product with their K side by side.
        bool fuseColumns = !reduce && p.ABatch == 0 && p.Batch > 1 && p.N < NC;
        bool transposed = !fuseColumns && p.N < NR && p.M >= 2 * NR;
        if (transposed)
        {
            // few columns and many rows (one sample of a deep layer's few output positions): C^T = B^T A^T fills the
            // micro-kernel's 16 columns with rows of C instead of padding them
            float* t = a;
            a = b;
            b = t;
            p = Transposed(p);
        }
        var f = new Fusion(fuseColumns ? p.N : 0, reduce && p.Batch > 1 ? p.K : 0, p, rowBias, biasOnColumns: transposed);
        int batches = reduce || fuseColumns ? 1 : p.Batch;
        bool parallel = (long)p.M * p.N * p.K * p.Batch >= ParallelThreshold;
        int threads = parallel ? HostParallel.Threads : 1;
        var (mc, nc) = BlockShape(p.M, f.N, batches, threads);
        int mBlocks = (p.M + mc - 1) / mc, nBlocks = (f.N + nc - 1) / nc;
        // A task takes a column block and a run of row blocks: it packs each KC slice of its columns of B once for
        // all its rows (as BLIS shares a packed B across row blocks); runs are as long as two tasks per thread allow.
        int run = mBlocks;
        while (run > 1 && (mBlocks + run - 1) / run * nBlocks * batches < 2 * threads) run = (run + 1) / 2;
        int runs = (mBlocks + run - 1) / run, columns = runs * nBlocks, tasks = columns * batches;
        var (pa, pb, pc) = ((nint)a, (nint)b, (nint)c);
        void RunTask(int t)
        {
            int blk = t % columns, bt = t / columns;
            int i0 = blk / nBlocks * run * mc, j0 = blk % nBlocks * nc;
            int i1 = Math.Min(p.M, i0 + run * mc), bn = Math.Min(nc, f.N - j0);
            Block((float*)pa + bt * p.ABatch, (float*)pb + bt * p.BBatch, (float*)pc + bt * p.CBatch, p, f, i0, i1, mc, j0, bn, p.Beta);
        }
        HostParallel.For(tasks, parallel ? long.MaxValue : 0, RunTask);
    }

    /// <summary>
    /// How the batches of a product are laid side by side: with <see cref="NPer"/> &gt; 0, column j of the product is
    /// column j mod NPer of batch j / NPer (of B and C); with <see cref="KPer"/> &gt; 0, step q of K is step q mod KPer of
    /// batch q / KPer (of A and B). <see cref="N"/> and <see cref="K"/> are the product's sizes after fusion.
    /// </summary>
    private readonly struct Fusion(int nPer, int kPer, GemmParams p, float* bias, bool biasOnColumns)
    {
        public readonly int NPer = nPer, KPer = kPer;
        public readonly int N = nPer > 0 ? nPer * p.Batch : p.N;
        public readonly int K = kPer > 0 ? kPer * p.Batch : p.K;
        /// <summary>A bias added as the last K slice is stored: per row of C, or per column when the product runs
        /// transposed (null: none).</summary>
        public readonly float* Bias = bias;
        public readonly bool BiasOnColumns = biasOnColumns;
    }

    /// <summary>The product with A and B exchanged and transposed: C^T = B^T A^T (the same numbers, other strides).</summary>
    internal static GemmParams Transposed(GemmParams p) => p with
    {
        M = p.N, N = p.M,
        ABatch = p.BBatch, ARow = p.BCol, ACol = p.BRow,
        BBatch = p.ABatch, BRow = p.ACol, BCol = p.ARow,
        CRow = p.CCol, CCol = p.CRow,
    };

    /// <summary>
    /// The block of C one task computes: MC x NC, halved (columns first, in whole micro-tiles) while there are fewer
    /// than two tasks per thread, so a small product (a weight gradient summed over samples, one sample's layer) still
    /// keeps every core busy.
    /// </summary>
    internal static (int Rows, int Columns) BlockShape(int m, int n, int batches, int threads)
    {
        int mc = MC, nc = NC;
        int Tasks() => (m + mc - 1) / mc * ((n + nc - 1) / nc) * batches;
        while (Tasks() < 2 * threads)
        {
            if (nc >= 4 * NR && n > nc / 2) nc = (nc / 2 + NR - 1) / NR * NR;
            else if (mc >= 4 * MR && m > mc / 2) mc = (mc / 2 + MR - 1) / MR * MR;
            else break;
        }
        return (mc, nc);
    }

    /// <summary>At most this many rows of C make a product skinny (a fully connected layer at a small batch).</summary>
    private const int SkinnyRows = 8;

    /// <summary>True for few rows of C and a B contiguous along k or j: <see cref="Skinny"/> streams B once instead of packing it.</summary>
    private static bool IsSkinny(GemmParams p) => p.M <= SkinnyRows && p.K > 0 && p.CCol == 1 && (p.BRow == 1 || p.BCol == 1);

    /// <summary>
    /// One product C = Alpha A B + beta C with at most <see cref="SkinnyRows"/> rows: the weight matrix B of a fully
    /// connected layer is read once, in column chunks spread over the cores. With B contiguous along k each output is a
    /// dot product of an A row and a B column; with B contiguous along j the chunk of C rows is accumulated row of B
    /// by row of B.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Skinny(float* a, float* b, float* c, GemmParams p, float beta)
    {
        int m = p.M, k = p.K, n = p.N;
        var rows = GC.AllocateUninitializedArray<float>(m * k, pinned: true);
        for (int i = 0; i < m; i++)
            for (int q = 0; q < k; q++) rows[i * k + q] = a[i * p.ARow + q * p.ACol];
        // Dot products: 256 columns a task. Rows of B: one wide run of columns a task, so each row of B is read in
        // long contiguous pieces.
        int width = p.BRow == 1 ? 256 : Math.Max(256, (n + 2 * Environment.ProcessorCount - 1) / (2 * Environment.ProcessorCount));
        int chunks = (n + width - 1) / width;
        var (pa, pb, pc) = ((nint)Unsafe.AsPointer(ref rows[0]), (nint)b, (nint)c);
        void Chunk(int t)
        {
            float* ar = (float*)pa, bm = (float*)pb, cm = (float*)pc;
            int j0 = t * width, j1 = Math.Min(n, j0 + width), w = j1 - j0;
            if (p.BRow == 1)
            {
                for (int j = j0; j < j1; j++)
                    for (int i = 0; i < m; i++) Put(cm + i * p.CRow + j, Dot(ar + i * k, bm + j * p.BCol, k), p.Alpha, beta);
                return;
            }
            var sums = GC.AllocateArray<float>(m * w, pinned: true);
            fixed (float* acc = sums)
            {
                for (int q = 0; q < k; q++)
                {
                    float* brow = bm + q * p.BRow + j0;
                    for (int i = 0; i < m; i++) AddScaled(acc + i * w, brow, ar[i * k + q], w);
                }
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < w; j++) Put(cm + i * p.CRow + j0 + j, acc[i * w + j], p.Alpha, beta);
            }
        }
        HostParallel.For(chunks, (long)m * n * k >= ParallelThreshold ? long.MaxValue : 0, Chunk);
        // the tasks read rows through a raw pointer only: without this the collector may free the array under them
        GC.KeepAlive(rows);
    }

    /// <summary>True for a short K (at most <see cref="SkinnyRows"/>) and B and C contiguous along j: the weight
    /// gradient of a fully connected layer at a small batch, updated row by row by <see cref="Shallow"/>.</summary>
    private static bool IsShallow(GemmParams p) => p.K <= SkinnyRows && p.K > 0 && p.BCol == 1 && p.CCol == 1 && p.M > SkinnyRows;

    /// <summary>One product with a short K: each row of C is beta times itself plus K scaled rows of B (which stay in
    /// cache), updated in place; rows spread over the cores.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Shallow(float* a, float* b, float* c, GemmParams p, float beta)
    {
        var (pa, pb, pc) = ((nint)a, (nint)b, (nint)c);
        void Rows(int from, int to)
        {
            for (int i = from; i < to; i++)
            {
                float* crow = (float*)pc + i * p.CRow, arow = (float*)pa + i * p.ARow;
                if (beta == 0f) SetScaled(crow, (float*)pb, p.Alpha * arow[0], p.N);
                else
                {
                    if (beta != 1f) SetScaled(crow, crow, beta, p.N);
                    AddScaled(crow, (float*)pb, p.Alpha * arow[0], p.N);
                }
                for (int q = 1; q < p.K; q++) AddScaled(crow, (float*)pb + q * p.BRow, p.Alpha * arow[q * p.ACol], p.N);
            }
        }
        const int RowsPerTask = 16;
        int tasks = (p.M + RowsPerTask - 1) / RowsPerTask;
        HostParallel.For(tasks, (long)p.M * p.N * p.K >= ParallelThreshold ? long.MaxValue : 0, t => Rows(t * RowsPerTask, Math.Min(p.M, (t + 1) * RowsPerTask)));
    }

    /// <summary>dst[0..n) = s * x[0..n) (dst may be x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SetScaled(float* dst, float* x, float s, int n)
    {
        int w = System.Numerics.Vector<float>.Count, i = 0;
        var sv = new System.Numerics.Vector<float>(s);
        for (; i + w <= n; i += w) Unsafe.Write(dst + i, sv * Unsafe.Read<System.Numerics.Vector<float>>(x + i));
        for (; i < n; i++) dst[i] = s * x[i];
    }

    /// <summary>*c = alpha v + beta *c (beta 0: *c is not read).</summary>
    private static void Put(float* c, float v, float alpha, float beta) => *c = beta == 0f ? alpha * v : alpha * v + beta * *c;

    /// <summary>The dot product of x[0..n) and y[0..n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot(float* x, float* y, int n)
    {
        int w = System.Numerics.Vector<float>.Count, i = 0;
        var s0 = System.Numerics.Vector<float>.Zero;
        var s1 = s0;
        for (; i + 2 * w <= n; i += 2 * w)
        {
            s0 += Unsafe.Read<System.Numerics.Vector<float>>(x + i) * Unsafe.Read<System.Numerics.Vector<float>>(y + i);
            s1 += Unsafe.Read<System.Numerics.Vector<float>>(x + i + w) * Unsafe.Read<System.Numerics.Vector<float>>(y + i + w);
        }
        float s = System.Numerics.Vector.Sum(s0 + s1);
        for (; i < n; i++) s += x[i] * y[i];
        return s;
    }

    /// <summary>acc[0..n) += alpha * x[0..n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddScaled(float* acc, float* x, float alpha, int n)
    {
        int w = System.Numerics.Vector<float>.Count, i = 0;
        var av = new System.Numerics.Vector<float>(alpha);
        for (; i + w <= n; i += w)
            Unsafe.Write(acc + i, Unsafe.Read<System.Numerics.Vector<float>>(acc + i) + av * Unsafe.Read<System.Numerics.Vector<float>>(x + i));
        for (; i < n; i++) acc[i] += alpha * x[i];
    }

    /// <summary>Rows [i0, i1) and columns [j0, j0+nc) of one product C = Alpha A B + beta C, over all of K in KC
    /// slices: each slice of B's columns is packed once, then each row block of mc rows (at most MC) is packed and
    /// multiplied (nc at most NC).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block(float* a, float* b, float* c, GemmParams p, Fusion f, int i0, int i1, int mc, int j0, int nc, float beta)
    {
        if (f.K == 0)
        {
            for (int i = i0; i < i1; i++)
                for (int j = 0; j < nc; j++) { float* cij = CAt(c, p, f, i, j0 + j); *cij = beta == 0f ? 0f : beta * *cij; }
            return;
        }
        packA ??= GC.AllocateArray<float>(MC * KC, pinned: true);
        packB ??= GC.AllocateArray<float>(KC * NC, pinned: true);
        fixed (float* ap = packA, bp = packB)
        {
            for (int k0 = 0; k0 < f.K; k0 += KC)
            {
                int kc = Math.Min(KC, f.K - k0);
                for (int j = 0; j < nc; j += NR) PackB(b, bp + j * kc, p, f, j0 + j, k0, kc);
                for (int r0 = i0; r0 < i1; r0 += mc)
                {
                    int rows = Math.Min(mc, i1 - r0);
                    for (int i = 0; i < rows; i += MR) PackA(a, ap + i * kc, p, f, r0 + i, k0, kc);
                    Compute(ap, bp, c, p, f, kc, r0, rows, j0, nc, k0 == 0 ? beta : 1f, k0 + kc == f.K ? f.Bias : null);
                }
            }
        }
    }

    /// <summary>The batch of K step <paramref name="q"/> and the step within it.</summary>
    private static (int Batch, int Step) KStep(Fusion f, int q) => f.KPer > 0 ? (q / f.KPer, q % f.KPer) : (0, q);

    /// <summary>The batch of column <paramref name="j"/> and the column within it.</summary>
    private static (int Batch, int Column) NColumn(Fusion f, int j) => f.NPer > 0 ? (j / f.NPer, j % f.NPer) : (0, j);

    /// <summary>The address of C's element (i, j) of the (fused) product.</summary>
    private static float* CAt(float* c, GemmParams p, Fusion f, int i, int j)
    {
        var (bt, jl) = NColumn(f, j);
        return c + bt * p.CBatch + i * p.CRow + jl * p.CCol;
    }

    /// <summary>Rows [i0, i0+MR) of K steps [k0, k0+kc) of A as kc x MR (row r of the panel fastest), zero past M.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA(float* a, float* dst, GemmParams p, Fusion f, int i0, int k0, int kc)
    {
        int rows = Math.Min(MR, p.M - i0);
        var (bt, k) = KStep(f, k0);
        bool oneBatch = f.KPer == 0 || k + kc <= f.KPer;
        for (int r = 0; r < MR; r++)
        {
            if (r >= rows) { for (int q = 0; q < kc; q++) dst[q * MR + r] = 0f; continue; }
            if (oneBatch)
            {
                float* src = a + bt * p.ABatch + (i0 + r) * p.ARow + k * p.ACol;
                long step = p.ACol;
                for (int q = 0; q < kc; q++) dst[q * MR + r] = src[q * step];
                continue;
            }
            for (int q = 0; q < kc;)
            {
                var (qb, ql) = KStep(f, k0 + q);
                int run = Math.Min(kc - q, f.KPer - ql);
                float* src = a + qb * p.ABatch + (i0 + r) * p.ARow + ql * p.ACol;
                for (int t = 0; t < run; t++) dst[(q + t) * MR + r] = src[t * p.ACol];
                q += run;
            }
        }
    }

    /// <summary>Columns [j0, j0+NR) of K steps [k0, k0+kc) of B as kc x NR (column fastest), zero past N.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB(float* b, float* dst, GemmParams p, Fusion f, int j0, int k0, int kc)
    {
        int cols = Math.Min(NR, f.N - j0);
        var (kb, k) = KStep(f, k0);
        var (nb, j) = NColumn(f, j0);
        if ((f.KPer == 0 || k + kc <= f.KPer) && (f.NPer == 0 || j + cols <= f.NPer))
        {
            PackBPanel(b + (kb + nb) * p.BBatch + k * p.BRow + j * p.BCol, dst, p.BRow, p.BCol, cols, kc);
            return;
        }
        // the panel straddles batches: column by column, each column's K steps walked batch by batch
        for (int jj = 0; jj < NR; jj++)
        {
            if (jj >= cols) { for (int q = 0; q < kc; q++) dst[q * NR + jj] = 0f; continue; }
            var (cb, cl) = NColumn(f, j0 + jj);
            float* column = b + cb * p.BBatch + cl * p.BCol;
            for (int q = 0; q < kc;)
            {
                var (qb, ql) = KStep(f, k0 + q);
                int run = f.KPer > 0 ? Math.Min(kc - q, f.KPer - ql) : kc - q;
                float* src = column + qb * p.BBatch + ql * p.BRow;
                for (int t = 0; t < run; t++) dst[(q + t) * NR + jj] = src[t * p.BRow];
                q += run;
            }
        }
    }

    /// <summary><paramref name="cols"/> columns of kc rows of B from <paramref name="src0"/> (its element (0, 0)) as
    /// kc x NR, zero-padded past cols.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackBPanel(float* src0, float* dst, long bRow, long bCol, int cols, int kc)
    {
        if (bRow == 1 && cols == NR)
        {
            // B stored transposed (k contiguous): read each column once, sequentially.
            for (int j = 0; j < NR; j++)
            {
                float* src = src0 + j * bCol;
                for (int q = 0; q < kc; q++) dst[q * NR + j] = src[q];
            }
            return;
        }
        for (int q = 0; q < kc; q++)
        {
            float* src = src0 + q * bRow;
            float* d = dst + q * NR;
            if (cols == NR && bCol == 1) { Buffer.MemoryCopy(src, d, NR * sizeof(float), NR * sizeof(float)); continue; }
            int j = 0;
            for (; j < cols; j++) d[j] = src[j * bCol];
            for (; j < NR; j++) d[j] = 0f;
        }
    }

    /// <summary>Every (MR-row, NR-column) micro-tile of the packed block, into C.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Compute(float* ap, float* bp, float* c, GemmParams p, Fusion f, int kc, int i0, int mc, int j0, int nc, float beta, float* bias)
    {
        float* acc = stackalloc float[MR * NR];
        for (int j = 0; j < nc; j += NR)
        {
            float* bPanel = bp + j * kc;
            for (int i = 0; i < mc; i += MR)
            {
                float* aPanel = ap + i * kc;
                if (Vectorized) MicroAvx(kc, aPanel, bPanel, acc);
                else MicroScalar(kc, aPanel, bPanel, acc);
                Store(acc, c, p, f, i0 + i, j0 + j, Math.Min(MR, mc - i), Math.Min(NR, nc - j), beta, bias);
            }
        }
    }

    /// <summary>C[i0.., j0..] = Alpha acc + beta C over the valid rows and columns of the micro-tile.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Store(float* acc, float* c, GemmParams p, Fusion f, int i0, int j0, int rows, int cols, float beta, float* bias)
    {
        float alpha = p.Alpha;
        var (nb, jl) = NColumn(f, j0);
        bool oneBatch = f.NPer == 0 || jl + cols <= f.NPer;
        if (bias is not null)
        {
            // acc = alpha acc + bias, then alpha 1: the bias is stored with the product
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < NR; j++)
                    acc[r * NR + j] = alpha * acc[r * NR + j] + (f.BiasOnColumns ? (j < cols ? bias[j0 + j] : 0f) : bias[i0 + r]);
            alpha = 1f;
        }
        for (int r = 0; r < rows; r++)
        {
            float* src = acc + r * NR;
            if (oneBatch)
            {
                float* row = c + nb * p.CBatch + (i0 + r) * p.CRow + jl * p.CCol;
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
                continue;
            }
            for (int j = 0; j < cols; j++)
            {
                float* cij = CAt(c, p, f, i0 + r, j0 + j);
                *cij = beta == 0f ? alpha * src[j] : alpha * src[j] + beta * *cij;
            }
        }
    }

    /// <summary>acc[6x16] = sum over kc of A panel column x B panel row, with twelve 8-wide FMA accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
