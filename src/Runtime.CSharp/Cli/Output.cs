using System.Text.Json;
using Spectre.Console;

namespace Pgmo.Cli;

/// <summary>Everything a command prints or writes: atomic files, human units, tables on stdout, progress on stderr, the JSON last line.</summary>
public static class Output
{
    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>A console for progress and messages that keeps stdout clean for tables and JSON.</summary>
    public static readonly IAnsiConsole Err = Console(System.Console.Error, System.Console.IsErrorRedirected);

    /// <summary>A console for human-readable results on stdout.</summary>
    public static readonly IAnsiConsole Out = Console(System.Console.Out, System.Console.IsOutputRedirected);

    /// <summary>A console on a writer; when redirected to a file or pipe, plain text and wide enough that tables never wrap.</summary>
    static IAnsiConsole Console(TextWriter writer, bool redirected)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = redirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = redirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
        });
        if (redirected) console.Profile.Width = 250;
        return console;
    }

    /// <summary>
    /// Writes text to path atomically: a temporary file beside it with a name no other write uses, flushed to disk, then
    /// renamed over the path. Whatever fails or kills the run on the way, the path holds its old content or the whole new
    /// one, never part of it; a failure removes the temporary file (a killed process cannot, and leaves it beside the
    /// path, named <c>.NAME.*.tmp</c>).
    /// </summary>
    public static void WriteAtomically(string path, string text)
    {
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(folder)) throw new UsageException($"{path}: folder {folder} does not exist");
        var temp = Path.Combine(folder, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                using (var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(false), 1 << 16, leaveOpen: true)) writer.Write(text);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e)
        {
            try { File.Delete(temp); }
            catch (Exception d) when (d is IOException or UnauthorizedAccessException) { }   // the first failure is the one to report
            if (e is IOException or UnauthorizedAccessException) throw new UsageException($"{path}: cannot write: {e.Message}");
            throw;
        }
    }

    /// <summary>Prints one JSON object as the last line of standard output.</summary>
    public static void JsonLine(object value) => System.Console.Out.WriteLine(JsonSerializer.Serialize(value, Json));

    /// <summary>A byte count in the largest binary unit that keeps it at or above 1 (B, KiB, MiB, GiB, TiB).</summary>
    public static string Bytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = bytes;
        var u = 0;
        while (Math.Abs(v) >= 1024 && u < units.Length - 1) { v /= 1024; u++; }
        return u == 0 ? $"{bytes} B" : $"{v:0.##} {units[u]}";
    }

    /// <summary>Milliseconds, with more digits when small.</summary>
    public static string Millis(double ms) => ms < 10 ? $"{ms:0.00} ms" : ms < 1000 ? $"{ms:0.0} ms" : $"{ms / 1000:0.00} s";

    /// <summary>A table with right-aligned numeric columns (those whose name is in numeric).</summary>
    public static Table Table(IEnumerable<string> columns, ISet<string>? numeric = null)
    {
        var table = new Table().Border(TableBorder.Simple);
        foreach (var c in columns)
        {
            var col = new TableColumn(c);
            if (numeric?.Contains(c) == true) col.RightAligned();
            table.AddColumn(col);
        }
        return table;
    }
}
