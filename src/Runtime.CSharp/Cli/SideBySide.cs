using Spectre.Console;
using Pgmo.Kernels;
using Pgmo.Memory;
using Pgmo.Profiling;
using Pgmo.Training;

namespace Pgmo.Cli;

/// <summary>One allocator in a side-by-side run: its batch (0: not even batch 1 fits the limit), peak reserved
/// bytes, steady-state iteration times (median and spread; null when it ran nothing) and throughput.</summary>
public sealed record AllocatorRun(AllocatorKind Allocator, int Batch, long PeakBytes, TimingSummary? Step)
{
    /// <summary>Median iteration time in milliseconds (null when it ran nothing).</summary>
    public double? StepMillis => Step?.MedianMillis;

    /// <summary>Samples per second at the median iteration time (0 when it ran nothing).</summary>
    public double SamplesPerSecond => StepMillis is double ms && Batch > 0 ? Batch * 1000.0 / ms : 0;
}

/// <summary>One workspace setting in a side-by-side run of the planned allocator: its name (a fixed bound, or auto),
/// batch, peak reserved bytes, plan peak and iteration times.</summary>
public sealed record WorkspaceRun(string Workspace, int Batch, long PeakBytes, long PlanPeakBytes, TimingSummary Step)
{
    /// <summary>Samples per second at the median iteration time.</summary>
    public double SamplesPerSecond => Batch * 1000.0 / Step.MedianMillis;
}

/// <summary>
/// What `train` and `infer` share on the command line: the memory limit a device works under, the largest batch under
/// it (<c>--batch max</c>), and the allocators run side by side (<c>--compare-allocators</c>). Each works on a run of
/// either kind through <see cref="RunOptions"/>.
/// </summary>
public static class SideBySide
{
    /// <summary>The allocators <c>--compare-allocators</c> runs: the pools and the plan.</summary>
    public static IReadOnlyList<AllocatorKind> Compared { get; } = [AllocatorKind.Pool, AllocatorKind.TorchPool, AllocatorKind.TorchExpandable, AllocatorKind.Planned];

    /// <summary>The limit a run on <paramref name="device"/> works under: the one given, else on CUDA the device's
    /// free memory, else none.</summary>
    public static long? Limit(long? given, Device device) =>
        given ?? (device.Accelerator is ILGPU.Runtime.Cuda.CudaAccelerator cuda ? cuda.GetFreeMemory() : null);

    /// <summary>
    /// The largest batch whose run fits the memory limit under <paramref name="options"/>' allocator: a search over dry
    /// runs through the allocator's own policy (<see cref="MaxBatch.Search"/>, the same as <c>pgmo max-batch</c>), then
    /// one real iteration on <paramref name="device"/> to confirm it; a batch the real iteration refuses is searched
    /// below by real iterations. <paramref name="evaluation"/>: the run ends with an evaluation (<see cref="MaxBatch.ForRun"/>).
    /// 0 when not even batch 1 fits; <paramref name="failure"/> is then the real iteration's error, if it had one.
    /// </summary>
    public static int LargestBatch(RunOptions options, bool evaluation, Device device, Dataset data, out OutOfDeviceMemoryException? failure, int cap = MaxBatch.DefaultCap)
    {
        OutOfDeviceMemoryException? last = null;
        int found = MaxBatch.Search(b => MaxBatch.FitsDryRun(options with { Batch = b }, evaluation),
            b => MaxBatch.FitsRealStep(options with { Batch = b }, device, data, e => last = e), cap,
            b => Console.Error.WriteLine($"  batch {b}: the real iteration did not fit on the device; searching below it by real iterations"));
        failure = found == 0 ? last : null;
        return found;
    }

    /// <summary>Each compared allocator's <see cref="LargestBatch"/> under the limit of <paramref name="options"/>.</summary>
    public static IReadOnlyDictionary<AllocatorKind, int> LargestBatches(RunOptions options, bool evaluation, Device device, Dataset data) =>
        Compared.ToDictionary(k => k, k => LargestBatch(options with { Allocator = k }, evaluation, device, data, out _));

    /// <summary>The one line a run prints when not even batch 1 fits <paramref name="limit"/> (it contains "out of
    /// memory"), naming the real iteration's error when there was one.</summary>
    public static string NothingFits(string command, RunOptions options, long limit, OutOfDeviceMemoryException? failure) =>
        $"pgmo {command}: out of memory: not even batch 1 of {options.Model} fits {Output.Bytes(limit)} under the {options.Allocator.Name()} allocator" +
        (failure is null ? "" : $" (its real iteration: {failure.Message})");

    /// <summary>
    /// Pool, torch-pool, torch-expandable and planned side by side in one process on one device, each under the same memory limit and at
    /// its batch in <paramref name="batches"/> (each allocator's largest under the limit, <see cref="LargestBatches"/>)
    /// or, when that is null, at the run's batch: one session each with the same seed,
    /// warmed up (the planned one plans and replays), then <c>min(steps, 20)</c> iterations each, interleaved in
    /// rotating order so that all see the same machine load. Reports median iteration times, samples per second and
    /// each session's peak; an allocator that fits no batch is reported with batch 0.
    /// </summary>
    public static IReadOnlyList<AllocatorRun> CompareAllocators(RunOptions options, IReadOnlyDictionary<AllocatorKind, int>? batches, int steps, Device device, Dataset data, int warmup = 2)
    {
        batches ??= Compared.ToDictionary(k => k, _ => options.Batch);
        var kinds = Compared.Where(k => batches[k] > 0).ToList();
        var sessions = new List<Session>();
        try
        {
            foreach (var k in kinds)
                sessions.Add((options with { Allocator = k, Batch = batches[k], Planned = options.Planned with { OnLog = null } }).Open(device));
            Console.Error.WriteLine($"comparing allocators: {Math.Min(steps, MaxSteps)} iterations each, {string.Join(", ", Compared.Select(k => $"{k.Name()} at batch {batches[k]}"))}, interleaved");
            var times = Interleave(sessions, steps, device, data, warmup);
            return Compared.Select(k => kinds.IndexOf(k) is int i and >= 0
                ? new AllocatorRun(k, batches[k], sessions[i].Allocator.PeakReservedBytes, times[i])
                : new AllocatorRun(k, 0, 0, null)).ToList();
        }
        finally
        {
            foreach (var s in sessions) s.Dispose();
        }
    }

    /// <summary>The most timed iterations of each session in a side-by-side run.</summary>
    public const int MaxSteps = 20;

    /// <summary>
    /// Times <paramref name="sessions"/> side by side on <paramref name="device"/>: <paramref name="warmup"/> iterations
    /// each, then <c>min(steps, MaxSteps)</c> each, interleaved in rotating order so that all see the same machine load,
    /// over the first samples of <paramref name="data"/> (repeated as needed) at each session's batch.
    /// </summary>
    static IReadOnlyList<TimingSummary> Interleave(IReadOnlyList<Session> sessions, int steps, Device device, Dataset data, int warmup)
    {
        var inputs = sessions.Select(s =>
        {
            int b = s.RunOptions.Batch;
            return (Xs: Enumerable.Range(0, b).Select(i => data.Samples[i % data.Count]).ToArray(), Ys: Enumerable.Range(0, b).Select(i => data.Labels[i % data.Count]).ToArray());
        }).ToList();
        for (int w = 0; w < warmup; w++)
            for (int k = 0; k < sessions.Count; k++) sessions[k].Iterate(inputs[k].Xs, inputs[k].Ys);
        steps = Math.Min(steps, MaxSteps);
        var times = sessions.Select(_ => new List<double>()).ToList();
        for (int i = 0; i < steps; i++)
            for (int j = 0; j < sessions.Count; j++)
            {
                int k = (i + j) % sessions.Count;
                var clock = System.Diagnostics.Stopwatch.StartNew();
                sessions[k].Iterate(inputs[k].Xs, inputs[k].Ys);
                device.Synchronize();
                times[k].Add(clock.Elapsed.TotalMilliseconds);
            }
        return times.Select(t => Timing.Summarize(t)).ToList();
    }

    /// <summary>
    /// The planned allocator with the fixed workspace bound of <paramref name="options"/> and with its workspaces grown
    /// from it (<c>--conv-workspace auto</c>), side by side at the run's batch as <see cref="CompareAllocators"/> runs
    /// them: peak reserved bytes (the same: the growth keeps the plan's peak) and iteration times.
    /// </summary>
    public static IReadOnlyList<WorkspaceRun> CompareWorkspaces(RunOptions options, int steps, Device device, Dataset data, int warmup = 2)
    {
        var settings = new[] { false, true };
        var sessions = new List<Session>();
        try
        {
            foreach (var grow in settings)
                sessions.Add((options with { Allocator = AllocatorKind.Planned, GrowConvWorkspaces = grow, Planned = options.Planned with { OnLog = null, PlanFrom = PlanSource.DryRun } }).Open(device));
            string fixedBound = Output.Bytes(options.ConvWorkspaceBytes);
            Console.Error.WriteLine($"comparing convolution workspaces: {Math.Min(steps, MaxSteps)} iterations each, planned at batch {options.Batch} with {fixedBound} and with auto, interleaved");
            var times = Interleave(sessions, steps, device, data, warmup);
            return settings.Select((grow, i) => new WorkspaceRun(grow ? "auto" : fixedBound, options.Batch, sessions[i].Allocator.PeakReservedBytes,
                sessions[i].Allocator.Report().FirstPlan?.PlanPeakBytes ?? 0, times[i])).ToList();
        }
        finally
        {
            foreach (var s in sessions) s.Dispose();
        }
    }

    /// <summary>The workspace table: batch, peaks, iteration time, samples/s, and each against the fixed bound.</summary>
    public static Table WorkspaceTable(IReadOnlyList<WorkspaceRun> runs, string step = "step")
    {
        string time = $"{step} (median ±half IQR)";
        string[] columns = ["conv workspace", "batch", "plan peak", "peak (reserved)", time, "samples/s", $"vs {runs[0].Workspace}"];
        var table = Output.Table(columns, new HashSet<string>(columns.Skip(1)));
        table.Title = new TableTitle("convolution workspaces side by side (planned allocator)");
        foreach (var r in runs)
            table.AddRow(r.Workspace, r.Batch.ToString(System.Globalization.CultureInfo.InvariantCulture), Output.Bytes(r.PlanPeakBytes), Output.Bytes(r.PeakBytes), r.Step.ToString(),
                $"{r.SamplesPerSecond:0.0}", $"x{r.SamplesPerSecond / runs[0].SamplesPerSecond:0.00}");
        return table;
    }

    /// <summary>The report of one run, a table of figures and values, beginning with the accelerator, the allocator, the
    /// memory limit and the batch (<paramref name="max"/>: the largest that fits).</summary>
    public static Table RunTable(string title, string accelerator, string allocator, long? limit, int batch, bool max)
    {
        var table = new Table { Border = TableBorder.Simple, Title = new TableTitle(title) };
        table.AddColumn("figure");
        table.AddColumn(new TableColumn("value").RightAligned());
        table.AddRow("accelerator", accelerator);
        table.AddRow("allocator", allocator);
        table.AddRow("memory limit", limit is long m ? Output.Bytes(m) : "none");
        table.AddRow(max ? "batch (largest that fits)" : "batch", batch.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return table;
    }

    /// <summary>The side-by-side table: batch, peak, iteration time (<paramref name="step"/> names it), samples/s, and
    /// each against every pool.</summary>
    public static Table ComparisonTable(IReadOnlyList<AllocatorRun> runs, long? limit, string step = "step")
    {
        var pools = runs.Where(r => r.Allocator.Policy() is not null).ToList();
        string time = $"{step} (median ±half IQR)";
        var against = pools.Select(p => "vs " + p.Allocator.Name()).ToList();
        var table = Output.Table(new[] { "allocator", "batch", "peak (reserved)", time, "samples/s" }.Concat(against),
            new HashSet<string>(new[] { "batch", "peak (reserved)", time, "samples/s" }.Concat(against)));
        table.Title = new TableTitle("allocators side by side" + (limit is long l ? $" within {Output.Bytes(l)}" : ""));
        foreach (var r in runs)
            table.AddRow(new[] { r.Allocator.Name(), r.Batch.ToString(System.Globalization.CultureInfo.InvariantCulture), Output.Bytes(r.PeakBytes), r.Step?.ToString() ?? "-", $"{r.SamplesPerSecond:0.0}" }
                .Concat(pools.Select(p => Ratio(r.SamplesPerSecond, p.SamplesPerSecond))).ToArray());
        return table;

        static string Ratio(double x, double baseline) => baseline > 0 ? $"x{x / baseline:0.00}" : "-";
    }
}
