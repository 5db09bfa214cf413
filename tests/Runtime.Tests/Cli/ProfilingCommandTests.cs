using System.Diagnostics;

namespace Pgmo.Tests.Cli;

/// <summary>`pgmo profile` and `pgmo max-batch` as a user runs them: files, figures, exit codes.</summary>
[Collection("Console")]
public sealed class ProfilingCommandTests : IDisposable
{
    readonly TempFolder dir = new("pgmo-profile-");

    public void Dispose() => dir.Dispose();

    [Fact]
    public void ProfileDryRunWritesATraceThePlannerReads()
    {
        var trace = Path.Combine(dir, "googlenet.csv");
        var r = CliRunner.Run("profile", "--model", "googlenet", "--batch", "16", "--dry-run", "--out", trace, "--json");
        Assert.Equal(0, r.ExitCode);
        var j = r.Json;
        Assert.Equal("googlenet", j.GetProperty("model").GetString());
        Assert.Equal(16, j.GetProperty("batch").GetInt32());
        var problem = Csv.parseProblem(trace, File.ReadAllText(trace));
        Assert.True(problem.IsOk);
        Assert.Equal(problem.ResultValue.Buffers.Length, j.GetProperty("buffers").GetInt32());
        Assert.Equal(Bounds.lowerBound(problem.ResultValue), j.GetProperty("lowerBound").GetInt64());
        Assert.True(j.GetProperty("millis").GetDouble() >= 0);
        Assert.Contains(",tag", File.ReadLines(trace).First());
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [Fact]
    public void ProfileRealRunOfASmallModelMatchesItsDryRun()
    {
        var (real, dry) = (Path.Combine(dir, "real.csv"), Path.Combine(dir, "dry.csv"));
        Assert.Equal(0, CliRunner.Run("profile", "--model", "mlp", "--batch", "4", "--out", real).ExitCode);
        Assert.Equal(0, CliRunner.Run("profile", "--model", "mlp", "--batch", "4", "--dry-run", "--out", dry).ExitCode);
        Assert.Equal(File.ReadAllText(real), File.ReadAllText(dry));
    }

    [Theory]
    [InlineData("--model", "vgg16", "--image-size", "31", "--dry-run")]
    [InlineData("--model", "cnn", "--image-size", "16")]
    [InlineData("--model", "nosuchnet", "--dry-run")]
    [InlineData("--model", "cnn", "--batch", "0", "--dry-run")]
    public void ProfileRejectsBadArgumentsWithExitTwoAndNoFile(params string[] args)
    {
        var trace = Path.Combine(dir, "t.csv");
        var r = CliRunner.Run(["profile", .. args, "--out", trace]);
        Assert.Equal(2, r.ExitCode);
        Assert.False(File.Exists(trace));
        Assert.NotEqual("", r.Err.Trim());
    }

    [Theory]
    [InlineData("alexnet", 62, 63)]
    [InlineData("vgg16", 16, 32)]
    [InlineData("inception3", 74, 75)]
    public void ImageSizeBelowTheSmallestNamesIt(string model, int size, int smallest)
    {
        var r = CliRunner.Run("profile", "--model", model, "--image-size", size.ToString(), "--dry-run", "--out", Path.Combine(dir, "t.csv"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"smallest size is {smallest}x{smallest}", r.Err);
    }

    [Fact]
    public void ProfileRealRunOfAPaperNetworkMatchesItsDryRun()
    {
        var (real, dry) = (Path.Combine(dir, "real.csv"), Path.Combine(dir, "dry.csv"));
        var r = CliRunner.Success("profile", "--model", "googlenet", "--batch", "1", "--image-size", "16", "--out", real, "--json");
        Assert.Equal(16, r.Json.GetProperty("imageSize").GetInt32());
        Assert.False(r.Json.GetProperty("dryRun").GetBoolean());
        Assert.Equal(0, CliRunner.Run("profile", "--model", "googlenet", "--batch", "1", "--image-size", "16", "--dry-run", "--out", dry).ExitCode);
        Assert.Equal(File.ReadAllText(dry), File.ReadAllText(real));
        Assert.Contains("dropout.mask", File.ReadAllText(real));
    }

    [Fact]
    public void MaxBatchOnASmallModelAndBudget()
    {
        var r = CliRunner.Run("max-batch", "--model", "cnn", "--budget", "1MiB", "--json");
        Assert.Equal(0, r.ExitCode);
        var j = r.Json;
        Assert.Equal("cnn", j.GetProperty("model").GetString());
        Assert.Equal(1L << 20, j.GetProperty("budget").GetInt64());
        int pool = j.GetProperty("poolMaxBatch").GetInt32(), plan = j.GetProperty("planMaxBatch").GetInt32();
        Assert.InRange(pool, 1, 1000);
        Assert.True(plan > pool, $"plan {plan}, pool {pool}");
        Assert.Equal(0, j.GetProperty("torchPoolMaxBatch").GetInt32());   // PyTorch's smallest segment is 2 MiB
    }

    [Theory]
    [InlineData("--model", "cnn", "--budget", "lots")]
    [InlineData("--model", "cnn", "--budget", "1MiB", "--algorithm", "magic")]
    [InlineData("--model", "nosuchnet", "--budget", "1MiB")]
    public void MaxBatchRejectsBadArguments(params string[] args)
    {
        Assert.Equal(2, CliRunner.Run(["max-batch", .. args]).ExitCode);
    }

    [Fact]
    public void TinyBudgetFitsNoBatch()
    {
        var r = CliRunner.Run("max-batch", "--model", "mlp", "--budget", "1KiB", "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(0, r.Json.GetProperty("poolMaxBatch").GetInt32());
        Assert.Equal(0, r.Json.GetProperty("torchPoolMaxBatch").GetInt32());
        Assert.Equal(0, r.Json.GetProperty("planMaxBatch").GetInt32());
    }
}

/// <summary>The F# interactive scripts keep working: the paper experiment runs on the committed traces.</summary>
public sealed class ScriptTests
{
    [SkippableFact]
    public void PaperExperimentScriptWritesTheResults()
    {
        var root = CliRunner.RepositoryRoot();
        var outDir = Directory.CreateTempSubdirectory("pgmo-script-").FullName;
        try
        {
            var md = Path.Combine(outDir, "results.md");
            // one speed-claim run and its curve, as scripts/speed-claim.sh writes them
            var (claim, curves) = (Path.Combine(outDir, "claim.jsonl"), Path.Combine(outDir, "curves.jsonl"));
            File.WriteAllText(claim, """{"mode":"train","model":"vgg16","imageSize":224,"memoryLimit":2147483648,"limit":"2GiB","accelerator":"cpu","machine":"test","load":"0.1 0.2","allocators":[{"allocator":"pool","batch":5,"peakBytes":2000000000,"millis":5000,"spreadMillis":100,"samplesPerSecond":1.0},{"allocator":"torch-pool","batch":0,"peakBytes":0,"millis":null,"spreadMillis":null,"samplesPerSecond":0},{"allocator":"planned","batch":7,"peakBytes":2100000000,"millis":6000,"spreadMillis":100,"samplesPerSecond":1.1666}]}""" + "\n");
            File.WriteAllText(curves, string.Join("\n", new[] { 1, 2, 4, 7 }.Select(b => $$"""{"mode":"train","model":"vgg16","imageSize":224,"batch":{{b}},"accelerator":"cpu","machine":"test","load":"0.1 0.1","millis":{{1000 * b}},"samplesPerSecond":1.0}""")) + "\n");
            var planner = Path.Combine(AppContext.BaseDirectory, "Pgmo.Planner.dll");
            var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
            var info = new ProcessStartInfo(dotnet)
            {
                RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = root,
                ArgumentList = { "fsi", "--define:PLANNER_GIVEN", $"-r:{planner}", Path.Combine(root, "scripts", "paper-experiment.fsx"),
                                 "--out", md, "--time-limit", "0.05", "--repeat", "1", "--speed-claim", claim, "--speed-curves", curves },
            };
            Process process;
            try { process = Process.Start(info) ?? throw new InvalidOperationException("no process"); }
            catch (System.ComponentModel.Win32Exception e) { Skip.If(true, $"dotnet cannot be started: {e.Message}"); return; }
            using var _ = process;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromSeconds(120))) { process.Kill(entireProcessTree: true); Assert.Fail("dotnet fsi ran over 120 s"); }
            Skip.If(process.ExitCode != 0 && stderr.Result.Contains("No such command", StringComparison.OrdinalIgnoreCase), "dotnet fsi is not available");
            Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}\n{stdout.Result}\n{stderr.Result}");
            var text = File.ReadAllText(md);
            foreach (var network in new[] { "AlexNet", "VGG-16", "GoogLeNet", "ResNet-50", "Inception-v3" }) Assert.Contains($"| {network} | 64 |", text);
            Assert.Contains("## Targets", text);
            Assert.Contains("| vgg16 training, 224 px | 2GiB | test, cpu (load 0.1 0.2) | planned | 7 |", text);
            Assert.Contains("the plan fits batch 7; +40 % in batch and x1.17 in samples/s against pool (batch 5); torch-pool fits no batch.", text);
            Assert.Contains("![vgg16 training, 224 px: samples/s against batch](speed-curve-cpu-train-vgg16.svg)", text);
            var curve = File.ReadAllText(Path.Combine(outDir, "speed-curve-cpu-train-vgg16.svg"));
            Assert.StartsWith("<svg", curve);
            Assert.Contains("planned: 7", curve);
            Assert.DoesNotContain("torch-pool: 0", curve);
            Assert.StartsWith("<svg", File.ReadAllText(Path.ChangeExtension(md, ".svg")).TrimStart().Split('\n').First(l => l.StartsWith("<svg")));
        }
        finally { Directory.Delete(outDir, recursive: true); }
    }
}
