using Pgmo.Planner;

namespace Pgmo.Cli;

/// <summary>Reads problem and plan files, turning every format error into a <see cref="UsageException"/> naming file and line.</summary>
public static class Inputs
{
    static string ReadText(string path)
    {
        if (Directory.Exists(path)) throw new UsageException($"{path}: is a folder, expected a CSV file");
        if (!File.Exists(path)) throw new UsageException($"{path}: no such file");
        try { return File.ReadAllText(path); }
        catch (IOException e) { throw new UsageException($"{path}: cannot read: {e.Message}"); }
        catch (UnauthorizedAccessException e) { throw new UsageException($"{path}: cannot read: {e.Message}"); }
    }

    /// <summary>The problem in a CSV file (minimalloc format).</summary>
    public static Problem ReadProblem(string path) =>
        PlannerApi.TryParseProblem(path, ReadText(path), out var problem, out var error) ? problem : throw new UsageException(PlannerApi.Describe(error));

    /// <summary>The rows of a plan CSV file: the buffers it names and their offsets.</summary>
    public static (Problem Buffers, Plan Offsets) ReadPlan(string path) =>
        PlannerApi.TryParsePlan(path, ReadText(path), out var rows, out var offsets, out var error)
            ? (rows, offsets)
            : throw new UsageException(PlannerApi.Describe(error));

    /// <summary>The CSV files named: files as given, folders expanded to their *.csv files (sorted).</summary>
    public static IReadOnlyList<string> ExpandCsvPaths(IEnumerable<string> paths)
    {
        var files = new List<string>();
        foreach (var p in paths)
        {
            if (Directory.Exists(p))
                files.AddRange(Directory.EnumerateFiles(p, "*.csv", SearchOption.AllDirectories).OrderBy(f => f, StringComparer.Ordinal));
            else if (File.Exists(p)) files.Add(p);
            else throw new UsageException($"{p}: no such file or folder");
        }
        if (files.Count == 0) throw new UsageException($"no CSV files in {string.Join(", ", paths)}");
        return files;
    }

    /// <summary>Parses a byte size such as 1048576, 512KiB, 16GiB, 1.5MB (binary units for KiB/MiB/GiB/TiB and KB/MB/GB/TB).</summary>
    public static long ParseBytes(string text, string what)
    {
        var t = text.Trim();
        string[] units = ["TIB", "GIB", "MIB", "KIB", "TB", "GB", "MB", "KB", "B"];
        long[] scales = [1L << 40, 1L << 30, 1L << 20, 1L << 10, 1L << 40, 1L << 30, 1L << 20, 1L << 10, 1];
        long scale = 1;
        for (var i = 0; i < units.Length; i++)
            if (t.EndsWith(units[i], StringComparison.OrdinalIgnoreCase))
            {
                scale = scales[i];
                t = t[..^units[i].Length].Trim();
                break;
            }
        if (decimal.TryParse(t, System.Globalization.NumberStyles.Number, System.Globalization.CultureInfo.InvariantCulture, out var v) && v > 0)
        {
            var bytes = v * scale;
            if (bytes <= long.MaxValue) return (long)Math.Ceiling(bytes);
        }
        throw new UsageException($"{what}: '{text}' is not a positive size in bytes (e.g. 1048576, 512KiB, 16GiB)");
    }
}
