using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Pgmo.Kernels;

/// <summary>
/// The CPU accelerator's GEMM: the ILGPU CPU accelerator's buffers are host memory, so this runs plain C# on their
/// addresses. Cache-blocked in the BLIS manner: C is cut into MC x NC blocks, one task each (across batches too,
/// so one parallel loop, one barrier, per call); a task packs a KC-deep slice of its rows of A into MR-row panels
/// and of its columns of B into NR-column panels (zero-padded, so the strides of <see cref="GemmParams"/> —
/// transposes — are paid once per element) and runs a micro-kernel that keeps an MR x NR tile of C in registers:
/// 14x32 in 28 AVX-512 registers where AVX-512F is present, 6x16 in twelve AVX registers with FMA where only AVX2 is,
/// a scalar one below that (<see cref="HostCpu.Isa"/>; <c>PGMO_HOST_ISA</c> forces a lower one). Products with at
/// most 8 rows or a K of at most 8 (fully connected layers at a small batch) stream B instead of packing it. The hot
/// methods are compiled fully optimized at once (no tier-0 code in the first steps of a short run).
/// <para>
/// The AVX-512 and AVX2 paths give the same bits. In the blocked product every element of C is summed over K in the
/// same KC-deep slices (KC is shared), one FMA per step of K in order from zero within a slice, and each slice is
/// stored as fma(beta, C, alpha acc) (beta 1 past the first slice) whatever the tile's width, so only the grouping of
/// elements into tiles and of tiles into blocks differs; the streaming products sum each element lane by lane in the
/// same order with either width. <c>GemmKernelTests</c> checks this on every path.
/// </para>
/// </summary>
internal static unsafe class HostGemm
{
    /// <summary>Depth of a packed K slice: shared by every micro-kernel, so they sum in the same order.</summary>
    private const int KC = 256;

    /// <summary>How benchmarks name a micro-kernel.</summary>
    public static string Name(HostIsa isa) => isa switch
    {
        HostIsa.Avx512 => $"AVX-512 {Avx512Kernel.MR}x{Avx512Kernel.NR}",
        HostIsa.Avx2 => $"AVX2+FMA {Avx2Kernel.MR}x{Avx2Kernel.NR}",
        _ => $"scalar {ScalarKernel.MR}x{ScalarKernel.NR}",
    };

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
        switch (HostCpu.Isa)
        {
            case HostIsa.Avx512: Blocked<Avx512Kernel>(a, b, c, p, rowBias); break;
            case HostIsa.Avx2: Blocked<Avx2Kernel>(a, b, c, p, rowBias); break;
            default: Blocked<ScalarKernel>(a, b, c, p, rowBias); break;
        }
    }

    /// <summary>The blocked product with the micro-kernel <typeparamref name="TK"/> (its tile and block sizes).</summary>
    private static void Blocked<TK>(float* a, float* b, float* c, GemmParams p, float* rowBias) where TK : struct, IMicroKernel
    {
        bool reduce = p.ReduceBatch != 0;
        // Batches that share A (a convolution's weights over the samples of a tile) are one product with their columns
        // side by side, so a layer with few output positions per sample still fills the micro-kernel and packs its
        // weights once; batches summed into one C (a weight gradient) are one product with their K side by side.
        bool fuseColumns = !reduce && p.ABatch == 0 && p.Batch > 1 && p.N < TK.NC;
        bool transposed = !fuseColumns && p.N < TK.NR && p.M >= 2 * TK.NR;
        if (transposed)
        {
            // few columns and many rows (one sample of a deep layer's few output positions): C^T = B^T A^T fills the
            // micro-kernel's columns with rows of C instead of padding them
            float* t = a;
            a = b;
            b = t;
            p = Transposed(p);
        }
        var f = new Fusion(fuseColumns ? p.N : 0, reduce && p.Batch > 1 ? p.K : 0, p, rowBias, biasOnColumns: transposed);
        int batches = reduce || fuseColumns ? 1 : p.Batch;
        bool parallel = (long)p.M * p.N * p.K * p.Batch >= ParallelThreshold;
        int threads = parallel ? HostParallel.Threads : 1;
        var (mc, nc) = BlockShape<TK>(p.M, f.N, batches, threads);
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
            Block<TK>((float*)pa + bt * p.ABatch, (float*)pb + bt * p.BBatch, (float*)pc + bt * p.CBatch, p, f, i0, i1, mc, j0, bn, p.Beta);
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
    private static (int Rows, int Columns) BlockShape<TK>(int m, int n, int batches, int threads) where TK : struct, IMicroKernel
    {
        int MR = TK.MR, NR = TK.NR, mc = TK.MC, nc = TK.NC;
        int Tasks() => (m + mc - 1) / mc * ((n + nc - 1) / nc) * batches;
        while (Tasks() < 2 * threads)
        {
            if (nc >= 4 * NR && n > nc / 2) nc = (nc / 2 + NR - 1) / NR * NR;
            else if (mc >= 4 * MR && m > mc / 2) mc = (mc / 2 + MR - 1) / MR * MR;
            else break;
        }
        // the same number of blocks, of even sizes in whole micro-tiles: 392 columns as 224 + 168, not 384 + 8 (a
        // block of mostly padding)
        return (Even(m, mc, MR), Even(n, nc, NR));
    }

    /// <summary>The block size that cuts <paramref name="n"/> into as many blocks as <paramref name="block"/> does, as
    /// evenly as whole multiples of <paramref name="unit"/> allow (never larger than <paramref name="block"/>).</summary>
    private static int Even(int n, int block, int unit)
    {
        int blocks = (n + block - 1) / block;
        return Math.Min(block, ((n + blocks - 1) / blocks + unit - 1) / unit * unit);
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
        var isa = HostCpu.Isa;   // read here: the tasks run on other threads
        void Chunk(int t)
        {
            float* ar = (float*)pa, bm = (float*)pb, cm = (float*)pc;
            int j0 = t * width, j1 = Math.Min(n, j0 + width), w = j1 - j0;
            if (p.BRow == 1)
            {
                float* dots = stackalloc float[4];
                for (int j = j0; j < j1; j++)
                {
                    float* column = bm + j * p.BCol;
                    if (isa == HostIsa.Scalar)
                    {
                        for (int i = 0; i < m; i++) Put(cm + i * p.CRow + j, Dot(ar + i * k, column, k), p.Alpha, beta);
                        continue;
                    }
                    // the column is read once for four rows (it stays in L1 for the next four)
                    for (int i = 0; i < m; i += 4)
                    {
                        int r = Math.Min(4, m - i);
                        float* x = ar + i * k;
                        Dot4(x, r > 1 ? x + k : x, r > 2 ? x + 2 * k : x, r > 3 ? x + 3 * k : x, column, k, isa == HostIsa.Avx512, dots);
                        for (int u = 0; u < r; u++) Put(cm + (i + u) * p.CRow + j, dots[u], p.Alpha, beta);
                    }
                }
                return;
            }
            if (isa != HostIsa.Scalar)
            {
                RowsOfB(ar, bm, p.BRow, cm, p, beta, m, k, j0, j1, isa == HostIsa.Avx512);
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

    /// <summary>
    /// Columns [j0, j1) of a skinny product with B contiguous along j (a fully connected layer's input gradient): four
    /// rows of A at a time against strips of 32 (AVX-512) or 16 columns of B held in registers over all of K, then
    /// column by column. Each element is summed from zero, a_q b_q multiplied then added, q in order, as the passes of
    /// <see cref="AddScaled"/> sum it, and stored by <see cref="Put"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowsOfB(float* ar, float* b, long bRow, float* c, GemmParams p, float beta, int m, int k, int j0, int j1, bool wide)
    {
        float* acc = stackalloc float[4 * 32];
        for (int i0 = 0; i0 < m; i0 += 4)
        {
            int r = Math.Min(4, m - i0);
            float* x0 = ar + i0 * k, x1 = r > 1 ? x0 + k : x0, x2 = r > 2 ? x0 + 2 * k : x0, x3 = r > 3 ? x0 + 3 * k : x0;
            int j = j0;
            if (wide)
                for (; j + 32 <= j1; j += 32)
                {
                    Strip32(x0, x1, x2, x3, b + j, bRow, k, acc);
                    for (int u = 0; u < r; u++)
                        for (int t = 0; t < 32; t++) Put(c + (i0 + u) * p.CRow + j + t, acc[u * 32 + t], p.Alpha, beta);
                }
            for (; j + 16 <= j1; j += 16)
            {
                Strip16(x0, x1, x2, x3, b + j, bRow, k, acc);
                for (int u = 0; u < r; u++)
                    for (int t = 0; t < 16; t++) Put(c + (i0 + u) * p.CRow + j + t, acc[u * 16 + t], p.Alpha, beta);
            }
            for (; j < j1; j++)
                for (int u = 0; u < r; u++)
                {
                    float* x = x0 + u * k, column = b + j;
                    float sum = 0f;
                    for (int q = 0; q < k; q++) sum += x[q] * column[q * bRow];
                    Put(c + (i0 + u) * p.CRow + j, sum, p.Alpha, beta);
                }
        }
    }

    /// <summary>acc[u * 32 + t] = sum over q of x_u[q] b[q * bRow + t], t &lt; 32, in eight AVX-512 registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Strip32(float* x0, float* x1, float* x2, float* x3, float* b, long bRow, int k, float* acc)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, h0 = default, h1 = default, h2 = default, h3 = default;
        for (int q = 0; q < k; q++, b += bRow)
        {
            var (lo, hi) = (Vector512.Load(b), Vector512.Load(b + 16));
            var x = Vector512.Create(x0[q]); a0 += x * lo; h0 += x * hi;
            x = Vector512.Create(x1[q]); a1 += x * lo; h1 += x * hi;
            x = Vector512.Create(x2[q]); a2 += x * lo; h2 += x * hi;
            x = Vector512.Create(x3[q]); a3 += x * lo; h3 += x * hi;
        }
        a0.Store(acc); h0.Store(acc + 16); a1.Store(acc + 32); h1.Store(acc + 48);
        a2.Store(acc + 64); h2.Store(acc + 80); a3.Store(acc + 96); h3.Store(acc + 112);
    }

    /// <summary>acc[u * 16 + t] = sum over q of x_u[q] b[q * bRow + t], t &lt; 16, in eight AVX registers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Strip16(float* x0, float* x1, float* x2, float* x3, float* b, long bRow, int k, float* acc)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, h0 = default, h1 = default, h2 = default, h3 = default;
        for (int q = 0; q < k; q++, b += bRow)
        {
            var (lo, hi) = (Vector256.Load(b), Vector256.Load(b + 8));
            var x = Vector256.Create(x0[q]); a0 += x * lo; h0 += x * hi;
            x = Vector256.Create(x1[q]); a1 += x * lo; h1 += x * hi;
            x = Vector256.Create(x2[q]); a2 += x * lo; h2 += x * hi;
            x = Vector256.Create(x3[q]); a3 += x * lo; h3 += x * hi;
        }
        a0.Store(acc); h0.Store(acc + 8); a1.Store(acc + 16); h1.Store(acc + 24);
        a2.Store(acc + 32); h2.Store(acc + 40); a3.Store(acc + 48); h3.Store(acc + 56);
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
            float* scales = stackalloc float[SkinnyRows];
            for (int i = from; i < to; i++)
            {
                float* crow = (float*)pc + i * p.CRow, arow = (float*)pa + i * p.ARow;
                for (int q = 0; q < p.K; q++) scales[q] = p.Alpha * arow[q * p.ACol];
                ShallowRow(crow, (float*)pb, p.BRow, scales, p.K, p.N, beta);
            }
        }
        const int RowsPerTask = 16;
        int tasks = (p.M + RowsPerTask - 1) / RowsPerTask;
        HostParallel.For(tasks, (long)p.M * p.N * p.K >= ParallelThreshold ? long.MaxValue : 0, t => Rows(t * RowsPerTask, Math.Min(p.M, (t + 1) * RowsPerTask)));
    }

    /// <summary>
    /// c[0..n) = beta c + sum over q &lt; k of s[q] b[q * bRow + 0..n) in one pass over c: each element is beta c (c
    /// itself for beta 1, nothing read for beta 0) plus s[q] b, multiplied then added, q in order, as passes of
    /// scaling and <see cref="AddScaled"/> would give it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ShallowRow(float* c, float* b, long bRow, float* s, int k, int n, float beta)
    {
        int w = System.Numerics.Vector<float>.Count, i = 0;
        var bv = new System.Numerics.Vector<float>(beta);
        for (; i + w <= n; i += w)
        {
            var v = new System.Numerics.Vector<float>(s[0]) * Unsafe.Read<System.Numerics.Vector<float>>(b + i);
            if (beta != 0f)
            {
                var old = Unsafe.Read<System.Numerics.Vector<float>>(c + i);
                v = (beta == 1f ? old : bv * old) + v;
            }
            for (int q = 1; q < k; q++) v += new System.Numerics.Vector<float>(s[q]) * Unsafe.Read<System.Numerics.Vector<float>>(b + q * bRow + i);
            Unsafe.Write(c + i, v);
        }
        for (; i < n; i++)
        {
            float v = s[0] * b[i];
            if (beta != 0f) v = (beta == 1f ? c[i] : beta * c[i]) + v;
            for (int q = 1; q < k; q++) v += s[q] * b[q * bRow + i];
            c[i] = v;
        }
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

    /// <summary>
    /// The dot products of four rows x0..x3 with y over [0, n), each with the bits of <see cref="Dot"/> where
    /// <see cref="System.Numerics.Vector{T}"/> is 8 floats wide (AVX2 machines): lane l of a 16-float chunk is summed
    /// apart (multiply, then add) into lane l of a 16-lane sum, whose halves are added and summed, then the tail is
    /// added in order. With AVX-512 each 16-lane sum is one register; otherwise two.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Dot4(float* x0, float* x1, float* x2, float* x3, float* y, int n, bool wide, float* sums)
    {
        int i = 0;
        Vector256<float> s0, s1, s2, s3;
        if (wide)
        {
            Vector512<float> t0 = default, t1 = default, t2 = default, t3 = default;
            for (; i + 16 <= n; i += 16)
            {
                var v = Vector512.Load(y + i);
                t0 += Vector512.Load(x0 + i) * v;
                t1 += Vector512.Load(x1 + i) * v;
                t2 += Vector512.Load(x2 + i) * v;
                t3 += Vector512.Load(x3 + i) * v;
            }
            (s0, s1, s2, s3) = (t0.GetLower() + t0.GetUpper(), t1.GetLower() + t1.GetUpper(), t2.GetLower() + t2.GetUpper(), t3.GetLower() + t3.GetUpper());
        }
        else
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            for (; i + 16 <= n; i += 16)
            {
                var (v, u) = (Vector256.Load(y + i), Vector256.Load(y + i + 8));
                a0 += Vector256.Load(x0 + i) * v; b0 += Vector256.Load(x0 + i + 8) * u;
                a1 += Vector256.Load(x1 + i) * v; b1 += Vector256.Load(x1 + i + 8) * u;
                a2 += Vector256.Load(x2 + i) * v; b2 += Vector256.Load(x2 + i + 8) * u;
                a3 += Vector256.Load(x3 + i) * v; b3 += Vector256.Load(x3 + i + 8) * u;
            }
            (s0, s1, s2, s3) = (a0 + b0, a1 + b1, a2 + b2, a3 + b3);
        }
        float r0 = System.Numerics.Vector.Sum(s0.AsVector()), r1 = System.Numerics.Vector.Sum(s1.AsVector());
        float r2 = System.Numerics.Vector.Sum(s2.AsVector()), r3 = System.Numerics.Vector.Sum(s3.AsVector());
        for (; i < n; i++)
        {
            float v = y[i];
            r0 += x0[i] * v; r1 += x1[i] * v; r2 += x2[i] * v; r3 += x3[i] * v;
        }
        (sums[0], sums[1], sums[2], sums[3]) = (r0, r1, r2, r3);
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
    private static void Block<TK>(float* a, float* b, float* c, GemmParams p, Fusion f, int i0, int i1, int mc, int j0, int nc, float beta) where TK : struct, IMicroKernel
    {
        if (f.K == 0)
        {
            for (int i = i0; i < i1; i++)
                for (int j = 0; j < nc; j++) { float* cij = CAt(c, p, f, i, j0 + j); *cij = beta == 0f ? 0f : beta * *cij; }
            return;
        }
        packA ??= GC.AllocateArray<float>(PackAFloats + PackAlign + PackSpare, pinned: true);
        packB ??= GC.AllocateArray<float>(PackBFloats + PackAlign, pinned: true);
        fixed (float* ap0 = packA, bp0 = packB)
        {
            // the panels start on a cache line: a 64-byte load of B never straddles two
            float* ap = Aligned(ap0), bp = Aligned(bp0);
            for (int k0 = 0; k0 < f.K; k0 += KC)
            {
                int kc = Math.Min(KC, f.K - k0);
                for (int j = 0; j < nc; j += TK.NR) PackB<TK>(b, bp + j * kc, p, f, j0 + j, k0, kc);
                for (int r0 = i0; r0 < i1; r0 += mc)
                {
                    int rows = Math.Min(mc, i1 - r0);
                    for (int i = 0; i < rows; i += TK.MR) PackA<TK>(a, ap + i * kc, p, f, r0 + i, k0, kc);
                    Compute<TK>(ap, bp, c, p, f, kc, r0, rows, j0, nc, k0 == 0 ? beta : 1f, k0 + kc == f.K ? f.Bias : null);
                }
            }
        }
    }

    /// <summary>Floats of each thread's packing buffers: the largest A block and B block of any micro-kernel.</summary>
    private static readonly int PackAFloats = Math.Max(Avx512Kernel.MC, Avx2Kernel.MC) * KC, PackBFloats = Math.Max(Avx512Kernel.NC, Avx2Kernel.NC) * KC;

    /// <summary>Spare floats in a packing buffer, to start it on a 64-byte boundary.</summary>
    private const int PackAlign = 16;

    /// <summary>Spare floats past the packed A block, for the transposes' writes past a panel (see
    /// <see cref="PackAPiece{TK}"/>).</summary>
    private const int PackSpare = 8;

    private static float* Aligned(float* p) => (float*)(((nint)p + 63) & ~(nint)63);

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

    /// <summary>Rows [i0, i0+MR) of K steps [k0, k0+kc) of A as kc x MR (row r of the panel fastest), zero past M:
    /// piece by piece where the slice straddles batches of K.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA<TK>(float* a, float* dst, GemmParams p, Fusion f, int i0, int k0, int kc) where TK : struct, IMicroKernel
    {
        int MR = TK.MR, rows = Math.Min(MR, p.M - i0);
        for (int q = 0; q < kc;)
        {
            var (kb, kl) = KStep(f, k0 + q);
            int steps = f.KPer > 0 ? Math.Min(kc - q, f.KPer - kl) : kc - q;
            PackAPiece<TK>(a + kb * p.ABatch + i0 * p.ARow + kl * p.ACol, dst + q * MR, p.ARow, p.ACol, rows, steps);
            q += steps;
        }
        for (int r = rows; r < MR; r++)
            for (int q = 0; q < kc; q++) dst[q * MR + r] = 0f;
    }

    /// <summary><paramref name="rows"/> rows of <paramref name="steps"/> K steps of A from <paramref name="src"/> (its
    /// element (0, 0)) into steps of MR floats at <paramref name="dst"/>. A full panel of A stored with K contiguous (a
    /// convolution's weights, an output gradient) is transposed 8 rows by 8 steps in registers: the last 8-row group
    /// goes first, padded by repeating its last row, and the floats it writes past the panel's row (into the next
    /// step's first floats, at most 7 past the piece's end, which <see cref="PackSpare"/> covers) are overwritten by
    /// the groups after it, the next step or the next piece.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackAPiece<TK>(float* src, float* dst, long aRow, long aCol, int rows, int steps) where TK : struct, IMicroKernel
    {
        int MR = TK.MR;
        if (aRow == 1 && rows == MR)
        {
            // A stored transposed (its columns contiguous): one copy a step of K
            for (int q = 0; q < steps; q++) Buffer.MemoryCopy(src + q * aCol, dst + q * MR, MR * sizeof(float), MR * sizeof(float));
            return;
        }
        int done = 0;
        if (aCol == 1 && rows == MR && TK.Vector)
        {
            done = steps / 8 * 8;
            for (int q = 0; q < done; q += 8)
                for (int r0 = (MR - 1) / 8 * 8; r0 >= 0; r0 -= 8)
                {
                    float* s = src + r0 * aRow + q;
                    long last = Math.Min(7, MR - 1 - r0) * aRow;
                    Transpose8(s, aRow, last, dst + q * MR + r0, MR);
                }
        }
        for (int r = 0; r < rows; r++)
        {
            float* s = src + r * aRow;
            for (int q = done; q < steps; q++) dst[q * MR + r] = s[q * aCol];
        }
    }

    /// <summary>Columns [j0, j0+NR) of K steps [k0, k0+kc) of B as kc x NR (column fastest), zero past N: piece by
    /// piece where the panel straddles batches (of K or of the columns).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB<TK>(float* b, float* dst, GemmParams p, Fusion f, int j0, int k0, int kc) where TK : struct, IMicroKernel
    {
        int NR = TK.NR, cols = Math.Min(NR, f.N - j0);
        for (int q = 0; q < kc;)
        {
            var (kb, kl) = KStep(f, k0 + q);
            int steps = f.KPer > 0 ? Math.Min(kc - q, f.KPer - kl) : kc - q;
            for (int j = 0; j < cols;)
            {
                var (nb, jl) = NColumn(f, j0 + j);
                int run = f.NPer > 0 ? Math.Min(cols - j, f.NPer - jl) : cols - j;
                PackBPiece<TK>(b + (kb + nb) * p.BBatch + kl * p.BRow + jl * p.BCol, dst + q * NR + j, p.BRow, p.BCol, run, steps);
                j += run;
            }
            q += steps;
        }
        if (cols < NR)
            for (int q = 0; q < kc; q++) new Span<float>(dst + q * NR + cols, NR - cols).Clear();
    }

    /// <summary><paramref name="cols"/> columns of <paramref name="steps"/> rows of B from <paramref name="src"/> (its
    /// element (0, 0)) into rows of NR floats at <paramref name="dst"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackBPiece<TK>(float* src, float* dst, long bRow, long bCol, int cols, int steps) where TK : struct, IMicroKernel
    {
        int NR = TK.NR;
        if (bCol == 1)
        {
            // rows of B contiguous: one copy a row
            for (int q = 0; q < steps; q++) Buffer.MemoryCopy(src + q * bRow, dst + q * NR, cols * sizeof(float), cols * sizeof(float));
            return;
        }
        if (bRow == 1)
        {
            // B stored transposed (k contiguous, a weight gradient's columns): 8x8 blocks transposed in registers,
            // the rest column by column, each read sequentially
            int j = 0;
            if (TK.Vector)
                for (; j + 8 <= cols; j += 8)
                {
                    float* s = src + j * bCol;
                    int q = 0;
                    for (; q + 8 <= steps; q += 8) Transpose8(s + q, bCol, dst + q * NR + j, NR);
                    for (; q < steps; q++)
                        for (int t = 0; t < 8; t++) dst[q * NR + j + t] = s[t * bCol + q];
                }
            for (; j < cols; j++)
            {
                float* s = src + j * bCol;
                for (int q = 0; q < steps; q++) dst[q * NR + j] = s[q];
            }
            return;
        }
        for (int q = 0; q < steps; q++)
            for (int j = 0; j < cols; j++) dst[q * NR + j] = src[q * bRow + j * bCol];
    }

    /// <summary>d[i * dStride + t] = s[t * sStride + i] for i, t in [0, 8): an 8x8 block transposed with AVX.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8(float* s, long sStride, float* d, int dStride) => Transpose8(s, sStride, 7 * sStride, d, dStride);

    /// <summary><see cref="Transpose8(float*, long, float*, int)"/> with source rows past <paramref name="last"/> (an
    /// offset from s) read as that row again: a group of fewer than 8 rows, padded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8(float* s, long sStride, long last, float* d, int dStride)
    {
        Vector256<float> Row(long i) => Avx.LoadVector256(s + Math.Min(i * sStride, last));
        var (r0, r1, r2, r3) = (Row(0), Row(1), Row(2), Row(3));
        var (r4, r5, r6, r7) = (Row(4), Row(5), Row(6), Row(7));
        var (t0, t1, t2, t3) = (Avx.UnpackLow(r0, r1), Avx.UnpackHigh(r0, r1), Avx.UnpackLow(r2, r3), Avx.UnpackHigh(r2, r3));
        var (t4, t5, t6, t7) = (Avx.UnpackLow(r4, r5), Avx.UnpackHigh(r4, r5), Avx.UnpackLow(r6, r7), Avx.UnpackHigh(r6, r7));
        var (u0, u1, u2, u3) = (Avx.Shuffle(t0, t2, 0x44), Avx.Shuffle(t0, t2, 0xEE), Avx.Shuffle(t1, t3, 0x44), Avx.Shuffle(t1, t3, 0xEE));
        var (u4, u5, u6, u7) = (Avx.Shuffle(t4, t6, 0x44), Avx.Shuffle(t4, t6, 0xEE), Avx.Shuffle(t5, t7, 0x44), Avx.Shuffle(t5, t7, 0xEE));
        Avx.Store(d, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(d + dStride, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(d + 2 * dStride, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(d + 3 * dStride, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(d + 4 * dStride, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(d + 5 * dStride, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(d + 6 * dStride, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(d + 7 * dStride, Avx.Permute2x128(u3, u7, 0x31));
    }

    /// <summary>Every (MR-row, NR-column) micro-tile of the packed block, into C.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Compute<TK>(float* ap, float* bp, float* c, GemmParams p, Fusion f, int kc, int i0, int mc, int j0, int nc, float beta, float* bias) where TK : struct, IMicroKernel
    {
        int MR = TK.MR, NR = TK.NR;
        float* acc = stackalloc float[TK.MR * TK.NR];
        // a whole micro-tile of one batch goes from the registers into C where the store is plain: C = acc or C + acc
        // (alpha 1, beta 0 or 1, no bias), the floats Store gives
        bool direct = TK.Vector && bias is null && p.Alpha == 1f && (beta == 0f || beta == 1f) && p.CCol == 1;
        for (int j = 0; j < nc; j += NR)
        {
            float* bPanel = bp + j * kc;
            var (nb, jl) = NColumn(f, j0 + j);
            bool whole = direct && nc - j >= NR && (f.NPer == 0 || jl + NR <= f.NPer);
            float* corner = c + nb * p.CBatch + jl;
            for (int i = 0; i < mc; i += MR)
            {
                if (whole && mc - i >= MR)
                {
                    TK.Multiply(kc, ap + i * kc, bPanel, corner + (i0 + i) * p.CRow, p.CRow, add: beta != 0f);
                    continue;
                }
                TK.Multiply(kc, ap + i * kc, bPanel, acc, NR, add: false);
                Store<TK>(acc, c, p, f, i0 + i, j0 + j, Math.Min(MR, mc - i), Math.Min(NR, nc - j), beta, bias);
            }
        }
    }

    /// <summary>C[i0.., j0..] = Alpha acc + beta C over the valid rows and columns of the micro-tile, as
    /// fma(beta, C, Alpha acc) for every element (vector or not), so the bits do not depend on the tile's width; piece
    /// by piece where the tile's columns straddle batches.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Store<TK>(float* acc, float* c, GemmParams p, Fusion f, int i0, int j0, int rows, int cols, float beta, float* bias) where TK : struct, IMicroKernel
    {
        int NR = TK.NR;
        float alpha = p.Alpha;
        if (bias is not null)
        {
            // acc = alpha acc + bias, then alpha 1: the bias is stored with the product
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < NR; j++)
                    acc[r * NR + j] = alpha * acc[r * NR + j] + (f.BiasOnColumns ? (j < cols ? bias[j0 + j] : 0f) : bias[i0 + r]);
            alpha = 1f;
        }
        for (int j = 0; j < cols;)
        {
            var (nb, jl) = NColumn(f, j0 + j);
            int run = f.NPer > 0 ? Math.Min(cols - j, f.NPer - jl) : cols - j;
            float* corner = c + nb * p.CBatch + i0 * p.CRow + jl * p.CCol;
            for (int r = 0; r < rows; r++) StoreRun<TK>(acc + r * NR + j, corner + r * p.CRow, p.CCol, run, alpha, beta);
            j += run;
        }
    }

    /// <summary>dst[h * step] = alpha src[h] + beta dst[h * step] for h in [0, n), fused (see <see cref="Put{TK}"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void StoreRun<TK>(float* src, float* dst, long step, int n, float alpha, float beta) where TK : struct, IMicroKernel
    {
        int h = 0;
        if (TK.Vector && step == 1)
        {
            var (va, vb) = (Vector256.Create(alpha), Vector256.Create(beta));
            for (; h + 8 <= n; h += 8)
            {
                var v = Avx.Multiply(va, Avx.LoadVector256(src + h));
                if (beta != 0f) v = Fma.MultiplyAdd(vb, Avx.LoadVector256(dst + h), v);
                Avx.Store(dst + h, v);
            }
        }
        for (; h < n; h++) Put<TK>(dst + h * step, src[h], alpha, beta);
    }

    /// <summary>*c = alpha v + beta *c, fused as the vector store where the kernel is vectorized (beta 0: *c is not read).</summary>
    private static void Put<TK>(float* c, float v, float alpha, float beta) where TK : struct, IMicroKernel =>
        *c = beta == 0f ? alpha * v : TK.Vector ? MathF.FusedMultiplyAdd(beta, *c, alpha * v) : alpha * v + beta * *c;

    /// <summary>A micro-kernel: acc[MR x NR] (row-major) = the sum over kc steps of the packed A panel's column (MR
    /// floats a step) times the packed B panel's row (NR floats a step), and the blocks it is run in.</summary>
    private interface IMicroKernel
    {
        /// <summary>Rows and columns of a micro-tile.</summary>
        static abstract int MR { get; }
        static abstract int NR { get; }
        /// <summary>Rows and columns of a block of C (multiples of MR and NR): a packed A block of MC x KC floats
        /// stays in L2, a B panel of KC x NR floats in L1.</summary>
        static abstract int MC { get; }
        static abstract int NC { get; }
        /// <summary>True for the kernels with vector FMA (the store fuses too).</summary>
        static abstract bool Vector { get; }
        /// <summary>The micro-tile's sums (row r at c + r cRow), or with <paramref name="add"/> C plus them.</summary>
        static abstract void Multiply(int kc, float* a, float* b, float* c, long cRow, bool add);
    }

    /// <summary>14x32: 28 AVX-512 accumulators, two B vectors and one broadcast of A (31 of the 32 zmm registers).</summary>
    private struct Avx512Kernel : IMicroKernel
    {
        public static int MR => 14;
        public static int NR => 32;
        public static int MC => 168;
        public static int NC => 384;
        public static bool Vector => true;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Multiply(int kc, float* a, float* b, float* c, long cRow, bool add)
        {
            Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
            Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
            Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default;
            Vector512<float> c90 = default, c91 = default, ca0 = default, ca1 = default, cb0 = default, cb1 = default;
            Vector512<float> cc0 = default, cc1 = default, cd0 = default, cd1 = default;
            for (int q = 0; q < kc; q++, a += 14, b += 32)
            {
                var b0 = Avx512F.LoadAlignedVector512(b);
                var b1 = Avx512F.LoadAlignedVector512(b + 16);
                var x = Vector512.Create(a[0]);
                c00 = Avx512F.FusedMultiplyAdd(x, b0, c00); c01 = Avx512F.FusedMultiplyAdd(x, b1, c01);
                x = Vector512.Create(a[1]);
                c10 = Avx512F.FusedMultiplyAdd(x, b0, c10); c11 = Avx512F.FusedMultiplyAdd(x, b1, c11);
                x = Vector512.Create(a[2]);
                c20 = Avx512F.FusedMultiplyAdd(x, b0, c20); c21 = Avx512F.FusedMultiplyAdd(x, b1, c21);
                x = Vector512.Create(a[3]);
                c30 = Avx512F.FusedMultiplyAdd(x, b0, c30); c31 = Avx512F.FusedMultiplyAdd(x, b1, c31);
                x = Vector512.Create(a[4]);
                c40 = Avx512F.FusedMultiplyAdd(x, b0, c40); c41 = Avx512F.FusedMultiplyAdd(x, b1, c41);
                x = Vector512.Create(a[5]);
                c50 = Avx512F.FusedMultiplyAdd(x, b0, c50); c51 = Avx512F.FusedMultiplyAdd(x, b1, c51);
                x = Vector512.Create(a[6]);
                c60 = Avx512F.FusedMultiplyAdd(x, b0, c60); c61 = Avx512F.FusedMultiplyAdd(x, b1, c61);
                x = Vector512.Create(a[7]);
                c70 = Avx512F.FusedMultiplyAdd(x, b0, c70); c71 = Avx512F.FusedMultiplyAdd(x, b1, c71);
                x = Vector512.Create(a[8]);
                c80 = Avx512F.FusedMultiplyAdd(x, b0, c80); c81 = Avx512F.FusedMultiplyAdd(x, b1, c81);
                x = Vector512.Create(a[9]);
                c90 = Avx512F.FusedMultiplyAdd(x, b0, c90); c91 = Avx512F.FusedMultiplyAdd(x, b1, c91);
                x = Vector512.Create(a[10]);
                ca0 = Avx512F.FusedMultiplyAdd(x, b0, ca0); ca1 = Avx512F.FusedMultiplyAdd(x, b1, ca1);
                x = Vector512.Create(a[11]);
                cb0 = Avx512F.FusedMultiplyAdd(x, b0, cb0); cb1 = Avx512F.FusedMultiplyAdd(x, b1, cb1);
                x = Vector512.Create(a[12]);
                cc0 = Avx512F.FusedMultiplyAdd(x, b0, cc0); cc1 = Avx512F.FusedMultiplyAdd(x, b1, cc1);
                x = Vector512.Create(a[13]);
                cd0 = Avx512F.FusedMultiplyAdd(x, b0, cd0); cd1 = Avx512F.FusedMultiplyAdd(x, b1, cd1);
            }
            Put(c, c00, c01, add); Put(c + cRow, c10, c11, add); Put(c + 2 * cRow, c20, c21, add);
            Put(c + 3 * cRow, c30, c31, add); Put(c + 4 * cRow, c40, c41, add); Put(c + 5 * cRow, c50, c51, add);
            Put(c + 6 * cRow, c60, c61, add); Put(c + 7 * cRow, c70, c71, add); Put(c + 8 * cRow, c80, c81, add);
            Put(c + 9 * cRow, c90, c91, add); Put(c + 10 * cRow, ca0, ca1, add); Put(c + 11 * cRow, cb0, cb1, add);
            Put(c + 12 * cRow, cc0, cc1, add); Put(c + 13 * cRow, cd0, cd1, add);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Put(float* row, Vector512<float> lo, Vector512<float> hi, bool add)
        {
            if (add) (lo, hi) = (Vector512.Load(row) + lo, Vector512.Load(row + 16) + hi);
            lo.Store(row);
            hi.Store(row + 16);
        }
    }

    /// <summary>6x16: twelve 8-wide FMA accumulators.</summary>
    private struct Avx2Kernel : IMicroKernel
    {
        public static int MR => 6;
        public static int NR => 16;
        public static int MC => 144;
        public static int NC => 384;
        public static bool Vector => true;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Multiply(int kc, float* a, float* b, float* c, long cRow, bool add)
        {
            Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
            Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
            for (int q = 0; q < kc; q++, a += 6, b += 16)
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
            Put(c, c00, c01, add); Put(c + cRow, c10, c11, add); Put(c + 2 * cRow, c20, c21, add);
            Put(c + 3 * cRow, c30, c31, add); Put(c + 4 * cRow, c40, c41, add); Put(c + 5 * cRow, c50, c51, add);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Put(float* row, Vector256<float> lo, Vector256<float> hi, bool add)
        {
            if (add) (lo, hi) = (Vector256.Load(row) + lo, Vector256.Load(row + 8) + hi);
            lo.Store(row);
            hi.Store(row + 8);
        }
    }

    /// <summary>The micro-kernel without intrinsics (machines without AVX2/FMA): 6x16, multiply then add.</summary>
    private struct ScalarKernel : IMicroKernel
    {
        public static int MR => 6;
        public static int NR => 16;
        public static int MC => 144;
        public static int NC => 384;
        public static bool Vector => false;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public static void Multiply(int kc, float* a, float* b, float* c, long cRow, bool add)
        {
            float* acc = stackalloc float[6 * 16];
            for (int t = 0; t < 6 * 16; t++) acc[t] = 0f;
            for (int q = 0; q < kc; q++, a += 6, b += 16)
                for (int r = 0; r < 6; r++)
                {
                    float x = a[r];
                    float* row = acc + r * 16;
                    for (int j = 0; j < 16; j++) row[j] += x * b[j];
                }
            for (int r = 0; r < 6; r++)
                for (int j = 0; j < 16; j++) c[r * cRow + j] = add ? c[r * cRow + j] + acc[r * 16 + j] : acc[r * 16 + j];
        }
    }
}

