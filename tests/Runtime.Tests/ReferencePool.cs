namespace Pgmo.Tests;

/// <summary>
/// CuPy's and PyTorch's pools written from their policy text alone (docs/cli.md, "The pool baseline, exactly" and
/// "The torch-pool baseline"): a plain list of chunks, searched and merged naively. It shares no code with the
/// planner's CachingPool, which the runtime's pools use, so a test comparing the two can fail.
/// </summary>
public sealed class ReferencePool(bool torch)
{
    const long MiB = 1 << 20;

    /// <summary>A chunk of a segment: free when Owner is -1.</summary>
    sealed record Chunk(int Segment, long Offset, long Length, long Owner);

    private readonly List<Chunk> chunks = new();
    private readonly List<(long Size, bool Small)> segments = new();

    /// <summary>Bytes of all segments made (nothing is given back): the pool's reserved bytes.</summary>
    public long Reserved => segments.Sum(s => s.Size);

    /// <summary>Places request <paramref name="id"/> of <paramref name="size"/> bytes; returns its segment, offset and length.</summary>
    public (int Segment, long Offset, long Length) Allocate(long id, long size)
    {
        long need = Math.Max(512, (size + 511) / 512 * 512);
        bool small = torch && need <= MiB;
        var fit = chunks.Where(c => c.Owner == -1 && c.Length >= need && segments[c.Segment].Small == small)
            .OrderBy(c => c.Length).ThenBy(c => c.Segment).ThenBy(c => c.Offset).FirstOrDefault();
        if (fit is null)
        {
            long bytes = !torch ? need : small ? 2 * MiB : need < 10 * MiB ? 20 * MiB : (need + 2 * MiB - 1) / (2 * MiB) * (2 * MiB);
            segments.Add((bytes, small));
            fit = new Chunk(segments.Count - 1, 0, bytes, -1);
            chunks.Add(fit);
        }
        long rest = fit.Length - need;
        bool split = !torch ? rest > 0 : small ? rest >= 512 : rest > MiB;
        chunks.Remove(fit);
        var taken = fit with { Length = split ? need : fit.Length, Owner = id };
        chunks.Add(taken);
        if (split) chunks.Add(new Chunk(fit.Segment, fit.Offset + need, rest, -1));
        return (taken.Segment, taken.Offset, taken.Length);
    }

    /// <summary>Frees request <paramref name="id"/> and merges free neighbours in its segment until none are left.</summary>
    public void Free(long id)
    {
        var c = chunks.Single(x => x.Owner == id);
        chunks.Remove(c);
        chunks.Add(c with { Owner = -1 });
        while (chunks.Where(a => a.Owner == -1).SelectMany(a => chunks.Where(b => b.Owner == -1 && b.Segment == a.Segment && a.Offset + a.Length == b.Offset), (a, b) => (a, b)).FirstOrDefault() is ({ } a, { } b))
        {
            chunks.Remove(a);
            chunks.Remove(b);
            chunks.Add(a with { Length = a.Length + b.Length });
        }
    }

    /// <summary>A problem's requests in time order: at each step its frees, then its allocations, by buffer index.</summary>
    public static IEnumerable<(bool Alloc, int Buffer)> Events(Problem problem)
    {
        var buffers = problem.Buffers;
        var steps = buffers.SelectMany(b => new[] { b.Lifetime.Start, b.Lifetime.End }).Distinct().Order();
        foreach (var s in steps)
        {
            for (int i = 0; i < buffers.Length; i++) if (buffers[i].Lifetime.End == s) yield return (false, i);
            for (int i = 0; i < buffers.Length; i++) if (buffers[i].Lifetime.Start == s) yield return (true, i);
        }
    }

    /// <summary>The reserved bytes of the pool replaying <paramref name="problem"/>'s requests.</summary>
    public static long ReservedFor(Problem problem, bool torch)
    {
        var pool = new ReferencePool(torch);
        foreach (var (alloc, i) in Events(problem))
            if (alloc) pool.Allocate(i, problem.Buffers[i].Size); else pool.Free(i);
        return pool.Reserved;
    }

    /// <summary>The largest total size live at one step (half-open lifetimes), by a plain scan of every step.</summary>
    public static long LowerBound(Problem problem) =>
        problem.Buffers.Select(b => b.Lifetime.Start).Distinct()
            .Max(s => problem.Buffers.Where(b => b.Lifetime.Start <= s && s < b.Lifetime.End).Sum(b => b.Size));
}
