using System.Reflection;
using Pgmo.Planner.Optimal;
using Pgmo.Tests.Cli;

namespace Pgmo.Tests;

/// <summary>The planner's C# surface (PlannerApi, SolverApi) used as a C# caller would: plain .NET types only.</summary>
public sealed class PlannerApiTests
{
    // a forward and backward pass over 3 layers: layer k's weights (256-aligned) live the whole step [0, 7), its
    // activation from step k until its gradient at step 6 - k has used it
    static Problem Step() => PlannerApi.Problem(Enumerable.Range(0, 3).SelectMany(k => new[]
    {
        PlannerApi.Buffer($"w{k}", 0, 7, 1024 << k, alignment: 256),
        PlannerApi.Buffer($"a{k}", k, 7 - k, 4096 >> k),
    }));

    [Fact]
    public void EveryAlgorithmPlansABuiltProblemValidly()
    {
        var problem = Step();
        var lowerBound = PlannerApi.LowerBound(problem);
        // the max load: steps 2 to 4 hold every weight and activation, 1024 + 2048 + 4096 + 4096 + 2048 + 1024
        Assert.Equal(14336, lowerBound);
        foreach (var name in PlannerApi.AlgorithmNames)
        {
            Assert.True(PlannerApi.TryFindAlgorithm(name, out var algorithm), name);
            var planned = PlannerApi.Plan(algorithm, problem, PlannerApi.Settings(TimeSpan.FromSeconds(1), 1, CancellationToken.None));
            Assert.Empty(PlannerApi.Violations(problem, planned.Plan).Select(PlannerApi.Describe));
            Assert.True(planned.Peak >= lowerBound, $"{name}: peak {planned.Peak} below the lower bound {lowerBound}");
            Assert.Equal(0, planned.Plan.Offsets[0] % 256);
        }
        Assert.False(PlannerApi.TryFindAlgorithm("no-such", out _));
    }

    [Fact]
    public void PinsAndHintsRoundTripThroughNullable()
    {
        var pinned = PlannerApi.Pinned(PlannerApi.Buffer("a", 0, 4, 64), 128);
        var hinted = PlannerApi.Hinted(PlannerApi.Buffer("b", 2, 6, 64), 0);
        Assert.Equal(128, PlannerApi.PinnedOffset(pinned));
        Assert.Null(PlannerApi.PinnedOffset(hinted));
        Assert.Equal(0, PlannerApi.HintOffset(hinted));
        var problem = PlannerApi.Problem([pinned, hinted]);
        PlannerApi.TryFindAlgorithm("best-fit", out var bestFit);
        var plan = PlannerApi.Plan(bestFit, problem).Plan;
        Assert.Equal(128, plan.Offsets[0]);
        Assert.Empty(PlannerApi.Violations(problem, plan));
        // a capacity below the pinned buffer's top is a violation the validator names
        var violation = Assert.Single(PlannerApi.Violations(problem, plan, capacity: 150));
        Assert.Contains("above the capacity 150", PlannerApi.Describe(violation));
    }

    /// <code>
    ///  step:  0 1 2 3 4 5
    ///  a(8)   aa . . aaaa      [0, 6), gap [1, 3) keeps nothing
    ///  b(8)     bbbb           [1, 3): fits in a's gap, at a's offset
    ///  c(8)   cc ccccccc       [0, 6), gap [1, 2) keeps bytes [0, 4)
    /// </code>
    [Fact]
    public void GappedBuffersAreBuiltReadAndPlannedThroughTheSurface()
    {
        var a = PlannerApi.WithGaps(PlannerApi.Buffer("a", 0, 6, 8), [PlannerApi.Gap(1, 3)]);
        var b = PlannerApi.Buffer("b", 1, 3, 8);
        var c = PlannerApi.WithGaps(PlannerApi.Buffer("c", 0, 6, 8), [PlannerApi.Gap(1, 2, 0, 4)]);
        Assert.Null(PlannerApi.GapWindow(a.Gaps[0]));
        Assert.Equal(new Window(0, 4), PlannerApi.GapWindow(c.Gaps[0]));
        Assert.Equal([new Piece(0, 1, 0, 8), new Piece(3, 6, 0, 8)], PlannerApi.Pieces(a));
        Assert.Equal([new Piece(0, 1, 0, 8), new Piece(1, 2, 0, 4), new Piece(2, 6, 0, 8)], PlannerApi.Pieces(c));
        Assert.Equal([new Piece(1, 3, 0, 8)], PlannerApi.Pieces(b));
        var problem = PlannerApi.Problem([a, b, c]);
        // step 1 holds b and c's kept 4 bytes; step 0 holds a and c: 16
        Assert.Equal(16, PlannerApi.LowerBound(problem));
        foreach (var algorithm in PlannerApi.Algorithms)
        {
            var planned = PlannerApi.Plan(algorithm, problem, PlannerApi.Settings(TimeSpan.FromSeconds(1), 1, CancellationToken.None));
            Assert.Empty(PlannerApi.Violations(problem, planned.Plan).Select(PlannerApi.Describe));
        }
        PlannerApi.TryFindAlgorithm("best-fit", out var bestFit);
        Assert.Equal(16, PlannerApi.Plan(bestFit, problem).Peak);
        // a buffer in a's gap at a's offset is valid; outside the gap it is an overlap
        Assert.Empty(PlannerApi.Violations(problem, new Plan([0, 0, 8])));
        var wide = PlannerApi.Problem([a, PlannerApi.Buffer("b", 1, 4, 8), c]);
        Assert.NotEmpty(PlannerApi.Violations(wide, new Plan([0, 0, 8])));
        // the gaps round-trip through the CSV
        Assert.True(PlannerApi.TryParseProblem("g.csv", PlannerApi.ProblemCsv(problem), out var again, out _));
        Assert.Equal(problem.Buffers.Select(PlannerApi.Pieces).SelectMany(p => p), again.Buffers.Select(PlannerApi.Pieces).SelectMany(p => p));
        Assert.Throws<ArgumentException>(() => PlannerApi.Gap(3, 3));
        Assert.Throws<ArgumentException>(() => PlannerApi.Gap(1, 3, 4, 2));
        Assert.Throws<ArgumentException>(() => PlannerApi.WithGaps(PlannerApi.Buffer("x", 2, 6, 8), [PlannerApi.Gap(1, 3)]));
        Assert.Throws<ArgumentException>(() => PlannerApi.WithGaps(PlannerApi.Buffer("x", 0, 6, 8), [PlannerApi.Gap(1, 3), PlannerApi.Gap(2, 4)]));
        Assert.Throws<ArgumentException>(() => PlannerApi.WithGaps(PlannerApi.Buffer("x", 0, 6, 8), [PlannerApi.Gap(1, 3, 0, 9)]));
    }

    [Fact]
    public void APlanFilesRowsAreMatchedToTheProblemById()
    {
        var problem = Step();
        PlannerApi.TryFindAlgorithm("best-fit", out var bestFit);
        var plan = PlannerApi.Plan(bestFit, problem).Plan;
        var reversed = PlannerApi.Problem(problem.Buffers.Reverse());
        Assert.True(PlannerApi.TryAssign(problem, reversed, new Plan(plan.Offsets.Reverse().ToArray()), out var assigned, out var none));
        Assert.Equal(plan.Offsets, assigned.Offsets);
        Assert.Empty(none);
        var missing = PlannerApi.Problem(problem.Buffers.Skip(1));
        Assert.False(PlannerApi.TryAssign(problem, missing, new Plan(plan.Offsets.Skip(1).ToArray()), out _, out var mismatches));
        Assert.Contains("w0", PlannerApi.Describe(Assert.Single(mismatches)));
        // a plan file's text: its rows and offsets, matched back to the problem
        Assert.True(PlannerApi.TryParsePlan("plan.csv", PlannerApi.PlanCsv(problem, plan), out var rows, out var offsets, out _));
        Assert.True(PlannerApi.TryAssign(problem, rows, offsets, out var again, out _));
        Assert.Equal(plan.Offsets, again.Offsets);
        Assert.False(PlannerApi.TryParsePlan("plan.csv", "id,lower,upper,size\na,0,2,8\n", out _, out _, out var error));
        Assert.StartsWith("plan.csv:", PlannerApi.Describe(error));
    }

    [Fact]
    public void ExtraColumnsAreWrittenAfterTheProblemsAndIgnoredOnRead()
    {
        var problem = Step();
        var csv = PlannerApi.ProblemCsv(problem, [("origin", problem.Buffers.Select(b => "layer " + b.Id).ToArray())]);
        Assert.EndsWith(",origin", csv.Split('\n')[0]);
        Assert.Contains(",layer w0", csv);
        Assert.True(PlannerApi.TryParseProblem("x.csv", csv, out var again, out _));
        Assert.Equal(problem.Buffers, again.Buffers);
    }

    [Fact]
    public void BadBuffersAndBadFilesAreReportedNotCrashed()
    {
        Assert.Throws<ArgumentException>(() => PlannerApi.Buffer("a", 4, 4, 8));
        Assert.Throws<ArgumentException>(() => PlannerApi.Buffer("a", 0, 4, 0));
        Assert.Throws<ArgumentException>(() => PlannerApi.Buffer("a", 0, 4, 8, alignment: 0));
        Assert.False(PlannerApi.TryParseProblem("p.csv", "id,lower,upper,size\na,0,2,8\nb,3,1,8\n", out _, out var error));
        Assert.Equal(3, error.Line);
        Assert.StartsWith("p.csv:3: ", PlannerApi.Describe(error));
        Assert.False(PlannerApi.TryReadProblem(Path.Combine(Path.GetTempPath(), "pgmo-no-such-file.csv"), out _, out error));
        Assert.Contains("cannot read", error.Message);
    }

    [Fact]
    public void AProblemFileRoundTripsThroughCsv()
    {
        Assert.True(PlannerApi.TryReadProblem(CliRunner.Dataset("minimalloc/input.12.csv"), out var problem, out _));
        PlannerApi.TryFindAlgorithm("best-fit", out var bestFit);
        var plan = PlannerApi.Plan(bestFit, problem).Plan;
        Assert.True(PlannerApi.TryParseProblem("again.csv", PlannerApi.ProblemCsv(problem), out var again, out _));
        Assert.Equal(problem.Buffers.Select(b => (b.Id, b.Size)), again.Buffers.Select(b => (b.Id, b.Size)));
        Assert.Contains("offset", PlannerApi.PlanCsv(problem, plan).Split('\n')[0]);
    }

    [Fact]
    public void TheSolverMinimizesAndDecides()
    {
        Assert.True(PlannerApi.TryReadProblem(CliRunner.Dataset("minimalloc/input.12.csv"), out var problem, out _));
        var answer = SolverApi.Solve(problem, TimeSpan.FromSeconds(20), workers: 1);
        Assert.True(answer.IsOptimal, answer.Status.ToString());
        Assert.Equal(12, answer.Peak);
        Assert.NotNull(answer.Plan);
        Assert.Empty(PlannerApi.Violations(problem, answer.Plan));
        var tooSmall = SolverApi.Solve(problem, TimeSpan.FromSeconds(20), capacity: 11, workers: 1);
        Assert.Equal(SolveStatus.Infeasible, tooSmall.Status);
        Assert.Null(tooSmall.Plan);
        Assert.Null(tooSmall.Peak);
    }

    [Fact]
    public void NoFSharpTypeCrossesTheCSharpSurface()
    {
        static bool IsFSharp(Type t) =>
            t.Namespace?.StartsWith("Microsoft.FSharp") == true
            || (t.HasElementType && IsFSharp(t.GetElementType()!))
            || (t.IsGenericType && t.GetGenericArguments().Any(IsFSharp));
        var offenders = new List<string>();
        foreach (var type in new[] { typeof(PlannerApi), typeof(SolverApi), typeof(SolveAnswer), typeof(Algorithm) })
        {
            if (type.Name.EndsWith("Module")) offenders.Add(type.Name);
            foreach (var m in type.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            {
                if (IsFSharp(m.ReturnType)) offenders.Add($"{type.Name}.{m.Name} returns {m.ReturnType}");
                foreach (var p in m.GetParameters())
                    if (IsFSharp(p.ParameterType)) offenders.Add($"{type.Name}.{m.Name}({p.Name}: {p.ParameterType})");
            }
        }
        Assert.Empty(offenders);
    }
}
