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
    private readonly Stopwatch stepClock = new();
    private int depth;
    private int seen;
    private bool inStep;

    private sealed class Entry
    {
        public readonly long[] Calls = new long[3];
        public readonly long[] Ticks = new long[3];
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
        entries.Clear();
        order.Clear();
        Steps = 0;
        seen = 0;
        stepMillis = 0;
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
            entries.Clear();
            order.Clear();
            return;
        }
        Steps++;
        stepMillis += stepClock.Elapsed.TotalMilliseconds;
    }

    /// <summary>Opens the scope of one op of <paramref name="kind"/> in <paramref name="phase"/> (dispose it to close).</summary>
    public Scope Time(string kind, OpPhase phase)
    {
        if (depth++ > 0 || !inStep) return new Scope(this, null, phase, 0);
        synchronize();
        return new Scope(this, kind, phase, Stopwatch.GetTimestamp());
    }

    private void Close(string? kind, OpPhase phase, long start)
    {
        depth--;
        if (kind is null) return;
        synchronize();
        long ticks = Stopwatch.GetTimestamp() - start;
        if (!entries.TryGetValue(kind, out var e))
        {
            entries[kind] = e = new Entry();
            order.Add(kind);
        }
        e.Ticks[(int)phase] += ticks;
        e.Calls[(int)phase]++;
    }

    /// <summary>One row per op kind seen, largest total first, each averaged per measured step; shares are of the
    /// mean step.</summary>
    public IReadOnlyList<OpTimeRow> Rows()
    {
        double per = Math.Max(1, Steps);
        double step = MeanStepMillis;
        return order.Select(k =>
            {
                var e = entries[k];
                double Ms(OpPhase p) => e.Ticks[(int)p] * 1000.0 / Stopwatch.Frequency / per;
                double total = Ms(OpPhase.Forward) + Ms(OpPhase.Backward) + Ms(OpPhase.Other);
                long calls = e.Calls[(int)OpPhase.Forward] + e.Calls[(int)OpPhase.Other];
                return new OpTimeRow(k, (calls > 0 ? calls : e.Calls[(int)OpPhase.Backward]) / per, Ms(OpPhase.Forward), Ms(OpPhase.Backward), Ms(OpPhase.Other), step > 0 ? total / step : 0);
            })
            .OrderByDescending(r => r.TotalMillis).ToList();
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

        internal Scope(OpTimes owner, string? kind, OpPhase phase, long start) { this.owner = owner; this.kind = kind; this.phase = phase; this.start = start; }

        public void Dispose() => owner?.Close(kind, phase, start);
    }
}
