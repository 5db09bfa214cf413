namespace Pgmo.Tests;

/// <summary>One CPU accelerator shared by the tests of a collection (creating one costs time).</summary>
public sealed class CpuFixture : IDisposable
{
    public Device Device { get; } = Device.Create(AcceleratorChoice.Cpu);
    public void Dispose() => Device.Dispose();
}

[CollectionDefinition("cpu")]
public sealed class CpuCollection : ICollectionFixture<CpuFixture>;

/// <summary>Host-side helpers for tests.</summary>
internal static class Host
{
    public static float[] Random(int n, int seed, float scale = 1f)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1) * scale;
        return a;
    }

    public static Tape Tape(Device d, out IDeviceAllocator alloc)
    {
        alloc = Allocators.Create(AllocatorKind.Pool, d.Accelerator);
        return new Tape(d, alloc);
    }

    public static void Close(float[] expected, float[] actual, float tol = 1e-4f)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tol * (1 + Math.Abs(expected[i])), $"element {i}: expected {expected[i]}, got {actual[i]}");
    }
}

/// <summary>Every network at a batch and image size small enough for real runs on the CPU accelerator in tests.</summary>
public static class SmallNetworks
{
    /// <summary>(model, batch, image size; null: the network's own).</summary>
    public static TheoryData<string, int, int?> All => new()
    {
        { "mlp", 8, null }, { "cnn", 17, null }, { "lenet", 2, null }, { "resnet", 8, null },
        { "alexnet", 1, 63 }, { "vgg16", 1, 32 }, { "googlenet", 2, 32 }, { "resnet50", 2, 32 }, { "inception3", 1, 75 },
    };
}
