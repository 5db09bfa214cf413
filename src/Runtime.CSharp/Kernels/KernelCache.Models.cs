namespace Pgmo.Kernels;

/// <summary>Launchers of the kernels in KernelBodies.Models.cs.</summary>
public sealed partial class KernelCache
{
    /// <summary>The most threads one launch of these kernels starts; the grid-stride loops cover longer views.</summary>
    private const int MaxThreads = 1 << 30;

    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, DropoutParams>? dropout;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>? multiply;
    private Action<Index1D, ArrayView<float>, ArrayView<float>, AdaptivePoolParams>? adaptivePool, adaptivePoolBack;

    /// <summary>Threads for <paramref name="n"/> elements (64-bit): as <c>Extent</c>, capped at <see cref="MaxThreads"/>.</summary>
    private Index1D Threads(long n) =>
        (int)Math.Clamp(n, 1, acc.AcceleratorType == AcceleratorType.CPU ? cpuThreads : MaxThreads);

    /// <summary>Inverted dropout with drop probability <paramref name="p"/> in [0, 1): writes the mask (0 or
    /// 1 / (1 - p)) and y = x * mask; the mask is a function of <paramref name="seed"/> and the element index only.</summary>
    public void Dropout(ArrayView<float> x, ArrayView<float> y, ArrayView<float> mask, float p, ulong seed)
    {
        var d = new DropoutParams { P = p, Scale = 1f / (1f - p), Seed = seed };
        if (host) { acc.Synchronize(); HostElementwise.Dropout(x, y, mask, d); return; }
        (dropout ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, DropoutParams>(KernelBodies.Dropout))(Threads(y.Length), x, y, mask, d);
    }

    /// <summary>y = a * b element by element.</summary>
    public void Multiply(ArrayView<float> a, ArrayView<float> b, ArrayView<float> y)
    {
        if (host) { acc.Synchronize(); HostElementwise.Multiply(a, b, y); return; }
        (multiply ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(KernelBodies.Multiply))(Threads(y.Length), a, b, y);
    }

    /// <summary>Adaptive average pooling of x (planes of p.H x p.W) into y (planes of p.OH x p.OW).</summary>
    public void AdaptiveAvgPool(ArrayView<float> x, ArrayView<float> y, AdaptivePoolParams p)
    {
        if (host) { acc.Synchronize(); HostPool.AdaptiveAvgPool(x, y, p); return; }
        (adaptivePool ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, AdaptivePoolParams>(KernelBodies.AdaptiveAvgPool))(Threads(y.Length), x, y, p);
    }

    /// <summary>The gradient of <see cref="AdaptiveAvgPool"/>: dx from dy.</summary>
    public void AdaptiveAvgPoolBackward(ArrayView<float> dy, ArrayView<float> dx, AdaptivePoolParams p)
    {
        if (host) { acc.Synchronize(); HostPool.AdaptiveAvgPoolBackward(dy, dx, p); return; }
        (adaptivePoolBack ??= acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, AdaptivePoolParams>(KernelBodies.AdaptiveAvgPoolBackward))(Threads(dx.Length), dy, dx, p);
    }
}
