namespace Pgmo.Kernels;

/// <summary>
/// Softmax cross-entropy and its gradient as host code on the CPU accelerator's memory: one task per row of logits,
/// each row's maximum and sum of exponentials computed once (the ILGPU backward kernel recomputes them for every
/// element). Same formulas and summation order as <see cref="KernelBodies.SoftmaxCrossEntropy"/>, so the same floats.
/// </summary>
internal static unsafe class HostLoss
{
    /// <summary>Per row: loss[i] = log sum exp(z) − z[label]; then loss[0] of <paramref name="loss"/> = their mean.</summary>
    public static void SoftmaxCrossEntropy(ArrayView<float> z, ArrayView<int> labels, ArrayView<float> rowLoss, ArrayView<float> loss, int rows, int classes)
    {
        float* zs = HostGemm.Address(z), rl = HostGemm.Address(rowLoss), total = HostGemm.Address(loss);
        int* ls = (int*)labels.LoadEffectiveAddressAsPtr();
        HostParallel.For(rows, (long)rows * classes * 8, i =>
        {
            float* row = zs + (long)i * classes;
            var (mx, s) = MaxAndSum(row, classes);
            rl[i] = MathF.Log(s) + mx - row[ls[i]];
        });
        float sum = 0f;
        for (int i = 0; i < rows; i++) sum += rl[i];
        total[0] = sum * (1f / rows);
    }

    /// <summary>dz = (softmax(z) − onehot(label)) · dloss[0] / rows.</summary>
    public static void SoftmaxCrossEntropyBackward(ArrayView<float> z, ArrayView<int> labels, ArrayView<float> dloss, ArrayView<float> dz, int rows, int classes)
    {
        float* zs = HostGemm.Address(z), gl = HostGemm.Address(dloss), ds = HostGemm.Address(dz);
        int* ls = (int*)labels.LoadEffectiveAddressAsPtr();
        HostParallel.For(rows, (long)rows * classes * 8, i =>
        {
            float* row = zs + (long)i * classes, d = ds + (long)i * classes;
            var (mx, s) = MaxAndSum(row, classes);
            for (int k = 0; k < classes; k++) d[k] = (MathF.Exp(row[k] - mx) / s - (ls[i] == k ? 1f : 0f)) * gl[0] / rows;
        });
    }

    /// <summary>The row's maximum and the sum of exp(z − max), summed in index order.</summary>
    private static (float Max, float Sum) MaxAndSum(float* row, int classes)
    {
        float mx = row[0];
        for (int k = 1; k < classes; k++) mx = MathF.Max(mx, row[k]);
        float s = 0f;
        for (int k = 0; k < classes; k++) s += MathF.Exp(row[k] - mx);
        return (mx, s);
    }
}
