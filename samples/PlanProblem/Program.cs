// Plans the memory of a problem with Pgmo.Planner from C#: offsets for buffers whose sizes and lifetimes are known.
//   dotnet run                  plans a small training iteration built below
//   dotnet run -- PROBLEM.csv   plans a problem file (MiniMalloc's CSV format: id,lower,upper,size[,alignment])
// Exit codes: 0 a valid plan, 1 an invalid one, 2 bad input.
using Pgmo.Planner;

Problem problem;
if (args.Length > 0)
{
    if (!PlannerApi.TryReadProblem(args[0], out problem, out var error))
    {
        Console.Error.WriteLine(PlannerApi.Describe(error));
        return 2;
    }
}
else
{
    // One training step of a two-layer network: weights live through the whole step [0, 8); each activation from
    // its forward step until its gradient has used it. Lifetimes are half-open: [start, end).
    problem = PlannerApi.Problem(
    [
        PlannerApi.Buffer("w1", 0, 8, 4096, alignment: 256),
        PlannerApi.Buffer("w2", 0, 8, 2048, alignment: 256),
        PlannerApi.Buffer("input", 0, 6, 1024),
        PlannerApi.Buffer("hidden", 1, 5, 8192),
        PlannerApi.Buffer("output", 2, 4, 512),
        PlannerApi.Buffer("grad.output", 3, 5, 512),
        PlannerApi.Buffer("grad.hidden", 4, 6, 8192),
        PlannerApi.Buffer("grad.w2", 4, 7, 2048, alignment: 256),
        PlannerApi.Buffer("grad.w1", 5, 7, 4096, alignment: 256),
    ]);
}

if (!PlannerApi.TryFindAlgorithm("best-fit", out var bestFit)) throw new InvalidOperationException("no best-fit");
var planned = PlannerApi.Plan(bestFit, problem);
var violations = PlannerApi.Violations(problem, planned.Plan);
var lowerBound = PlannerApi.LowerBound(problem);
var pool = PlannerApi.SimulatePool(PoolPolicy.CuPy, problem);

if (problem.Buffers.Length <= 40)
{
    Console.WriteLine($"{"buffer",-12} {"steps",-9} {"size",8} {"offset",8}");
    for (var i = 0; i < problem.Buffers.Length; i++)
    {
        var b = problem.Buffers[i];
        Console.WriteLine($"{b.Id,-12} {$"[{b.Lifetime.Start}, {b.Lifetime.End})",-9} {b.Size,8} {planned.Plan.Offsets[i],8}");
    }
}
Console.WriteLine($"{problem.Buffers.Length} buffers, peak {planned.Peak} B, lower bound {lowerBound} B, " +
                  $"peak / lower bound {(double)planned.Peak / lowerBound:0.0000}");
Console.WriteLine($"CuPy's pool reserves {pool.Reserved} B: the plan needs {1 - (double)planned.Peak / pool.Reserved:P1} less");
foreach (var v in violations) Console.WriteLine("violation: " + PlannerApi.Describe(v));
Console.WriteLine(violations.Length == 0 ? "the plan is valid" : "the plan is INVALID");
return violations.Length == 0 ? 0 : 1;
