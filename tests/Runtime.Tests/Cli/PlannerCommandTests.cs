namespace Pgmo.Tests.Cli;

/// <summary>`pgmo plan`, `check` and `compare` as a user runs them: figures, files, exit codes, bad input.</summary>
[Collection("Console")]
public sealed class PlannerCommandTests : IDisposable
{
    readonly TempFolder dir = new("pgmo-cli-");

    public void Dispose() => dir.Dispose();

    [Fact]
    public void PlanWritesAValidPlanThatCheckAccepts()
    {
        var plan = Path.Combine(dir, "plan.csv");
        var svg = Path.Combine(dir, "plan.svg");
        var r = CliRunner.Run("plan", CliRunner.Dataset("minimalloc/input.12.csv"), "--out", plan, "--svg", svg, "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(12, r.Json.GetProperty("peak").GetInt64());
        Assert.Equal(12, r.Json.GetProperty("lowerBound").GetInt64());
        Assert.True(r.Json.GetProperty("valid").GetBoolean());
        Assert.Equal("best-fit", r.Json.GetProperty("algorithm").GetString());
        Assert.StartsWith("<svg", File.ReadAllText(svg).TrimStart().Split('\n').First(l => l.StartsWith("<svg")));
        var check = CliRunner.Run("check", CliRunner.Dataset("minimalloc/input.12.csv"), plan, "--capacity", "12", "--json");
        Assert.Equal(0, check.ExitCode);
        Assert.True(check.Json.GetProperty("valid").GetBoolean());
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
    }

    [Theory]
    [InlineData("best-fit")]
    [InlineData("greedy-size")]
    [InlineData("xla-spatial")]
    [InlineData("xla-temporal")]
    [InlineData("first-fit")]
    [InlineData("pool")]
    [InlineData("torch-pool")]
    [InlineData("torch-expandable")]
    [InlineData("search")]
    public void EveryAlgorithmPlansAMiniMallocInstanceValidly(string algorithm)
    {
        var r = CliRunner.Run("plan", CliRunner.Dataset("minimalloc/A.1048576.csv"), "--algorithm", algorithm, "--time-limit", "0.2", "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.True(r.Json.GetProperty("valid").GetBoolean());
        Assert.True(r.Json.GetProperty("peak").GetInt64() >= r.Json.GetProperty("lowerBound").GetInt64());
    }

    [Fact]
    public void CheckReportsOverlapsAndExitsOne()
    {
        var problem = dir.Write("p.csv", "id,lower,upper,size\na,0,2,4\nb,1,3,4\n");
        var plan = dir.Write("q.csv", "id,lower,upper,size,offset\na,0,2,4,0\nb,1,3,4,2\n");
        var r = CliRunner.Run("check", problem, plan, "--json");
        Assert.Equal(1, r.ExitCode);
        Assert.False(r.Json.GetProperty("valid").GetBoolean());
        Assert.Contains("buffers a and b overlap", r.Out);
    }

    public static TheoryData<string, string> BadProblems => new()
    {
        { "", "empty" },
        { "id,lower,size\n1,0,4\n", "missing column upper" },
        { "id,lower,upper,size\n1,0,4,x\n", ":2: column 'size': 'x' is not a 64-bit integer" },
        { "id,lower,upper,size\n1,0,4,-1\n", ":2: size -1 must be positive" },
        { "id,lower,upper,size\n1,0,4,0\n", ":2: size 0 must be positive" },
        { "id,lower,upper,size\n1,4,4,1\n", ":2: upper 4 must be greater than lower 4" },
        { "id,lower,upper,size\n1,0,4,1\n1,0,4,1\n", ":3: duplicate id '1'" },
        { "id,lower,upper,size\n1,0,4,9000000000000000000\n2,0,4,9000000000000000000\n", ":3: sizes add up past the 64-bit limit" },
        { "id,lower,upper,size,gaps\n1,2,6,4,1-3\n", ":2: column 'gaps': '1-3' covers steps [1, 3), outside the lifetime [2, 6)" },
        { "id,lower,upper,size,gaps\n1,0,6,4,1-3@0\n", ":2: column 'gaps': '1-3@0' is malformed" },
        { "id,lower,upper,size,gaps\n1,0,6,4,1-3@0:5\n", ":2: column 'gaps': '1-3@0:5' has window [0, 5), outside [0, 4]" },
        { "id,lower,upper,size,alignment,offset\n1,0,6,4,8,4\n", ":2: pinned offset 4 is not a multiple of the alignment 8" },
        { "id,lower,upper,size,offset\n1,0,6,4,0\n2,5,9,4,2\n", ":3: buffers '1' (line 2) and '2' are both pinned and overlap" },
        { "id,lower,upper,size,hint\n1,0,6,4,x\n", ":2: column 'hint': 'x' is not a 64-bit integer" },
        // a hint is bounded like a pin: its top must fit in 64 bits (it used to wrap the peak)
        { "id,lower,upper,size,hint\na,0,2,8,9223372036854775800\nb,1,3,8,-1\n", ":2: column 'hint': offset 9223372036854775800 plus size 8 overflows 64 bits" },
    };

    [Theory]
    [MemberData(nameof(BadProblems))]
    public void BadProblemExitsTwoNamingFileAndLineAndWritesNothing(string text, string message)
    {
        var problem = dir.Write("bad.csv", text);
        var outFile = Path.Combine(dir, "out.csv");
        var r = CliRunner.Run("plan", problem, "--out", outFile);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("bad.csv", r.Err);
        Assert.Contains(message, r.Err);
        Assert.False(File.Exists(outFile));
    }

    [Fact]
    public void GapsAndPinsOfMiniMallocsFormatAreHonouredEndToEnd()
    {
        var problem = CliRunner.Dataset("minimalloc-format/gaps.csv");
        var plan = Path.Combine(dir, "plan.csv");
        var r = CliRunner.Run("plan", problem, "--out", plan, "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(12, r.Json.GetProperty("peak").GetInt64());       // only the gaps allow 12 (22 with the gaps live)
        Assert.Equal(12, r.Json.GetProperty("lowerBound").GetInt64());
        var rows = File.ReadAllLines(plan);
        Assert.Equal("id,lower,upper,size,hint,gaps,offset", rows[0]);
        Assert.Equal("c,0,10,4,-1,2-8@0:2,8", rows[3]);                // pinned c stays at 8, its gap kept
        Assert.Equal(0, CliRunner.Run("check", problem, plan, "--capacity", "12").ExitCode);
        var moved = dir.Write("moved.csv", "id,lower,upper,size,offset\na,0,10,8,0\nb,3,7,8,0\nc,0,10,4,12\nd,2,8,2,10\n");
        var check = CliRunner.Run("check", problem, moved, "--json");
        Assert.Equal(1, check.ExitCode);
        Assert.Contains("buffer c is pinned at offset 8 but the plan puts it at 12", check.Out);
        var solve = CliRunner.Run("solve", problem, "--time-limit", "10", "--json");
        Assert.Equal("optimal", solve.Json.GetProperty("status").GetString());
        Assert.Equal(12, solve.Json.GetProperty("peak").GetInt64());
        var inclusive = CliRunner.Run("plan", CliRunner.Dataset("minimalloc-format/gaps-inclusive.csv"), "--json");
        Assert.Equal(12, inclusive.Json.GetProperty("peak").GetInt64());
    }

    [Fact]
    public void PlanWhoseIdsDoNotMatchExitsTwo()
    {
        var problem = dir.Write("p.csv", "id,lower,upper,size\na,0,2,4\nb,1,3,4\n");
        var plan = dir.Write("q.csv", "id,lower,upper,size,offset\na,0,2,4,0\nc,1,3,4,4\n");
        var r = CliRunner.Run("check", problem, plan);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("buffer b has no offset", r.Err);
        Assert.Contains("plan names buffer c", r.Err);
    }

    [Theory]
    [InlineData("plan", "no-such-file.csv")]
    [InlineData("compare")]
    [InlineData("frobnicate")]
    public void BadArgumentsExitTwo(params string[] args) => Assert.Equal(2, CliRunner.Run(args).ExitCode);

    [Theory]
    [InlineData("--algorithm", "nope", "unknown algorithm 'nope'")]
    [InlineData("--time-limit", "-1", "--time-limit must be a number of seconds >= 0")]
    [InlineData("--nodes", "0", "--nodes must be at least 1")]
    public void BadOptionsOnARealProblemExitTwoNamingTheOption(string option, string value, string message)
    {
        var problem = dir.Write("p.csv", "id,lower,upper,size\na,0,2,4\nb,1,3,4\n");
        Assert.Equal(0, CliRunner.Run("plan", problem).ExitCode);   // the file itself is fine
        var r = CliRunner.Run("plan", option, value, problem);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Err);
    }

    [Fact]
    public void CompareTabulatesEveryAlgorithmOnAFolder()
    {
        File.Copy(CliRunner.Dataset("minimalloc/input.12.csv"), Path.Combine(dir, "input.12.csv"));
        var chart = Path.Combine(dir, "chart.svg");
        var r = CliRunner.Run("compare", dir, "--time-limit", "0.1", "--chart", chart, "--json");
        Assert.Equal(0, r.ExitCode);
        var rows = r.Json.GetProperty("rows").EnumerateArray().ToList();
        // every planning algorithm, the lower bound and the solver: the registry
        Assert.Equal(Pgmo.Planner.Optimal.Registry.all.Length, rows.Count);
        var bound = rows.Single(row => row.GetProperty("algorithm").GetString() == "lower-bound");
        Assert.Equal(System.Text.Json.JsonValueKind.Null, bound.GetProperty("valid").ValueKind);   // a bound: no plan to validate
        Assert.Equal(12, bound.GetProperty("peak").GetInt64());
        // every other row, the solver's included, went through the validator
        Assert.All(rows.Where(row => row.GetProperty("algorithm").GetString() != "lower-bound"), row => Assert.True(row.GetProperty("valid").GetBoolean()));
        var optimum = rows.Single(row => row.GetProperty("algorithm").GetString() == "solver");
        Assert.Equal(12, optimum.GetProperty("peak").GetInt64());
        Assert.Equal("optimal", optimum.GetProperty("status").GetString());
        Assert.Equal(12, optimum.GetProperty("bound").GetInt64());
        Assert.True(File.Exists(chart));
    }

    [Fact]
    public void SolveProvesTheMiniMallocExampleOptimalAndWritesItsPlan()
    {
        var plan = Path.Combine(dir, "opt.csv");
        var r = CliRunner.Run("solve", CliRunner.Dataset("minimalloc/input.12.csv"), "--time-limit", "10", "--out", plan, "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("optimal", r.Json.GetProperty("status").GetString());
        Assert.Equal(12, r.Json.GetProperty("peak").GetInt64());
        Assert.Equal(12, r.Json.GetProperty("bound").GetInt64());
        Assert.Equal(0, CliRunner.Run("check", CliRunner.Dataset("minimalloc/input.12.csv"), plan, "--capacity", "12").ExitCode);
    }

    [Theory]
    [InlineData("exact")]
    [InlineData("cp-sat")]
    [InlineData("auto")]
    public void SolveReportsAnImpossibleCapacityInfeasible(string solver)
    {
        var r = CliRunner.Run("solve", CliRunner.Dataset("minimalloc/input.12.csv"), "--capacity", "11", "--solver", solver, "--time-limit", "10", "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("infeasible", r.Json.GetProperty("status").GetString());
    }

    [Theory]
    [InlineData("--solver", "gurobi")]
    [InlineData("--workers", "0")]
    [InlineData("--capacity", "lots")]
    public void SolveRejectsBadArguments(string option, string value) =>
        Assert.Equal(2, CliRunner.Run("solve", CliRunner.Dataset("minimalloc/input.12.csv"), option, value).ExitCode);
}
