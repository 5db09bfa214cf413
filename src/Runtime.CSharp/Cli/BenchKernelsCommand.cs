using System.CommandLine;
using System.Diagnostics;
using Device = Pgmo.Kernels.Device;
using Spectre.Console;
using Pgmo.Kernels;
using Pgmo.Models;
using Pgmo.Nn;
using Pgmo.Training;

namespace Pgmo.Cli;

/// <summary>`pgmo bench-kernels`: GEMM and convolution throughput and training step time on the accelerator, beside a plain C# loop.</summary>
public static class BenchKernelsCommand
{
    public static Command Create()
    {
        var accelerator = new Option<string>("--accelerator") { Description = "auto, cpu or cuda", DefaultValueFactory = _ => "auto" };
        var sizes = new Option<string>("--sizes") { Description = "comma-separated square GEMM sizes", DefaultValueFactory = _ => "64,256,512" };
        var json = new Option<bool>("--json") { Description = "also print the figures as one JSON object on the last line of standard output" };
        var command = new Command("bench-kernels", "Benchmark the runtime's kernels: GEMM and conv2d GFLOP/s and step time per digits model on the accelerator in use, beside a plain C# loop on the CPU.")
        {
            accelerator, sizes, json,
        };
        command.SetAction(r => Run(r.GetValue(accelerator)!, r.GetValue(sizes)!, r.GetValue(json)));
        return command;
    }

    static int Run(string acceleratorText, string sizesText, bool json)
    {
        if (Device.Parse(acceleratorText) is not { } choice) { Console.Error.WriteLine($"pgmo bench-kernels: --accelerator: unknown accelerator '{acceleratorText}' (expected auto, cpu or cuda)"); return 2; }
        var sizes = new List<int>();
        foreach (var s in sizesText.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(s, out var n) || n < 1) { Console.Error.WriteLine($"pgmo bench-kernels: --sizes: '{s}' is not a positive size"); return 2; }
            sizes.Add(n);
        }
        Device device;
        try { device = Device.Create(choice); }
        catch (InvalidOperationException e) { Console.Error.WriteLine($"pgmo bench-kernels: {e.Message}"); return 2; }
        using var _ = device;
        Console.Error.WriteLine($"benchmarking on {device.Description}");
        var rows = new List<object>();
        var table = new Table { Border = TableBorder.Simple };
        foreach (var c in new[] { "kernel", "shape", $"{device.Name} GFLOP/s", "C# loop GFLOP/s", $"{device.Name} ms" })
            table.AddColumn(c == "kernel" || c == "shape" ? new TableColumn(c) : new TableColumn(c).RightAligned());
        using var alloc = device.CreateAllocator("pool");
        var tape = new Tape(device, alloc);
        var k = device.Kernels!;
        foreach (var n in sizes)
        {
            var a = tape.Upload(Random(n * n, 1), new[] { n, n }, "a");
            var b = tape.Upload(Random(n * n, 2), new[] { n, n }, "b");
            var c = tape.Empty(new[] { n, n }, "c");
            double ms = Time(device, () => k.Gemm(a.View, b.View, c.View, GemmParams.Plain(n, n, n, false, false)));
            double cpuMs = TimeHost(() => HostGemm(Random(0, 0), n));
            double flop = 2.0 * n * n * n;
            Add("gemm", $"{n}x{n}x{n}", flop, ms, flop / (cpuMs * 1e6));
            a.Release(); b.Release(); c.Release();
        }
        {
            int n = 32, cin = 16, cout = 32, hw = 16;
            var x = tape.Upload(Random(n * cin * hw * hw, 3), new[] { n, cin, hw, hw }, "x");
            var w = tape.Upload(Random(cout * cin * 9, 4), new[] { cout, cin, 3, 3 }, "w");
            tape.Recording = false;
            double ms = Time(device, () => tape.Conv2d(x.Share(), w.Share(), null, 1, 1).Release());
            tape.Recording = true;
            double flop = 2.0 * n * cout * hw * hw * cin * 9;
            double cpuMs = TimeHost(() => HostConv(n, cin, cout, hw));
            Add("conv2d 3x3 (im2col+gemm)", $"{n}x{cin}x{hw}x{hw} -> {cout}", flop, ms, flop / (cpuMs * 1e6));
            x.Release(); w.Release();
        }
        table.AddEmptyRow();
        var data = Digits.Load();
        foreach (var m in ModelZoo.All.Where(m => m.Digits))
        {
            using var trainer = new Trainer(new TrainOptions { Model = m.Name, Batch = 32, Steps = 1 }, device);
            var xs = data.Samples.Take(32).ToArray();
            var ys = data.Labels.Take(32).ToArray();
            trainer.Step(xs, ys);
            var sw = Stopwatch.StartNew();
            const int steps = 10;
            for (int i = 0; i < steps; i++) trainer.Step(xs, ys);
            double stepMs = sw.Elapsed.TotalMilliseconds / steps;
            table.AddRow($"train step {m.Name}", "batch 32", "", "", $"{stepMs:0.00}");
            rows.Add(new { kernel = "step:" + m.Name, shape = "batch 32", millis = stepMs });
        }
        PaperStepTimes.AddRows(device, table, rows);
        Output.Out.Write(table);
        if (json) Output.JsonLine(new { accelerator = device.Name, rows });
        return 0;

        void Add(string kernel, string shape, double flop, double ms, double hostGflops)
        {
            double gflops = flop / (ms * 1e6);
            table.AddRow(kernel, shape, $"{gflops:0.00}", $"{hostGflops:0.00}", $"{ms:0.000}");
            rows.Add(new { kernel, shape, gflops, hostGflops, millis = ms });
        }
    }

    /// <summary>Best of a few timed launches after a warm-up (which also compiles the kernel), in milliseconds.</summary>
    static double Time(Device device, Action launch)
    {
        launch();
        device.Synchronize();
        double best = double.MaxValue;
        for (int r = 0; r < 3; r++)
        {
            var sw = Stopwatch.StartNew();
            launch();
            device.Synchronize();
            best = Math.Min(best, sw.Elapsed.TotalMilliseconds);
        }
        return best;
    }

    static double TimeHost(Action work)
    {
        work();
        var sw = Stopwatch.StartNew();
        work();
        return sw.Elapsed.TotalMilliseconds;
    }

    static float[] Random(int n, int seed)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(r.NextDouble() - 0.5);
        return a;
    }

    /// <summary>A plain single-threaded i-k-j GEMM (timing only).</summary>
    static void HostGemm(float[] _, int n)
    {
        var a = Random(n * n, 1); var b = Random(n * n, 2); var c = new float[n * n];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++)
            {
                float av = a[i * n + k];
                for (int j = 0; j < n; j++) c[i * n + j] += av * b[k * n + j];
            }
    }

    /// <summary>A plain single-threaded direct 3x3 convolution, pad 1 (timing only).</summary>
    static void HostConv(int n, int cin, int cout, int hw)
    {
        var x = Random(n * cin * hw * hw, 3); var w = Random(cout * cin * 9, 4); var y = new float[n * cout * hw * hw];
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
