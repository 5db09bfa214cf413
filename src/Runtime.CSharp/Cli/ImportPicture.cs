using Pgmo.Planner;

namespace Pgmo.Cli;

/// <summary>`import --svg`: PyTorch's own layout over time, from the addresses it recorded, beside the best-fit plan,
/// on one address scale.</summary>
public static class ImportPicture
{
    /// <summary>The picture of an imported problem and its plan.</summary>
    public static string Render(string name, Imported imported, Plan plan, long lowerBound)
    {
        var problem = imported.Problem;
        var recorded = PlannerApi.RecordedLayout(imported);
        var peak = PlannerApi.Peak(problem, plan);
        var lb = new Svg.Line(lowerBound, "#0040c0", "lower bound " + Svg.formatBytes(lowerBound));
        var reserved = imported.PeakReservedBytes;
        var left = new Svg.Panel(
            reserved is null
                ? "the recorded addresses (address ranges in use laid end to end; grey: each range while in use)"
                : "PyTorch's layout (its addresses; grey: the segments it reserved)",
            recorded.Plan, recorded.Held,
            Microsoft.FSharp.Collections.ListModule.OfSeq(new[] { lb, new Svg.Line(recorded.Span, "#606060", "address ranges " + Svg.formatBytes(recorded.Span)) }));
        var right = new Svg.Panel("pgmo's best-fit plan", plan, [],
            Microsoft.FSharp.Collections.ListModule.OfSeq(new[] { lb, new Svg.Line(peak, "#c00000", "plan peak " + Svg.formatBytes(peak)) }));
        var subtitle = $"{problem.Buffers.Length} buffers; lower bound {Svg.formatBytes(lowerBound)}; plan {Svg.formatBytes(peak)}"
                       + (reserved is long r ? $"; PyTorch reserved at most {Svg.formatBytes(r)} (fragmentation {1.0 - (double)lowerBound / r:P1})" : "")
                       + $"; recorded address ranges {Svg.formatBytes(recorded.Span)}";
        return Svg.sideBySide($"{name}: the recorded layout beside a plan", subtitle, problem,
            Microsoft.FSharp.Collections.ListModule.OfSeq(new[] { left, right }));
    }
}
