namespace Pgmo.Tests;

/// <summary>Element-wise comparison that names what differs.</summary>
internal static class Near
{
    public static void Check(float[] expected, float[] actual, float tol, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {actual.Length} elements, expected {expected.Length}");
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * (1 + Math.Abs(expected[i])), $"{what} element {i}: expected {expected[i]}, got {actual[i]}");
    }
}

/// <summary>An allocator that logs every request (size and tag) and passes it on.</summary>
internal sealed class RequestLog(IDeviceAllocator inner) : IDeviceAllocator
{
    public List<(long Bytes, string Tag)> Requests { get; } = new();
    public string Name => inner.Name;
    public AllocatorKind Kind => inner.Kind;
    public long? MemoryLimit => inner.MemoryLimit;
    public AllocatorReport Report() => inner.Report();
    public bool IsVirtual => inner.IsVirtual;
    public DeviceBlock Allocate(long bytes, string tag) { Requests.Add((bytes, tag)); return inner.Allocate(bytes, tag); }
    public void Free(DeviceBlock block) => inner.Free(block);
    public void Away(DeviceBlock block) => inner.Away(block);
    public void Back(DeviceBlock block) => inner.Back(block);
    public int TraceBuffer(DeviceBlock block) => inner.TraceBuffer(block);
    public int TraceStep => inner.TraceStep;
    public long InUseBytes => inner.InUseBytes;
    public long PeakInUseBytes => inner.PeakInUseBytes;
    public long ReservedBytes => inner.ReservedBytes;
    public long PeakReservedBytes => inner.PeakReservedBytes;
    public int LiveBlocks => inner.LiveBlocks;
    public IterationTrace? LastTrace => inner.LastTrace;
    public void Dispose() => inner.Dispose();
}

/// <summary>The tiling of the convolution workspace: which tiles, how large, and that it changes no result.</summary>
public sealed class ConvTilingTests
{
    public static TheoryData<int, int, int, int, int, int, int, long> Geometries => new()
    {
        // n, c, h, w, k, stride, pad, workspace bytes
        { 3, 2, 7, 5, 3, 1, 1, 2 * 9 * 4 },            // one position's column per tile
        { 3, 2, 7, 5, 3, 1, 1, 2 * 9 * 4 * 6 + 3 },     // six positions (rows split mid-row)
        { 3, 2, 7, 5, 3, 2, 0, 1 },                     // below one column: still one column
        { 5, 3, 6, 6, 3, 1, 1, 27 * 36 * 4 * 2 + 5 },   // two whole samples (5 = 2 + 2 + 1)
        { 2, 1, 1, 1, 1, 1, 0, 1L << 40 },              // everything in one tile
    };

    [Theory, MemberData(nameof(Geometries))]
    public void TilesCoverEveryOutputPositionOnceWithinTheWorkspace(int n, int c, int h, int w, int k, int s, int pad, long bytes)
    {
        var p = WindowParams.Create(n, c, h, w, k, k, s, pad, pad);
        long column = (long)p.Ckk * sizeof(float);
        long ws = ConvTiling.WorkspaceElements(p, bytes) * sizeof(float);
        Assert.True(ws <= Math.Max(bytes, column), $"workspace {ws} B exceeds the bound {bytes} B and one column {column} B");
        var seen = new int[p.N * p.Ohw];
        foreach (var t in ConvTiling.Tiles(p, bytes))
        {
            Assert.True(t.Columns * p.Ckk * sizeof(float) <= ws, $"tile {t.N0}/{t.Q0} needs more than the workspace");
            Assert.True(t.Nb == 1 || t.T == p.Ohw, "a tile spans several samples only with all their positions");
            for (int b = t.N0; b < t.N0 + t.Nb; b++) for (int q = t.Q0; q < t.Q0 + t.T; q++) seen[b * p.Ohw + q]++;
            Assert.InRange(t.H0, 0, t.H1);
            Assert.InRange(t.H1, t.H0, p.H);
        }
        Assert.All(seen, v => Assert.Equal(1, v));
    }

    [Fact]
    public void DefaultIsEightMebibytes() => Assert.Equal(8L * 1024 * 1024, new Tape(Device.ShapesOnly(), Allocators.Create(AllocatorKind.Pool, Device.ShapesOnly().Accelerator)).ConvWorkspaceBytes);

    [Fact]
    public void NonPositiveWorkspaceIsRefused()
    {
        var tape = new Tape(Device.ShapesOnly(), Allocators.Create(AllocatorKind.Pool, Device.ShapesOnly().Accelerator));
        Assert.Throws<ArgumentOutOfRangeException>(() => tape.ConvWorkspaceBytes = 0);
    }
}

/// <summary>Convolution forward and backward in tiles against one untiled pass, on the CPU accelerator and in dry runs.</summary>
[Collection("cpu")]
public sealed class ConvWorkspaceTests(CpuFixture fx)
{
    /// <summary>y, dx, dw and db of one convolution with the given workspace bound, and the allocator's requests.</summary>
    static (float[][] Results, List<(long Bytes, string Tag)> Requests) Run(Device d, long workspace, int[] xs, int[] ws, int stride, int padH, int padW, bool hostWindow = true)
    {
        if (d.Kernels is { } k) k.HostKernels = hostWindow;
        using var log = new RequestLog(Allocators.Create(AllocatorKind.Pool, d.Accelerator));
        var tape = new Tape(d, log) { ConvWorkspaceBytes = workspace };
        var x = tape.Upload(Host.Random((int)Tensor.Count(xs), 1), xs, "x");
        var w = tape.Upload(Host.Random((int)Tensor.Count(ws), 2), ws, "w");
        var b = tape.Upload(Host.Random(ws[0], 3), new[] { ws[0] }, "b");
        foreach (var t in new[] { x, w, b }) { t.RequiresGrad = true; t.Share(); }
        var y = tape.Conv2d(x, w, b, stride, padH, padW);
        var yh = tape.Download(y);
        tape.Backward(y, tape.Upload(Host.Random((int)y.Length, 4), y.Shape, "seed"));
        y.Release();
        var results = new[] { yh, tape.Download(x.Grad!), tape.Download(w.Grad!), tape.Download(b.Grad!) };
        foreach (var t in new[] { x, w, b }) { t.Grad!.Release(); t.Release(); }
        Assert.Equal(0, log.LiveBlocks);
        return (results, log.Requests);
    }

    [Theory]
    [InlineData(3, 2, 7, 5, 4, 3, 3, 1, 1, 1)]
    [InlineData(2, 3, 9, 8, 5, 3, 2, 2, 1, 0)]
    [InlineData(5, 1, 6, 6, 2, 5, 5, 1, 2, 2)]
    [InlineData(2, 2, 5, 4, 3, 1, 3, 1, 0, 1)]
    public void TiledEqualsUntiledAndStaysWithinTheWorkspace(int n, int c, int h, int w, int oc, int kh, int kw, int s, int padH, int padW)
    {
        int[] xs = { n, c, h, w }, wsh = { oc, c, kh, kw };
        var p = WindowParams.Create(n, c, h, w, kh, kw, s, padH, padW);
        long column = (long)p.Ckk * sizeof(float), sample = column * p.Ohw;
        var (reference, _) = Run(fx.Device, long.MaxValue, xs, wsh, s, padH, padW);
        var bounds = new[] { 1, column, column * 4 + 1, sample + column, 2 * sample }.Where(bytes => ConvTiling.Tiles(p, bytes).Count() > 1).ToList();
        Assert.True(bounds.Count >= 4, "most bounds should cut the convolution into several tiles");
        foreach (var bytes in bounds)
        foreach (var host in new[] { true, false })
        {
            var (tiled, requests) = Run(fx.Device, bytes, xs, wsh, s, padH, padW, host);
            fx.Device.Kernels!.HostKernels = true;
            string[] names = { "y", "dx", "dw", "db" };
            for (int i = 0; i < reference.Length; i++)
                Near.Check(reference[i], tiled[i], 1e-4f, $"{names[i]} with a {bytes} B workspace, {(host ? "host" : "ILGPU")} im2col");
            var workspaces = requests.Where(r => r.Tag.StartsWith("conv.workspace")).ToList();
            Assert.Equal(2, workspaces.Count);
            Assert.All(workspaces, r => Assert.True(r.Bytes <= Math.Max(bytes, column), $"{r.Tag}: {r.Bytes} B over the {bytes} B bound"));
        }
    }

    [Fact]
    public void DryRunMakesTheSameRequests()
    {
        int[] xs = { 3, 2, 7, 5 }, wsh = { 4, 2, 3, 3 };
        long bytes = 2 * 9 * 4 * 5;
        var (_, real) = Run(fx.Device, bytes, xs, wsh, 1, 1, 1);
        using var dry = Device.ShapesOnly();
        using var log = new RequestLog(Allocators.Create(AllocatorKind.Pool, dry.Accelerator));
        var tape = new Tape(dry, log) { ConvWorkspaceBytes = bytes };
        var x = tape.Upload(new float[0], xs, "x"); var w = tape.Upload(new float[0], wsh, "w"); var b = tape.Upload(new float[0], new[] { 4 }, "b");
        foreach (var t in new[] { x, w, b }) { t.RequiresGrad = true; t.Share(); }
        var y = tape.Conv2d(x, w, b, 1, 1, 1);
        tape.Backward(y, tape.Upload(new float[0], y.Shape, "seed"));
        y.Release();
        foreach (var t in new[] { x, w, b }) { t.Grad!.Release(); t.Release(); }
        Assert.Equal(real, log.Requests);
    }

    [Fact]
    public void PointwiseConvolutionNeedsNoWorkspace()
    {
        var (_, requests) = Run(fx.Device, 1, new[] { 2, 3, 4, 4 }, new[] { 5, 3, 1, 1 }, 1, 0, 0);
        Assert.DoesNotContain(requests, r => r.Tag.StartsWith("conv.workspace"));
    }
}
