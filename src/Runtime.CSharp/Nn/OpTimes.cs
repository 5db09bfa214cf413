using System.Diagnostics;

namespace Pgmo.Nn;

/// <summary>The names of the op kinds <see cref="OpTimes"/> reports: one per tape operation, plus the work around them.</summary>
public static class OpKind
{
    public const string Conv = "conv2d";
    public const string Linear = "linear";
    public const string BatchNorm = "batch-norm";
    public const string Relu = "relu";
    public const string MaxPool = "max-pool";
    public const string AvgPool = "avg-pool";
    public const string AdaptivePool = "adaptive-avg-pool";
    public const string Dropout = "dropout";
    public const string Add = "add";
    public const string Concat = "concat";
    public const string Reshape = "flatten";
    public const string Loss = "softmax-cross-entropy";
    /// <summary>Summing the gradients of a tensor used twice (backward only).</summary>
    public const string GradAccumulate = "grad-accumulate";
    /// <summary>Copying inputs to the device and results back.</summary>
    public const string Transfer = "upload/download";
    /// <summary>The optimizer's update of every parameter.</summary>
    public const string Optimizer = "sgd";
    /// <summary>Rerunning the element-by-element ops of a buffer dropped for recomputation (<c>--trade</c>; backward).</summary>
    public const string Recompute = "recompute";
}

/// <summary>The part of a step an op's time belongs to.</summary>
public enum OpPhase
{
    /// <summary>The forward pass (also an inference step).</summary>
    Forward,
    /// <summary>The backward pass.</summary>
    Backward,
    /// <summary>Neither: transfers and the optimizer update.</summary>
    Other,
}

/// <summary>The time of one op kind per step, averaged over the measured steps: its calls (forward calls, or backward
/// calls for a backward-only kind), its milliseconds in each phase, and <see cref="Share"/>, its fraction of the step.</summary>
public sealed record OpTimeRow(string Kind, double Calls, double ForwardMillis, double BackwardMillis, double OtherMillis, double Share)
{
    /// <summary>Forward, backward and other time together.</summary>
    public double TotalMillis => ForwardMillis + BackwardMillis + OtherMillis;

    /// <summary>Floating-point operations of the GEMMs per step (convolutions and fully connected layers; 0 for the others).</summary>
    public double Flop { get; init; }

    /// <summary>GFLOP/s of the kind's GEMM work over its whole time (null for kinds without GEMMs).</summary>
    public double? Gflops => Flop > 0 && TotalMillis > 0 ? Flop / (TotalMillis * 1e6) : null;
}

/// <summary>
/// Where a step's time goes: wall-clock time per op kind and phase, summed over steps. A tape with
/// <see cref="Tape.OpTimes"/> set opens a scope around every op it runs (forward, and each node's backward); a scope
/// synchronizes the device when it opens and closes, so queued GPU work is charged to the op that launched it (this
/// adds one synchronization per op; without <see cref="OpTimes"/> nothing is timed or synchronized). Scopes do not
/// nest: an op inside another op's scope is charged to the outer one. Steps are delimited by
/// <see cref="BeginStep"/> and <see cref="EndStep"/> (the trainer calls them; an inference loop calls them around
/// each batch), and only ops inside a step are counted (not, say, the evaluation after training); the first
/// <see cref="WarmupSteps"/> steps are not counted. Time inside a step but outside every op
/// (module code, the allocator, the tape's bookkeeping) appears as the difference between the step and the rows.
/// </summary>
public sealed class OpTimes
{
    private readonly Action synchronize;
    private readonly Dictionary<string, Entry> entries = new();
    private readonly List<string> order = new();
    private readonly Dictionary<(string Op, string Part), Entry> parts = new();
    private readonly List<(string Op, string Part)> partOrder = new();
    private string? openKind;
    private OpPhase openPhase;
    private readonly Stopwatch stepClock = new();
    private int depth;
    private int seen;
    private bool inStep;

    private sealed class Entry
    {
        public readonly long[] Calls = new long[3];
        public readonly long[] Ticks = new long[3];
        public double Flop;
    }

    /// <summary>Op times on a device whose queued work <paramref name="synchronize"/> waits for.</summary>
    public OpTimes(Action synchronize) => this.synchronize = synchronize;

    /// <summary>Steps at the start that are not counted (kernel compilation, planning, first touches of memory).</summary>
    public int WarmupSteps { get; init; }

    /// <summary>Steps measured so far (after the warm-up).</summary>
    public int Steps { get; private set; }

    /// <summary>Wall-clock milliseconds of the measured steps, in total.</summary>
    public double StepMillis => stepMillis;
    private double stepMillis;

    /// <summary>Forgets every measurement (the warm-up count starts again).</summary>
    public void Reset()
    {
        Forget();
        Steps = 0;
        seen = 0;
        stepMillis = 0;
        stepTimes.Clear();
    }

    /// <summary>Marks the start of a step.</summary>
    public void BeginStep()
    {
        synchronize();
        inStep = true;
        stepClock.Restart();
    }

    /// <summary>Marks the end of a step: it is counted, or dropped with what its ops took while in the warm-up.</summary>
    public void EndStep()
    {
        synchronize();
        stepClock.Stop();
        inStep = false;
        if (++seen <= WarmupSteps)
        {
            Forget();
            return;
        }
        Steps++;
        stepMillis += stepClock.Elapsed.TotalMilliseconds;
        stepTimes.Add(stepClock.Elapsed.TotalMilliseconds);
    }

    private void Forget()
    {
        entries.Clear();
        order.Clear();
        parts.Clear();
        partOrder.Clear();
    }

    /// <summary>The wall-clock milliseconds of each measured step.</summary>
    public IReadOnlyList<double> StepTimes => stepTimes;
    private readonly List<double> stepTimes = new();

    /// <summary>The median measured step in milliseconds (0 before the first measured step).</summary>
    public double MedianStepMillis
    {
        get
        {
            if (stepTimes.Count == 0) return 0;
            var s = stepTimes.Order().ToArray();
            return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
        }
    }

    /// <summary>Opens the scope of one op of <paramref name="kind"/> in <paramref name="phase"/> doing
    /// <paramref name="flop"/> floating-point operations in GEMMs (dispose it to close).</summary>
    public Scope Time(string kind, OpPhase phase, double flop = 0)
    {
        if (depth++ > 0 || !inStep) return new Scope(this, null, phase, 0, 0, part: false);
        synchronize();
        (openKind, openPhase) = (kind, phase);
        return new Scope(this, kind, phase, Stopwatch.GetTimestamp(), flop, part: false);
    }

    /// <summary>Opens the scope of one part of the op now open (e.g. a convolution's im2col or GEMM): its time is
    /// reported under the op as well as in it (<see cref="PartRows"/>). A no-op outside an op.</summary>
    public Scope Part(string name)
    {
        if (depth != 1 || openKind is null) return default;
        synchronize();
        return new Scope(this, name, openPhase, Stopwatch.GetTimestamp(), 0, part: true);
    }

    private void Close(string? kind, OpPhase phase, long start, double flop, bool part)
    {
        if (!part) depth--;
        if (kind is null) return;
        synchronize();
        long ticks = Stopwatch.GetTimestamp() - start;
        Entry? e;
        if (part)
        {
            var key = (openKind!, kind);
            if (!parts.TryGetValue(key, out e))
            {
                parts[key] = e = new Entry();
                partOrder.Add(key);
            }
        }
        else
        {
            openKind = null;
            if (!entries.TryGetValue(kind, out e))
            {
                entries[kind] = e = new Entry();
                order.Add(kind);
            }
        }
        e.Ticks[(int)phase] += ticks;
        e.Calls[(int)phase]++;
        e.Flop += flop;
    }

    /// <summary>One row per op kind seen, largest total first, each averaged per measured step; shares are of the
    /// mean step.</summary>
    public IReadOnlyList<OpTimeRow> Rows()
    {
        double per = Math.Max(1, Steps);
        double step = MeanStepMillis;
        return order.Select(k => Row(k, entries[k], per, step)).OrderByDescending(r => r.TotalMillis).ToList();
    }

    /// <summary>The parts of each op (<see cref="Part"/>) as rows named "op: part", averaged per measured step as
    /// <see cref="Rows"/>, in the order they first ran.</summary>
    public IReadOnlyList<OpTimeRow> PartRows()
    {
        double per = Math.Max(1, Steps);
        double step = MeanStepMillis;
        return partOrder.Select(k => Row($"{k.Op}: {k.Part}", parts[k], per, step)).ToList();
    }

    private static OpTimeRow Row(string name, Entry e, double per, double step)
    {
        double Ms(OpPhase p) => e.Ticks[(int)p] * 1000.0 / Stopwatch.Frequency / per;
        double total = Ms(OpPhase.Forward) + Ms(OpPhase.Backward) + Ms(OpPhase.Other);
        long calls = e.Calls[(int)OpPhase.Forward] + e.Calls[(int)OpPhase.Other];
        return new OpTimeRow(name, (calls > 0 ? calls : e.Calls[(int)OpPhase.Backward]) / per, Ms(OpPhase.Forward), Ms(OpPhase.Backward), Ms(OpPhase.Other), step > 0 ? total / step : 0) { Flop = e.Flop / per };
    }

    /// <summary>The mean measured step in milliseconds (0 before the first measured step).</summary>
    public double MeanStepMillis => Steps > 0 ? stepMillis / Steps : 0;

    /// <summary>The time of an open op; closing it adds the time since it opened to its kind and phase.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly OpTimes? owner;
        private readonly string? kind;
        private readonly OpPhase phase;
        private readonly long start;
        private readonly double flop;
        private readonly bool part;

        internal Scope(OpTimes owner, string? kind, OpPhase phase, long start, double flop, bool part)
        {
            this.owner = owner; this.kind = kind; this.phase = phase; this.start = start; this.flop = flop; this.part = part;
        }

        public void Dispose() => owner?.Close(kind, phase, start, flop, part);
    }
}
