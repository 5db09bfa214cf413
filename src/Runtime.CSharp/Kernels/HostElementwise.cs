using System.Numerics;
using System.Runtime.InteropServices;

namespace Pgmo.Kernels;

/// <summary>
/// The elementwise kernels that touch every parameter or activation each step (SGD, fill, axpy, add, relu and its
/// gradient) as host code on the CPU accelerator's memory: <see cref="Vector{T}"/> arithmetic in chunks spread over
/// the cores. Same operations in the same order as the ILGPU kernels in <see cref="KernelBodies"/>, so the results
/// are the same floats.
/// </summary>
internal static unsafe class HostElementwise
{
    /// <summary>Elements per task; below two chunks a call runs on the calling thread.</summary>
    private const int Chunk = 1 << 16;

    /// <summary>Runs body(start, count) over [0, n) in chunks, over the cores when there are several.</summary>
    private static void Chunks(long n, Action<long, int> body)
    {
        long chunks = (n + Chunk - 1) / Chunk;
        if (chunks <= 1) { if (n > 0) body(0, (int)n); return; }
        HostParallel.For((int)chunks, n, c => body(c * Chunk, (int)Math.Min(Chunk, n - c * Chunk)));
    }

    private static Span<float> Span(nint p, long start, int count) => new((float*)p + start, count);
    private static Span<Vector<float>> Vectors(Span<float> s) => MemoryMarshal.Cast<float, Vector<float>>(s);

    private delegate void Chunk2(Span<float> a, Span<float> b);
    private delegate void Chunk3(Span<float> a, Span<float> b, Span<float> c);

    /// <summary>body over matching chunks of two views of equal length.</summary>
    private static void Over(ArrayView<float> a, ArrayView<float> b, Chunk2 body)
    {
        nint pa = (nint)HostGemm.Address(a), pb = (nint)HostGemm.Address(b);
        Chunks(b.Length, (s, n) => body(Span(pa, s, n), Span(pb, s, n)));
    }

    /// <summary>body over matching chunks of three views of equal length.</summary>
    private static void Over(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, Chunk3 body)
    {
        nint pa = (nint)HostGemm.Address(a), pb = (nint)HostGemm.Address(b), pc = (nint)HostGemm.Address(c);
        Chunks(c.Length, (s, n) => body(Span(pa, s, n), Span(pb, s, n), Span(pc, s, n)));
    }

    /// <summary>y[range] = value.</summary>
    public static void Fill(ArrayView<float> y, float value, ElementRange range)
    {
        nint py = (nint)(HostGemm.Address(y) + range.Start);
        Chunks(range.Count, (s, n) => Span(py, s, n).Fill(value));
    }

    /// <summary>y += alpha * x.</summary>
    public static void Axpy(ArrayView<float> x, ArrayView<float> y, float alpha) => Over(x, y, (xs, ys) =>
    {
        var xv = Vectors(xs);
        var yv = Vectors(ys);
        var a = new Vector<float>(alpha);
        for (int i = 0; i < yv.Length; i++) yv[i] += a * xv[i];
        for (int i = yv.Length * Vector<float>.Count; i < ys.Length; i++) ys[i] += alpha * xs[i];
    });

    /// <summary>y = a + b; with <paramref name="relu"/>, then y where y &gt; 0, else 0 (<see cref="Relu"/>'s floats) in
    /// the same pass.</summary>
    public static void Add(ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, bool relu = false) => Over(a, b, y, (@as, bs, ys) =>
    {
        var av = Vectors(@as);
        var bv = Vectors(bs);
        var yv = Vectors(ys);
        if (relu)
        {
            for (int i = 0; i < yv.Length; i++) yv[i] = Vec.Relu(av[i] + bv[i]);
            for (int i = yv.Length * Vector<float>.Count; i < ys.Length; i++) ys[i] = Vec.Relu(@as[i] + bs[i]);
            return;
        }
        for (int i = 0; i < yv.Length; i++) yv[i] = av[i] + bv[i];
        for (int i = yv.Length * Vector<float>.Count; i < ys.Length; i++) ys[i] = @as[i] + bs[i];
    });

    /// <summary>y = x where x &gt; 0, else 0 (the gradient's mask applied to x itself).</summary>
    public static void Relu(ArrayView<float> x, ArrayView<float> y) => ReluBackward(x, x, y);

    /// <summary>dx = dy where y &gt; 0, else 0.</summary>
    public static void ReluBackward(ArrayView<float> y, ArrayView<float> dy, ArrayView<float> dx) => Over(y, dy, dx, (ys, dys, dxs) =>
    {
        var yv = Vectors(ys);
        var dyv = Vectors(dys);
        var dxv = Vectors(dxs);
        for (int i = 0; i < dxv.Length; i++) dxv[i] = Vector.ConditionalSelect(Vector.GreaterThan(yv[i], Vector<float>.Zero), dyv[i], Vector<float>.Zero);
        for (int i = dxv.Length * Vector<float>.Count; i < dxs.Length; i++) dxs[i] = ys[i] > 0f ? dys[i] : 0f;
    });

    /// <summary>y = a * b.</summary>
    public static void Multiply(ArrayView<float> a, ArrayView<float> b, ArrayView<float> y)
    {
        nint pa = (nint)HostGemm.Address(a), pb = (nint)HostGemm.Address(b), py = (nint)HostGemm.Address(y);
        Chunks(y.Length, (s, n) => Vec.Multiply((float*)pa + s, (float*)pb + s, (float*)py + s, n));
    }

    /// <summary>Inverted dropout (see <see cref="KernelBodies.Dropout"/>): the same mask, a function of the seed and
    /// the element index only, so the same floats as the ILGPU kernel.</summary>
    public static void Dropout(ArrayView<float> x, ArrayView<float> y, ArrayView<float> mask, DropoutParams p)
    {
        nint px = (nint)HostGemm.Address(x), py = (nint)HostGemm.Address(y), pm = (nint)HostGemm.Address(mask);
        Chunks(y.Length, (s, n) =>
        {
            float* xs = (float*)px, ys = (float*)py, ms = (float*)pm;
            for (long i = s; i < s + n; i++)
            {
                float m = KernelBodies.Uniform(p.Seed, i) >= p.P ? p.Scale : 0f;
                ms[i] = m;
                ys[i] = xs[i] * m;
            }
        });
    }

    /// <summary>Copies all channels of src (count = srcC channels of hw pixels per sample) into channels
    /// [dstOff, dstOff + srcC) of dst (dstC channels), or back when <paramref name="reverse"/>: one contiguous run per sample.</summary>
    public static void CopyChannels(ArrayView<float> src, ArrayView<float> dst, int n, int srcC, int dstC, int dstOff, int hw, bool reverse)
    {
        float* ss = HostGemm.Address(src), ds = HostGemm.Address(dst);
        long run = (long)srcC * hw;
        HostParallel.Ranges((long)n * run, Chunk, (start, count) =>
        {
            for (long e = start, end = start + count; e < end;)
            {
                long sample = e / run, within = e % run, len = Math.Min(end - e, run - within);
                float* s = ss + sample * run + within, d = ds + (sample * dstC + dstOff) * hw + within;
                if (reverse) Buffer.MemoryCopy(d, s, len * sizeof(float), len * sizeof(float));
                else Buffer.MemoryCopy(s, d, len * sizeof(float), len * sizeof(float));
                e += len;
            }
        });
    }

    /// <summary>SGD with momentum and weight decay: v = mu*v + (g + wd*w); w -= lr*v.</summary>
    public static void Sgd(ArrayView<float> w, ArrayView<float> g, ArrayView<float> v, float lr, float momentum, float decay) => Over(w, g, v, (ws, gs, vs) =>
    {
        var wv = Vectors(ws);
        var gv = Vectors(gs);
        var vv = Vectors(vs);
        var (lrv, mv, dv) = (new Vector<float>(lr), new Vector<float>(momentum), new Vector<float>(decay));
        for (int i = 0; i < wv.Length; i++)
        {
            var d = gv[i] + dv * wv[i];
            var nv = mv * vv[i] + d;
            vv[i] = nv;
            wv[i] -= lrv * nv;
        }
        for (int i = wv.Length * Vector<float>.Count; i < ws.Length; i++)
        {
            float d = gs[i] + decay * ws[i];
            float nv = momentum * vs[i] + d;
            vs[i] = nv;
            ws[i] -= lr * nv;
        }
    });
}
