using System.CommandLine;
using System.Diagnostics;
using Spectre.Console;
using Pgmo.Kernels;
using Pgmo.Memory;
using Pgmo.Models;
using Pgmo.Nn;
using Pgmo.Training;

namespace Pgmo.Cli;

/// <summary>
/// `pgmo bench-kernels`: GEMM and convolution throughput on the accelerator in use, beside a plain single-threaded
/// C# loop measured in the same run, then training step times.
/// </summary>
public static class BenchKernelsCommand
{
    /// <summary>The GEMM size the JSON figures <c>gemmGflops</c> and <c>loopGflops</c> are for.</summary>
    const int JsonSize = 512;

    public static Command Create()
    {
        var accelerator = new Option<string>("--accelerator") { Description = "auto, cpu or cuda", DefaultValueFactory = _ => "auto" };
        var sizes = new Option<string>("--sizes") { Description = "comma-separated square GEMM sizes (the JSON figures are for 512)", DefaultValueFactory = _ => "64,256,512" };
        var json = new Option<bool>("--json") { Description = "also print accelerator, gemmGflops and loopGflops (GEMM 512^3) and every row as one JSON object on the last line of standard output" };
        var isas = new Option<bool>("--compare-isas") { Description = "instead: the host GEMM with each micro-kernel this CPU has (AVX-512, AVX2+FMA) side by side, GFLOP/s at 512^3 and at the convolution GEMMs of AlexNet, VGG-16 and ResNet-50 (224 px, batch 8), and whether their bits are equal" };
        var rounds = new Option<int>("--rounds") { Description = "with --compare-isas: timed runs of each kernel, in turn (the median is reported)", DefaultValueFactory = _ => 5 };
        var command = new Command("bench-kernels", "Benchmark the runtime's kernels: GEMM and conv2d GFLOP/s on the accelerator in use beside a plain C# loop in the same run, and training step time per digits model.")
        {
            accelerator, sizes, json, isas, rounds,
        };
        command.SetAction(r =>
        {
            if (!r.GetValue(isas)) return Run(r.GetValue(accelerator)!, r.GetValue(sizes)!, r.GetValue(json));
            if (r.GetValue(rounds) is < 1 or > 1000) throw new UsageException("--rounds must be from 1 to 1000");
            return IsaComparison.Run(r.GetValue(json), r.GetValue(rounds));
        });
        return command;
    }

    static int Run(string acceleratorText, string sizesText, bool json)
    {
        if (Device.Parse(acceleratorText) is not { } choice) throw new UsageException($"--accelerator: unknown accelerator '{acceleratorText}' (expected auto, cpu or cuda)");
        var sizes = new List<int>();
        foreach (var s in sizesText.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(s, out var n) || n < 1 || n > 8192) throw new UsageException($"--sizes: '{s}' is not a size from 1 to 8192");
            sizes.Add(n);
        }
        Device device;
        try { device = Device.Create(choice); }
        catch (InvalidOperationException e) { throw new UsageException(e.Message); }
        using var _ = device;
        var kernels = device.Kernels!;
        string gemmName = kernels.GemmKernel switch
        {
            GemmKernel.HostBlocked => $"host-blocked GEMM ({HostGemm.Name(HostCpu.Default)}, {Environment.ProcessorCount} cores)",
            GemmKernel.CuBlas => "cuBLAS GEMM",
            var k => $"{k.ToString().ToLowerInvariant()} ILGPU GEMM" + (kernels.CuBlasError is { } why ? $" (cuBLAS unavailable: {why})" : ""),
        };
        Output.Err.MarkupLineInterpolated($"benchmarking on {device.Description}, {gemmName}; the C# loop is one thread of plain loops");

        var rows = new List<object>();
        var table = new Table { Border = TableBorder.Simple };
        foreach (var c in new[] { "kernel", "shape", $"{device.Name} GFLOP/s", "C# loop GFLOP/s", "speed-up", $"{device.Name} ms (median ±half IQR)" })
            table.AddColumn(c is "kernel" or "shape" ? new TableColumn(c) : new TableColumn(c).RightAligned());
        double? gemmGflops = null, loopGflops = null;
        using (var alloc = Allocators.Create(AllocatorKind.Pool, device.Accelerator))
        {
            var tape = new Tape(device, alloc);
            foreach (var n in sizes)
            {
                var (time, loopTime) = BenchGemm(device, tape, n);
                double flop = 2.0 * n * n * n;
                AddRow("gemm", $"{n}x{n}x{n}", flop, time, loopTime);
                if (n == JsonSize) (gemmGflops, loopGflops) = (Gflops(flop, time), Gflops(flop, loopTime));
            }
            foreach (var (n, cin, cout, hw) in new[] { (32, 16, 32, 16), (8, 64, 64, 28) })
            {
                var (fwd, bwd, loop) = BenchConv(device, tape, n, cin, cout, hw);
                double flop = 2.0 * n * cout * hw * hw * cin * 9;
                AddRow("conv2d 3x3 forward", $"{n}x{cin}x{hw}x{hw} -> {cout}", flop, fwd, loop);
                AddRow("conv2d 3x3 backward (dx, dw)", $"{n}x{cin}x{hw}x{hw} -> {cout}", 2 * flop, bwd, null);
            }
        }
        AddStepRows(device, table, rows);
        PaperStepTimes.AddRows(device, table, rows);
        Output.Out.Write(table);
        if (json) Output.JsonLine(new { accelerator = device.Name, acceleratorName = device.Accelerator!.Name, gemm = kernels.GemmKernel.ToString(), gemmGflops, loopGflops, rows });
        return 0;

        // GFLOP/s from the median time; the last column is the median ±half the interquartile range
        void AddRow(string kernel, string shape, double flop, TimingSummary time, TimingSummary? loopTime)
        {
            double gflops = Gflops(flop, time);
            double? hostGflops = loopTime is { } l ? Gflops(flop, l) : null;
            table.AddRow(kernel, shape, $"{gflops:0.00}", hostGflops is { } h ? $"{h:0.00}" : "", hostGflops is { } hg ? $"{gflops / hg:0.0}x" : "", time.ToString());
            rows.Add(new { kernel, shape, gflops, hostGflops, millis = time.MedianMillis, spreadMillis = time.SpreadMillis });
        }
    }

    /// <summary>GFLOP/s of <paramref name="flop"/> floating-point operations in the median time.</summary>
    static double Gflops(double flop, TimingSummary time) => flop / (time.MedianMillis * 1e6);

    /// <summary>Times of an n^3 GEMM on the device and of the plain loop.</summary>
    static (TimingSummary Device, TimingSummary Loop) BenchGemm(Device device, Tape tape, int n)
    {
        var a = tape.Upload(Random(n * n, 1), new[] { n, n }, "a");
        var b = tape.Upload(Random(n * n, 2), new[] { n, n }, "b");
        var c = tape.Empty(new[] { n, n }, "c");
        var time = Time(device, () => device.Kernels!.Gemm(a.View, b.View, c.View, GemmParams.Plain(n, n, n, false, false)));
        var (ah, bh, ch) = (Random(n * n, 1), Random(n * n, 2), new float[n * n]);
        var loopTime = Time(null, () => LoopGemm(ah, bh, ch, n));
        a.Release(); b.Release(); c.Release();
        return (time, loopTime);
    }

    /// <summary>Times of a 3x3 pad-1 convolution forward, its backward (input and weight gradients), and the plain loop's forward.</summary>
    static (TimingSummary Forward, TimingSummary Backward, TimingSummary Loop) BenchConv(Device device, Tape tape, int n, int cin, int cout, int hw)
    {
        var x = tape.Upload(Random(n * cin * hw * hw, 3), new[] { n, cin, hw, hw }, "x");
        var w = tape.Upload(Random(cout * cin * 9, 4), new[] { cout, cin, 3, 3 }, "w");
        var gy = tape.Upload(Random(n * cout * hw * hw, 5), new[] { n, cout, hw, hw }, "gy");
        x.RequiresGrad = w.RequiresGrad = true;
        tape.Recording = false;
        var fwd = Time(device, () => tape.Conv2d(x.Share(), w.Share(), null, 1, 1).Release());
        tape.Recording = true;
        Tensor? y = null;
        var bwd = Time(device, () =>
        {
            tape.Backward(y!, gy.Share());
            y!.Release();
            x.Grad!.Release(); x.Grad = null;
            w.Grad!.Release(); w.Grad = null;
        }, before: () => y = tape.Conv2d(x.Share(), w.Share(), null, 1, 1));
        var (xh, wh, yh) = (Random(n * cin * hw * hw, 3), Random(cout * cin * 9, 4), new float[n * cout * hw * hw]);
        var loop = Time(null, () => LoopConv(xh, wh, yh, n, cin, cout, hw));
        x.Release(); w.Release(); gy.Release();
        return (fwd, bwd, loop);
    }

    /// <summary>Step time of each digits model at batch 32 (its own rows: more networks can be added here).</summary>
    static void AddStepRows(Device device, Table table, List<object> rows)
    {
        table.AddEmptyRow();
        var data = Digits.Load();
        foreach (var m in ModelZoo.All.Where(m => m.Digits))
        {
            using var trainer = new Trainer(new TrainOptions { Model = m.Name, Batch = 32, Steps = 1, Allocator = AllocatorKind.Pool }, device);
            var xs = data.Samples.Take(32).ToArray();
            var ys = data.Labels.Take(32).ToArray();
            var step = Time(null, () => trainer.Step(xs, ys));
            table.AddRow($"train step {m.Name}", "batch 32", "", "", "", step.ToString());
            rows.Add(new { kernel = "step:" + m.Name, shape = "batch 32", millis = step.MedianMillis, spreadMillis = step.SpreadMillis });
        }
    }

    /// <summary>
    /// The times of <paramref name="work"/> after a warm-up (which also compiles kernels): at least three timed runs,
    /// repeated until about half a second has been spent, summarized by MathNet (median and interquartile range).
    /// <paramref name="before"/>, when given, runs untimed before each run (e.g. the forward pass of a timed backward).
    /// </summary>
    static TimingSummary Time(Device? device, Action work, Action? before = null)
    {
        before?.Invoke();
        work();
        device?.Synchronize();
        var times = new List<double>();
        for (double spent = 0; times.Count < 3 || (spent < 500 && times.Count < 50); spent += times[^1])
        {
            before?.Invoke();
            device?.Synchronize();
            var sw = Stopwatch.StartNew();
            work();
            device?.Synchronize();
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        return Timing.Summarize(times);
    }

    static float[] Random(int n, int seed)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(r.NextDouble() - 0.5);
        return a;
    }

    /// <summary>A plain single-threaded i-k-j GEMM, c = a b (the baseline).</summary>
    static void LoopGemm(float[] a, float[] b, float[] c, int n)
    {
        Array.Clear(c);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++)
            {
                float av = a[i * n + k];
                for (int j = 0; j < n; j++) c[i * n + j] += av * b[k * n + j];
            }
    }

    /// <summary>A plain single-threaded direct 3x3 convolution, pad 1 (the baseline).</summary>
    static void LoopConv(float[] x, float[] w, float[] y, int n, int cin, int cout, int hw)
    {
        Array.Clear(y);
        for (int b = 0; b < n; b++)
            for (int o = 0; o < cout; o++)
                for (int c = 0; c < cin; c++)
                    for (int kh = 0; kh < 3; kh++)
                        for (int kw = 0; kw < 3; kw++)
                        {
                            float wv = w[((o * cin + c) * 3 + kh) * 3 + kw];
                            for (int h = 0; h < hw; h++)
                            {
                                int ih = h + kh - 1;
                                if (ih < 0 || ih >= hw) continue;
                                for (int ww = 0; ww < hw; ww++)
                                {
                                    int iw = ww + kw - 1;
                                    if (iw >= 0 && iw < hw) y[((b * cout + o) * hw + h) * hw + ww] += wv * x[((b * cin + c) * hw + ih) * hw + iw];
                                }
                            }
                        }
    }
}
