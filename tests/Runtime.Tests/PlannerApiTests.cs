using System.Reflection;
using Pgmo.Planner;
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
        foreach (var type in new[] { typeof(PlannerApi), typeof(SolverApi), typeof(SolveAnswer) })
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
