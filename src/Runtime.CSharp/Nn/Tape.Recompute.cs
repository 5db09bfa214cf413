using System.Diagnostics;
using Pgmo.Memory;

namespace Pgmo.Nn;

/// <summary>
/// Recompute in place (issue 17). A saved buffer C whose producing node is element by element (ReLU, batch norm in
/// training mode with the mean and inverse deviation it saved, a residual add, dropout with the mask it drew;
/// <see cref="Node.Elementwise"/>) can be written again into its own bytes when it comes back: walking back from C's
/// producer through such nodes whose input is no longer allocated, until every other input is a tensor still
/// allocated (a checkpoint: e.g. the convolution output batch norm keeps for its backward pass), the nodes rerun
/// innermost first, the first from the checkpoints into C, the others in place on C. No allocation happens, so the
/// trace of a step with recompute is the trace of a step with offload and the same away and back marks. Segments that
/// need a convolution, a pooling, a concatenation or a workspace, or that have two freed inputs at one node (the
/// projection shortcut's batch norm beside the body's), are not recomputable.
/// </summary>
public sealed partial class Tape
{
    // the recorded node that allocated each block of the iteration's recorded nodes' outputs (a reshape shares its
    // input's block and is not its producer)
    private readonly Dictionary<DeviceBlock, Node> producers = new(ReferenceEqualityComparer.Instance);

    /// <summary>The in-place recompute of <paramref name="target"/>: the nodes to rerun, innermost first, each with the
    /// index of its input that is the previous node's output (rerun into <paramref name="target"/>; -1 for the
    /// innermost), or null when the walk meets a node that is not element by element (or not recorded), or a node with
    /// more than one freed input. <paramref name="reads"/> receives the tensors the reruns read besides the target.</summary>
    private List<(Node Node, int FromTarget)>? Segment(DeviceBlock target, List<Tensor> reads)
    {
        var chain = new List<(Node, int)>();
        var block = target;
        while (true)
        {
            if (!producers.TryGetValue(block, out var node) || !node.Elementwise) return null;
            int freed = -1;
            for (int i = 0; i < node.Inputs.Length; i++)
            {
                var b = node.Inputs[i].Block;
                if (ReferenceEquals(b, target)) return null;
                if (b.Freed)
                {
                    if (freed >= 0) return null;
                    freed = i;
                }
            }
            chain.Add((node, freed));
            for (int i = 0; i < node.Inputs.Length; i++) if (i != freed) reads.Add(node.Inputs[i]);
            reads.AddRange(node.RerunReads);
            if (freed < 0) break;
            block = node.Inputs[freed].Block;
        }
        chain.Reverse();
        return chain;
    }

    /// <summary>How <paramref name="target"/> could be recomputed now: the trace buffers its segment reads and its
    /// element passes; null when it cannot be.</summary>
    private Recomputable? Observe(DeviceBlock target)
    {
        var reads = new List<Tensor>();
        if (Segment(target, reads) is not { } chain) return null;
        var needs = reads.Select(t => Allocator.TraceBuffer(t.Block)).Where(b => b >= 0).Distinct().Order().ToArray();
        return new Recomputable(needs, chain.Count);
    }

    /// <summary>Recomputes <paramref name="target"/> (just back) in place; throws when it cannot be recomputed or when
    /// a buffer its segment reads is away (the schedule broke the recompute rule).</summary>
    private void Recompute(DeviceBlock target)
    {
        var reads = new List<Tensor>();
        var chain = Segment(target, reads)
            ?? throw new InvalidOperationException($"the trade schedule recomputes block {target.Id} ({target.Tag}), which cannot be recomputed in place from the buffers allocated now");
        foreach (var t in reads)
            if (t.Block.IsAway)
                throw new InvalidOperationException($"recomputing block {target.Id} ({target.Tag}) reads block {t.Block.Id} ({t.Block.Tag}), which is away (offloaded or dropped) too");
        if (K is not { } k) return;
        using var _ = Time(OpKind.Recompute, OpPhase.Backward);
        Device.Synchronize();
        var clock = Stopwatch.StartNew();
        var y = chain[^1].Node.Output.View;
        foreach (var (node, from) in chain)
            node.Rerun(k, node.Inputs.Select((x, i) => i == from ? y : x.View).ToArray(), y);
        Device.Synchronize();
        step = step with { RecomputeMillis = step.RecomputeMillis + clock.Elapsed.TotalMilliseconds };
    }
}
