using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Pgmo.Kernels;

/// <summary>Which accelerator to run on: auto takes CUDA when a CUDA device exists, else ILGPU's CPU accelerator.</summary>
public enum AcceleratorChoice { Auto, Cpu, Cuda }

/// <summary>
/// An ILGPU context and accelerator with its kernel cache, or a shapes-only device with neither: then models run
/// the same code through the same tape and allocator calls but launch no kernels (dry runs of full-size networks).
/// </summary>
public sealed class Device : IDisposable
{
    private readonly Context? context;

    private Device(Context? context, Accelerator? accelerator, string name)
    {
        this.context = context;
        Accelerator = accelerator;
        Name = name;
        Kernels = accelerator is null ? null : new KernelCache(accelerator);
    }

    /// <summary>The accelerator, or null in shapes-only mode.</summary>
    public Accelerator? Accelerator { get; }
    /// <summary>The kernels loaded on the accelerator, or null in shapes-only mode.</summary>
    public KernelCache? Kernels { get; }
    /// <summary>"cpu", "cuda" or "shapes-only".</summary>
    public string Name { get; }
    /// <summary>True when kernels run (false in shapes-only mode).</summary>
    public bool Computes => Accelerator is not null;
    /// <summary>A human description: the accelerator's name and memory.</summary>
    public string Description => Accelerator is null ? "shapes only (no kernels, no device memory)" : $"{Name}: {Accelerator.Name}";

    /// <summary>Parses auto|cpu|cuda (case-insensitive); null when the word is unknown.</summary>
    public static AcceleratorChoice? Parse(string text) => text.ToLowerInvariant() switch
    {
        "auto" => AcceleratorChoice.Auto,
        "cpu" => AcceleratorChoice.Cpu,
        "cuda" => AcceleratorChoice.Cuda,
        _ => null,
    };

    /// <summary>True when ILGPU finds a CUDA device.</summary>
    public static bool CudaAvailable()
    {
        try
        {
            using var ctx = Context.Create(b => b.Cuda());
            return ctx.GetCudaDevices().Count > 0;
        }
        catch (Exception) { return false; }
    }

    /// <summary>
    /// Opens the chosen accelerator. The CPU accelerator gets one multiprocessor per core with small warps, so kernel
    /// threads do not oversubscribe a small machine. Throws <see cref="InvalidOperationException"/> when cuda is asked
    /// for and none exists.
    /// </summary>
    public static Device Create(AcceleratorChoice choice = AcceleratorChoice.Auto)
    {
        if (choice != AcceleratorChoice.Cpu)
        {
            Context? ctx = null;
            try
            {
                ctx = Context.Create(b => b.Cuda().EnableAlgorithms().Optimize(OptimizationLevel.O1));
                var devices = ctx.GetCudaDevices();
                if (devices.Count > 0) return new Device(ctx, devices[0].CreateAccelerator(ctx), "cuda");
            }
            catch (Exception) when (choice == AcceleratorChoice.Auto) { }
            ctx?.Dispose();
            if (choice == AcceleratorChoice.Cuda) throw new InvalidOperationException("no CUDA device found (use --accelerator cpu or auto)");
        }
        // One group of (up to) one thread per core: kernels are grid-stride loops, so few threads each take many
        // elements and the CPU accelerator's per-group synchronization is paid once per launch.
        var cpu = new CPUDevice(numThreadsPerWarp: Math.Clamp(Environment.ProcessorCount, 2, 32), numWarpsPerMultiprocessor: 1, numMultiprocessors: 1);
        var context = Context.Create(b => b.CPU(cpu).EnableAlgorithms().Optimize(OptimizationLevel.O2));
        return new Device(context, cpu.CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel), "cpu");
    }

    /// <summary>A CPU accelerator with groups of <paramref name="threadsPerGroup"/> threads (default: large enough for
    /// the tiled GEMM), to test the GPU kernels on the CPU.</summary>
    public static Device CreateCpuSimulatingGpu(int threadsPerGroup = KernelBodies.Tile * KernelBodies.Tile)
    {
        int perWarp = Math.Min(threadsPerGroup, KernelBodies.Tile);
        var cpu = new CPUDevice(numThreadsPerWarp: perWarp, numWarpsPerMultiprocessor: Math.Max(1, threadsPerGroup / perWarp), numMultiprocessors: 1);
        var context = Context.Create(b => b.CPU(cpu).EnableAlgorithms());
        return new Device(context, cpu.CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel), "cpu");
    }

    /// <summary>A device that launches nothing and holds no memory: for shape inference and dry-run traces.</summary>
    public static Device ShapesOnly() => new(null, null, "shapes-only");

    /// <summary>Waits for every launched kernel.</summary>
    public void Synchronize() => Accelerator?.Synchronize();

    public void Dispose()
    {
        Kernels?.Dispose();
        Accelerator?.Dispose();
        context?.Dispose();
    }
}
