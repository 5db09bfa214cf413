using ILGPU;
using ILGPU.Runtime;

namespace Pgmo.Kernels;

/// <summary>The kernels themselves: static methods over an index and views (ILGPU compiles them per accelerator).</summary>
internal static partial class KernelBodies
{
    internal const int Tile = 16;

    /// <summary>Threads in the launch: kernels are grid-stride loops, so the CPU accelerator launches a few threads
    /// that each handle many elements, while GPUs launch one thread per element.</summary>
    private static int GridStride() => Grid.DimX * Group.DimX;

    /// <summary>One thread per output element; the CPU accelerator's GEMM and the reference for the tiled one.</summary>
    internal static void GemmSimple(Index1D first, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmParams p)
    {
        for (int idx = first; idx < (p.ReduceBatch != 0 ? 1 : p.Batch) * p.M * p.N; idx += GridStride())
        {
            int j = idx % p.N;
            int t = idx / p.N;
            int i = t % p.M;
            int bt = t / p.M;
            int b0 = p.ReduceBatch != 0 ? 0 : bt;
            int b1 = p.ReduceBatch != 0 ? p.Batch : bt + 1;
            float sum = 0f;
            for (int bb = b0; bb < b1; bb++)
            {
                int ao = bb * p.ABatch + i * p.ARow;
                int bo = bb * p.BBatch + j * p.BCol;
                for (int k = 0; k < p.K; k++) sum += a[ao + k * p.ACol] * b[bo + k * p.BRow];
            }
            int ci = bt * p.CBatch + i * p.CRow + j * p.CCol;
            c[ci] = p.Beta == 0f ? p.Alpha * sum : p.Alpha * sum + p.Beta * c[ci];
        }
    }

    /// <summary>Shared-memory tiled GEMM: a Tile x Tile group computes one tile of C; grid Z runs over batches.</summary>
    internal static void GemmTiled(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmParams p)
    {
        var ta = SharedMemory.Allocate<float>(Tile * Tile);
        var tb = SharedMemory.Allocate<float>(Tile * Tile);
        int tx = Group.IdxX, ty = Group.IdxY;
        int j = Grid.IdxX * Tile + tx;
        int i = Grid.IdxY * Tile + ty;
        int bt = Grid.IdxZ;
        int b0 = p.ReduceBatch != 0 ? 0 : bt;
        int b1 = p.ReduceBatch != 0 ? p.Batch : bt + 1;
        float sum = 0f;
        for (int bb = b0; bb < b1; bb++)
        {
            for (int k0 = 0; k0 < p.K; k0 += Tile)
            {
                int ka = k0 + tx, kb = k0 + ty;
                ta[ty * Tile + tx] = i < p.M && ka < p.K ? a[bb * p.ABatch + i * p.ARow + ka * p.ACol] : 0f;
                tb[ty * Tile + tx] = j < p.N && kb < p.K ? b[bb * p.BBatch + kb * p.BRow + j * p.BCol] : 0f;
                Group.Barrier();
                for (int kk = 0; kk < Tile; kk++) sum += ta[ty * Tile + kk] * tb[kk * Tile + tx];
                Group.Barrier();
            }
        }
        if (i < p.M && j < p.N)
        {
            int ci = bt * p.CBatch + i * p.CRow + j * p.CCol;
            c[ci] = p.Beta == 0f ? p.Alpha * sum : p.Alpha * sum + p.Beta * c[ci];
        }
    }

    /// <summary>col[n, (c,kh,kw), oh*OW+ow] = x[n, c, oh*S-P+kh, ow*S-P+kw] (0 outside).</summary>
    internal static void Im2Col(Index1D first, ArrayView<float> x, ArrayView<float> col, WindowParams p)
    {
        for (int idx = first; idx < (int)col.Length; idx += GridStride())
        {
            int ohw = p.OH * p.OW, ckk = p.C * p.KH * p.KW;
            int q = idx % ohw;
            int t = idx / ohw;
            int r = t % ckk;
            int n = t / ckk;
            int kw = r % p.KW, kh = (r / p.KW) % p.KH, ch = r / (p.KW * p.KH);
            int h = (q / p.OW) * p.Stride - p.PadH + kh;
            int w = (q % p.OW) * p.Stride - p.PadW + kw;
            col[idx] = h >= 0 && h < p.H && w >= 0 && w < p.W ? x[((n * p.C + ch) * p.H + h) * p.W + w] : 0f;
        }
    }

    /// <summary>The adjoint of im2col, gathered per input element (no atomics, deterministic).</summary>
    internal static void Col2Im(Index1D first, ArrayView<float> col, ArrayView<float> dx, WindowParams p)
    {
        for (int idx = first; idx < (int)dx.Length; idx += GridStride())
        {
            int w = idx % p.W;
            int h = (idx / p.W) % p.H;
            int ch = (idx / (p.W * p.H)) % p.C;
            int n = idx / (p.W * p.H * p.C);
            int ohw = p.OH * p.OW, ckk = p.C * p.KH * p.KW;
            float sum = 0f;
            for (int kh = 0; kh < p.KH; kh++)
            {
                int th = h + p.PadH - kh;
                if (th < 0 || th % p.Stride != 0 || th / p.Stride >= p.OH) continue;
                for (int kw = 0; kw < p.KW; kw++)
                {
                    int tw = w + p.PadW - kw;
                    if (tw < 0 || tw % p.Stride != 0 || tw / p.Stride >= p.OW) continue;
                    int r = (ch * p.KH + kh) * p.KW + kw;
                    sum += col[(n * ckk + r) * ohw + (th / p.Stride) * p.OW + tw / p.Stride];
                }
            }
            dx[idx] = sum;
        }
    }

    /// <summary>y[i] += bias[(i / hw) % channels].</summary>
    internal static void AddBias(Index1D first, ArrayView<float> y, ArrayView<float> bias, int channels, int hw)
    {
        for (int idx = first; idx < (int)y.Length; idx += GridStride()) y[idx] += bias[(idx / hw) % channels];
    }

    /// <summary>sum[c] = sum over n, p of v[(n*C + c)*HW + p]: one thread per channel.</summary>
    internal static void ChannelSum(Index1D first, ArrayView<float> v, ArrayView<float> sum, int n, int channels, int hw)
    {
        for (int c = first; c < (int)sum.Length; c += GridStride())
        {
            float s = 0f;
            for (int b = 0; b < n; b++)
            {
                int o = (b * channels + c) * hw;
                for (int q = 0; q < hw; q++) s += v[o + q];
            }
            sum[c] = s;
        }
    }

    internal static void MaxPool(Index1D first, ArrayView<float> x, ArrayView<float> y, ArrayView<int> arg, WindowParams p)
    {
        for (int idx = first; idx < (int)y.Length; idx += GridStride())
        {
            int ow = idx % p.OW, oh = (idx / p.OW) % p.OH, plane = idx / (p.OW * p.OH);
            int baseIdx = plane * p.H * p.W;
            float best = float.NegativeInfinity;
            int at = -1;
            for (int kh = 0; kh < p.KH; kh++)
            {
                int h = oh * p.Stride - p.PadH + kh;
                if (h < 0 || h >= p.H) continue;
                for (int kw = 0; kw < p.KW; kw++)
                {
                    int w = ow * p.Stride - p.PadW + kw;
                    if (w < 0 || w >= p.W) continue;
                    float v = x[baseIdx + h * p.W + w];
                    if (at < 0 || v > best) { best = v; at = h * p.W + w; }
                }
            }
            y[idx] = best;
            arg[idx] = at;
        }
    }

    internal static void MaxPoolBackward(Index1D first, ArrayView<float> dy, ArrayView<int> arg, ArrayView<float> dx, WindowParams p)
    {
        for (int idx = first; idx < (int)dx.Length; idx += GridStride())
        {
            int w = idx % p.W, h = (idx / p.W) % p.H, plane = idx / (p.W * p.H);
            int me = h * p.W + w;
            float sum = 0f;
            for (int kh = 0; kh < p.KH; kh++)
            {
                int th = h + p.PadH - kh;
                if (th < 0 || th % p.Stride != 0 || th / p.Stride >= p.OH) continue;
                for (int kw = 0; kw < p.KW; kw++)
                {
                    int tw = w + p.PadW - kw;
                    if (tw < 0 || tw % p.Stride != 0 || tw / p.Stride >= p.OW) continue;
                    int o = (plane * p.OH + th / p.Stride) * p.OW + tw / p.Stride;
                    if (arg[o] == me) sum += dy[o];
                }
            }
            dx[idx] = sum;
        }
    }

    /// <summary>Average over the window; padding counts as zeros (count_include_pad).</summary>
    internal static void AvgPool(Index1D first, ArrayView<float> x, ArrayView<float> y, WindowParams p)
    {
        for (int idx = first; idx < (int)y.Length; idx += GridStride())
        {
            int ow = idx % p.OW, oh = (idx / p.OW) % p.OH, plane = idx / (p.OW * p.OH);
            int baseIdx = plane * p.H * p.W;
            float s = 0f;
            for (int kh = 0; kh < p.KH; kh++)
            {
                int h = oh * p.Stride - p.PadH + kh;
                if (h < 0 || h >= p.H) continue;
                for (int kw = 0; kw < p.KW; kw++)
                {
                    int w = ow * p.Stride - p.PadW + kw;
                    if (w >= 0 && w < p.W) s += x[baseIdx + h * p.W + w];
                }
            }
            y[idx] = s / (p.KH * p.KW);
        }
    }

    internal static void AvgPoolBackward(Index1D first, ArrayView<float> dy, ArrayView<float> dx, WindowParams p)
    {
        for (int idx = first; idx < (int)dx.Length; idx += GridStride())
        {
            int w = idx % p.W, h = (idx / p.W) % p.H, plane = idx / (p.W * p.H);
            float sum = 0f;
            for (int kh = 0; kh < p.KH; kh++)
            {
                int th = h + p.PadH - kh;
                if (th < 0 || th % p.Stride != 0 || th / p.Stride >= p.OH) continue;
                for (int kw = 0; kw < p.KW; kw++)
                {
                    int tw = w + p.PadW - kw;
                    if (tw < 0 || tw % p.Stride != 0 || tw / p.Stride >= p.OW) continue;
                    sum += dy[(plane * p.OH + th / p.Stride) * p.OW + tw / p.Stride];
                }
            }
            dx[idx] = sum / (p.KH * p.KW);
        }
    }

    internal static void Relu(Index1D first, ArrayView<float> x, ArrayView<float> y)
    {
        for (int i = first; i < (int)y.Length; i += GridStride()) y[i] = x[i] > 0f ? x[i] : 0f;
    }

    /// <summary>dx = dy where the output was positive.</summary>
    internal static void ReluBackward(Index1D first, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx)
    {
        for (int i = first; i < (int)dx.Length; i += GridStride()) dx[i] = y[i] > 0f ? dy[i] : 0f;
    }

    internal static void Add(Index1D first, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y)
    {
        for (int i = first; i < (int)y.Length; i += GridStride()) y[i] = a[i] + b[i];
    }

    /// <summary>y += alpha * x.</summary>
    internal static void Axpy(Index1D first, ArrayView<float> x, ArrayView<float> y, float alpha)
    {
        for (int i = first; i < (int)y.Length; i += GridStride()) y[i] += alpha * x[i];
    }

    internal static void Fill(Index1D first, ArrayView<float> y, float value)
    {
        for (int i = first; i < (int)y.Length; i += GridStride()) y[i] = value;
    }

    /// <summary>Copies channels [0, count) of src (srcC channels) to channels [dstOff, dstOff+count) of dst (dstC channels), or back when reverse is 1.</summary>
    internal static void CopyChannels(Index1D first, ArrayView<float> src, ArrayView<float> dst, int count, int srcC, int dstC, int dstOff, int hw, int reverse)
    {
        for (int idx = first; idx < (int)src.Length; idx += GridStride())
        {
            int q = idx % hw;
            int c = (idx / hw) % count;
            int n = idx / (hw * count);
            int s = (n * srcC + c) * hw + q;
            int d = (n * dstC + dstOff + c) * hw + q;
            if (reverse != 0) src[s] = dst[d];
            else dst[d] = src[s];
        }
    }

    /// <summary>Per channel: batch mean and inverse std; running stats updated with the unbiased variance.</summary>
    internal static void BatchNormStats(Index1D first, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> invStd, ArrayView<float> runMean, ArrayView<float> runVar, ChannelParams p)
    {
        for (int c = first; c < (int)mean.Length; c += GridStride())
        {
            float s = 0f;
            for (int n = 0; n < p.N; n++)
            {
                int o = (n * p.C + c) * p.HW;
                for (int q = 0; q < p.HW; q++) s += x[o + q];
            }
            int m = p.N * p.HW;
            float mu = s / m;
            float v = 0f;
            for (int n = 0; n < p.N; n++)
            {
                int o = (n * p.C + c) * p.HW;
                for (int q = 0; q < p.HW; q++) { float d = x[o + q] - mu; v += d * d; }
            }
            float var = v / m;
            mean[c] = mu;
            invStd[c] = 1f / MathF.Sqrt(var + p.Eps);
            runMean[c] = (1f - p.Momentum) * runMean[c] + p.Momentum * mu;
            runVar[c] = (1f - p.Momentum) * runVar[c] + p.Momentum * (m > 1 ? v / (m - 1) : var);
        }
    }

    /// <summary>y = gamma * (x - mean) * scale + beta; scale is the inverse std, or the variance when isVar is 1.</summary>
    internal static void BatchNormApply(Index1D first, ArrayView<float> x, ArrayView<float> y, ArrayView<float> mean, ArrayView<float> scale, ArrayView<float> gamma, ArrayView<float> beta, ChannelParams p, int isVar)
    {
        for (int i = first; i < (int)y.Length; i += GridStride())
        {
            int c = (i / p.HW) % p.C;
            float inv = isVar != 0 ? 1f / MathF.Sqrt(scale[c] + p.Eps) : scale[c];
            y[i] = gamma[c] * (x[i] - mean[c]) * inv + beta[c];
        }
    }

    /// <summary>Per channel: dgamma = sum dy * xhat, dbeta = sum dy.</summary>
    internal static void BatchNormGradStats(Index1D first, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> mean, ArrayView<float> invStd, ArrayView<float> dgamma, ArrayView<float> dbeta, ChannelParams p)
    {
        for (int c = first; c < (int)dgamma.Length; c += GridStride())
        {
            float sg = 0f, sb = 0f;
            for (int n = 0; n < p.N; n++)
            {
                int o = (n * p.C + c) * p.HW;
                for (int q = 0; q < p.HW; q++)
                {
                    float g = dy[o + q];
                    sb += g;
                    sg += g * (x[o + q] - mean[c]) * invStd[c];
                }
            }
            dgamma[c] = sg;
            dbeta[c] = sb;
        }
    }

    internal static void BatchNormBackward(Index1D first, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> mean, ArrayView<float> invStd, ArrayView<float> gamma, ArrayView<float> dgamma, ArrayView<float> dbeta, ArrayView<float> dx, ChannelParams p)
    {
        for (int i = first; i < (int)dx.Length; i += GridStride())
        {
            int c = (i / p.HW) % p.C;
            float m = p.N * p.HW;
            float xhat = (x[i] - mean[c]) * invStd[c];
            dx[i] = gamma[c] * invStd[c] / m * (m * dy[i] - dbeta[c] - xhat * dgamma[c]);
        }
    }

    /// <summary>Per row: loss[i] = log sum exp(z) - z[label].</summary>
    internal static void SoftmaxCrossEntropy(Index1D first, ArrayView<float> z, ArrayView<int> labels, ArrayView<float> loss, int classes)
    {
        for (int i = first; i < (int)loss.Length; i += GridStride())
        {
            int o = i * classes;
            float mx = z[o];
            for (int k = 1; k < classes; k++) mx = MathF.Max(mx, z[o + k]);
            float s = 0f;
            for (int k = 0; k < classes; k++) s += MathF.Exp(z[o + k] - mx);
            loss[i] = MathF.Log(s) + mx - z[o + labels[i]];
        }
    }

    /// <summary>out[0] = scale * sum of v[0..n) (one thread).</summary>
    internal static void SumScaled(Index1D first, ArrayView<float> v, ArrayView<float> output, int n, float scale)
    {
        for (int i = first; i < (int)output.Length; i += GridStride())
        {
            float s = 0f;
            for (int k = 0; k < n; k++) s += v[k];
            output[i] = s * scale;
        }
    }

    /// <summary>dz = (softmax(z) - onehot(label)) * dloss / rows.</summary>
    internal static void SoftmaxCrossEntropyBackward(Index1D first, ArrayView<float> z, ArrayView<int> labels, ArrayView<float> dloss, ArrayView<float> dz, int classes, int rows)
    {
        for (int idx = first; idx < (int)dz.Length; idx += GridStride())
        {
            int i = idx / classes, k = idx % classes, o = i * classes;
            float mx = z[o];
            for (int t = 1; t < classes; t++) mx = MathF.Max(mx, z[o + t]);
            float s = 0f;
            for (int t = 0; t < classes; t++) s += MathF.Exp(z[o + t] - mx);
            float prob = MathF.Exp(z[idx] - mx) / s;
            dz[idx] = (prob - (labels[i] == k ? 1f : 0f)) * dloss[0] / rows;
        }
    }

    /// <summary>SGD with momentum and weight decay: v = mu*v + (g + wd*w); w -= lr*v.</summary>
    internal static void Sgd(Index1D first, ArrayView<float> w, ArrayView<float> g, ArrayView<float> v, float lr, float momentum, float decay)
    {
        for (int i = first; i < (int)w.Length; i += GridStride())
        {
            float d = g[i] + decay * w[i];
            float nv = momentum * v[i] + d;
            v[i] = nv;
            w[i] -= lr * nv;
        }
    }
}
