namespace Pgmo.Kernels;

/// <summary>
/// How a convolution's im2col workspace is bounded: output positions are cut into tiles whose columns fit in the
/// workspace. Whole samples are grouped while one sample's columns fit (tiles across samples), else one sample's
/// positions are cut into runs (tiles across rows); a tile never holds less than one position's column
/// (C*KH*KW floats), so the workspace is max(limit, one column) rounded down to whole tiles.
/// </summary>
public static class ConvTiling
{
    /// <summary>The default workspace bound: 8 MiB (Chainer's cuDNN workspace default).</summary>
    public const long DefaultWorkspaceBytes = 8L << 20;

    /// <summary>(samples per tile, positions per sample in a tile) for <paramref name="p"/> within <paramref name="workspaceBytes"/>.</summary>
    public static (int Samples, int Positions) TileShape(WindowParams p, long workspaceBytes)
    {
        if (workspaceBytes < 1) throw new ArgumentOutOfRangeException(nameof(workspaceBytes), workspaceBytes, "the convolution workspace must be positive");
        long column = (long)p.Ckk * sizeof(float);
        long sample = column * p.Ohw;
        if (sample <= workspaceBytes) return ((int)Math.Min(p.N, workspaceBytes / sample), p.Ohw);
        return (1, (int)Math.Max(1, workspaceBytes / column));
    }

    /// <summary>Floats of the workspace buffer: one full tile.</summary>
    public static long WorkspaceElements(WindowParams p, long workspaceBytes)
    {
        var (samples, positions) = TileShape(p, workspaceBytes);
        return (long)samples * p.Ckk * positions;
    }

    /// <summary>The tiles in order; they cover every (sample, output position) exactly once.</summary>
    public static IEnumerable<ConvTile> Tiles(WindowParams p, long workspaceBytes)
    {
        var (samples, positions) = TileShape(p, workspaceBytes);
        if (positions == p.Ohw)
        {
            for (int n0 = 0; n0 < p.N; n0 += samples)
                yield return new ConvTile { N0 = n0, Nb = Math.Min(samples, p.N - n0), Q0 = 0, T = p.Ohw, H0 = 0, H1 = p.H, Accumulate = 0 };
            yield break;
        }
        for (int n = 0; n < p.N; n++)
            for (int q0 = 0; q0 < p.Ohw; q0 += positions)
            {
                int t = Math.Min(positions, p.Ohw - q0);
                int ohFirst = q0 / p.OW, ohLast = (q0 + t - 1) / p.OW;
                int h0 = Math.Max(0, ohFirst * p.Stride - p.PadH), h1 = Math.Min(p.H, ohLast * p.Stride - p.PadH + p.KH);
                yield return new ConvTile { N0 = n, Nb = 1, Q0 = q0, T = t, H0 = h0, H1 = Math.Max(h0, h1), Accumulate = 1 };
            }
    }

    /// <summary>True when the tiles split samples, so col2im accumulates into an input gradient zeroed first.</summary>
    public static bool SplitsSamples(WindowParams p, long workspaceBytes) => TileShape(p, workspaceBytes).Positions < p.Ohw;
}
