using System.Diagnostics;
using Pgmo.Memory;
using Pgmo.Planner;

namespace Pgmo.Training;

/// <summary>
/// <c>--conv-workspace auto</c>: each convolution's workspace grows into the bytes its plan leaves free at its step.
/// A dry run with the fixed bound (<see cref="RunOptions.ConvWorkspaceBytes"/>) is planned; each <c>conv.workspace</c>
/// buffer then takes the largest range free of every buffer live with it below the plan's peak
/// (<see cref="PlanSlack"/>); a second dry run with those bounds makes the same requests with the grown sizes, and
/// the first plan's offsets, with each workspace moved to the start of its range, plan it. No other buffer moves and
/// no workspace leaves the plan's peak, so the peak is the fixed bound's: only the convolutions' tiles get larger.
/// The planned allocator replays the second dry run, and a real run makes exactly its requests.
/// </summary>
public static class WorkspaceGrowth
{
    /// <summary>The largest workspace bound: its floats still index a tensor with 32-bit dimensions.</summary>
    public const long MaxBound = 4L * int.MaxValue;

    /// <summary>The trace of a run with grown workspaces, its plan (reported as <see cref="GivenPlan.Algorithm"/>),
    /// the bound of each workspace request in order, and the plan's peak (the fixed bound's).</summary>
    public sealed record Grown(IterationTrace Trace, GivenPlan Plan, long[] Bounds, long PeakBytes);

    /// <summary>The first iteration of a planned run with <paramref name="options"/>, its workspaces grown.</summary>
    public static Grown Plan(RunOptions options)
    {
        var clock = Stopwatch.StartNew();
        var fixedBound = options with { GrowConvWorkspaces = false, ConvWorkspaceBounds = null };
        var first = Session.DryRunTrace(fixedBound);
        var problem = first.Problem;
        var algorithm = options.Planned.Algorithm;
        long[] offsets = options.Planned.Planner is { } custom ? custom(problem).Offsets : algorithm.Plan(problem, options.Planned.Settings).Plan.Offsets;
        long peak = DeviceAllocator.Aligned(PlannerApi.Peak(problem, new Plan(offsets)));
        var workspaces = Enumerable.Range(0, problem.Buffers.Length).Where(i => first.Tags[i].StartsWith("conv.workspace#", StringComparison.Ordinal)).ToArray();
        var ranges = workspaces.Select(i => PlanSlack.LargestFreeRange(problem, offsets, peak, i)).ToArray();
        var bounds = ranges.Select(r => Math.Min(r.End - r.Start, MaxBound)).ToArray();
        var grown = Session.DryRunTrace(fixedBound with { ConvWorkspaceBounds = bounds });
        var moved = (long[])offsets.Clone();
        for (int k = 0; k < workspaces.Length; k++) moved[workspaces[k]] = ranges[k].Start;
        Check(first, grown, workspaces, ranges);
        return new Grown(grown, new GivenPlan(moved, $"{(options.Planned.Planner is null ? algorithm.Name : "custom")}, workspaces grown", clock.Elapsed.TotalMilliseconds), bounds, peak);
    }

    /// <summary>Throws unless <paramref name="grown"/> makes the requests of <paramref name="first"/> with only the
    /// workspaces larger, each within its range.</summary>
    static void Check(IterationTrace first, IterationTrace grown, int[] workspaces, (long Start, long End)[] ranges)
    {
        var (a, b) = (first.Problem.Buffers, grown.Problem.Buffers);
        if (a.Length != b.Length || first.Events.Count != grown.Events.Count || !first.PersistentSizes.SequenceEqual(grown.PersistentSizes))
            throw new InvalidOperationException($"grown workspaces changed the iteration: {b.Length} buffers over {grown.Events.Count} events, not {a.Length} over {first.Events.Count}");
        var range = workspaces.Select((w, k) => (w, k)).ToDictionary(p => p.w, p => ranges[p.k]);
        for (int i = 0; i < a.Length; i++)
        {
            bool ok = a[i].Lifetime.Equals(b[i].Lifetime) && first.Tags[i] == grown.Tags[i]
                && (range.TryGetValue(i, out var r) ? a[i].Size <= b[i].Size && b[i].Size <= r.End - r.Start : a[i].Size == b[i].Size);
            if (!ok) throw new InvalidOperationException($"grown workspaces changed buffer {i} ({first.Tags[i]}): {a[i].Size} B on [{a[i].Lifetime.Start}, {a[i].Lifetime.End}) became {b[i].Size} B on [{b[i].Lifetime.Start}, {b[i].Lifetime.End})");
        }
    }
}
