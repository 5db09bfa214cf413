using System.Diagnostics;
using Pgmo.Kernels;
using Pgmo.Memory;
using Pgmo.Nn;
using Pgmo.Planner;

namespace Pgmo.Training;

/// <summary>The trade-offs a run may plan (<c>--trade</c>): none, offload, recompute, or both.</summary>
public enum TradeChoice { None, Offload, Recompute, Both }

/// <summary>
/// What the trade-off planner's costs are made of, in bytes per microsecond: the host↔device copy bandwidth (offload
/// costs 2 × bytes ÷ it: out and back) and the device's element-by-element bandwidth (recompute costs its element
/// passes × bytes ÷ it), and where the figures came from. The model counts both in full, with no overlap: an upper bound
/// on CUDA, where the copy out runs on a copy stream beside the kernels (<see cref="OffloadCopies"/>); the copy in and
/// the recompute kernels are on the critical path everywhere, and on the CPU accelerator the copy out is too.
/// </summary>
public sealed record TradeCosts(double OffloadBytesPerUs, double ElementwiseBytesPerUs, string Source)
{
    /// <summary>The documented constants, for a device that measures nothing (shapes only): 5 GB/s host↔device and
    /// 10 GB/s element by element.</summary>
    public static readonly TradeCosts Documented = new(5_000, 10_000, "documented constants (5 GB/s copies, 10 GB/s element passes)");

    /// <summary>The bytes <see cref="Measure"/> moves: 32 MiB.</summary>
    public const long MeasureBytes = 32L << 20;

    /// <summary>Measures both on <paramref name="device"/> (the documented constants on a shapes-only one): a
    /// <see cref="MeasureBytes"/> buffer, outside any allocator and given back at once, copied to a page-locked host
    /// array and back,
    /// and a ReLU in place over it; after one warm-up round, the best of three rounds (a few milliseconds).</summary>
    public static TradeCosts Measure(Device device)
    {
        if (device.Accelerator is not { } acc || device.Kernels is not { } k) return Documented;
        // the tape's own path (OffloadCopies): a byte view copied to a page-locked host array and back
        using var buffer = acc.Allocate1D<byte>(MeasureBytes);
        var bytes = buffer.View.AsContiguous();
        var view = bytes.Cast<float>();
        using var host = acc.AllocatePageLocked1D<byte>(MeasureBytes);
        k.Fill(view, 1f);
        double copy = double.MaxValue, pass = double.MaxValue;
        for (int round = 0; round < 4; round++)
        {
            acc.Synchronize();
            var clock = Stopwatch.StartNew();
            bytes.CopyTo(acc.DefaultStream, host.ArrayView);
            host.ArrayView.CopyTo(acc.DefaultStream, bytes);
            acc.Synchronize();
            double c = clock.Elapsed.TotalMicroseconds;
            clock.Restart();
            k.Relu(view, view);
            acc.Synchronize();
            double p = clock.Elapsed.TotalMicroseconds;
            if (round == 0) continue;
            copy = Math.Min(copy, c);
            pass = Math.Min(pass, p);
        }
        return new(2.0 * MeasureBytes / Math.Max(copy, 1e-3), MeasureBytes / Math.Max(pass, 1e-3),
                   $"measured on {device.Name}: 32 MiB to the host and back, and a ReLU pass over it, best of 3");
    }
}

/// <summary>
/// <c>--trade</c>: offload and recompute chosen together with the layout before the first step (issue 17). A dry run
/// observes every buffer saved for backward, its idle window and whether the tape can recompute it in place at its
/// first backward read, from which buffers (its needs) in how many element passes (<see cref="Tape.SavedWindows"/>);
/// the planner (<see cref="TradePlanner"/>: greedy with repair, then a bounded search over sets of candidates, under
/// the recompute rule: a recomputed buffer needs no traded one) chooses what to offload and what to recompute so that
/// the gap-aware plan's peak fits the memory limit at the least modelled time (<see cref="TradeCosts"/>); a second dry run with that schedule records the trace with its
/// away and back marks, whose problem must be the planner's (<see cref="Check"/>), and the planned allocator replays it
/// with the planner's offsets.
/// </summary>
public static class TradePlanning
{
    /// <summary>What the planning gave: the trace with its marks and its plan, the schedule the tape runs (trace
    /// buffers to send away after each recorded node, each offloaded or recomputed), the planner's result, the
    /// candidates seen (and how many of them could be recomputed) and the costs it planned with.</summary>
    public sealed record Planned(IterationTrace Trace, GivenPlan Plan, IReadOnlyDictionary<int, ScheduledAway[]> Schedule, TradePlan Result, int Candidates,
                                 int Recomputable, TradeCosts Costs);

    /// <summary>Plans the trade-offs of a planned run with <paramref name="options"/> (its <see cref="RunOptions.Trade"/>,
    /// <see cref="RunOptions.MemoryLimit"/> and <see cref="RunOptions.TradeCosts"/>, else <paramref name="costs"/>, else
    /// the documented constants; no limit: nothing is traded).</summary>
    public static Planned Plan(RunOptions options, TradeCosts? costs = null)
    {
        if (options.Trade == TradeChoice.None) throw new ArgumentException("no trade-offs to plan (--trade none)", nameof(options));
        costs = options.TradeCosts ?? costs ?? TradeCosts.Documented;
        var clock = Stopwatch.StartNew();
        var plain = options with { Trade = TradeChoice.None, GrowConvWorkspaces = false };
        var (first, windows) = DryRun(plain, observe: true, schedule: null);
        var problem = first.Problem;
        var byBuffer = new Dictionary<int, SavedWindow>();
        var candidates = new List<Candidate>();
        foreach (var w in windows)
        {
            if (w.Buffer < first.Persistent) continue;   // parameters and optimizer state stay
            var idle = StepTrace.gap(w.Away, w.Back);
            if (idle.End <= idle.Start) continue;
            byBuffer[w.Buffer] = w;
            double? us = w.Recompute is { } r ? r.Passes * (double)problem.Buffers[w.Buffer].Size / costs.ElementwiseBytesPerUs : null;
            candidates.Add(TradePlanner.Candidate(w.Buffer, idle, us, w.Recompute?.Needs.Where(b => b >= first.Persistent).ToArray()));
        }
        var planned = options.Planned;
        Func<Problem, Plan> layout = planned.Planner ?? (p => planned.Algorithm.Plan(p, planned.Settings).TryGetPlan(out var plan) ? plan
            : throw new InvalidOperationException($"{planned.Algorithm.Name} gives no plan (only a bound)"));
        var result = TradePlanner.Plan(problem, candidates.ToArray(), options.MemoryLimit ?? long.MaxValue, costs.OffloadBytesPerUs,
            offload: options.Trade is TradeChoice.Offload or TradeChoice.Both, recompute: options.Trade is TradeChoice.Recompute or TradeChoice.Both, layout);
        var schedule = result.Choices
            .GroupBy(c => byBuffer[c.Item1.Buffer].Node)
            .ToDictionary(g => g.Key, g => g.Select(c => new ScheduledAway(c.Item1.Buffer, c.Item2.IsRecompute)).ToArray());
        var (second, _) = DryRun(plain, observe: false, schedule);
        Check(result.Problem, second.Problem);
        string name = planned.Planner is null ? planned.Algorithm.Name : "custom";
        int recomputed = result.Choices.Count(c => c.Item2.IsRecompute);
        return new Planned(second, new GivenPlan(result.Plan.Offsets, $"{name}, offload of {result.Choices.Length - recomputed}, recompute of {recomputed}", clock.Elapsed.TotalMilliseconds),
            schedule, result, candidates.Count, candidates.Count(c => c.RecomputeUs is not null), costs);
    }

    /// <summary>A dry run (shapes-only device, recording pool) of one iteration: its trace and the saved windows it saw.</summary>
    private static (IterationTrace Trace, IReadOnlyList<SavedWindow> Windows) DryRun(RunOptions options, bool observe, IReadOnlyDictionary<int, ScheduledAway[]>? schedule)
    {
        using var device = Device.ShapesOnly();
        using var dry = (options with { Allocator = AllocatorKind.Pool, Record = true, MemoryLimit = null }).Open(device);
        dry.Tape.ObserveSaved = observe;
        dry.Tape.AwayAfter = schedule;
        dry.DryStep(options.Batch);
        var trace = dry.Allocator.LastTrace ?? throw new InvalidOperationException("the dry run recorded no iteration");
        return (trace, dry.Tape.SavedWindows);
    }

    /// <summary>Throws unless the dry run with the schedule recorded the planner's problem (same buffers, lifetimes and gaps).</summary>
    public static void Check(Problem expected, Problem recorded)
    {
        var (a, b) = (expected.Buffers, recorded.Buffers);
        if (a.Length != b.Length) throw new InvalidOperationException($"the trade schedule changed the iteration: {b.Length} buffers, not {a.Length}");
        for (int i = 0; i < a.Length; i++)
            if (!a[i].Lifetime.Equals(b[i].Lifetime) || a[i].Size != b[i].Size || !a[i].Gaps.SequenceEqual(b[i].Gaps))
                throw new InvalidOperationException($"the trade schedule's dry run recorded buffer {i} unlike the planner's problem ({b[i].Gaps.Length} gaps, not {a[i].Gaps.Length})");
    }
}

/// <summary>
/// What a run's trades did: the choices by kind, and the measured extra time per step (the copies and the recompute
/// kernels, <see cref="TradeStep"/>), the mean of the steps after the first when there were several (the first warms
/// up), over <see cref="MeasuredSteps"/> steps (0: nothing traded or nothing computed).
/// </summary>
public sealed record TradeReport(int Offloads, int Recomputes, int MeasuredSteps, double MeasuredOffloadMillis, double MeasuredRecomputeMillis)
{
    /// <summary>Copies and recompute kernels together, per step.</summary>
    public double MeasuredExtraMillis => MeasuredOffloadMillis + MeasuredRecomputeMillis;

    /// <summary>The report of <paramref name="planned"/> as <paramref name="tape"/> ran it.</summary>
    public static TradeReport Of(TradePlanning.Planned planned, Tape tape)
    {
        int recomputes = planned.Result.Choices.Count(c => c.Item2.IsRecompute);
        var steps = tape.Computes ? tape.TradeSteps.Skip(tape.TradeSteps.Count > 1 ? 1 : 0).ToArray() : Array.Empty<TradeStep>();
        return new(planned.Result.Choices.Length - recomputes, recomputes, steps.Length,
                   steps.Length == 0 ? 0 : steps.Average(s => s.OffloadMillis), steps.Length == 0 ? 0 : steps.Average(s => s.RecomputeMillis));
    }
}
