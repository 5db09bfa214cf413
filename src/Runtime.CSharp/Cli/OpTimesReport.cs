using Spectre.Console;
using Pgmo.Nn;

namespace Pgmo.Cli;

/// <summary>
/// The `--op-times` report of <c>train</c> (and of any command that times a tape with <see cref="OpTimes"/>): a table of
/// milliseconds per step for each op kind, forward and backward, with its share of the step, and the same as a JSON
/// object.
/// </summary>
public static class OpTimesReport
{
    /// <summary>The option's help text, shared by the commands that take it.</summary>
    public const string Description =
        "also print where a step's time goes: milliseconds per step for each op kind (forward, backward, share of the step), " +
        "over the steps after the first; each op then waits for the device before and after it, which slows a GPU run a little";

    /// <summary>The <paramref name="times"/> as a table titled <paramref name="title"/>: one row per op kind, largest
    /// first, then the time outside every op and the whole step.</summary>
    public static Table Table(OpTimes times, string title)
    {
        var numeric = new HashSet<string> { "calls", "forward", "backward", "other", "total", "share", "GEMM GFLOP/s" };
        var table = Output.Table(["op", "calls", "forward", "backward", "other", "total", "share", "GEMM GFLOP/s"], numeric);
        table.Title = new TableTitle($"{title}: time per step, mean of {times.Steps} step{(times.Steps == 1 ? "" : "s")}");
        var rows = times.Rows();
        var parts = times.PartRows();
        foreach (var r in rows)
        {
            Add(r.Kind, r);
            foreach (var part in parts.Where(q => q.Kind.StartsWith(r.Kind + ": ", StringComparison.Ordinal)))
                Add("  · " + part.Kind[(r.Kind.Length + 2)..], part);
        }
        double step = times.MeanStepMillis, outside = step - rows.Sum(r => r.TotalMillis);
        table.AddRow("outside ops", "", "", "", "", Output.Millis(outside), Percent(step > 0 ? outside / step : 0), "");
        table.AddRow("step", "", Ms(rows.Sum(r => r.ForwardMillis)), Ms(rows.Sum(r => r.BackwardMillis)), Ms(rows.Sum(r => r.OtherMillis)), Output.Millis(step), Percent(step > 0 ? 1 : 0), "");
        return table;

        void Add(string name, OpTimeRow r) =>
            table.AddRow(name, $"{r.Calls:0.#}", Ms(r.ForwardMillis), Ms(r.BackwardMillis), Ms(r.OtherMillis), Output.Millis(r.TotalMillis), Percent(r.Share), r.Gflops is { } g ? $"{g:0.0}" : "");

        static string Ms(double ms) => ms > 0 ? Output.Millis(ms) : "";
        static string Percent(double share) => $"{share * 100:0.0} %";
    }

    /// <summary>The JSON form: <c>steps, stepMillis</c> (the mean measured step), <c>medianStepMillis, stepTimes</c> (each
    /// measured step) and <c>rows</c> (one object per op kind: <c>op, calls, forwardMillis, backwardMillis, otherMillis,
    /// totalMillis, share, flop, gflops</c>; the last two per step and of the GEMM work, null where there is none) and
    /// <c>parts</c> (the parts of an op, within its time: <c>part</c> as "op: part", <c>calls, forwardMillis,
    /// backwardMillis, totalMillis, share</c>).</summary>
    public static object Json(OpTimes times) => new
    {
        steps = times.Steps,
        stepMillis = times.MeanStepMillis,
        medianStepMillis = times.MedianStepMillis,
        stepTimes = times.StepTimes,
        rows = times.Rows().Select(r => new { op = r.Kind, calls = r.Calls, forwardMillis = r.ForwardMillis, backwardMillis = r.BackwardMillis, otherMillis = r.OtherMillis, totalMillis = r.TotalMillis, share = r.Share, flop = r.Flop, gflops = r.Gflops }),
        parts = times.PartRows().Select(r => new { part = r.Kind, calls = r.Calls, forwardMillis = r.ForwardMillis, backwardMillis = r.BackwardMillis, totalMillis = r.TotalMillis, share = r.Share }),
    };
}
