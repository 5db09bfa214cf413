using System.IO.Compression;

namespace Pgmo.Tests.Cli;

/// <summary>`pgmo import` as a user runs it: a recorded log and a snapshot fixture become problems, and every bad input
/// of the issue exits 2 naming the file and the line or event, with nothing written.</summary>
[Collection("Console")]
public sealed class ImportCommandTests : IDisposable
{
    readonly TempFolder dir = new("pgmo-import-");

    public void Dispose() => dir.Dispose();

    string WriteBytes(string name, byte[] bytes)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void ARecordedLogBecomesAProblemThatPlanReads()
    {
        var problem = Path.Combine(dir, "p.csv");
        var svg = Path.Combine(dir, "p.svg");
        var r = CliRunner.Run("import", CliRunner.Dataset("pytorch/alexnet-b2-96.log.gz"), "--iteration", "2", "--out", problem, "--svg", svg, "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("log", r.Json.GetProperty("format").GetString());
        Assert.Equal(2, r.Json.GetProperty("iteration").GetInt32());
        Assert.Equal(2, r.Json.GetProperty("iterations").GetInt32());
        var buffers = r.Json.GetProperty("buffers").GetInt32();
        var lowerBound = r.Json.GetProperty("lowerBound").GetInt64();
        Assert.True(r.Json.GetProperty("bestFitPeak").GetInt64() >= lowerBound);
        var lines = File.ReadAllLines(problem);
        Assert.Equal("id,lower,upper,size,alignment,address,origin", lines[0]);
        Assert.Equal(buffers + 1, lines.Length);
        var plan = CliRunner.Run("plan", problem, "--json");
        Assert.Equal(0, plan.ExitCode);
        Assert.Equal(lowerBound, plan.Json.GetProperty("lowerBound").GetInt64());
        Assert.True(plan.Json.GetProperty("valid").GetBoolean());
        var picture = File.ReadAllText(svg);
        Assert.Contains("<svg", picture);
        Assert.Contains("pgmo's best-fit plan", picture);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [Fact]
    public void ASnapshotFixtureReportsPyTorchsReservedBytesAndItsLogsProblem()
    {
        var fromSnapshot = Path.Combine(dir, "s.csv");
        var fromLog = Path.Combine(dir, "l.csv");
        var s = CliRunner.Run("import", CliRunner.Dataset("pytorch/snapshots/resnet50-b2-96.iteration2.pickle.gz"), "--out", fromSnapshot, "--json");
        Assert.Equal(0, s.ExitCode);
        Assert.Equal("snapshot", s.Json.GetProperty("format").GetString());
        var reserved = s.Json.GetProperty("reservedBytes").GetInt64();
        var lowerBound = s.Json.GetProperty("lowerBound").GetInt64();
        Assert.Equal(1.0 - (double)lowerBound / reserved, s.Json.GetProperty("fragmentation").GetDouble(), 12);
        Assert.Contains("PyTorch reserved at most", s.Out);
        var l = CliRunner.Run("import", CliRunner.Dataset("pytorch/resnet50-b2-96.log.gz"), "--iteration", "2", "--out", fromLog, "--json");
        Assert.Equal(0, l.ExitCode);
        // the same buffers (id, lower, upper, size, alignment); the snapshot adds its streams, addresses differ
        static IEnumerable<string> Buffers(string path) => File.ReadLines(path).Skip(1).Select(line => string.Join(",", line.Split(',').Take(5)));
        Assert.Equal(Buffers(fromLog), Buffers(fromSnapshot));
        Assert.StartsWith("id,lower,upper,size,alignment,stream,address,origin", File.ReadLines(fromSnapshot).First());
        // the fixture was served by PyTorch's default policy: torch-pool on the problem reserves the same bytes
        var torch = CliRunner.Run("plan", fromSnapshot, "--algorithm", "torch-pool", "--json");
        Assert.Equal(reserved, torch.Json.GetProperty("peak").GetInt64());
    }

    public static TheoryData<string, string, string> BadLogs => new()
    {
        { "alloc 0x10 8\nallocate 0x20 8\n", ":2:", "expected 'alloc ADDRESS SIZE'" },
        { "alloc 0x10 twelve\n", ":1:", "size 'twelve' is not an integer" },
        { "# header\nalloc 0x10 -5\n", ":2:", "size -5 must be positive" },
        { "alloc 0x10 8\nalloc 0x18 8\nalloc 0x10 8\n", ":3:", "alloc at 0x10, which is live (allocated at line 1)" },
        { "alloc 0xQ 8\n", ":1:", "'0xQ' is not an address" },
    };

    [Theory]
    [MemberData(nameof(BadLogs))]
    public void ABadLogExitsTwoNamingTheLineAndWritesNothing(string text, string line, string message)
    {
        var log = dir.Write("bad.log", text);
        var problem = Path.Combine(dir, "p.csv");
        var svg = Path.Combine(dir, "p.svg");
        var r = CliRunner.Run("import", log, "--out", problem, "--svg", svg);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("bad.log" + line, r.Err);
        Assert.Contains(message, r.Err);
        Assert.False(File.Exists(problem));
        Assert.False(File.Exists(svg));
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [Fact]
    public void BadSnapshotsExitTwoNamingTheProblemAndWriteNothing()
    {
        var fixture = File.ReadAllBytes(CliRunner.Dataset("pytorch/snapshots/alexnet-b2-96.iteration2.pickle"));
        var problem = Path.Combine(dir, "p.csv");
        var cases = new (string File, string[] Extra, string Message)[]
        {
            (WriteBytes("truncated.pickle", fixture[..(fixture.Length / 2)]), [], "not a pickle, or a truncated one"),
            (WriteBytes("foreign.pickle", [0x80, 0x04, 0x4b, 0x07, 0x2e]), [], "the pickle holds an int, not a PyTorch memory snapshot"),  // pickle.dumps(7)
            (WriteBytes("empty.pickle", []), [], "empty"),
            (WriteBytes("fixture.pickle", fixture), ["--device", "3"], "--device 3: the snapshot has device_traces for 1 device"),
            (WriteBytes("fixture2.pickle", fixture), ["--iteration", "1"], "--iteration applies to allocation logs"),
        };
        foreach (var (file, extra, message) in cases)
        {
            var r = CliRunner.Run(["import", file, "--out", problem, .. extra]);
            Assert.True(r.ExitCode == 2, $"{file}: exit {r.ExitCode}: {r.Err}");
            Assert.Contains(Path.GetFileName(file), r.Err);
            Assert.Contains(message, r.Err);
            Assert.False(File.Exists(problem));
        }
    }

    [Fact]
    public void GzippedLogsAreReadAndAnIterationBeyondTheMarkedOnesExitsTwo()
    {
        var path = Path.Combine(dir, "small.log.gz");
        using (var gz = new GZipStream(File.Create(path), CompressionLevel.Optimal))
        using (var w = new StreamWriter(gz))
            w.Write("alloc 0x100 16\niteration\nalloc 0x200 32\nfree 0x100\nfree 0x4000\n");
        var problem = Path.Combine(dir, "p.csv");
        var r = CliRunner.Run("import", path, "--iteration", "1", "--alignment", "1", "--out", problem, "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(1, r.Json.GetProperty("skippedFrees").GetInt32());
        Assert.Equal(["id,lower,upper,size,address,origin", "0,0,2,16,0x100,line 1", "1,1,3,32,0x200,line 3"], File.ReadAllLines(problem));
        var beyond = CliRunner.Run("import", path, "--iteration", "2", "--out", Path.Combine(dir, "q.csv"));
        Assert.Equal(2, beyond.ExitCode);
        Assert.Contains("--iteration 2: the recording marks 1 iteration", beyond.Err);
        Assert.False(File.Exists(Path.Combine(dir, "q.csv")));
    }
}
