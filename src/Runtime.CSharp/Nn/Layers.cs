namespace Pgmo.Nn;

/// <summary>2-D convolution (im2col + GEMM) with optional bias.</summary>
public sealed class Conv2d : Module
{
    private readonly Parameter w;
    private readonly Parameter? b;

    public Conv2d(ParameterFactory f, string name, int cin, int cout, int kernel, int stride = 1, int pad = 0, bool bias = true)
        : this(f, name, cin, cout, kernel, kernel, stride, pad, pad, bias) { }

    /// <summary>A convolution with a kh x kw kernel and separate paddings.</summary>
    public Conv2d(ParameterFactory f, string name, int cin, int cout, int kh, int kw, int stride, int padH, int padW, bool bias)
    {
        Stride = stride; PadH = padH; PadW = padW;
        w = Add(f.Create(name + ".weight", new[] { cout, cin, kh, kw }, cin * kh * kw));
        if (bias) b = Add(f.Create(name + ".bias", new[] { cout }, 1, constant: 0f));
    }

    public int Stride { get; }
    public int PadH { get; }
    public int PadW { get; }
    public override Tensor Forward(Tape t, Tensor x) => t.Conv2d(x, w.Value.Share(), b?.Value.Share(), Stride, PadH, PadW);
}

/// <summary>Fully connected layer y = x W^T + b on [N, features].</summary>
public sealed class Linear : Module
{
    private readonly Parameter w, b;

    /// <summary>A layer with He-initialized weights, or weights of standard deviation <paramref name="std"/> when
    /// given (torchvision initializes the ImageNet classifiers with 0.01), and zero biases.</summary>
    public Linear(ParameterFactory f, string name, int inFeatures, int outFeatures, double? std = null)
    {
        w = Add(f.Create(name + ".weight", new[] { outFeatures, inFeatures }, inFeatures, std: std));
        b = Add(f.Create(name + ".bias", new[] { outFeatures }, 1, constant: 0f));
    }

    public override Tensor Forward(Tape t, Tensor x) => t.Linear(x.Shape.Length == 2 ? x : t.Flatten(x), w.Value.Share(), b.Value.Share());
}

/// <summary>Batch normalization with learnable scale and shift and running statistics (momentum 0.1).</summary>
public sealed class BatchNorm2d : Module
{
    private readonly Parameter gamma, beta;
    private readonly Tensor runMean, runVar;

    public BatchNorm2d(ParameterFactory f, string name, int channels)
    {
        gamma = Add(f.Create(name + ".weight", new[] { channels }, 1, constant: 1f));
        beta = Add(f.Create(name + ".bias", new[] { channels }, 1, constant: 0f));
        runMean = AddState(f.State(name + ".running_mean", new[] { channels }, 0f));
        runVar = AddState(f.State(name + ".running_var", new[] { channels }, 1f));
    }

    public override Tensor Forward(Tape t, Tensor x) => Forward(t, x, relu: false);

    /// <summary>Then ReLU when <paramref name="relu"/> (fused in inference, see <see cref="Tape.BatchNorm(Tensor, Tensor, Tensor, Tensor, Tensor, bool, bool, float, float)"/>).</summary>
    public Tensor Forward(Tape t, Tensor x, bool relu) => t.BatchNorm(x, gamma.Value.Share(), beta.Value.Share(), runMean, runVar, Training, relu);
}

/// <summary>A parameterless layer from a function of the tape (ReLU, pooling, flatten).</summary>
public sealed class Lambda : Module
{
    private readonly Func<Tape, Tensor, Tensor> f;
    public Lambda(Func<Tape, Tensor, Tensor> f) => this.f = f;
    public override Tensor Forward(Tape t, Tensor x) => f(t, x);

    public static Lambda Relu() => new((t, x) => t.Relu(x));
    public static Lambda MaxPool(int k, int s, int p = 0) => new((t, x) => t.MaxPool(x, k, s, p));
    public static Lambda AvgPool(int k, int s, int p = 0) => new((t, x) => t.AvgPool(x, k, s, p));
    public static Lambda GlobalAvgPool() => new((t, x) => t.GlobalAvgPool(x));
    /// <summary>Adaptive average pooling to size x size (torchvision's AdaptiveAvgPool2d before a classifier).</summary>
    public static Lambda AdaptiveAvgPool(int size) => new((t, x) => t.AdaptiveAvgPool(x, size, size));
    public static Lambda Flatten() => new((t, x) => t.Flatten(x));
}

/// <summary>
/// Inverted dropout with probability <paramref name="p"/> in training mode, the identity in inference mode. Each
/// training forward pass draws a new mask from the layer's stream (the factory's seed and the layer's name) and the
/// call count, so a run is deterministic given the seed, and a dry run makes the same allocations as a real one.
/// </summary>
public sealed class Dropout(ParameterFactory f, string name, float p) : Module
{
    private readonly ulong stream = f.StreamSeed("dropout:" + name);
    private ulong calls;

    /// <summary>The drop probability.</summary>
    public float P { get; } = p >= 0f && p < 1f ? p : throw new ArgumentOutOfRangeException(nameof(p), p, "dropout probability must be in [0, 1)");

    public override Tensor Forward(Tape t, Tensor x) => Training ? t.Dropout(x, P, Kernels.KernelBodies.Mix(stream + calls++)) : x;
}

/// <summary>Modules applied one after another.</summary>
public sealed class Sequential : Module
{
    private readonly List<Module> layers = new();

    public Sequential(params Module[] modules) { foreach (var m in modules) Append(m); }

    /// <summary>Appends a layer; returns this.</summary>
    public Sequential Append(Module m) { layers.Add(Add(m)); return this; }

    public override Tensor Forward(Tape t, Tensor x)
    {
        foreach (var l in layers) x = l.Forward(t, x);
        return x;
    }
}

/// <summary>Convolution (no bias) + batch norm + ReLU: the building block of GoogLeNet-BN, Inception-v3 and ResNets.</summary>
public sealed class ConvBnRelu : Module
{
    private readonly Conv2d conv;
    private readonly BatchNorm2d bn;
    private readonly bool relu;

    public ConvBnRelu(ParameterFactory f, string name, int cin, int cout, int kernel, int stride = 1, int pad = 0, bool relu = true)
        : this(f, name, cin, cout, kernel, kernel, stride, pad, pad, relu) { }

    /// <summary>With a kh x kw kernel and separate paddings.</summary>
    public ConvBnRelu(ParameterFactory f, string name, int cin, int cout, int kh, int kw, int stride, int padH, int padW, bool relu = true)
    {
        conv = Add(new Conv2d(f, name + ".conv", cin, cout, kh, kw, stride, padH, padW, bias: false));
        bn = Add(new BatchNorm2d(f, name + ".bn", cout));
        this.relu = relu;
    }

    public override Tensor Forward(Tape t, Tensor x) => bn.Forward(t, conv.Forward(t, x), relu);
}

/// <summary>Branches applied to the same input, concatenated along channels (Inception modules).</summary>
public sealed class Branches : Module
{
    private readonly List<Module> branches = new();

    public Branches(params Module[] modules) { foreach (var m in modules) branches.Add(Add(m)); }

    public override Tensor Forward(Tape t, Tensor x)
    {
        var outs = new List<Tensor>(branches.Count);
        for (int i = 0; i < branches.Count; i++) outs.Add(branches[i].Forward(t, i == branches.Count - 1 ? x : x.Share()));
        return t.Concat(outs);
    }
}

/// <summary>A residual block: ReLU(body(x) + shortcut(x)); the shortcut is the identity when null.</summary>
public sealed class Residual : Module
{
    private readonly Module body;
    private readonly Module? shortcut;

    public Residual(Module body, Module? shortcut) { this.body = Add(body); if (shortcut is not null) this.shortcut = Add(shortcut); }

    public override Tensor Forward(Tape t, Tensor x)
    {
        var skip = shortcut is null ? x.Share() : shortcut.Forward(t, x.Share());
        return t.Add(body.Forward(t, x), skip, relu: true);
    }
}
