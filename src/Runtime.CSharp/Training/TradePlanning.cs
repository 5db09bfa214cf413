using System.Diagnostics;
using Pgmo.Kernels;
using Pgmo.Memory;
using Pgmo.Planner;

namespace Pgmo.Training;

/// <summary>The trade-offs a run may plan (<c>--trade</c>): none, offload, recompute, or both.</summary>
public enum TradeChoice { None, Offload, Recompute, Both }

/// <summary>
/// <c>--trade</c>: offload chosen together with the layout before the first step (issue 17). A dry run observes every
/// buffer saved for backward and its idle window (<see cref="Nn.Tape.SavedWindows"/>); the planner
/// (<see cref="TradePlanner"/>, greedy with repair) chooses which to offload so that the gap-aware plan's peak fits
/// the memory limit at the least modelled time; a second dry run with that schedule records the trace with its away
/// and back marks, whose problem must be the planner's, and the planned allocator replays it with the planner's
/// offsets. Recompute is modelled by the planner but not run by the tape: <see cref="TradeChoice.Both"/> plans offload
/// only (<see cref="Planned.Note"/> says so) and <see cref="TradeChoice.Recompute"/> is refused.
/// </summary>
public static class TradePlanning
{
    /// <summary>The modelled host copy bandwidth, 5 GB/s (bytes per microsecond): on the CPU accelerator a copy is a
    /// host memcpy; the figure is a modelling parameter, not a measurement.</summary>
    public const double DefaultBandwidthBytesPerUs = 5_000;

    /// <summary>What the planning gave: the trace with its marks and its plan, the schedule the tape runs (trace
    /// buffers to offload after each recorded node), the planner's result, the candidates seen, and a note.</summary>
    public sealed record Planned(IterationTrace Trace, GivenPlan Plan, IReadOnlyDictionary<int, int[]> Schedule, TradePlan Result, int Candidates, string? Note);

    /// <summary>Plans the trade-offs of a planned run with <paramref name="options"/> (its <see cref="RunOptions.Trade"/>
    /// and <see cref="RunOptions.MemoryLimit"/>; no limit: nothing is traded).</summary>
    public static Planned Plan(RunOptions options)
    {
        if (options.Trade == TradeChoice.Recompute) throw new NotSupportedException("--trade recompute: the runtime does not recompute yet (the planner models it); use --trade offload");
        var clock = Stopwatch.StartNew();
        var plain = options with { Trade = TradeChoice.None, GrowConvWorkspaces = false };
        var (first, windows) = DryRun(plain, observe: true, schedule: null);
        var problem = first.Problem;
        var byBuffer = new Dictionary<int, Nn.SavedWindow>();
        var candidates = new List<Candidate>();
        foreach (var w in windows)
        {
            if (w.Buffer < first.Persistent) continue;   // parameters and optimizer state stay
            var idle = StepTrace.gap(w.Away, w.Back);
            if (idle.End <= idle.Start) continue;
            byBuffer[w.Buffer] = w;
            candidates.Add(TradePlanner.Candidate(w.Buffer, idle, null));
        }
        var planned = options.Planned;
        Func<Problem, Plan> layout = planned.Planner ?? (p => planned.Algorithm.Plan(p, planned.Settings).TryGetPlan(out var plan) ? plan
            : throw new InvalidOperationException($"{planned.Algorithm.Name} gives no plan (only a bound)"));
        var result = TradePlanner.Plan(problem, candidates.ToArray(), options.MemoryLimit ?? long.MaxValue, options.TradeBandwidthBytesPerUs,
            offload: true, recompute: false, layout);
        var schedule = result.Choices
            .GroupBy(c => byBuffer[c.Item1.Buffer].Node)
            .ToDictionary(g => g.Key, g => g.Select(c => c.Item1.Buffer).ToArray());
        var (second, _) = DryRun(plain, observe: false, schedule);
        Check(result.Problem, second.Problem);
        string name = planned.Planner is null ? planned.Algorithm.Name : "custom";
        string? note = options.Trade == TradeChoice.Both ? "--trade both plans offload only: the runtime does not recompute yet" : null;
        return new Planned(second, new GivenPlan(result.Plan.Offsets, $"{name}, offload of {result.Choices.Length}", clock.Elapsed.TotalMilliseconds),
            schedule, result, candidates.Count, note);
    }

    /// <summary>A dry run (shapes-only device, recording pool) of one iteration: its trace and the saved windows it saw.</summary>
    private static (IterationTrace Trace, IReadOnlyList<Nn.SavedWindow> Windows) DryRun(RunOptions options, bool observe, IReadOnlyDictionary<int, int[]>? schedule)
    {
        using var device = Device.ShapesOnly();
        using var dry = (options with { Allocator = AllocatorKind.Pool, Record = true, MemoryLimit = null }).Open(device);
        dry.Tape.ObserveSaved = observe;
        dry.Tape.OffloadAfter = schedule;
        dry.DryStep(options.Batch);
        var trace = dry.Allocator.LastTrace ?? throw new InvalidOperationException("the dry run recorded no iteration");
        return (trace, dry.Tape.SavedWindows);
    }

    /// <summary>Throws unless the dry run with the schedule recorded the planner's problem (same buffers, lifetimes and gaps).</summary>
    private static void Check(Problem expected, Problem recorded)
    {
        var (a, b) = (expected.Buffers, recorded.Buffers);
        if (a.Length != b.Length) throw new InvalidOperationException($"the offload schedule changed the iteration: {b.Length} buffers, not {a.Length}");
        for (int i = 0; i < a.Length; i++)
            if (!a[i].Lifetime.Equals(b[i].Lifetime) || a[i].Size != b[i].Size || !a[i].Gaps.SequenceEqual(b[i].Gaps))
                throw new InvalidOperationException($"the offload schedule's dry run recorded buffer {i} unlike the planner's problem ({b[i].Gaps.Length} gaps, not {a[i].Gaps.Length})");
    }
}
