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

/// <summary>Description of a network in the zoo.</summary>
public sealed record ModelInfo(string Name, string Description, int[] InputShape, int Classes, bool Digits, Func<ParameterFactory, Module> Build);

/// <summary>The networks the runtime can build: small ones trainable on the 8x8 digits, and the paper's full-size ones.</summary>
public static class ModelZoo
{
    /// <summary>The default network of `pgmo train`.</summary>
    public const string Default = "cnn";

    private static readonly int[] DigitsShape = { 1, 8, 8 };
    private static readonly int[] ImageNet = { 3, 224, 224 };

    /// <summary>All networks, small first.</summary>
    public static IReadOnlyList<ModelInfo> All { get; } = new[]
    {
        new ModelInfo("mlp", "MLP 64-128-64-10 on digits", DigitsShape, 10, true, Small.Mlp),
        new ModelInfo("cnn", "small CNN (2 conv + max pool, 1 fc) on digits", DigitsShape, 10, true, Small.Cnn),
        new ModelInfo("lenet", "LeNet-style CNN (2 conv, 3 fc) on digits", DigitsShape, 10, true, Small.LeNet),
        new ModelInfo("resnet", "small ResNet (3 residual blocks with batch norm) on digits", DigitsShape, 10, true, Small.ResNet),
        new ModelInfo("alexnet", "AlexNet (torchvision single-tower variant, no dropout), 224x224", ImageNet, 1000, false, Large.AlexNet),
        new ModelInfo("vgg16", "VGG-16 (configuration D, no dropout), 224x224", ImageNet, 1000, false, Large.Vgg16),
        new ModelInfo("googlenet", "GoogLeNet (paper: 5x5 branches, no BN/LRN/aux heads/dropout), 224x224", ImageNet, 1000, false, Large.GoogLeNet),
        new ModelInfo("resnet50", "ResNet-50 (v1.5, stride on the 3x3), 224x224", ImageNet, 1000, false, Large.ResNet50),
        new ModelInfo("inception3", "Inception-v3 (torchvision, no aux head, no dropout), 299x299", new[] { 3, 299, 299 }, 1000, false, Large.InceptionV3),
    };

    /// <summary>The network called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static ModelInfo? Find(string name) => All.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Builds a network, allocating its parameters through the factory's tape.</summary>
    public static Model Create(string name, ParameterFactory factory)
    {
        var info = Find(name) ?? throw new ArgumentException($"unknown model '{name}' (known: {string.Join(", ", All.Select(m => m.Name))})");
        return new Model(info.Name, info.Build(factory), info.InputShape, info.Classes);
    }
}
