using System.CommandLine;
using System.Diagnostics;
using System.IO.Compression;
using Pgmo.Planner;

namespace Pgmo.Cli;

/// <summary>
/// `pgmo import FILE [--format snapshot|log|auto] [--device N] [--iteration K] [--alignment A] --out PROBLEM.csv
/// [--svg FILE.svg]`: a PyTorch memory snapshot or an allocation log becomes a problem, with what PyTorch did beside
/// what a plan does.
/// </summary>
public static class ImportCommand
{
    /// <summary>The two input formats.</summary>
    public enum Format { Auto, Snapshot, Log }

    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "a PyTorch memory snapshot (torch.cuda.memory._dump_snapshot) or an allocation log; gzipped or not" };
        // nullable, so that --help shows the default as the word users type, not the enum's name
        var format = new Option<Format?>("--format")
        {
            Description = "snapshot (a pickle), log (alloc/free/iteration lines) or auto (a pickle by its first byte or a .pickle/.pkl name, else a log) [default: auto]",
            HelpName = "snapshot|log|auto",
            CustomParser = r =>
            {
                var text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";
                switch (text)
                {
                    case "auto": return Format.Auto;
                    case "snapshot": return Format.Snapshot;
                    case "log": return Format.Log;
                    default:
                        r.AddError($"--format: unknown format '{text}' (expected snapshot, log or auto)");
                        return Format.Auto;
                }
            },
        };
        var device = new Option<int?>("--device") { Description = "the device whose trace a snapshot gives (default: the one with events)", HelpName = "N" };
        var iteration = new Option<int?>("--iteration") { Description = "keep the K-th iteration an allocation log marks (1-based), plus the buffers live across it (default: the whole log)", HelpName = "K" };
        var alignment = new Option<long>("--alignment")
        {
            Description = "the alignment every buffer's offset needs, in bytes (512: the block alignment of PyTorch's CUDA caching allocator)",
            HelpName = "BYTES",
            DefaultValueFactory = _ => 512,
            Validators = { r => { if (r.GetValueOrDefault<long>() < 1) r.AddError("--alignment must be at least 1"); } },
        };
        var outFile = new Option<string>("--out", "-o") { Description = "write the problem CSV here (with stream, address and origin columns)", Required = true, HelpName = "PROBLEM.csv" };
        var svg = new Option<string?>("--svg") { Description = "draw PyTorch's layout over time (its recorded addresses) beside the best-fit plan", HelpName = "FILE.svg" };
        var json = Commands.JsonOption();
        var command = new Command("import", "Turn a PyTorch memory snapshot or an allocation log into a problem, and show what PyTorch reserved beside what a plan needs.")
        {
            file, format, device, iteration, alignment, outFile, svg, json,
        };
        command.SetAction(r => Run(r.GetValue(file)!, r.GetValue(format) ?? Format.Auto, r.GetValue(device), r.GetValue(iteration), r.GetValue(alignment),
            r.GetValue(outFile)!, r.GetValue(svg), r.GetValue(json)));
        return command;
    }

    /// <summary>The bytes of a file, decompressed when it is gzipped.</summary>
    static byte[] ReadBytes(string path)
    {
        if (Directory.Exists(path)) throw new UsageException($"{path}: is a folder, expected a snapshot or an allocation log");
        if (!File.Exists(path)) throw new UsageException($"{path}: no such file");
        try
        {
            var bytes = File.ReadAllBytes(path);
            if (bytes.Length < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b) return bytes;
            using var gz = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
            using var plain = new MemoryStream();
            gz.CopyTo(plain);
            return plain.ToArray();
        }
        catch (InvalidDataException e) { throw new UsageException($"{path}: a broken gzip file: {e.Message}"); }
        catch (IOException e) { throw new UsageException($"{path}: cannot read: {e.Message}"); }
        catch (UnauthorizedAccessException e) { throw new UsageException($"{path}: cannot read: {e.Message}"); }
    }

    static bool LooksLikeSnapshot(string path, byte[] bytes)
    {
        var name = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? path[..^3] : path;
        return (bytes.Length > 0 && bytes[0] == 0x80)
            || name.EndsWith(".pickle", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".pkl", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The folder of an output file must exist before anything is written, so a bad path writes nothing.</summary>
    static void CheckFolder(string path)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder)) throw new UsageException($"{path}: folder {folder} does not exist");
    }

    /// <summary>Reads and imports a file; a bad file is a <see cref="UsageException"/> naming the file and the line or event.</summary>
    public static (Imported Imported, bool IsSnapshot) Read(string path, Format format, int? device, int? iteration, long alignment)
    {
        var bytes = ReadBytes(path);
        var snapshot = format == Format.Snapshot || (format == Format.Auto && LooksLikeSnapshot(path, bytes));
        if (snapshot && iteration is not null)
            throw new UsageException($"{path}: --iteration applies to allocation logs; a snapshot marks no iterations (record the one iteration you want)");
        if (!snapshot && device is not null)
            throw new UsageException($"{path}: --device applies to snapshots; an allocation log has one device");
        bool ok;
        Imported imported;
        InputError error;
        if (snapshot) ok = PlannerApi.TryImportSnapshot(path, bytes, device, alignment, out imported, out error);
        else
        {
            string text;
            try { text = new System.Text.UTF8Encoding(false, true).GetString(bytes); }
            catch (System.Text.DecoderFallbackException) { throw new UsageException($"{path}: not UTF-8 text, so not an allocation log (a snapshot? use --format snapshot)"); }
            ok = PlannerApi.TryImportLog(path, text, iteration, alignment, out imported, out error);
        }
        return ok ? (imported, snapshot) : throw new UsageException(PlannerApi.Describe(error));
    }

    static int Run(string path, Format format, int? device, int? iteration, long alignment, string outFile, string? svg, bool json)
    {
        var clock = Stopwatch.StartNew();
        CheckFolder(outFile);
        if (svg is not null) CheckFolder(svg);
        var (imported, isSnapshot) = Read(path, format, device, iteration, alignment);
        var problem = imported.Problem;
        var lowerBound = PlannerApi.LowerBound(problem);
        var bestFit = PlannerApi.Plan(Algorithms.bestFit, problem, Algorithms.defaults);
        var violations = PlannerApi.Violations(problem, bestFit.Plan, null);
        if (violations.Length > 0)
            throw new InvalidOperationException($"best-fit produced an invalid plan of {path}: {PlannerApi.Describe(violations[0])}");
        long steps = problem.Buffers.Max(b => b.Lifetime.End);
        long? reserved = imported.PeakReservedBytes;
        double? fragmentation = reserved is > 0 ? 1.0 - (double)lowerBound / reserved.Value : null;
        var columns = new List<(string, string[])>();
        if (isSnapshot) columns.Add(("stream", imported.Streams.Select(s => s.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray()));
        columns.Add(("address", imported.Addresses.Select(a => $"0x{a:x}").ToArray()));
        columns.Add(("origin", imported.Origins));
        var csv = PlannerApi.ProblemCsv(problem, columns);
        string? picture = svg is null ? null : ImportPicture.Render(Path.GetFileName(path), imported, bestFit.Plan, lowerBound);
        Output.WriteAtomically(outFile, csv);
        if (picture is not null) Output.WriteAtomically(svg!, picture);

        var name = Path.GetFileName(path);
        Console.WriteLine($"{name}: {(isSnapshot ? "PyTorch memory snapshot" : "allocation log")}, {imported.Events} alloc and free events"
                          + (imported.IterationKept is int k ? $" of iteration {k} of {imported.Iterations}" : imported.Iterations > 0 ? $" ({imported.Iterations} iterations marked; --iteration K keeps one)" : ""));
        Console.WriteLine($"  {problem.Buffers.Length} buffers over {steps} steps; lower bound {Output.Bytes(lowerBound)} ({lowerBound} B)");
        Console.WriteLine($"  best-fit plan: peak {Output.Bytes(bestFit.Peak)} ({bestFit.Peak} B), {CheckCommand.Ratio(bestFit.Peak, lowerBound):0.0000} x the lower bound");
        if (reserved is long r)
            Console.WriteLine($"  PyTorch reserved at most {Output.Bytes(r)} ({r} B): fragmentation {fragmentation:P1} (1 - lower bound / reserved); the plan needs {Output.Bytes(r - bestFit.Peak)} less");
        if (imported.SkippedFrees > 0)
            Console.WriteLine($"  {imported.SkippedFrees} frees of addresses the log never allocated (earlier allocations) skipped, the first at {imported.FirstSkippedPlace}");
        Console.WriteLine($"problem written to {outFile}" + (svg is not null ? $", picture to {svg}" : ""));
        if (json)
            Output.JsonLine(new
            {
                format = isSnapshot ? "snapshot" : "log",
                buffers = problem.Buffers.Length,
                steps,
                events = imported.Events,
                skippedFrees = imported.SkippedFrees,
                iterations = imported.Iterations,
                iteration = imported.IterationKept,
                lowerBound,
                bestFitPeak = bestFit.Peak,
                ratio = CheckCommand.Ratio(bestFit.Peak, lowerBound),
                reservedBytes = reserved,
                fragmentation,
                millis = clock.Elapsed.TotalMilliseconds,
            });
        return ExitCodes.Success;
    }
}
