using System.Text.Json;
using Pgmo.Tests.Cli;
using Xunit.Abstractions;

namespace Pgmo.Tests.Faults;

/// <summary>
/// Device allocations refused on purpose (<see cref="DeviceMemory.Watch"/>), for every k, over whole `pgmo train` runs
/// on the CPU accelerator: each allocator, `--batch max`, `--compare-allocators` and the plan switch (`--plan-from
/// profile`: the weights move from the fallback pool into the arena). Two kinds of fault:
/// <list type="bullet">
/// <item>the k-th allocation alone is refused: the allocator gives back its cache and tries once more, as CuPy's and
/// PyTorch's pools do, so the run ends as the run without a fault does (same losses, same accuracy: the weights are
/// intact);</item>
/// <item>every allocation from the k-th on is refused: the run ends with exit 1 and one "out of memory" line naming the
/// device's refusal, no stack trace and no report.</item>
/// </list>
/// Either way every device buffer taken is given back by its allocator before the run returns.
/// </summary>
[Collection("Console")]
public sealed class DeviceFaultTests(ITestOutputHelper output)
{
    static readonly string[] Common = ["train", "--model", "mlp", "--accelerator", "cpu", "--json"];

    public static TheoryData<string, string[]> Runs => new()
    {
        { "pool", ["--allocator", "pool", "--batch", "120", "--steps", "2"] },
        { "torch-pool", ["--allocator", "torch-pool", "--batch", "120", "--steps", "2"] },
        { "torch-expandable", ["--allocator", "torch-expandable", "--batch", "120", "--steps", "2", "--data", "synthetic"] },
        { "naive", ["--allocator", "naive", "--batch", "120", "--steps", "2", "--data", "synthetic"] },
        { "planned", ["--allocator", "planned", "--batch", "120", "--steps", "2"] },
        { "plan switch", ["--allocator", "planned", "--plan-from", "profile", "--batch", "120", "--steps", "2"] },
        { "batch max", ["--allocator", "pool", "--batch", "max", "--memory-limit", "512KiB", "--steps", "2"] },
        { "compare allocators", ["--allocator", "planned", "--plan-from", "profile", "--batch", "120", "--compare-allocators", "--steps", "1", "--data", "synthetic"] },
    };

    [Theory]
    [MemberData(nameof(Runs))]
    public void EveryRefusedDeviceAllocationIsSurvivedOrEndsTheRunCleanly(string name, string[] args)
    {
        var argv = Common.Concat(args).ToArray();
        var (clean, attempts) = Run(argv, null);
        Assert.True(clean.ExitCode == 0, $"{name}: the run without a fault failed: {clean.Err}");
        Assert.True(attempts > 0, $"{name}: no device allocation");
        var expected = Figures(clean);
        int survived = 0, ended = 0;
        for (int k = 1; k <= attempts; k++)
        {
            int once = k;
            var (r, _) = Run(argv, n => n == once);
            Assert.True(r.ExitCode == 0, $"{name}, allocation {k} of {attempts} refused once: exit {r.ExitCode}: {r.Err}");
            Assert.Equal(expected, Figures(r));
            survived++;

            var (fail, _) = Run(argv, n => n >= once);
            Assert.True(fail.ExitCode == 1, $"{name}, allocations from {k} on refused: exit {fail.ExitCode}: {fail.Err}");
            var lines = fail.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var oom = Assert.Single(lines, l => l.Contains("out of memory"));
            Assert.Contains("refused", oom);
            Assert.DoesNotContain(" at Pgmo.", fail.Err);
            Assert.DoesNotContain("internal error", fail.Err);
            Assert.DoesNotContain("{", fail.Out);
            ended++;
        }
        output.WriteLine($"{name}: {attempts} device allocations; {survived} runs with one refused allocation ended as the run without a fault, {ended} runs refused from allocation k on ended with exit 1");
    }

    /// <summary>Runs pgmo under a watch refusing the allocations <paramref name="refuse"/> names; checks that nothing
    /// is held afterwards and returns the result and the number of allocations attempted.</summary>
    static (CliRunner.Result Result, int Attempts) Run(string[] argv, Func<int, bool>? refuse)
    {
        using var watch = DeviceMemory.Watch(refuse);
        var r = CliRunner.Run(argv);
        Assert.True(watch.HeldBuffers == 0, $"{watch.HeldBuffers} device buffers ({watch.HeldBytes:N0} B) still held after `pgmo {string.Join(' ', argv)}` (exit {r.ExitCode}): {r.Err}");
        return (r, watch.Attempts);
    }

    /// <summary>What must not change when a fault is survived: the batch, the losses and accuracy (the weights), the
    /// plan. (The reserved peak may fall: the retry gave the cache back.)</summary>
    static string Figures(CliRunner.Result r)
    {
        var j = r.Json;
        string[] names = ["batch", "finalLoss", "testAccuracy", "planPeakBytes", "replayedIterations"];
        var kept = names.Where(n => j.TryGetProperty(n, out _)).ToDictionary(n => n, n => j.GetProperty(n).ToString());
        if (j.TryGetProperty("allocators", out var runs) && runs.ValueKind == JsonValueKind.Array)
            foreach (var a in runs.EnumerateArray())
                kept[$"{a.GetProperty("allocator").GetString()} batch"] = a.GetProperty("batch").ToString();
        return string.Join("; ", kept.Select(kv => $"{kv.Key} {kv.Value}"));
    }
}
