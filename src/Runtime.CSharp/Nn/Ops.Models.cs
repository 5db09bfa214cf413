using Pgmo.Kernels;

namespace Pgmo.Nn;

public sealed partial class Tape
{
    /// <summary>
    /// Inverted dropout of x: each element is zeroed with probability <paramref name="p"/> and the others scaled by
    /// 1 / (1 - p). The mask is a buffer from the allocator (tag dropout.mask), a function of <paramref name="seed"/>
    /// only, kept for the backward pass. Consumes x.
    /// </summary>
    public Tensor Dropout(Tensor x, float p, ulong seed)
    {
        if (!(p >= 0f && p < 1f)) throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1)");
        using var _ = Time(OpKind.Dropout);
        var y = Empty(x.Shape, Tag("dropout.out"));
        var mask = Empty(x.Shape, Tag("dropout.mask"));
        K?.Dropout(x.View, y.View, mask.View, p, seed);
        x.Release();
        return Record(new DropoutNode { Output = y, Inputs = new[] { x }, Mask = mask });
    }

    private sealed class DropoutNode : Node
    {
        public Tensor? Mask;
        public override string Kind => OpKind.Dropout;
        // y = x * mask: the forward kernel's product with the mask it drew (the same floats)
        public override bool Elementwise => Mask is not null;
        public override IEnumerable<Tensor> RerunReads => new[] { Mask! };
        public override void Rerun(KernelCache k, ArrayView<float>[] inputs, ArrayView<float> y) => k.Multiply(inputs[0], Mask!.View, y);

        public override Tensor?[] Backward(Tape t, Tensor gy)
        {
            var dx = t.Empty(gy.Shape, t.Tag("dropout.dx"));
            t.K?.Multiply(gy.View, Mask!.View, dx.View);
            gy.Release();
            return new Tensor?[] { dx };
        }

        public override void ReleaseSaved() { Mask?.Release(); Mask = null; }
    }

    /// <summary>
    /// Adaptive average pooling of x [N, C, H, W] to [N, C, outH, outW]: output pixel (i, j) averages input rows
    /// [floor(i H / outH), ceil((i + 1) H / outH)) and the same for columns, as torchvision's networks do before their
    /// classifiers (it also enlarges: a 1x1 map becomes outH x outW copies). Consumes x.
    /// </summary>
    public Tensor AdaptiveAvgPool(Tensor x, int outH, int outW)
    {
        if (x.Shape.Length != 4) throw new ArgumentException($"adaptive average pool: expected NCHW, got {Dims(x)}");
        if (outH < 1 || outW < 1) throw new ArgumentException($"adaptive average pool: output {outH}x{outW} is empty");
        using var _ = Time(OpKind.AdaptivePool);
        var p = new AdaptivePoolParams { H = x[2], W = x[3], OH = outH, OW = outW };
        var y = Empty(new[] { x[0], x[1], outH, outW }, Tag("adaptivepool.out"));
        K?.AdaptiveAvgPool(x.View, y.View, p);
        var shape = x.Shape;
        x.Release();
        return Record(new AdaptivePoolNode { Output = y, Inputs = new[] { x }, P = p, InputShape = shape });
    }

    private sealed class AdaptivePoolNode : Node
    {
        public required AdaptivePoolParams P;
        public required int[] InputShape;
        public override string Kind => OpKind.AdaptivePool;

        public override Tensor?[] Backward(Tape t, Tensor gy)
        {
            var dx = t.Empty(InputShape, t.Tag("adaptivepool.dx"));
            t.K?.AdaptiveAvgPoolBackward(gy.View, dx.View, P);
            gy.Release();
            return new Tensor?[] { dx };
        }

        public override void ReleaseSaved() { }
    }
}
