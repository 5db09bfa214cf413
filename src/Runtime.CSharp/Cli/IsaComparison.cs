using System.Diagnostics;
using Spectre.Console;
using Pgmo.Kernels;
using Pgmo.Nn;

namespace Pgmo.Cli;

/// <summary>
/// `pgmo bench-kernels --compare-isas`: the host GEMM with each micro-kernel this CPU has (AVX-512, AVX2+FMA), side by
/// side in one run, at 512³ and at the GEMMs of convolutions of AlexNet, VGG-16 and ResNet-50 at 224 px and batch 8:
/// the first tile's forward product under the default 8 MiB workspace, and its weight- and input-gradient products.
/// The kernels run in turn on the same inputs, round after round, so load from other processes hits both; each
/// figure is from the median round, and the last column says whether the kernels' outputs are bitwise equal.
/// </summary>
public static unsafe class IsaComparison
{
    /// <summary>A named convolution of a paper network at 224 px: input channels, side, output channels, kernel, stride, padding.</summary>
    record Layer(string Name, int C, int Hw, int Oc, int K, int Stride, int Pad);

    static readonly Layer[] Layers =
    {
        new("alexnet conv1 11x11/4", 3, 224, 64, 11, 4, 2),
        new("alexnet conv2 5x5", 64, 27, 192, 5, 1, 2),
        new("alexnet conv3 3x3", 192, 13, 384, 3, 1, 1),
        new("alexnet conv4 3x3", 384, 13, 256, 3, 1, 1),
        new("vgg16 conv1_2 3x3", 64, 224, 64, 3, 1, 1),
        new("vgg16 conv3_2 3x3", 256, 56, 256, 3, 1, 1),
        new("vgg16 conv5_2 3x3", 512, 14, 512, 3, 1, 1),
        new("resnet50 conv1 7x7/2", 3, 224, 64, 7, 2, 3),
        new("resnet50 layer1 3x3", 64, 56, 64, 3, 1, 1),
        new("resnet50 layer1 1x1 64->256", 64, 56, 256, 1, 1, 0),
        new("resnet50 layer3 3x3", 256, 14, 256, 3, 1, 1),
        new("resnet50 layer4 3x3", 512, 7, 512, 3, 1, 1),
        new("resnet50 layer4 1x1 512->2048", 512, 7, 2048, 1, 1, 0),
    };

    /// <summary>Samples per convolution.</summary>
    const int Batch = 8;

    public static int Run(bool json, int rounds)
    {
        var isas = Enum.GetValues<HostIsa>().Where(i => i >= HostIsa.Avx2 && i <= HostCpu.Supported).ToArray();
        if (isas.Length == 0) isas = new[] { HostIsa.Scalar };
        Output.Err.MarkupLineInterpolated($"host GEMM micro-kernels side by side ({string.Join(", ", isas.Select(HostGemm.Name))}), {HostParallel.Threads} threads, {rounds} rounds each in turn; default here: {HostGemm.Name(HostCpu.Default)}");
        var table = new Table { Border = TableBorder.Simple };
        table.AddColumn("GEMM");
        table.AddColumn("M x N x K (batches)");
        foreach (var isa in isas) table.AddColumn(new TableColumn($"{HostGemm.Name(isa)} GFLOP/s").RightAligned());
        if (isas.Length > 1) table.AddColumn(new TableColumn("speed-up").RightAligned());
        table.AddColumn(new TableColumn("bits equal").RightAligned());
        var rows = new List<object>();
        foreach (var (name, p) in Products())
        {
            var (gflops, equal) = Measure(p, isas, rounds);
            var cells = new List<string> { name, $"{p.M} x {p.N} x {p.K} ({p.Batch}{(p.ReduceBatch != 0 ? ", summed" : "")})" };
            cells.AddRange(gflops.Select(g => $"{g:0.0}"));
            if (isas.Length > 1) cells.Add($"{gflops[^1] / gflops[0]:0.00}x");
            cells.Add(equal ? "yes" : "NO");
            table.AddRow(cells.ToArray());
            rows.Add(new { gemm = name, m = p.M, n = p.N, k = p.K, batch = p.Batch, gflops = isas.Select((isa, i) => new { isa = isa.ToString(), gflops = gflops[i] }).ToArray(), bitsEqual = equal });
        }
        Output.Out.Write(table);
        if (json) Output.JsonLine(new { threads = HostParallel.Threads, isaDefault = HostCpu.Default.ToString(), rows });
        return 0;
    }

    /// <summary>512³, then each layer's forward, weight-gradient and input-gradient products of its first tile.</summary>
    static IEnumerable<(string Name, GemmParams P)> Products()
    {
        yield return ("square", GemmParams.Plain(512, 512, 512, false, false));
        foreach (var l in Layers)
        {
            var p = WindowParams.Create(Batch, l.C, l.Hw, l.Hw, l.K, l.K, l.Stride, l.Pad, l.Pad);
            bool pointwise = l.K == 1 && l.Stride == 1 && l.Pad == 0;
            var (samples, positions) = pointwise ? (Batch, p.Ohw) : ConvTiling.TileShape(p, ConvTiling.DefaultWorkspaceBytes);
            yield return ($"{l.Name} forward", Tape.ForwardGemm(p, l.Oc, samples, positions));
            yield return ($"{l.Name} weight grad", Tape.WeightGradGemm(p, l.Oc, samples, positions, accumulate: false));
            yield return ($"{l.Name} input grad", Tape.InputGradGemm(p, l.Oc, samples, positions));
        }
    }

    /// <summary>GFLOP/s of <paramref name="p"/> with each kernel (median of the rounds) and whether they gave the same bits.</summary>
    static (double[] Gflops, bool Equal) Measure(GemmParams p, HostIsa[] isas, int rounds)
    {
        long aLen = Extent(p.Batch, p.ABatch, p.M, p.ARow, p.K, p.ACol), bLen = Extent(p.Batch, p.BBatch, p.K, p.BRow, p.N, p.BCol);
        long cLen = Extent(p.ReduceBatch != 0 ? 1 : p.Batch, p.CBatch, p.M, p.CRow, p.N, p.CCol);
        var (a, b) = (Random(aLen, 1), Random(bLen, 2));
        var c = isas.Select(_ => GC.AllocateArray<float>((int)cLen, pinned: true)).ToArray();
        var times = isas.Select(_ => new List<double>()).ToArray();
        double flop = 2.0 * p.M * p.N * p.K * p.Batch;
        fixed (float* pa = a, pb = b)
        {
            for (int round = -1; round < rounds; round++)   // round -1 warms up (and compiles)
                for (int i = 0; i < isas.Length; i++)
                    fixed (float* pc = c[i])
                    using (HostCpu.Use(isas[i]))
                    {
                        var clock = Stopwatch.StartNew();
                        HostGemm.Run(pa, pb, pc, p);
                        if (round >= 0) times[i].Add(clock.Elapsed.TotalMilliseconds);
                    }
        }
        var gflops = times.Select(t => flop / (Timing.Summarize(t).MedianMillis * 1e6)).ToArray();
        return (gflops, c.All(x => x.AsSpan().SequenceEqual(c[0])));
    }

    /// <summary>Elements a strided operand spans: one past its last element.</summary>
    static long Extent(int batches, long batchStride, int rows, long rowStride, int cols, long colStride) =>
        (batches - 1) * batchStride + (rows - 1) * rowStride + (cols - 1) * colStride + 1;

    static float[] Random(long n, int seed)
    {
        var r = new Random(seed);
        var a = GC.AllocateUninitializedArray<float>((int)n, pinned: true);
        for (long i = 0; i < n; i++) a[i] = (float)(r.NextDouble() - 0.5);
        return a;
    }
}
