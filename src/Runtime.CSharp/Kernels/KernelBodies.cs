namespace Pgmo.Kernels;

/// <summary>
/// The kernels themselves: static methods over an index and views (ILGPU compiles them per accelerator). Element
/// kernels are grid-stride loops over a 64-bit <see cref="ElementRange"/> (see <see cref="LaunchSplit"/>), and every
/// index that can pass 2^31 (a position in a tensor, a batch offset) is computed in <c>long</c>.
/// </summary>
internal static partial class KernelBodies
{
    internal const int Tile = 16;

    /// <summary>Threads per group of the reduction kernels (a power of two).</summary>
    internal const int ReduceGroup = 256;

    /// <summary>Threads in the launch: kernels are grid-stride loops, so the CPU accelerator launches a few threads
    /// that each handle many elements, while GPUs launch one thread per element.</summary>
    private static int GridStride() => Grid.DimX * Group.DimX;

    /// <summary>The output position whose window puts tap k on input position t (t = in + pad - k), or -1 when the
    /// window there is off the stride grid or past the output: the backward passes gather over the windows this way.</summary>
    private static int WindowTap(int t, int stride, int outSize) =>
        t < 0 || t % stride != 0 || t / stride >= outSize ? -1 : t / stride;

    /// <summary>An element of planes of height x width (see <see cref="Of"/>): its plane, row and column.</summary>
    private struct PlaneIndex
    {
        public long Plane;
        public int Row, Col;

        public static PlaneIndex Of(long index, int height, int width) => new()
        {
            Col = (int)(index % width), Row = (int)(index / width % height), Plane = index / ((long)width * height),
        };
    }

    /// <summary>What a backward pass gathers from the output (oh, ow) whose window puts tap (kh, kw) on its input
    /// pixel (see <see cref="GatherTaps{T}"/>).</summary>
    private interface IWindowTap
    {
        /// <summary>The term of output (oh, ow) at tap (kh, kw), or 0 where it gives none (adding +0 leaves the sum's
        /// bits: the sum starts at +0, and a float sum that starts there is never −0).</summary>
        float At(int oh, int ow, int kh, int kw);
    }

    /// <summary>
    /// The sum of <c>tap.At(oh, ow, kh, kw)</c> over the taps (kh, kw) in row-major order, (oh, ow) the output whose
    /// window puts the tap on input pixel (h, w), taps whose window is off the stride grid or past the output left
    /// out: the backward passes gather over the windows holding a pixel this way (no atomics, deterministic). ILGPU
    /// takes no delegates, so the term comes from a struct type parameter, which it specializes.
    /// </summary>
    private static float GatherTaps<T>(T tap, int h, int w, WindowParams p) where T : struct, IWindowTap
    {
        float sum = 0f;
        for (int kh = 0; kh < p.KH; kh++)
        {
            int oh = WindowTap(h + p.PadH - kh, p.Stride, p.OH);
            if (oh < 0) continue;
            for (int kw = 0; kw < p.KW; kw++)
            {
                int ow = WindowTap(w + p.PadW - kw, p.Stride, p.OW);
                if (ow >= 0) sum += tap.At(oh, ow, kh, kw);
            }
        }
        return sum;
    }

    /// <summary>What a forward pooling pass does with each pixel of a window (see <see cref="ScanWindow{T}"/>).</summary>
    private interface IWindowScan
    {
        /// <summary>Takes pixel value <paramref name="v"/>, at index <paramref name="at"/> of its plane (h*W + w).</summary>
        void Take(float v, int at);
    }

    /// <summary>scan.Take for every pixel of the window of <paramref name="rows"/> and <paramref name="cols"/> in the
    /// plane starting at element <paramref name="plane"/> (rows of <paramref name="width"/>), row by row.</summary>
    private static void ScanWindow<T>(ref T scan, ArrayView<float> x, long plane, PoolRange rows, PoolRange cols, int width) where T : struct, IWindowScan
    {
        for (int h = rows.Lo; h < rows.Hi; h++)
            for (int w = cols.Lo; w < cols.Hi; w++) scan.Take(x[plane + (long)h * width + w], h * width + w);
    }

    /// <summary>The window's maximum and its index in the plane: the first of equal maxima, -1 for an empty window.</summary>
    private struct MaxScan : IWindowScan
    {
        public float Best;
        public int At;

        public void Take(float v, int at)
        {
            if (At < 0 || v > Best) { Best = v; At = at; }
        }
    }

    /// <summary>The window's sum.</summary>
    private struct SumScan : IWindowScan
    {
        public float Sum;

        public void Take(float v, int at) => Sum += v;
    }

    /// <summary>The mean of output <paramref name="o"/>'s window (see <see cref="IPoolWindows.Count"/>) over planes of
    /// <paramref name="height"/> x <paramref name="width"/> inputs: average and adaptive average pooling.</summary>
    private static float WindowMean<TW>(ArrayView<float> x, PlaneIndex o, int height, int width, TW windows) where TW : struct, IPoolWindows
    {
        PoolRange rows = windows.Rows(o.Row), cols = windows.Cols(o.Col);
        var sum = new SumScan();
        ScanWindow(ref sum, x, o.Plane * height * width, rows, cols, width);
        return sum.Sum / windows.Count(rows, cols);
    }

    /// <summary>One thread per output element; the reference GEMM (and the CPU accelerator's in tests).</summary>
    internal static void GemmSimple(Index1D first, ElementRange range, ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmParams p)
    {
        for (long idx = range.Start + first, step = GridStride(); idx < range.End; idx += step)
        {
            int j = (int)(idx % p.N);
            long t = idx / p.N;
            int i = (int)(t % p.M);
            int bt = (int)(t / p.M);
            int b0 = p.ReduceBatch != 0 ? 0 : bt;
            int b1 = p.ReduceBatch != 0 ? p.Batch : bt + 1;
            float sum = 0f;
            for (int bb = b0; bb < b1; bb++)
            {
                long ao = bb * p.ABatch + i * p.ARow;
                long bo = bb * p.BBatch + j * p.BCol;
                for (int k = 0; k < p.K; k++) sum += a[ao + k * p.ACol] * b[bo + k * p.BRow];
            }
            long ci = bt * p.CBatch + i * p.CRow + j * p.CCol;
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
            long ci = bt * p.CBatch + i * p.CRow + j * p.CCol;
            c[ci] = p.Beta == 0f ? p.Alpha * sum : p.Alpha * sum + p.Beta * c[ci];
        }
    }

    /// <summary>
    /// The im2col columns of one tile: col[n - N0, (c,kh,kw), q - Q0] = x[n, c, oh*S-P+kh, ow*S-P+kw] (0 outside) for
    /// samples [N0, N0+Nb) and output positions q = oh*OW+ow in [Q0, Q0+T).
    /// </summary>
    internal static void Im2Col(Index1D first, ElementRange range, ArrayView<float> x, ArrayView<float> col, WindowParams p, ConvTile tile)
    {
        int ckk = p.C * p.KH * p.KW;
        for (long idx = range.Start + first, step = GridStride(); idx < range.End; idx += step)
        {
            int q = (int)(idx % tile.T) + tile.Q0;
            long t = idx / tile.T;
            int r = (int)(t % ckk);
            long n = t / ckk + tile.N0;
            int kw = r % p.KW, kh = (r / p.KW) % p.KH, ch = r / (p.KW * p.KH);
            int h = (q / p.OW) * p.Stride - p.PadH + kh;
            int w = (q % p.OW) * p.Stride - p.PadW + kw;
            col[idx] = h >= 0 && h < p.H && w >= 0 && w < p.W ? x[((n * p.C + ch) * p.H + h) * p.W + w] : 0f;
        }
    }

    /// <summary>
    /// The adjoint of <see cref="Im2Col"/> for one tile, gathered per input element (no atomics, deterministic): for
    /// the tile's samples and input rows [H0, H1), dx += (or = when Accumulate is 0) the tile's column entries.
    /// </summary>
    internal static void Col2Im(Index1D first, ElementRange range, ArrayView<float> col, ArrayView<float> dx, WindowParams p, ConvTile tile)
    {
        int rows = tile.H1 - tile.H0;
        for (long idx = range.Start + first, step = GridStride(); idx < range.End; idx += step)
        {
            var at = PlaneIndex.Of(idx, rows, p.W);
            int h = at.Row + tile.H0, ch = (int)(at.Plane % p.C);
            long nt = at.Plane / p.C;
            float sum = GatherTaps(new ColumnTap { Col = col, P = p, Tile = tile, Row0 = nt * p.Ckk + ch * p.KH * p.KW }, h, at.Col, p);
            long d = (((nt + tile.N0) * p.C + ch) * p.H + h) * p.W + at.Col;
            dx[d] = tile.Accumulate != 0 ? dx[d] + sum : sum;
        }
    }

    /// <summary>col2im's term: the tile's column entry of tap (kh, kw) at output (oh, ow), where the tile holds that
    /// output; <see cref="Row0"/> is the column matrix row of the sample's channel at tap (0, 0).</summary>
    private struct ColumnTap : IWindowTap
    {
        public ArrayView<float> Col;
        public WindowParams P;
        public ConvTile Tile;
        public long Row0;

        public readonly float At(int oh, int ow, int kh, int kw)
        {
            int q = oh * P.OW + ow - Tile.Q0;
            return q < 0 || q >= Tile.T ? 0f : Col[(Row0 + kh * P.KW + kw) * Tile.T + q];
        }
    }

    /// <summary>y[i] += bias[(i / hw) % channels].</summary>
    internal static void AddBias(Index1D first, ElementRange range, ArrayView<float> y, ArrayView<float> bias, int channels, int hw)
    {
        for (long idx = range.Start + first, step = GridStride(); idx < range.End; idx += step) y[idx] += bias[(idx / hw) % channels];
    }

    /// <summary>sum[c] = sum over n, p of v[(n*C + c)*HW + p]: one thread per channel (the CPU accelerator's version).</summary>
    internal static void ChannelSum(Index1D first, ElementRange range, ArrayView<float> v, ArrayView<float> sum, ChannelParams p)
    {
        for (long c = range.Start + first, step = GridStride(); c < range.End; c += step)
        {
            float s = 0f;
            for (int b = 0; b < p.N; b++)
            {
                long o = (b * (long)p.C + c) * p.HW;
                for (int q = 0; q < p.HW; q++) s += v[o + q];
            }
            sum[c] = s * p.Scale;
        }
    }

    /// <summary>The sum of <paramref name="value"/> over the group (all threads get it); <paramref name="shared"/> holds
    /// <see cref="ReduceGroup"/> floats and the group size is a power of two.</summary>
    private static float GroupSum(ArrayView<float> shared, float value)
    {
        int t = Group.IdxX;
        shared[t] = value;
        Group.Barrier();
        for (int s = Group.DimX / 2; s > 0; s >>= 1)
        {
            if (t < s) shared[t] += shared[t + s];
            Group.Barrier();
        }
        float r = shared[0];
        Group.Barrier();
        return r;
    }

    /// <summary>The element of channel <paramref name="c"/> with in-channel index <paramref name="e"/> (e in [0, N*HW)).</summary>
    private static long ChannelElement(ChannelParams p, int c, long e) => (e / p.HW * p.C + c) * p.HW + e % p.HW;

    /// <summary>Channel sums (times Scale) as a parallel reduction: one group of <see cref="ReduceGroup"/> threads per channel.</summary>
    internal static void ChannelSumGroup(ArrayView<float> v, ArrayView<float> sum, ChannelParams p)
    {
        var shared = SharedMemory.Allocate<float>(ReduceGroup);
        int c = Grid.IdxX;
        long count = (long)p.N * p.HW;
        float s = 0f;
        for (long e = Group.IdxX; e < count; e += Group.DimX) s += v[ChannelElement(p, c, e)];
        s = GroupSum(shared, s);
        if (Group.IdxX == 0) sum[c] = s * p.Scale;
    }

    /// <summary>Per channel: batch mean and inverse std; running stats updated with the unbiased variance.</summary>
    internal static void BatchNormStats(Index1D first, ElementRange range, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> invStd, ArrayView<float> runMean, ArrayView<float> runVar, ChannelParams p)
    {
        for (long c = range.Start + first, step = GridStride(); c < range.End; c += step)
        {
            float s = 0f;
            for (int n = 0; n < p.N; n++)
            {
                long o = (n * (long)p.C + c) * p.HW;
                for (int q = 0; q < p.HW; q++) s += x[o + q];
            }
            long m = p.Count;
            float mu = s / m;
            float v = 0f;
            for (int n = 0; n < p.N; n++)
            {
                long o = (n * (long)p.C + c) * p.HW;
                for (int q = 0; q < p.HW; q++) { float d = x[o + q] - mu; v += d * d; }
            }
            StoreStats(mean, invStd, runMean, runVar, p, c, mu, v);
        }
    }

    /// <summary>Batch-norm statistics as a parallel reduction: one group per channel, two passes (mean, then squared deviations).</summary>
    internal static void BatchNormStatsGroup(ArrayView<float> x, ArrayView<float> mean, ArrayView<float> invStd, ArrayView<float> runMean, ArrayView<float> runVar, ChannelParams p)
    {
        var shared = SharedMemory.Allocate<float>(ReduceGroup);
        int c = Grid.IdxX;
        long count = p.Count;
        float s = 0f;
        for (long e = Group.IdxX; e < count; e += Group.DimX) s += x[ChannelElement(p, c, e)];
        float mu = GroupSum(shared, s) / count;
        float v = 0f;
        for (long e = Group.IdxX; e < count; e += Group.DimX) { float d = x[ChannelElement(p, c, e)] - mu; v += d * d; }
        v = GroupSum(shared, v);
        if (Group.IdxX == 0) StoreStats(mean, invStd, runMean, runVar, p, c, mu, v);
    }

    /// <summary>Writes a channel's mean and inverse std and updates its running statistics (v: sum of squared deviations).</summary>
    private static void StoreStats(ArrayView<float> mean, ArrayView<float> invStd, ArrayView<float> runMean, ArrayView<float> runVar, ChannelParams p, long c, float mu, float v)
    {
        long m = p.Count;
        float var = v / m;
        mean[c] = mu;
        invStd[c] = 1f / MathF.Sqrt(var + p.Eps);
        runMean[c] = (1f - p.Momentum) * runMean[c] + p.Momentum * mu;
        runVar[c] = (1f - p.Momentum) * runVar[c] + p.Momentum * (m > 1 ? v / (m - 1) : var);
    }

    /// <summary>The window maximum and its index in the plane (h*W + w; the first of equal maxima).</summary>
    internal static void MaxPool(Index1D first, ElementRange range, ArrayView<float> x, ArrayView<float> y, ArrayView<int> arg, WindowParams p)
    {
        for (long idx = range.Start + first, step = GridStride(); idx < range.End; idx += step)
        {
            var o = PlaneIndex.Of(idx, p.OH, p.OW);
            var max = new MaxScan { Best = float.NegativeInfinity, At = -1 };
            ScanWindow(ref max, x, o.Plane * p.H * p.W, p.Rows(o.Row), p.Cols(o.Col), p.W);
            y[idx] = max.Best;
            arg[idx] = max.At;
        }
    }

    /// <summary>dx = the sum of dy over the windows whose maximum the element is.</summary>
    internal static void MaxPoolBackward(Index1D first, ElementRange range, ArrayView<float> dy, ArrayView<int> arg, ArrayView<float> dx, WindowParams p)
    {
        for (long idx = range.Start + first, step = GridStride(); idx < range.End; idx += step)
        {
            var at = PlaneIndex.Of(idx, p.H, p.W);
            var tap = new OutputTap { Dy = dy, Arg = arg, Plane = at.Plane * p.OH * p.OW, OW = p.OW, Me = at.Row * p.W + at.Col };
            dx[idx] = GatherTaps(tap, at.Row, at.Col, p);
        }
    }

    /// <summary>Average over the window; padding counts as zeros (count_include_pad).</summary>
    internal static void AvgPool(Index1D first, ElementRange range, ArrayView<float> x, ArrayView<float> y, WindowParams p)
    {
        for (long idx = range.Start + first, step = GridStride(); idx < range.End; idx += step)
            y[idx] = WindowMean(x, PlaneIndex.Of(idx, p.OH, p.OW), p.H, p.W, p);
    }

    /// <summary>dx = the sum of dy over the windows holding the element, over the window size.</summary>
    internal static void AvgPoolBackward(Index1D first, ElementRange range, ArrayView<float> dy, ArrayView<float> dx, WindowParams p)
    {
        for (long idx = range.Start + first, step = GridStride(); idx < range.End; idx += step)
        {
            var at = PlaneIndex.Of(idx, p.H, p.W);
            var tap = new OutputTap { Dy = dy, Plane = at.Plane * p.OH * p.OW, OW = p.OW, Me = -1 };
            dx[idx] = GatherTaps(tap, at.Row, at.Col, p) / (p.KH * p.KW);
        }
    }

    /// <summary>The pooling backward passes' term: dy of output (oh, ow) (in the plane starting at element
    /// <see cref="Plane"/>), all of it (<see cref="Me"/> -1) or only where the output's argmax is <see cref="Me"/>.</summary>
    private struct OutputTap : IWindowTap
    {
        public ArrayView<float> Dy;
        public ArrayView<int> Arg;
        public long Plane;
        public int OW, Me;

        public readonly float At(int oh, int ow, int kh, int kw)
        {
            long o = Plane + oh * OW + ow;
            return Me < 0 || Arg[o] == Me ? Dy[o] : 0f;
        }
    }

    internal static void Relu(Index1D first, ElementRange range, ArrayView<float> x, ArrayView<float> y)
    {
        for (long i = range.Start + first, step = GridStride(); i < range.End; i += step) y[i] = x[i] > 0f ? x[i] : 0f;
    }

    /// <summary>dx = dy where the output was positive.</summary>
    internal static void ReluBackward(Index1D first, ElementRange range, ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx)
    {
        for (long i = range.Start + first, step = GridStride(); i < range.End; i += step) dx[i] = y[i] > 0f ? dy[i] : 0f;
    }

    internal static void Add(Index1D first, ElementRange range, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y)
    {
        for (long i = range.Start + first, step = GridStride(); i < range.End; i += step) y[i] = a[i] + b[i];
    }

    /// <summary>y += alpha * x.</summary>
    internal static void Axpy(Index1D first, ElementRange range, ArrayView<float> x, ArrayView<float> y, float alpha)
    {
        for (long i = range.Start + first, step = GridStride(); i < range.End; i += step) y[i] += alpha * x[i];
    }

    internal static void Fill(Index1D first, ElementRange range, ArrayView<float> y, float value)
    {
        for (long i = range.Start + first, step = GridStride(); i < range.End; i += step) y[i] = value;
    }

    /// <summary>Copies channels [0, count) of src (srcC channels) to channels [dstOff, dstOff+count) of dst (dstC channels), or back when reverse is 1.</summary>
    internal static void CopyChannels(Index1D first, ElementRange range, ArrayView<float> src, ArrayView<float> dst, int count, int srcC, int dstC, int dstOff, int hw, int reverse)
    {
        for (long idx = range.Start + first, step = GridStride(); idx < range.End; idx += step)
        {
            int q = (int)(idx % hw);
            int c = (int)(idx / hw % count);
            long n = idx / ((long)hw * count);
            long s = (n * srcC + c) * hw + q;
            long d = (n * dstC + dstOff + c) * hw + q;
            if (reverse != 0) src[s] = dst[d];
            else dst[d] = src[s];
        }
    }

    /// <summary>y = gamma * (x - mean) * scale + beta; scale is the inverse std, or the variance when isVar is 1.</summary>
    internal static void BatchNormApply(Index1D first, ElementRange range, ArrayView<float> x, ArrayView<float> y, ArrayView<float> mean, ArrayView<float> scale, ArrayView<float> gamma, ArrayView<float> beta, ChannelParams p, int isVar)
    {
        for (long i = range.Start + first, step = GridStride(); i < range.End; i += step)
        {
            long c = i / p.HW % p.C;
            float inv = isVar != 0 ? 1f / MathF.Sqrt(scale[c] + p.Eps) : scale[c];
            y[i] = gamma[c] * (x[i] - mean[c]) * inv + beta[c];
        }
    }

    /// <summary>Per channel: dgamma = sum dy * xhat, dbeta = sum dy (one thread per channel: the CPU accelerator's version).</summary>
    internal static void BatchNormGradStats(Index1D first, ElementRange range, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> mean, ArrayView<float> invStd, ArrayView<float> dgamma, ArrayView<float> dbeta, ChannelParams p)
    {
        for (long c = range.Start + first, step = GridStride(); c < range.End; c += step)
        {
            float sg = 0f, sb = 0f;
            for (int n = 0; n < p.N; n++)
            {
                long o = (n * (long)p.C + c) * p.HW;
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

    /// <summary>dgamma and dbeta as a parallel reduction: one group per channel.</summary>
    internal static void BatchNormGradStatsGroup(ArrayView<float> x, ArrayView<float> dy, ArrayView<float> mean, ArrayView<float> invStd, ArrayView<float> dgamma, ArrayView<float> dbeta, ChannelParams p)
    {
        var shared = SharedMemory.Allocate<float>(ReduceGroup);
        int c = Grid.IdxX;
        long count = p.Count;
        float mu = mean[c], inv = invStd[c];
        float sg = 0f, sb = 0f;
        for (long e = Group.IdxX; e < count; e += Group.DimX)
        {
            long i = ChannelElement(p, c, e);
            float g = dy[i];
            sb += g;
            sg += g * (x[i] - mu) * inv;
        }
        sg = GroupSum(shared, sg);
        sb = GroupSum(shared, sb);
        if (Group.IdxX == 0) { dgamma[c] = sg; dbeta[c] = sb; }
    }

    internal static void BatchNormBackward(Index1D first, ElementRange range, ArrayView<float> x, ArrayView<float> dy, ArrayView<float> mean, ArrayView<float> invStd, ArrayView<float> gamma, ArrayView<float> dgamma, ArrayView<float> dbeta, ArrayView<float> dx, ChannelParams p)
    {
        for (long i = range.Start + first, step = GridStride(); i < range.End; i += step)
        {
            long c = i / p.HW % p.C;
            float m = p.Count;
            float xhat = (x[i] - mean[c]) * invStd[c];
            dx[i] = gamma[c] * invStd[c] / m * (m * dy[i] - dbeta[c] - xhat * dgamma[c]);
        }
    }

    /// <summary>Per row: loss[i] = log sum exp(z) - z[label].</summary>
    internal static void SoftmaxCrossEntropy(Index1D first, ElementRange range, ArrayView<float> z, ArrayView<int> labels, ArrayView<float> loss, int classes)
    {
        for (long i = range.Start + first, step = GridStride(); i < range.End; i += step)
        {
            long o = i * classes;
            float mx = z[o];
            for (int k = 1; k < classes; k++) mx = MathF.Max(mx, z[o + k]);
            float s = 0f;
            for (int k = 0; k < classes; k++) s += MathF.Exp(z[o + k] - mx);
            loss[i] = MathF.Log(s) + mx - z[o + labels[i]];
        }
    }

    /// <summary>dz = (softmax(z) - onehot(label)) * dloss / rows.</summary>
    internal static void SoftmaxCrossEntropyBackward(Index1D first, ElementRange range, ArrayView<float> z, ArrayView<int> labels, ArrayView<float> dloss, ArrayView<float> dz, int classes, int rows)
    {
        for (long idx = range.Start + first, step = GridStride(); idx < range.End; idx += step)
        {
            long i = idx / classes, o = i * classes;
            int k = (int)(idx % classes);
            float mx = z[o];
            for (int t = 1; t < classes; t++) mx = MathF.Max(mx, z[o + t]);
            float s = 0f;
            for (int t = 0; t < classes; t++) s += MathF.Exp(z[o + t] - mx);
            float prob = MathF.Exp(z[idx] - mx) / s;
            dz[idx] = (prob - (labels[i] == k ? 1f : 0f)) * dloss[0] / rows;
        }
    }

    /// <summary>SGD with momentum and weight decay: v = mu*v + (g + wd*w); w -= lr*v.</summary>
    internal static void Sgd(Index1D first, ElementRange range, ArrayView<float> w, ArrayView<float> g, ArrayView<float> v, float lr, float momentum, float decay)
    {
        for (long i = range.Start + first, step = GridStride(); i < range.End; i += step)
        {
            float d = g[i] + decay * w[i];
            float nv = momentum * v[i] + d;
            v[i] = nv;
            w[i] -= lr * nv;
        }
    }
}
