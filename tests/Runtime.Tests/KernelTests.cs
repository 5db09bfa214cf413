namespace Pgmo.Tests;

/// <summary>The GEMM kernels against a plain C# reference on awkward sizes, with transposes.</summary>
[Collection("cpu")]
public sealed class GemmKernelTests(CpuFixture fx)
{
    static float[] Reference(float[] a, float[] b, int m, int n, int k, bool ta, bool tb)
    {
        var c = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int q = 0; q < k; q++) s += a[ta ? q * m + i : i * k + q] * b[tb ? j * k + q : q * n + j];
                c[i * n + j] = (float)s;
            }
        return c;
    }

    public static TheoryData<int, int, int, bool, bool> Sizes => new()
    {
        { 1, 1, 1, false, false }, { 17, 5, 3, false, false }, { 17, 17, 17, true, false }, { 3, 17, 5, false, true },
        { 1025, 2, 3, false, false }, { 2, 1025, 1, true, true },
    };

    /// <summary>Every micro-kernel of the host GEMM this CPU can run (scalar, AVX2+FMA, AVX-512).</summary>
    static IEnumerable<HostIsa> Isas => Enum.GetValues<HostIsa>().Where(i => i <= HostCpu.Supported);

    [Theory, MemberData(nameof(Sizes))]
    public void HostGemmMatchesReference(int m, int n, int k, bool ta, bool tb)
    {
        foreach (var isa in Isas)
            using (HostCpu.Use(isa)) Check(fx.Device, m, n, k, ta, tb);
    }

    [Theory, MemberData(nameof(Sizes))]
    public void SimpleGemmMatchesReference(int m, int n, int k, bool ta, bool tb)
    {
        fx.Device.Kernels!.GemmKernel = GemmKernel.Simple;
        try { Check(fx.Device, m, n, k, ta, tb); }
        finally { fx.Device.Kernels!.GemmKernel = GemmKernel.HostBlocked; }
    }

    /// <summary>Sizes past the host GEMM's blocks (K over 256, M over 168, N over 384) and its parallel threshold,
    /// skinny products (at most 8 rows, B along k or along j), shallow ones (K at most 8), products with few columns
    /// (run transposed) and small ones (smaller blocks), batched, summed over batches and with beta.</summary>
    public static TheoryData<int, int, int, bool, bool, int, bool, float> Blocks => new()
    {
        { 150, 400, 270, false, false, 1, false, 0f },
        { 7, 33, 513, true, true, 3, false, 0.5f },
        { 13, 19, 5, false, true, 4, true, 0f },
        { 75, 17, 300, true, false, 2, true, 1f },
        { 2, 700, 333, false, true, 1, false, 0f },
        { 8, 600, 37, true, false, 2, true, 0.5f },
        { 3, 41, 9, false, false, 3, false, 1f },
        { 300, 500, 2, true, false, 1, false, 0f },
        { 20, 33, 8, false, false, 2, true, 0.5f },
        { 512, 9, 300, false, false, 2, false, 0.5f },     // few columns: computed as C^T = B^T A^T
        { 75, 15, 300, true, false, 2, true, 1f },
        { 200, 1, 17, true, true, 3, false, 0f },
        { 64, 64, 1025, false, true, 2, true, 0f },        // a weight gradient: blocks split to keep the cores busy
        { 100, 20, 40, false, false, 2, false, 1f },       // 20 columns: transposed for the 32-wide kernel only
        { 29, 47, 520, true, false, 5, true, 0.5f },       // K summed over batches, slices straddling them
    };

    /// <summary><see cref="Blocks"/> with every micro-kernel against the one-thread-per-element kernel.</summary>
    [Theory, MemberData(nameof(Blocks))]
    public void HostGemmMatchesSimpleOnBlocksAndBatches(int m, int n, int k, bool ta, bool tb, int batch, bool reduce, float beta)
    {
        foreach (var isa in Isas)
            using (HostCpu.Use(isa)) CheckHostAgainstSimple(m, n, k, ta, tb, batch, reduce, beta, sharedA: false);
    }

    /// <summary>Batches sharing A (a convolution's weights over the samples of a tile): the host GEMM lays their
    /// columns side by side in one product, micro-tiles straddling two batches included.</summary>
    public static TheoryData<int, int, int, bool, bool, int, float> SharedA => new()
    {
        { 64, 9, 300, false, false, 2, 0f },
        { 70, 17, 33, true, false, 3, 0.5f },
        { 300, 36, 270, false, true, 5, 1f },
        { 5, 383, 20, false, false, 2, 0f },
        { 150, 1, 7, true, true, 40, 0f },
        { 43, 49, 600, false, false, 9, 1f },              // 49 positions a sample: 32-wide tiles straddle samples
    };

    [Theory, MemberData(nameof(SharedA))]
    public void HostGemmMatchesSimpleWithSharedA(int m, int n, int k, bool ta, bool tb, int batch, float beta)
    {
        foreach (var isa in Isas)
            using (HostCpu.Use(isa)) CheckHostAgainstSimple(m, n, k, ta, tb, batch, reduce: false, beta, sharedA: true);
    }

    /// <summary>The AVX-512 and AVX2 micro-kernels give the same bits on every path of the host GEMM (blocked,
    /// transposed, columns of batches side by side, K of batches side by side, skinny, shallow, row bias), since each
    /// element is summed over K in the same slices, one FMA a step in order, and stored the same way.</summary>
    [SkippableFact]
    public void Avx512AndAvx2KernelsGiveTheSameBits()
    {
        Skip.IfNot(HostCpu.Supported == HostIsa.Avx512, "this CPU has no AVX-512: one vector kernel only");
        var d = fx.Device;
        var tape = Host.Tape(d, out var alloc);
        var cases = new List<(GemmParams P, bool Bias)>();
        foreach (var row in Blocks)
        {
            var (m, n, k, ta, tb, batch, reduce, beta) = ((int)row[0], (int)row[1], (int)row[2], (bool)row[3], (bool)row[4], (int)row[5], (bool)row[6], (float)row[7]);
            cases.Add((Batched(m, n, k, ta, tb, batch, reduce, beta, sharedA: false), false));
        }
        foreach (var row in SharedA)
        {
            var p = Batched((int)row[0], (int)row[1], (int)row[2], (bool)row[3], (bool)row[4], (int)row[5], false, (float)row[6], sharedA: true);
            cases.Add((p, false));
            if (d.Kernels!.FusesRowBias(p)) cases.Add((p, true));
        }
        foreach (var row in RowBiases)
            cases.Add((RowBiasProduct((int)row[0], (int)row[1], (int)row[2], (int)row[3], (int)row[4], (float)row[5]), true));
        Assert.Contains(cases, c => c.Bias);
        foreach (var (p, bias) in cases)
        {
            var ah = Host.Random(Extent(p.Batch, p.ABatch, p.M, p.ARow, p.K, p.ACol), 1);
            var bh = Host.Random(Extent(p.Batch, p.BBatch, p.K, p.BRow, p.N, p.BCol), 2);
            var ch = Host.Random(Extent(p.ReduceBatch != 0 ? 1 : p.Batch, p.CBatch, p.M, p.CRow, p.N, p.CCol), 3);
            var biasH = Host.Random(p.M, 4);
            float[] Run(HostIsa isa)
            {
                using var _ = HostCpu.Use(isa);
                var (a, b, c, bv) = (tape.Upload(ah, new[] { ah.Length }, "a"), tape.Upload(bh, new[] { bh.Length }, "b"), tape.Upload(ch, new[] { ch.Length }, "c"), tape.Upload(biasH, new[] { p.M }, "bias"));
                if (bias) d.Kernels!.GemmRowBias(a.View, b.View, c.View, p, bv.View);
                else d.Kernels!.Gemm(a.View, b.View, c.View, p);
                var r = tape.Download(c);
                foreach (var t in new[] { a, b, c, bv }) t.Release();
                return r;
            }
            var (wide, narrow) = (Run(HostIsa.Avx512), Run(HostIsa.Avx2));
            Assert.True(wide.SequenceEqual(narrow), $"{p.M}x{p.N}x{p.K}, batch {p.Batch}, reduce {p.ReduceBatch}, bias {bias}: the kernels' bits differ");
        }
        Assert.Equal(0, alloc.LiveBlocks);
    }

    /// <summary>A fully connected layer's products at a small batch (at most 8 rows): forward, B along k (dot products,
    /// four rows against a column at a time), and input gradient, B along j (four rows against strips of columns held
    /// in registers), give the bits of the plain scalar path (one dot product per element; one pass over C per step of
    /// K) with every instruction set, for every row count and K with and without a tail past whole vectors.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SkinnyProductsGiveTheSameBitsWithEveryInstructionSet(bool alongK)
    {
        Assert.True(System.Numerics.Vector<float>.Count == 8 || HostCpu.Supported == HostIsa.Scalar, "the vector paths sum as 8-wide System.Numerics vectors do");
        var tape = Host.Tape(fx.Device, out var alloc);
        foreach (var m in new[] { 1, 2, 3, 5, 8 })
        foreach (var k in new[] { 7, 16, 333 })
        {
            int n = 300;
            var (ah, bh) = (Host.Random(m * k, 7), Host.Random(n * k, 8));
            float[] Run(HostIsa isa)
            {
                using var _ = HostCpu.Use(isa);
                var (a, b, c) = (tape.Upload(ah, new[] { ah.Length }, "a"), tape.Upload(bh, new[] { bh.Length }, "b"), tape.Empty(new[] { m * n }, "c"));
                fx.Device.Kernels!.Gemm(a.View, b.View, c.View, GemmParams.Plain(m, n, k, false, alongK));
                var r = tape.Download(c);
                foreach (var t in new[] { a, b, c }) t.Release();
                return r;
            }
            var plain = Run(HostIsa.Scalar);
            Host.Close(Reference(ah, bh, m, n, k, false, alongK), plain, 1e-4f);
            foreach (var isa in Isas)
                Assert.True(plain.SequenceEqual(Run(isa)), $"{m}x{n}x{k} (B along {(alongK ? "k" : "j")}) with {isa}: the bits differ from the scalar path");
        }
        Assert.Equal(0, alloc.LiveBlocks);
    }

    /// <summary>A product with a short K (a fully connected layer's weight gradient at a small batch) is updated in one
    /// pass per row of C with the floats of one pass per step of K: each element beta C (C for beta 1) plus
    /// (alpha a_q) b_q, multiplied then added, q in order.</summary>
    [Theory]
    [InlineData(0f)]
    [InlineData(1f)]
    [InlineData(0.5f)]
    public void ShallowProductsGiveTheFloatsOfOnePassPerStep(float beta)
    {
        int m = 20, n = 301, k = 7;
        var p = GemmParams.Plain(m, n, k, true, false, beta);
        p.Alpha = 0.75f;
        var (ah, bh, ch) = (Host.Random(k * m, 9), Host.Random(k * n, 10), Host.Random(m * n, 11));
        var expected = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float v = p.Alpha * ah[i] * bh[j];
                if (beta != 0f) v = (beta == 1f ? ch[i * n + j] : beta * ch[i * n + j]) + v;
                for (int q = 1; q < k; q++) v += p.Alpha * ah[q * m + i] * bh[q * n + j];
                expected[i * n + j] = v;
            }
        var tape = Host.Tape(fx.Device, out var alloc);
        var (a, b, c) = (tape.Upload(ah, new[] { ah.Length }, "a"), tape.Upload(bh, new[] { bh.Length }, "b"), tape.Upload(ch, new[] { ch.Length }, "c"));
        fx.Device.Kernels!.Gemm(a.View, b.View, c.View, p);
        Assert.True(expected.SequenceEqual(tape.Download(c)), "the shallow product's floats differ from one pass per step");
        foreach (var t in new[] { a, b, c }) t.Release();
        Assert.Equal(0, alloc.LiveBlocks);
    }

    /// <summary><see cref="HostCpu.Use"/> takes effect: the scalar kernel (multiply, then add) does not give the
    /// vector kernels' fused bits on a long K.</summary>
    [Fact]
    public void ForcingTheScalarKernelChangesTheBits()
    {
        var (ah, bh) = (Host.Random(40 * 300, 5), Host.Random(300 * 50, 6));
        var tape = Host.Tape(fx.Device, out var alloc);
        float[] Run(HostIsa isa)
        {
            using var _ = HostCpu.Use(isa);
            var (a, b, c) = (tape.Upload(ah, new[] { ah.Length }, "a"), tape.Upload(bh, new[] { bh.Length }, "b"), tape.Empty(new[] { 40 * 50 }, "c"));
            fx.Device.Kernels!.Gemm(a.View, b.View, c.View, GemmParams.Plain(40, 50, 300, false, false));
            var r = tape.Download(c);
            foreach (var t in new[] { a, b, c }) t.Release();
            return r;
        }
        var scalar = Run(HostIsa.Scalar);
        Host.Close(Run(HostIsa.Scalar), scalar, 0f);
        if (HostCpu.Supported >= HostIsa.Avx2) Assert.False(scalar.SequenceEqual(Run(HostIsa.Avx2)), "forcing the scalar kernel changed nothing");
        Assert.Throws<NotSupportedException>(() => HostCpu.Use((HostIsa)((int)HostCpu.Supported + 1)));
        Assert.Equal(0, alloc.LiveBlocks);
    }

    /// <summary>PGMO_HOST_ISA's values: the three instruction sets, auto or nothing (the best), anything else refused
    /// with a message naming the variable (the CLI exits 2 with it).</summary>
    [Fact]
    public void HostIsaNamesParse()
    {
        Assert.Equal(HostIsa.Avx512, HostCpu.Parse("AVX512"));
        Assert.Equal(HostIsa.Avx2, HostCpu.Parse(" avx2 "));
        Assert.Equal(HostIsa.Scalar, HostCpu.Parse("scalar"));
        Assert.Null(HostCpu.Parse("auto"));
        Assert.Null(HostCpu.Parse(null));
        Assert.Contains("PGMO_HOST_ISA", Assert.Throws<ArgumentException>(() => HostCpu.Parse("sse")).Message);
        Assert.True(HostCpu.Default <= HostCpu.Supported);
    }

    static int Extent(int batches, long batchStride, int rows, long rowStride, int cols, long colStride) =>
        checked((int)((batches - 1) * batchStride + (rows - 1) * rowStride + (cols - 1) * colStride + 1));

    static GemmParams Batched(int m, int n, int k, bool ta, bool tb, int batch, bool reduce, float beta, bool sharedA)
    {
        var p = GemmParams.Plain(m, n, k, ta, tb, beta);
        p.Batch = batch; p.ReduceBatch = reduce ? 1 : 0; p.Alpha = 0.75f;
        p.ABatch = sharedA ? 0 : (long)m * k; p.BBatch = (long)k * n; p.CBatch = reduce ? 0 : (long)m * n;
        return p;
    }

    /// <summary>The row bias stored with the host GEMM's products (a convolution's bias) against the GEMM followed by
    /// the bias kernel: one sample, samples side by side, a transposed product, rows strided as a tile of positions.</summary>
    public static TheoryData<int, int, int, int, int, float> RowBiases => new()
    {
        { 64, 100, 27, 1, 100, 0f },
        { 17, 9, 300, 3, 9, 0f },
        { 300, 7, 40, 1, 7, 0.5f },
        { 40, 33, 270, 2, 50, 0f },
    };

    [Theory, MemberData(nameof(RowBiases))]
    public void HostGemmRowBiasMatchesGemmThenBias(int m, int n, int k, int batch, int rowStride, float beta)
    {
        foreach (var isa in Isas)
            using (HostCpu.Use(isa)) CheckRowBias(m, n, k, batch, rowStride, beta);
    }

    static GemmParams RowBiasProduct(int m, int n, int k, int batch, int rowStride, float beta)
    {
        var p = GemmParams.Plain(m, n, k, false, false, beta);
        p.Batch = batch; p.ABatch = 0; p.BBatch = (long)k * n; p.CRow = rowStride; p.CBatch = (long)m * rowStride;
        return p;
    }

    void CheckRowBias(int m, int n, int k, int batch, int rowStride, float beta)
    {
        var d = fx.Device;
        var p = RowBiasProduct(m, n, k, batch, rowStride, beta);
        var tape = Host.Tape(d, out var alloc);
        var (ah, bh, ch, biasH) = (Host.Random(m * k, 1), Host.Random(batch * k * n, 2), Host.Random(batch * m * rowStride, 3), Host.Random(m, 4));
        Assert.True(d.Kernels!.FusesRowBias(p));
        float[] Run(bool fused)
        {
            var (a, b, c, bias) = (tape.Upload(ah, new[] { ah.Length }, "a"), tape.Upload(bh, new[] { bh.Length }, "b"), tape.Upload(ch, new[] { ch.Length }, "c"), tape.Upload(biasH, new[] { m }, "bias"));
            if (fused) d.Kernels.GemmRowBias(a.View, b.View, c.View, p, bias.View);
            else
            {
                d.Kernels.Gemm(a.View, b.View, c.View, p);
            }
            var r = tape.Download(c);
            if (!fused)
                for (int bt = 0; bt < batch; bt++)
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < n; j++) r[bt * m * rowStride + i * rowStride + j] += biasH[i];
            foreach (var t in new[] { a, b, c, bias }) t.Release();
            return r;
        }
        Host.Close(Run(fused: false), Run(fused: true), 1e-5f);
        Assert.Equal(0, alloc.LiveBlocks);
    }

    void CheckHostAgainstSimple(int m, int n, int k, bool ta, bool tb, int batch, bool reduce, float beta, bool sharedA)
    {
        var d = fx.Device;
        var p = Batched(m, n, k, ta, tb, batch, reduce, beta, sharedA);
        var tape = Host.Tape(d, out var alloc);
        var ah = Host.Random(batch * m * k, 1); var bh = Host.Random(batch * k * n, 2); var ch = Host.Random((reduce ? 1 : batch) * m * n, 3);
        float[] Run(GemmKernel kernel)
        {
            d.Kernels!.GemmKernel = kernel;
            var a = tape.Upload(ah, new[] { ah.Length }, "a"); var b = tape.Upload(bh, new[] { bh.Length }, "b"); var c = tape.Upload(ch, new[] { ch.Length }, "c");
            d.Kernels.Gemm(a.View, b.View, c.View, p);
            var r = tape.Download(c);
            a.Release(); b.Release(); c.Release();
            return r;
        }
        try { Host.Close(Run(GemmKernel.Simple), Run(GemmKernel.HostBlocked), 1e-4f); }
        finally { d.Kernels!.GemmKernel = GemmKernel.HostBlocked; }
        Assert.Equal(0, alloc.LiveBlocks);
    }

    [Fact]
    public void TiledGemmMatchesReferenceOnCpuSimulation()
    {
        using var d = Device.CreateCpuSimulatingGpu();
        d.Kernels!.GemmKernel = GemmKernel.Tiled;
        Check(d, 17, 5, 3, false, false);
        Check(d, 19, 33, 17, true, true);
    }

    static void Check(Device d, int m, int n, int k, bool ta, bool tb)
    {
        var tape = Host.Tape(d, out var alloc);
        var ah = Host.Random(m * k, 1); var bh = Host.Random(k * n, 2);
        var a = tape.Upload(ah, new[] { m * k }, "a"); var b = tape.Upload(bh, new[] { k * n }, "b");
        var c = tape.Empty(new[] { m * n }, "c");
        d.Kernels!.Gemm(a.View, b.View, c.View, GemmParams.Plain(m, n, k, ta, tb));
        Host.Close(Reference(ah, bh, m, n, k, ta, tb), tape.Download(c), 1e-4f);
        a.Release(); b.Release(); c.Release();
        Assert.Equal(0, alloc.LiveBlocks);
    }
}

/// <summary>Convolution (im2col + GEMM) and pooling against direct C# loops.</summary>
[Collection("cpu")]
public sealed class WindowKernelTests(CpuFixture fx)
{
    [Theory]
    [InlineData(1, 1, 1, 1, 1, 1, 0)]
    [InlineData(2, 3, 7, 4, 3, 2, 1)]
    [InlineData(1, 2, 17, 3, 5, 1, 2)]
    public void ConvMatchesDirectLoop(int n, int c, int hw, int oc, int k, int s, int p)
    {
        var tape = Host.Tape(fx.Device, out _);
        var xh = Host.Random(n * c * hw * hw, 3); var wh = Host.Random(oc * c * k * k, 4); var bh = Host.Random(oc, 5);
        var y = tape.Conv2d(tape.Upload(xh, new[] { n, c, hw, hw }, "x"), tape.Upload(wh, new[] { oc, c, k, k }, "w"), tape.Upload(bh, new[] { oc }, "b"), s, p);
        int o = (hw + 2 * p - k) / s + 1;
        var e = new float[n * oc * o * o];
        for (int b = 0; b < n; b++) for (int f = 0; f < oc; f++) for (int i = 0; i < o; i++) for (int j = 0; j < o; j++)
        {
            double acc = bh[f];
            for (int ch = 0; ch < c; ch++) for (int u = 0; u < k; u++) for (int v = 0; v < k; v++)
            {
                int h = i * s - p + u, w = j * s - p + v;
                if (h >= 0 && h < hw && w >= 0 && w < hw) acc += xh[((b * c + ch) * hw + h) * hw + w] * wh[((f * c + ch) * k + u) * k + v];
            }
            e[((b * oc + f) * o + i) * o + j] = (float)acc;
        }
        Assert.Equal(new[] { n, oc, o, o }, y.Shape);
        Host.Close(e, tape.Download(y), 1e-4f);
        y.Release();
        Assert.Equal(0, tape.Allocator.LiveBlocks);
    }

    [Theory]
    [InlineData(1, 1, 2, 2, 1)]
    [InlineData(2, 3, 17, 3, 2)]
    [InlineData(1, 2, 9, 3, 1)]
    public void PoolsMatchDirectLoops(int n, int c, int hw, int k, int s)
    {
        var tape = Host.Tape(fx.Device, out _);
        var xh = Host.Random(n * c * hw * hw, 6);
        var mx = tape.Download(tape.MaxPool(tape.Upload(xh, new[] { n, c, hw, hw }, "x"), k, s) is var t1 ? t1 : null!);
        var av = tape.Download(tape.AvgPool(tape.Upload(xh, new[] { n, c, hw, hw }, "x"), k, s) is var t2 ? t2 : null!);
        t1.Release(); t2.Release();
        int o = (hw - k) / s + 1;
        for (int pl = 0; pl < n * c; pl++) for (int i = 0; i < o; i++) for (int j = 0; j < o; j++)
        {
            float m = float.NegativeInfinity, sum = 0;
            for (int u = 0; u < k; u++) for (int v = 0; v < k; v++) { float x = xh[(pl * hw + i * s + u) * hw + j * s + v]; m = Math.Max(m, x); sum += x; }
            Assert.Equal(m, mx[(pl * o + i) * o + j]);
            Assert.Equal(sum / (k * k), av[(pl * o + i) * o + j], 4);
        }
        Assert.Equal(0, tape.Allocator.LiveBlocks);
    }
}

/// <summary>Elementwise kernels, batch norm, the loss and SGD against C# references.</summary>
[Collection("cpu")]
public sealed class ElementwiseKernelTests(CpuFixture fx)
{
    [Theory]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(1025)]
    public void ReluAddAndSgd(int n)
    {
        var tape = Host.Tape(fx.Device, out _);
        var ah = Host.Random(n, 7); var bh = Host.Random(n, 8);
        var r = tape.Relu(tape.Upload(ah, new[] { n }, "a"));
        Host.Close(ah.Select(v => Math.Max(v, 0)).ToArray(), tape.Download(r));
        var s = tape.Add(r, tape.Upload(bh, new[] { n }, "b"));
        Host.Close(ah.Select((v, i) => Math.Max(v, 0) + bh[i]).ToArray(), tape.Download(s));
        var w = tape.Upload(ah, new[] { n }, "w"); var g = tape.Upload(bh, new[] { n }, "g"); var v = tape.Full(new[] { n }, 0.5f, "v");
        fx.Device.Kernels!.Sgd(w.View, g.View, v.View, 0.1f, 0.9f, 0.01f);
        var ev = ah.Select((x, i) => 0.9f * 0.5f + bh[i] + 0.01f * x).ToArray();
        Host.Close(ev, tape.Download(v));
        Host.Close(ah.Select((x, i) => x - 0.1f * ev[i]).ToArray(), tape.Download(w));
        foreach (var t in new[] { s, w, g, v }) t.Release();
        Assert.Equal(0, tape.Allocator.LiveBlocks);
    }

    [Fact]
    public void BatchNormNormalizesAndUpdatesRunningStats()
    {
        var tape = Host.Tape(fx.Device, out _);
        int n = 3, c = 2, hw = 5;
        var xh = Host.Random(n * c * hw, 9, 3f);
        var mean = tape.Full(new[] { c }, 0f, "rm"); var var = tape.Full(new[] { c }, 1f, "rv");
        var y = tape.Download(tape.BatchNorm(tape.Upload(xh, new[] { n, c, hw, 1 }, "x"), tape.Full(new[] { c }, 2f, "g"), tape.Full(new[] { c }, 0.5f, "b"), mean, var, training: true) is var yt ? yt : null!);
        yt.Release();
        var rm = tape.Download(mean); var rv = tape.Download(var);
        for (int ch = 0; ch < c; ch++)
        {
            var vals = Enumerable.Range(0, n).SelectMany(b => Enumerable.Range(0, hw).Select(q => (double)xh[(b * c + ch) * hw + q])).ToArray();
            double mu = vals.Average(), v = vals.Select(x => (x - mu) * (x - mu)).Average();
            for (int b = 0; b < n; b++) for (int q = 0; q < hw; q++)
                Assert.Equal(2 * (xh[(b * c + ch) * hw + q] - mu) / Math.Sqrt(v + 1e-5) + 0.5, y[(b * c + ch) * hw + q], 3);
            Assert.Equal(0.1 * mu, rm[ch], 4);
            Assert.Equal(0.9 + 0.1 * v * vals.Length / (vals.Length - 1), rv[ch], 4);
        }
        mean.Release(); var.Release();
        Assert.Equal(0, tape.Allocator.LiveBlocks);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(17, 10)]
    public void SoftmaxCrossEntropyMatchesReference(int n, int c)
    {
        var tape = Host.Tape(fx.Device, out _);
        var zh = Host.Random(n * c, 10, 4f);
        var labels = Enumerable.Range(0, n).Select(i => i % c).ToArray();
        var loss = tape.SoftmaxCrossEntropy(tape.Upload(zh, new[] { n, c }, "z"), tape.UploadInt(labels, new[] { n }, "y"));
        double e = 0;
        for (int i = 0; i < n; i++)
        {
            double mx = Enumerable.Range(0, c).Max(k => zh[i * c + k]);
            e += Math.Log(Enumerable.Range(0, c).Sum(k => Math.Exp(zh[i * c + k] - mx))) + mx - zh[i * c + labels[i]];
        }
        Assert.Equal(e / n, tape.Download(loss)[0], 4);
        loss.Release();
        Assert.Equal(0, tape.Allocator.LiveBlocks);
    }
}
