using System.Diagnostics;
using Pgmo.Memory;

namespace Pgmo.Nn;

/// <summary>
/// The idle window of one buffer saved for backward, as an iteration saw it: <see cref="Buffer"/> (its index in the
/// iteration's trace) was last read in forward by recorded node <see cref="Node"/>, after which the trace had
/// <see cref="Away"/> events, and was first read in backward when it had <see cref="Back"/> events (the mark steps of
/// <see cref="Pgmo.Planner.TraceMark"/>). <see cref="Recompute"/>: how it could be recomputed at its first backward
/// read, or null when it cannot be.
/// </summary>
public readonly record struct SavedWindow(int Buffer, int Node, int Away, int Back, Recomputable? Recompute = null);

/// <summary>
/// How a saved buffer can be recomputed in place at its first backward read (<see cref="Tape"/>'s recompute): from
/// the trace buffers <see cref="Needs"/> (its checkpoints, alive then; parameters included) in <see cref="Passes"/>
/// element-by-element kernels over its own bytes.
/// </summary>
public sealed record Recomputable(int[] Needs, int Passes);

/// <summary>One entry of a trade schedule: trace buffer <see cref="Buffer"/> goes away after its last forward read,
/// offloaded to the host, or (<see cref="Recompute"/>) dropped and recomputed when it comes back.</summary>
public readonly record struct ScheduledAway(int Buffer, bool Recompute);

/// <summary>What the trades of one iteration did and cost: buffers and bytes offloaded and recomputed, and the
/// milliseconds spent issuing the copies (both ways: on the CPU accelerator the copies themselves, on CUDA only
/// their issue, as they run asynchronously) and in the recompute kernels (stopwatch, the device synchronized around
/// each).</summary>
public readonly record struct TradeStep(int Offloaded, long OffloadedBytes, double OffloadMillis, int Recomputed, long RecomputedBytes, double RecomputeMillis)
{
    /// <summary>The measured extra time of the step: copies and recompute kernels.</summary>
    public double ExtraMillis => OffloadMillis + RecomputeMillis;
}

/// <summary>
/// Offload and recompute through the tape (issue 17). Observing (<see cref="ObserveSaved"/>), an iteration notes each
/// saved buffer's idle window and, at its first backward read, whether it can be recomputed in place and from what.
/// Trading (<see cref="AwayAfter"/>), right after node k is recorded the tape sends away each buffer the schedule names
/// for k: an offloaded one is copied to a page-locked host array (<see cref="OffloadCopies"/>: not device memory, so
/// not counted against the limit; one array per scheduled buffer, reused from step to step; the copy on a stream of its
/// own, which blocks placed over the buffer's bytes wait for), a recomputed one is dropped; either way the allocator is told it is away (the planned allocator's arena may give its
/// bytes to others). Before a node runs backward, each of its tensors that is away comes back: the allocator is told
/// (the arena serves the buffer at its planned offset again), every offloaded one is written back from its host copy,
/// and then every recomputed one is rerun in place (<see cref="Recompute"/>), reading only buffers that stayed. A
/// tensor read while away throws (<see cref="DeviceBlock.View{T}"/>), and so does a recompute whose inputs are away:
/// the debug check that no traded buffer is read before it is back.
/// </summary>
public sealed partial class Tape : IDisposable
{
    private readonly Dictionary<DeviceBlock, (int Buffer, bool Recompute)> away = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<int, (int Node, int Away)> lastForward = new();
    private readonly HashSet<int> unobservable = new();
    private readonly Dictionary<int, int> firstBackward = new();
    private readonly Dictionary<int, Recomputable> recomputable = new();
    private readonly List<TradeStep> tradeSteps = new();
    // the host copies of offloaded buffers and their copy stream, made at the first offload and kept from step to step
    private OffloadCopies? copies;
    private TradeStep step;

    /// <summary>Where offloaded buffers go (page-locked host arrays and a copy stream), or null until the first offload
    /// (or on a shapes-only device).</summary>
    public OffloadCopies? Copies => copies;

    /// <summary>When true, each training iteration notes the idle windows of the buffers recorded nodes read
    /// (<see cref="SavedWindows"/>). Needs a recording allocator.</summary>
    public bool ObserveSaved { get; set; }

    /// <summary>The trade schedule: by recorded node index, the trace buffers to send away right after that node
    /// (their last forward read), each offloaded or recomputed; null: none. Needs a recording allocator (the planned
    /// one records).</summary>
    public IReadOnlyDictionary<int, ScheduledAway[]>? AwayAfter { get; set; }

    /// <summary>Buffers sent to the host in the last iteration.</summary>
    public int Offloaded => step.Offloaded;
    /// <summary>Bytes copied to the host (and back) in the last iteration.</summary>
    public long OffloadedBytes => step.OffloadedBytes;
    /// <summary>Buffers dropped and recomputed in the last iteration.</summary>
    public int Recomputed => step.Recomputed;
    /// <summary>Bytes recomputed in the last iteration.</summary>
    public long RecomputedBytes => step.RecomputedBytes;

    /// <summary>What the trades did in each iteration that traded anything, in order.</summary>
    public IReadOnlyList<TradeStep> TradeSteps => tradeSteps;

    /// <summary>The idle windows the last observed iteration saw: buffers read by a recorded node in forward and
    /// again in backward, with their last forward read before their first backward read.</summary>
    public IReadOnlyList<SavedWindow> SavedWindows { get; private set; } = Array.Empty<SavedWindow>();

    /// <summary>Gives back the offload copies' host arrays and copy stream, once the device has finished with them.
    /// The tape holds nothing else of its own: its tensors' bytes belong to the allocator.</summary>
    public void Dispose()
    {
        copies?.Dispose();
        copies = null;
    }

    /// <summary>Starts an iteration's trade bookkeeping.</summary>
    private void BeginTrades()
    {
        away.Clear(); lastForward.Clear(); unobservable.Clear(); firstBackward.Clear(); recomputable.Clear(); producers.Clear();
        step = default;
    }

    /// <summary>Ends it: notes the windows seen and what the trades did; a buffer still away (freed while away) is
    /// forgotten.</summary>
    private void EndTrades()
    {
        if (ObserveSaved)
            SavedWindows = lastForward
                .Where(p => !unobservable.Contains(p.Key) && firstBackward.TryGetValue(p.Key, out int back) && back > p.Value.Away)
                .Select(p => new SavedWindow(p.Key, p.Value.Node, p.Value.Away, firstBackward[p.Key], recomputable.GetValueOrDefault(p.Key)))
                .OrderBy(w => w.Buffer).ToArray();
        copies?.Settle();
        if (step.Offloaded + step.Recomputed > 0) tradeSteps.Add(step);
        away.Clear();
    }

    /// <summary>Node <paramref name="index"/> was just recorded (or, when <paramref name="index"/> is -1, an op ran
    /// unrecorded): notes its inputs' last forward reads and sends away what the schedule names.</summary>
    private void AfterForward(Node node, int index)
    {
        if (ObserveSaved)
            foreach (var t in node.Inputs)
            {
                int b = Allocator.TraceBuffer(t.Block);
                if (b < 0) continue;
                if (index < 0) unobservable.Add(b);
                else lastForward[b] = (index, Allocator.TraceStep);
            }
        if (index < 0 || AwayAfter is null || !AwayAfter.TryGetValue(index, out var buffers)) return;
        foreach (var (b, recompute) in buffers)
        {
            var t = node.Inputs.FirstOrDefault(i => Allocator.TraceBuffer(i.Block) == b)
                ?? throw new InvalidOperationException($"the trade schedule names buffer {b} after node {index} ({node.Kind}), which that node does not read");
            if (away.ContainsKey(t.Block)) continue;
            if (recompute)
            {
                step = step with { Recomputed = step.Recomputed + 1, RecomputedBytes = step.RecomputedBytes + t.Block.Requested };
            }
            else
            {
                if (Device.Accelerator is { } acc)
                {
                    using var _ = Time(OpKind.Transfer, OpPhase.Other);
                    var clock = Stopwatch.StartNew();
                    (copies ??= new OffloadCopies(acc)).Out(b, t.Block);
                    step = step with { OffloadMillis = step.OffloadMillis + clock.Elapsed.TotalMilliseconds };
                }
                step = step with { Offloaded = step.Offloaded + 1, OffloadedBytes = step.OffloadedBytes + t.Block.Requested };
            }
            Allocator.Away(t.Block);
            away[t.Block] = (b, recompute);
        }
    }

    /// <summary>Before <paramref name="node"/> runs backward: brings back each of its tensors that is away (first
    /// the offloaded ones' copies, then the recomputed ones, which read only buffers that stayed), and notes first
    /// backward reads and how each could be recomputed there.</summary>
    private void BeforeBackward(Node node)
    {
        List<Tensor>? rerun = null;
        foreach (var t in node.Inputs.Append(node.Output))
        {
            if (ObserveSaved)
            {
                // a freed tensor (a node's input it did not keep) is not read
                int b = t.Block.Freed ? -1 : Allocator.TraceBuffer(t.Block);
                if (b >= 0 && !firstBackward.ContainsKey(b))
                {
                    firstBackward[b] = Allocator.TraceStep;
                    if (Observe(t.Block) is { } r) recomputable[b] = r;
                }
            }
            if (!away.Remove(t.Block, out var state)) continue;
            Allocator.Back(t.Block);
            copies?.BeforeWrite(t.Block);
            if (state.Recompute) (rerun ??= new()).Add(t);
            else if (copies is not null)
            {
                using var _ = Time(OpKind.Transfer, OpPhase.Other);
                var clock = Stopwatch.StartNew();
                copies.In(state.Buffer, t.Block);
                step = step with { OffloadMillis = step.OffloadMillis + clock.Elapsed.TotalMilliseconds };
            }
        }
        if (rerun is not null)
            foreach (var t in rerun) Recompute(t.Block);
    }
}
