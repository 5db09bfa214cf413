using ILGPU.Runtime;
using Pgmo.Memory;

namespace Pgmo.Nn;

/// <summary>
/// The idle window of one buffer saved for backward, as an iteration saw it: <see cref="Buffer"/> (its index in the
/// iteration's trace) was last read in forward by recorded node <see cref="Node"/>, after which the trace had
/// <see cref="Away"/> events, and was first read in backward when it had <see cref="Back"/> events (the mark steps of
/// <see cref="Pgmo.Planner.TraceMark"/>).
/// </summary>
public readonly record struct SavedWindow(int Buffer, int Node, int Away, int Back);

/// <summary>
/// Offload through the tape (issue 17). Observing (<see cref="ObserveSaved"/>), an iteration notes each saved
/// buffer's idle window. Offloading (<see cref="OffloadAfter"/>), right after node k is recorded the tape copies each
/// buffer the schedule names for k to a host array (not device memory, so not counted against the limit) and tells
/// the allocator it is away; before a node runs backward, each of its tensors that is away comes back: the allocator
/// is told (the planned allocator's arena serves the buffer at its planned offset again) and the host copy is written
/// back. A tensor read while away throws (<see cref="DeviceBlock.View{T}"/>): the debug check that no offloaded buffer
/// is read before it is back.
/// </summary>
public sealed partial class Tape
{
    private readonly Dictionary<DeviceBlock, byte[]?> away = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<int, (int Node, int Away)> lastForward = new();
    private readonly HashSet<int> unobservable = new();
    private readonly Dictionary<int, int> firstBackward = new();

    /// <summary>When true, each training iteration notes the idle windows of the buffers recorded nodes read
    /// (<see cref="SavedWindows"/>). Needs a recording allocator.</summary>
    public bool ObserveSaved { get; set; }

    /// <summary>The offload schedule: by recorded node index, the trace buffers to send to the host right after that
    /// node (their last forward use); null: none. Needs a recording allocator (the planned one records).</summary>
    public IReadOnlyDictionary<int, int[]>? OffloadAfter { get; set; }

    /// <summary>Buffers sent to the host and bytes copied each way in the last iteration.</summary>
    public int Offloaded { get; private set; }
    /// <summary>Bytes copied to the host (and back) in the last iteration.</summary>
    public long OffloadedBytes { get; private set; }

    /// <summary>The idle windows the last observed iteration saw: buffers read by a recorded node in forward and
    /// again in backward, with their last forward read before their first backward read.</summary>
    public IReadOnlyList<SavedWindow> SavedWindows { get; private set; } = Array.Empty<SavedWindow>();

    /// <summary>Starts an iteration's offload bookkeeping.</summary>
    private void BeginOffload()
    {
        away.Clear(); lastForward.Clear(); unobservable.Clear(); firstBackward.Clear();
        Offloaded = 0; OffloadedBytes = 0;
    }

    /// <summary>Ends it: notes the windows seen; a buffer still away (freed while away) is forgotten.</summary>
    private void EndOffload()
    {
        if (ObserveSaved)
            SavedWindows = lastForward
                .Where(p => !unobservable.Contains(p.Key) && firstBackward.TryGetValue(p.Key, out int back) && back > p.Value.Away)
                .Select(p => new SavedWindow(p.Key, p.Value.Node, p.Value.Away, firstBackward[p.Key]))
                .OrderBy(w => w.Buffer).ToArray();
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
        if (index < 0 || OffloadAfter is null || !OffloadAfter.TryGetValue(index, out var buffers)) return;
        foreach (int b in buffers)
        {
            var t = node.Inputs.FirstOrDefault(i => Allocator.TraceBuffer(i.Block) == b)
                ?? throw new InvalidOperationException($"the offload schedule names buffer {b} after node {index} ({node.Kind}), which that node does not read");
            if (away.ContainsKey(t.Block)) continue;
            byte[]? host = null;
            if (Computes)
            {
                using var _ = Time(OpKind.Transfer, OpPhase.Other);
                host = new byte[t.Block.Requested];
                t.Block.View<byte>(host.Length).CopyToCPU(host);
            }
            Allocator.Away(t.Block);
            away[t.Block] = host;
            Offloaded++;
            OffloadedBytes += t.Block.Requested;
        }
    }

    /// <summary>Before <paramref name="node"/> runs backward: brings back each of its tensors that is away, and notes
    /// first backward reads.</summary>
    private void BeforeBackward(Node node)
    {
        foreach (var t in node.Inputs.Append(node.Output))
        {
            if (ObserveSaved)
            {
                int b = Allocator.TraceBuffer(t.Block);
                if (b >= 0 && !firstBackward.ContainsKey(b)) firstBackward[b] = Allocator.TraceStep;
            }
            if (!away.Remove(t.Block, out var host)) continue;
            Allocator.Back(t.Block);
            if (host is not null)
            {
                using var _ = Time(OpKind.Transfer, OpPhase.Other);
                t.Block.View<byte>(host.Length).CopyFromCPU(host);
            }
        }
    }
}
