using System.Diagnostics;
using Pgmo.Cli;
using Xunit.Abstractions;

namespace Pgmo.Tests.Cli;

/// <summary>Outputs are written atomically: a failed write leaves nothing behind, and a run killed at any moment leaves
/// the target absent or whole.</summary>
public sealed class AtomicOutputTests(ITestOutputHelper output)
{
    [Fact]
    public void AFailedWriteLeavesNeitherTheTargetNorATemporaryFile()
    {
        var folder = Directory.CreateTempSubdirectory("pgmo-atomic-");
        try
        {
            var target = Path.Combine(folder.FullName, "out.csv");
            Directory.CreateDirectory(target);   // the rename onto a folder fails
            var e = Assert.Throws<UsageException>(() => Output.WriteAtomically(target, "id,lower,upper,size\n"));
            Assert.Contains("cannot write", e.Message);
            Assert.Equal([target], Directory.GetFileSystemEntries(folder.FullName));
            Assert.Throws<UsageException>(() => Output.WriteAtomically(Path.Combine(folder.FullName, "no", "out.csv"), "x"));
            var good = Path.Combine(folder.FullName, "good.csv");
            Output.WriteAtomically(good, "a\n");
            Output.WriteAtomically(good, "b\n");
            Assert.Equal("b\n", File.ReadAllText(good));
            Assert.Equal(2, Directory.GetFileSystemEntries(folder.FullName).Length);
        }
        finally { folder.Delete(recursive: true); }
    }

    /// <summary>
    /// `pgmo plan --out` of a 20,000-buffer problem as a child process, killed with SIGKILL 20 times: at seeded random
    /// moments of its run, and (every other time) at a seeded random delay after its temporary file appears, to land in
    /// the write. Each time the target is absent, or a complete plan the validator accepts.
    /// </summary>
    [SkippableFact]
    public void APlanKilledAtAnyMomentLeavesTheTargetAbsentOrWholeAndValid()
    {
        Skip.If(OperatingSystem.IsWindows(), "SIGKILL is a POSIX signal");
        var folder = Directory.CreateTempSubdirectory("pgmo-kill-");
        try
        {
            var problemPath = Path.Combine(folder.FullName, "problem.csv");
            var problem = Traces.chainOfSize(1, 20_000);
            File.WriteAllText(problemPath, Csv.writeProblem(problem));
            // one run to the end: how long a run and its write take here and now
            var (whole, writeSeconds) = RunAndKill(problemPath, Path.Combine(folder.FullName, "whole.csv"), killAt: null);
            Assert.True(File.Exists(Path.Combine(folder.FullName, "whole.csv")), "the run without a kill wrote nothing");
            var rng = new Random(19);
            int absent = 0, complete = 0;
            for (int i = 0; i < 20; i++)
            {
                var target = Path.Combine(folder.FullName, $"plan{i}.csv");
                KillAt at = i % 2 == 0
                    ? new KillAt(AfterStart: TimeSpan.FromSeconds(rng.NextDouble() * whole.TotalSeconds * 1.2), AfterTemporary: null)
                    : new KillAt(AfterStart: null, AfterTemporary: TimeSpan.FromSeconds(rng.NextDouble() * Math.Max(0.005, 3 * writeSeconds)));
                RunAndKill(problemPath, target, at);
                if (!File.Exists(target)) { absent++; continue; }
                var text = File.ReadAllText(target);
                var parsed = Csv.parsePlan(target, text);
                Assert.True(parsed.IsOk, $"kill {i} ({at}): {target} is there but not a plan: {(parsed.IsOk ? "" : parsed.ErrorValue.Message)}");
                var plan = Validate.assign(problem, parsed.ResultValue.Item1, parsed.ResultValue.Item2);
                Assert.True(plan.IsOk, $"kill {i}: the plan's rows do not match the problem");
                Assert.Empty(Validate.plan(problem, null, plan.ResultValue));
                complete++;
                foreach (var temp in Directory.GetFiles(folder.FullName, ".*.tmp")) File.Delete(temp);   // a killed run cannot remove its own
            }
            output.WriteLine($"20 kills of `pgmo plan --out` ({problem.Buffers.Length} buffers; a whole run {whole.TotalSeconds:0.00} s, its write {writeSeconds * 1000:0} ms): " +
                             $"{absent} left no target, {complete} a complete valid plan, none a partial one");
        }
        finally { folder.Delete(recursive: true); }
    }

    /// <summary>When to kill: a time after the start, or after the temporary file appears (null: never).</summary>
    sealed record KillAt(TimeSpan? AfterStart, TimeSpan? AfterTemporary);

    /// <summary>Runs `pgmo plan PROBLEM --out TARGET`, kills it as <paramref name="killAt"/> says (null: lets it end);
    /// returns how long it ran and how long its temporary file lived before the target appeared (0 when unseen).</summary>
    static (TimeSpan Ran, double WriteSeconds) RunAndKill(string problem, string target, KillAt? killAt)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "pgmo.dll");
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var info = new ProcessStartInfo(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true, ArgumentList = { dll, "plan", problem, "--out", target } };
        var folder = Path.GetDirectoryName(target)!;
        var pattern = $".{Path.GetFileName(target)}.*.tmp";
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(info) ?? throw new InvalidOperationException("no process");
        process.StandardOutput.ReadToEndAsync();
        process.StandardError.ReadToEndAsync();
        TimeSpan? tempSeen = null, targetSeen = null;
        while (!process.HasExited)
        {
            if (tempSeen is null && Directory.EnumerateFiles(folder, pattern).Any()) tempSeen = clock.Elapsed;
            if (targetSeen is null && File.Exists(target)) targetSeen = clock.Elapsed;
            bool kill = killAt switch
            {
                { AfterStart: { } t } => clock.Elapsed >= t,
                { AfterTemporary: { } t } => tempSeen is { } seen && clock.Elapsed >= seen + t,
                _ => false,
            };
            if (kill)
            {
                try { process.Kill(); } catch (InvalidOperationException) { }   // SIGKILL on Linux; it may have ended just now
                break;
            }
            if (clock.Elapsed > TimeSpan.FromSeconds(120)) { process.Kill(); Assert.Fail("pgmo plan ran over 120 s"); }
            Thread.Sleep(1);
        }
        process.WaitForExit();
        var ran = clock.Elapsed;
        double write = tempSeen is { } a && (targetSeen ?? ran) is var b ? (b - a).TotalSeconds : 0;
        if (killAt is null) Assert.True(process.ExitCode == 0, $"pgmo plan exit {process.ExitCode}");
        return (ran, write);
    }
}
