using ILGPU;
using ILGPU.Runtime;

namespace Pgmo.Tests;

/// <summary>Launches split into parts of at most 2^31 - 1 threads, at and around the boundary.</summary>
public sealed class LaunchSplitTests
{
    [Theory]
    [InlineData(0L)]
    [InlineData(1L)]
    [InlineData(int.MaxValue - 1L)]
    [InlineData((long)int.MaxValue)]
    [InlineData(int.MaxValue + 1L)]
    [InlineData(2L * int.MaxValue)]
    [InlineData(2L * int.MaxValue + 1)]
    [InlineData(5L << 32)]
    public void PartsCoverTheRangeInOrderWithinTheThreadLimit(long total)
    {
        var parts = LaunchSplit.Parts(total).ToList();
        Assert.Equal((total + LaunchSplit.MaxThreads - 1) / LaunchSplit.MaxThreads, parts.Count);
        long next = 0;
        foreach (var p in parts)
        {
            Assert.Equal(next, p.Start);
            Assert.InRange(p.Count, 1, LaunchSplit.MaxThreads);
            next = p.End;
        }
        Assert.Equal(total, next);
    }

    [Fact]
    public void SmallPartsEndWithTheRemainder()
    {
        Assert.Equal(new[] { (0L, 3L), (3L, 6L), (6L, 9L), (9L, 10L) }, LaunchSplit.Parts(10, 3).Select(p => (p.Start, p.End)));
        Assert.Equal(new[] { (0L, 3L), (3L, 6L), (6L, 9L) }, LaunchSplit.Parts(9, 3).Select(p => (p.Start, p.End)));
    }

    [Fact]
    public void BadArgumentsAreRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => LaunchSplit.Parts(-1).ToList());
        Assert.Throws<ArgumentOutOfRangeException>(() => LaunchSplit.Parts(5, 0).ToList());
    }
}

/// <summary>
/// Kernels on a view longer than 2^31 floats (8 GiB). The CPU accelerator reserves the buffer without touching it, so
/// only the few pages the test writes are ever committed; where the reservation fails the test skips, saying so.
/// </summary>
[Collection("cpu")]
public sealed class LongViewTests(CpuFixture fx)
{
    const long Length = (1L << 31) + 64;

    [SkippableFact]
    public void KernelsAddressElementsPast2To31()
    {
        var acc = fx.Device.Accelerator!;
        MemoryBuffer1D<float, Stride1D.Dense> buffer;
        try { buffer = acc.Allocate1D<float>(Length); }
        catch (OutOfMemoryException e) { throw new SkipException($"cannot reserve {Length * 4 >> 20} MiB of host memory for a view past 2^31 elements: {e.Message}"); }
        using var _ = buffer;
        ArrayView<float> big = buffer.View.AsContiguous();
        var k = fx.Device.Kernels!;

        long edge = 1L << 31;
        // im2col / col2im of the last sample of x [2^25 + 1, 1, 8, 8], which starts at element 2^31.
        var p = WindowParams.Create((int)(Length / 64), 1, 8, 8, 3, 3, 1, 1, 1);
        var sample = Host.Random(64, 11);
        using var small = acc.Allocate1D<float>(64);
        using var col = acc.Allocate1D<float>(9 * 64);
        using var colRef = acc.Allocate1D<float>(9 * 64);
        var last = new ConvTile { N0 = p.N - 1, Nb = 1, Q0 = 0, T = p.Ohw, H0 = 0, H1 = p.H, Accumulate = 0 };
        var one = WindowParams.Create(1, 1, 8, 8, 3, 3, 1, 1, 1);
        var first = last with { N0 = 0 };
        foreach (var host in new[] { true, false })
        {
            k.HostKernels = host;
            // Fill: elements [2^31 - 4, 2^31 + 4) only.
            big.SubView(edge - 8, 16).CopyFromCPU(new float[16]);
            k.Fill(big, 7f, new ElementRange { Start = edge - 4, End = edge + 4 });
            Assert.Equal(Enumerable.Repeat(0f, 4).Concat(Enumerable.Repeat(7f, 8)).Concat(Enumerable.Repeat(0f, 4)), Read(big, edge - 8, 16));

            big.SubView(Length - 64, 64).CopyFromCPU(sample);
            small.View.AsContiguous().CopyFromCPU(sample);
            k.Im2Col(big, col.View.AsContiguous(), p, last);
            k.Im2Col(small.View.AsContiguous(), colRef.View.AsContiguous(), one, first);
            Assert.Equal(colRef.GetAsArray1D(), col.GetAsArray1D());
            k.Col2Im(colRef.View.AsContiguous(), big, p, last);
            k.Col2Im(colRef.View.AsContiguous(), small.View.AsContiguous(), one, first);
            Assert.Equal(small.GetAsArray1D(), Read(big, Length - 64, 64));
        }
        k.HostKernels = true;

        // GEMM: batch 1 of C starts 8 elements before 2^31, so its rows straddle the boundary; 4 rows take the host
        // GEMM's skinny path, 9 its blocked path.
        var ah = Host.Random(2 * 9 * 4, 12); var bh = Host.Random(2 * 4 * 4, 13);
        using var a = acc.Allocate1D(ah);
        using var b = acc.Allocate1D(bh);
        foreach (var m in new[] { 4, 9 })
        foreach (var kernel in new[] { GemmKernel.HostBlocked, GemmKernel.Simple })
        {
            var gp = GemmParams.Plain(m, 4, 4, false, false);
            gp.Batch = 2; gp.ABatch = m * 4; gp.BBatch = 16; gp.CBatch = edge - 8;
            k.GemmKernel = kernel;
            try
            {
                big.SubView(edge - 8, m * 4).CopyFromCPU(new float[m * 4]);
                k.Gemm(a.View.AsContiguous(), b.View.AsContiguous(), big, gp);
                var expected = new float[m * 4];
                for (int i = 0; i < m; i++) for (int j = 0; j < 4; j++) for (int q = 0; q < 4; q++) expected[i * 4 + j] += ah[m * 4 + i * 4 + q] * bh[16 + q * 4 + j];
                Host.Close(expected, Read(big, edge - 8, m * 4));
            }
            finally { k.GemmKernel = GemmKernel.HostBlocked; }
        }
    }

    static float[] Read(ArrayView<float> view, long start, int count)
    {
        var a = new float[count];
        view.SubView(start, count).CopyToCPU(a);
        return a;
    }
}
