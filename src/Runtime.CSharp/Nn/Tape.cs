using Pgmo.Kernels;
using Pgmo.Memory;

namespace Pgmo.Nn;

/// <summary>One recorded operation: its output, its inputs, and how to push the output's gradient back.</summary>
internal abstract class Node
{
    public required Tensor Output;
    public required Tensor[] Inputs;

    /// <summary>Gradients for the inputs (null where not needed), from the output's gradient (consumed).</summary>
    public abstract Tensor?[] Backward(Tape tape, Tensor gy);

    /// <summary>Releases the tensors kept for the backward pass.</summary>
    public abstract void ReleaseSaved();

    /// <summary>The op kind this node's backward pass is timed as (<see cref="OpKind"/>).</summary>
    public abstract string Kind { get; }

    /// <summary>Floating-point operations of the backward pass's GEMMs (the gradients the inputs need).</summary>
    public virtual double BackwardFlop => 0;

    /// <summary>True when the output is an element-by-element function of the inputs of its length and of what the
    /// node saved, so that <see cref="Rerun"/> can write it again in place (recompute, <see cref="Tape"/>'s trades).</summary>
    public virtual bool Elementwise => false;

    /// <summary>The tensors besides <see cref="Inputs"/> that <see cref="Rerun"/> reads (saved statistics, a mask).</summary>
    public virtual IEnumerable<Tensor> RerunReads => Array.Empty<Tensor>();

    /// <summary>Writes the output's values into <paramref name="y"/> again from <paramref name="inputs"/> (the inputs'
    /// views, in order; any of them may be <paramref name="y"/> itself: the kernels are element by element), with the
    /// same kernel as the forward pass, so the same floats. Only for <see cref="Elementwise"/> nodes.</summary>
    public virtual void Rerun(KernelCache k, ArrayView<float>[] inputs, ArrayView<float> y) =>
        throw new NotSupportedException($"{Kind} cannot be rerun element by element");
}

/// <summary>
/// The autograd tape: allocates tensors from the allocator, records operations while <see cref="Recording"/>, and
/// runs the backward pass in reverse with reference counting, so every intermediate and gradient goes back to the
/// allocator at its last use (as Chainer does). On a shapes-only device the same calls happen but no kernel runs.
/// </summary>
public sealed partial class Tape
{
    private readonly List<Node> nodes = new();
    private int serial;

    /// <summary>A tape on <paramref name="device"/> taking memory from <paramref name="allocator"/>.</summary>
    public Tape(Device device, IDeviceAllocator allocator)
    {
        Device = device;
        Allocator = allocator;
    }

    /// <summary>The device the kernels run on.</summary>
    public Device Device { get; }
    /// <summary>Where every byte of tensor data comes from.</summary>
    public IDeviceAllocator Allocator { get; }
    /// <summary>True while operations are recorded for a backward pass (false: inference, nothing kept).</summary>
    public bool Recording { get; set; } = true;
    /// <summary>True when kernels run.</summary>
    public bool Computes => Device.Computes;
    /// <summary>Recorded operations not yet run backward.</summary>
    public int PendingNodes => nodes.Count;

    internal KernelCache? K => Device.Kernels;

    /// <summary>Where the time goes: when set, every op is timed into it (see <see cref="Nn.OpTimes"/>); null (the
    /// default): nothing is timed.</summary>
    public OpTimes? OpTimes { get; set; }

    /// <summary>The timing scope of one op (a no-op without <see cref="OpTimes"/>).</summary>
    internal OpTimes.Scope Time(string kind, OpPhase phase = OpPhase.Forward, double flop = 0) => OpTimes?.Time(kind, phase, flop) ?? default;

    /// <summary>The timing scope of one part of the op now open (a no-op without <see cref="OpTimes"/>).</summary>
    internal OpTimes.Scope Part(string name) => OpTimes?.Part(name) ?? default;

    /// <summary>A new uninitialized tensor from the allocator.</summary>
    public Tensor Empty(int[] shape, string tag, DType dtype = DType.F32)
    {
        long bytes = Math.Max(1, Tensor.Count(shape)) * 4;
        var block = Allocator.Allocate(bytes, tag);
        copies?.BeforeWrite(block);
        return new Tensor(shape, dtype, new Storage(Allocator, block));
    }

    /// <summary>A new tensor filled with <paramref name="value"/>.</summary>
    public Tensor Full(int[] shape, float value, string tag)
    {
        var t = Empty(shape, tag);
        K?.Fill(t.View, value);
        return t;
    }

    /// <summary>A tensor holding <paramref name="data"/> (not uploaded in shapes-only mode).</summary>
    public Tensor Upload(float[] data, int[] shape, string tag)
    {
        using var _ = Time(OpKind.Transfer, OpPhase.Other);
        var t = Empty(shape, tag);
        if (Computes) t.View.CopyFromCPU(data);
        return t;
    }

    /// <summary>An int tensor holding <paramref name="data"/>.</summary>
    public Tensor UploadInt(int[] data, int[] shape, string tag)
    {
        using var _ = Time(OpKind.Transfer, OpPhase.Other);
        var t = Empty(shape, tag, DType.I32);
        if (Computes) t.IntView.CopyFromCPU(data);
        return t;
    }

    /// <summary>The tensor's values on the host (empty array in shapes-only mode).</summary>
    public float[] Download(Tensor t)
    {
        if (!Computes) return Array.Empty<float>();
        using var _ = Time(OpKind.Transfer, OpPhase.Other);
        var a = new float[t.Length];
        t.View.CopyToCPU(a);
        return a;
    }

    internal string Tag(string kind) => $"{kind}#{serial++}";

    /// <summary>Records <paramref name="node"/> when recording and an input needs a gradient; else frees what it saved.</summary>
    internal Tensor Record(Node node)
    {
        bool needs = Recording && node.Inputs.Any(i => i.RequiresGrad);
        if (needs)
        {
            node.Output.RequiresGrad = true;
            nodes.Add(node);
            producers.TryAdd(node.Output.Block, node);
            AfterForward(node, nodes.Count - 1);
        }
        else
        {
            AfterForward(node, -1);
            node.ReleaseSaved();
        }
        return node.Output;
    }

    /// <summary>
    /// Back-propagates from a scalar <paramref name="loss"/> (not consumed) through every recorded operation.
    /// Leaves that require a gradient receive it in <see cref="Tensor.Grad"/>; everything else is freed.
    /// </summary>
    public void Backward(Tensor loss) => Backward(loss, Full(loss.Shape, 1f, Tag("grad.seed")));

    /// <summary>Back-propagates <paramref name="seed"/> (consumed), the gradient of some scalar with respect to <paramref name="output"/>.</summary>
    public void Backward(Tensor output, Tensor seed)
    {
        var grads = new Dictionary<Tensor, Tensor>(ReferenceEqualityComparer.Instance);
        grads[output] = seed;
        for (int n = nodes.Count - 1; n >= 0; n--)
        {
            var node = nodes[n];
            if (!grads.Remove(node.Output, out var gy)) { node.ReleaseSaved(); continue; }
            Tensor?[] gx;
            BeforeBackward(node);
            using (Time(node.Kind, OpPhase.Backward, node.BackwardFlop)) gx = node.Backward(this, gy);
            node.ReleaseSaved();
            for (int i = 0; i < gx.Length; i++)
            {
                var g = gx[i];
                if (g is null) continue;
                var input = node.Inputs[i];
                if (!input.RequiresGrad) { g.Release(); continue; }
                if (grads.Remove(input, out var prev)) g = Accumulate(prev, g);
                grads[input] = g;
            }
        }
        nodes.Clear();
        producers.Clear();
        foreach (var (t, g) in grads)
        {
            if (t.Grad is { } old) t.Grad = Accumulate(old, g);
            else t.Grad = g;
        }
    }

    /// <summary>Forgets recorded operations without a backward pass, freeing what they saved.</summary>
    public void Clear()
    {
        for (int n = nodes.Count - 1; n >= 0; n--) nodes[n].ReleaseSaved();
        nodes.Clear();
        producers.Clear();
    }

    /// <summary>a + b, in place into a when a has a single handle; consumes both.</summary>
    private Tensor Accumulate(Tensor a, Tensor b)
    {
        using var _ = Time(OpKind.GradAccumulate, OpPhase.Backward);
        if (a.References == 1 && a.Block != b.Block)
        {
            K?.Axpy(b.View, a.View, 1f);
            b.Release();
            return a;
        }
        var sum = Empty(a.Shape, Tag("grad.sum"));
        K?.Add(a.View, b.View, sum.View);
        a.Release();
        b.Release();
        return sum;
    }
}
