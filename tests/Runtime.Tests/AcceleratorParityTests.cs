namespace Pgmo.Tests;

/// <summary>
/// Every kernel on every available accelerator against the CPU accelerator's result: a small network that uses each
/// kernel (tiled convolution, batch norm in training and inference, pools, relu, residual add, concat, linear, loss,
/// the backward pass with gradient accumulation, SGD, fill, axpy) runs on the CPU accelerator with its default
/// kernels (host GEMM and im2col/col2im, per-channel reductions), then on the one under test (ILGPU kernels
/// throughout), and every output and gradient is compared.
/// The GPU kernels (tiled GEMM, group reductions, launches split into parts) also run on CPU accelerators with
/// GPU-like groups, so CI checks them without a GPU; the CUDA cases skip themselves where no CUDA device exists.
/// </summary>
[Collection("cpu")]
public sealed class AcceleratorParityTests(CpuFixture fx)
{
    public static TheoryData<string> Targets => new() { "cpu-simple-gemm", "cpu-group-reductions", "cpu-tiled-gemm", "cuda", "cuda-tiled-gemm" };

    [SkippableTheory, MemberData(nameof(Targets))]
    public void EveryKernelMatchesTheCpuAccelerator(string target)
    {
        if (target.StartsWith("cuda")) Skip.IfNot(Device.CudaAvailable(), "no CUDA device on this machine");
        var reference = Scenario(fx.Device);
        using var d = target switch
        {
            "cuda" or "cuda-tiled-gemm" => Device.Create(AcceleratorChoice.Cuda),
            "cpu-tiled-gemm" => Device.CreateCpuSimulatingGpu(),
            _ => Device.CreateCpuSimulatingGpu(threadsPerGroup: 32),
        };
        var k = d.Kernels!;
        if (!target.StartsWith("cuda")) k.HostKernels = false;
        switch (target)
        {
            case "cpu-simple-gemm": k.GemmKernel = GemmKernel.Simple; break;
            case "cpu-group-reductions": k.GemmKernel = GemmKernel.Simple; k.ParallelReductions = true; k.MaxPartElements = 250; break;
            case "cpu-tiled-gemm": k.GemmKernel = GemmKernel.Tiled; break;
            case "cuda-tiled-gemm": k.GemmKernel = GemmKernel.Tiled; break;
        }
        var actual = Scenario(d);
        Assert.Equal(reference.Keys, actual.Keys);
        foreach (var (name, values) in reference) Near.Check(values, actual[name], 1e-3f, $"{target}: {name}");
    }

    /// <summary>Outputs, gradients and updated parameters of one training step of a small network, by name.</summary>
    static Dictionary<string, float[]> Scenario(Device d)
    {
        var result = new Dictionary<string, float[]>();
        using var alloc = Allocators.Create(AllocatorKind.Pool, d.Accelerator);
        var t = new Tape(d, alloc) { ConvWorkspaceBytes = 4 * 9 * sizeof(float) * 10 };
        var k = d.Kernels!;
        var parameters = new List<(string Name, Tensor P)>();
        Tensor Param(string name, int[] shape, int seed)
        {
            var p = t.Upload(Host.Random((int)Tensor.Count(shape), seed, 0.5f), shape, name);
            p.RequiresGrad = true;
            parameters.Add((name, p.Share()));
            return p;
        }
        var x = t.Upload(Host.Random(3 * 4 * 9 * 7, 1), new[] { 3, 4, 9, 7 }, "x");
        var runMean = t.Full(new[] { 5 }, 0f, "rm");
        var runVar = t.Full(new[] { 5 }, 1f, "rv");
        var y = t.Conv2d(x, Param("conv1.w", new[] { 5, 4, 3, 3 }, 2), Param("conv1.b", new[] { 5 }, 3), 1, 1);
        y = t.BatchNorm(y, Param("bn.gamma", new[] { 5 }, 4), Param("bn.beta", new[] { 5 }, 5), runMean, runVar, training: true);
        y = t.Relu(t.MaxPool(y, 2, 2, 0));
        y = t.Conv2d(y, Param("conv2.w", new[] { 6, 5, 1, 1 }, 6), null);
        y = t.Add(y.Share(), y);
        y = t.AvgPool(y, 2, 1);
        y = t.Flatten(t.Concat(new[] { y.Share(), y }));
        y = t.Linear(y, Param("fc.w", new[] { 10, 72 }, 7), Param("fc.b", new[] { 10 }, 8));
        var loss = t.SoftmaxCrossEntropy(y, t.UploadInt(new[] { 3, 9, 0 }, new[] { 3 }, "labels"));
        result["loss"] = t.Download(loss);
        t.Backward(loss);
        loss.Release();
        result["bn.running-mean"] = t.Download(runMean);
        result["bn.running-var"] = t.Download(runVar);
        foreach (var (name, p) in parameters) result["grad " + name] = t.Download(p.Grad!);

        var velocity = t.Full(new[] { 5 * 4 * 9 }, 0.25f, "v");
        var (_, w1) = parameters[0];
        k.Sgd(w1.View, w1.Grad!.View, velocity.View, 0.1f, 0.9f, 1e-3f);
        k.Axpy(w1.Grad!.View, velocity.View, -2f);
        result["sgd conv1.w"] = t.Download(w1);
        result["sgd+axpy velocity"] = t.Download(velocity);
        velocity.Release();

        t.Recording = false;
        var eval = t.BatchNorm(t.Upload(Host.Random(2 * 5 * 3, 9), new[] { 2, 5, 3, 1 }, "x2"), parameters[2].P.Share(), parameters[3].P.Share(), runMean, runVar, training: false);
        result["bn inference"] = t.Download(eval);
        eval.Release();
        foreach (var (_, p) in parameters) { p.Grad!.Release(); p.Release(); }
        runMean.Release(); runVar.Release();
        Assert.Equal(0, alloc.LiveBlocks);
        return result;
    }
}
