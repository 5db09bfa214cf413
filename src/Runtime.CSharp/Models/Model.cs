using Pgmo.Nn;

namespace Pgmo.Models;

/// <summary>A network with its input geometry, owning its parameters and state (released on dispose).</summary>
public sealed class Model : IDisposable
{
    internal Model(string name, Module root, int[] inputShape, int classes)
    {
        Name = name; Root = root; InputShape = inputShape; Classes = classes;
        Parameters = root.Parameters().ToList();
    }

    /// <summary>The name on the command line.</summary>
    public string Name { get; }
    /// <summary>The layers.</summary>
    public Module Root { get; }
    /// <summary>Input shape of one sample: channels, height, width.</summary>
    public int[] InputShape { get; }
    /// <summary>Number of output classes.</summary>
    public int Classes { get; }
    /// <summary>Trainable parameters in creation order.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }
    /// <summary>Number of trainable scalars.</summary>
    public long ParameterCount => Parameters.Sum(p => p.Count);

    /// <summary>Logits [N, classes] from x [N, C, H, W]; consumes x.</summary>
    public Tensor Forward(Tape tape, Tensor x) => Root.Forward(tape, x);

    /// <summary>Training (batch statistics) or inference mode.</summary>
    public void SetTraining(bool training) => Root.SetTraining(training);

    public void Dispose()
    {
        foreach (var p in Parameters)
            if (p.Value.References > 0) p.Value.Release();
        foreach (var s in Root.States())
            if (s.References > 0) s.Release();
    }
}

/// <summary>
/// Description of a network in the zoo. <paramref name="InputShape"/> is the default (published) input of one sample;
/// a network with <paramref name="AnySize"/> pools adaptively before its classifier, so it also runs on square
/// images of other sizes, from <see cref="ModelZoo.MinimumImageSize"/> up (the digits networks take 8x8 only).
/// </summary>
public sealed record ModelInfo(string Name, string Description, int[] InputShape, int Classes, bool Digits, bool AnySize, Func<ParameterFactory, Module> Build)
{
    /// <summary>The default image side (height = width) in pixels.</summary>
    public int ImageSize => InputShape[1];

    /// <summary>The learning rate `pgmo train` uses unless told otherwise: 0.05 on the digits; 0.01 for the paper
    /// networks (torchvision's recipe for AlexNet and VGG; higher rates diverge at small batches without batch norm).</summary>
    public float LearningRate { get; init; } = 0.05f;

    /// <summary>The input of one sample at <paramref name="size"/> x <paramref name="size"/> pixels (channels first).</summary>
    public int[] InputShapeAt(int size) => new[] { InputShape[0], size, size };
}

/// <summary>The networks the runtime can build: small ones trainable on the 8x8 digits, and the paper's full-size ones.</summary>
public static class ModelZoo
{
    /// <summary>The default network of `pgmo train`.</summary>
    public const string Default = "cnn";

    /// <summary>The largest image side accepted (tensor dimensions and per-sample extents stay well within 32 bits).</summary>
    public const int MaxImageSize = 4096;

    private static readonly int[] DigitsShape = { 1, 8, 8 };
    private static readonly int[] ImageNet = { 3, 224, 224 };

    /// <summary>All networks, small first.</summary>
    public static IReadOnlyList<ModelInfo> All { get; } = new[]
    {
        new ModelInfo("mlp", "MLP 64-128-64-10 on digits", DigitsShape, 10, true, false, Small.Mlp),
        new ModelInfo("cnn", "small CNN (2 conv + max pool, 1 fc) on digits", DigitsShape, 10, true, false, Small.Cnn),
        new ModelInfo("lenet", "LeNet-style CNN (2 conv, 3 fc) on digits", DigitsShape, 10, true, false, Small.LeNet),
        new ModelInfo("resnet", "small ResNet (3 residual blocks with batch norm) on digits", DigitsShape, 10, true, false, Small.ResNet),
        new ModelInfo("alexnet", "AlexNet (torchvision single-tower variant, adaptive pool 6x6, dropout 0.5), 224x224", ImageNet, 1000, false, true, Large.AlexNet) { LearningRate = 0.01f },
        new ModelInfo("vgg16", "VGG-16 (configuration D, adaptive pool 7x7, dropout 0.5), 224x224", ImageNet, 1000, false, true, Large.Vgg16) { LearningRate = 0.01f },
        new ModelInfo("googlenet", "GoogLeNet (paper: 5x5 branches, no BN/LRN/aux heads, dropout 0.4), 224x224", ImageNet, 1000, false, true, Large.GoogLeNet) { LearningRate = 0.01f },
        new ModelInfo("resnet50", "ResNet-50 (v1.5, stride on the 3x3), 224x224", ImageNet, 1000, false, true, Large.ResNet50) { LearningRate = 0.01f },
        new ModelInfo("inception3", "Inception-v3 (torchvision, no aux head, dropout 0.5), 299x299", new[] { 3, 299, 299 }, 1000, false, true, Large.InceptionV3) { LearningRate = 0.01f },
    };

    /// <summary>The network called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static ModelInfo? Find(string name) => All.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Builds a network for <paramref name="imageSize"/>-pixel square inputs (null: its default size),
    /// allocating its parameters through the factory's tape. Throws <see cref="ArgumentException"/> for an unknown
    /// name or a size at which the network is not defined (see <see cref="ImageSizeError"/>).</summary>
    public static Model Create(string name, ParameterFactory factory, int? imageSize = null)
    {
        var info = Find(name) ?? throw new ArgumentException($"unknown model '{name}' (known: {string.Join(", ", All.Select(m => m.Name))})");
        int size = imageSize ?? info.ImageSize;
        if (size != info.ImageSize && ImageSizeError(info, size) is { } error) throw new ArgumentException(error);
        return new Model(info.Name, info.Build(factory), info.InputShapeAt(size), info.Classes);
    }

    /// <summary>Null when <paramref name="info"/> is defined on <paramref name="size"/>-pixel square images, else why
    /// not, naming the sizes it takes.</summary>
    public static string? ImageSizeError(ModelInfo info, int size)
    {
        if (!info.AnySize)
            return size == info.ImageSize ? null : $"{info.Name} is defined for {info.ImageSize}x{info.ImageSize} inputs only, not {size}x{size}";
        if (size > MaxImageSize) return $"{size}x{size} is larger than the largest image size supported, {MaxImageSize}x{MaxImageSize}";
        if (size >= 1 && Defined(info, size)) return null;
        return $"{info.Name} is not defined for {size}x{size} inputs (a feature map shrinks to nothing); the smallest size is {MinimumImageSize(info)}x{MinimumImageSize(info)}";
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> Minimums = new();

    /// <summary>
    /// The smallest square image side on which the network is defined (every convolution and pooling window fits):
    /// found by bisection over shapes-only forward passes, since the output size of every layer grows with its input.
    /// </summary>
    public static int MinimumImageSize(ModelInfo info)
    {
        if (!info.AnySize) return info.ImageSize;
        return Minimums.GetOrAdd(info.Name, _ =>
        {
            int lo = 0, hi = info.ImageSize;            // lo: not defined (or 0), hi: defined
            while (hi - lo > 1)
            {
                int mid = lo + (hi - lo) / 2;
                if (Defined(info, mid)) hi = mid; else lo = mid;
            }
            return hi;
        });
    }

    /// <summary>True when a shapes-only forward pass of one sample at size x size pixels succeeds.</summary>
    private static bool Defined(ModelInfo info, int size)
    {
        using var device = Kernels.Device.ShapesOnly();
        using var alloc = Memory.Allocators.Create(Memory.AllocatorKind.Naive, device.Accelerator);
        var tape = new Tape(device, alloc) { Recording = false };
        using var model = new Model(info.Name, info.Build(new ParameterFactory(tape, 0)), info.InputShapeAt(size), info.Classes);
        try
        {
            model.Forward(tape, tape.Empty(new[] { 1 }.Concat(model.InputShape).ToArray(), "input")).Release();
            return true;
        }
        catch (ArgumentException) { return false; }
    }
}
