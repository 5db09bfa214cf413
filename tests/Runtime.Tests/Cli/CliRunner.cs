using System.Text.Json;

namespace Pgmo.Tests.Cli;

/// <summary>Runs `pgmo` in-process with captured stdout and stderr. Tests using it share the "Console" collection (not parallel).</summary>
public static class CliRunner
{
    static readonly object Gate = new();

    public sealed record Result(int ExitCode, string Out, string Err)
    {
        /// <summary>The JSON object on the last line of stdout.</summary>
        public JsonElement Json => JsonDocument.Parse(Out.TrimEnd().Split('\n')[^1]).RootElement;
    }

    public static Result Run(params string[] args)
    {
        lock (Gate)
        {
            var (oldOut, oldErr) = (Console.Out, Console.Error);
            var (o, e) = (new StringWriter(), new StringWriter());
            Console.SetOut(o);
            Console.SetError(e);
            try { return new Result(Pgmo.Cli.Commands.Run(args), o.ToString(), e.ToString()); }
            finally { Console.SetOut(oldOut); Console.SetError(oldErr); }
        }
    }

    /// <summary>Runs `pgmo` and asserts that it exits 0 (its stderr the message).</summary>
    public static Result Success(params string[] args)
    {
        var r = Run(args);
        Assert.True(r.ExitCode == 0, r.Err);
        return r;
    }

    /// <summary>Runs `pgmo`, asserts that it exits 0 and returns the JSON object on the last line of stdout.</summary>
    public static JsonElement Json(params string[] args) => Success(args).Json;

    /// <summary>The repository root: the folder above the test assembly that holds Hybrid.sln, else the one above the
    /// working directory (the test assembly runs from an unpacked bundle on a GPU machine, see scripts/gpu-check.sh).</summary>
    public static string RepositoryRoot() =>
        FolderAboveWithSolution(AppContext.BaseDirectory) ?? FolderAboveWithSolution(Environment.CurrentDirectory)
        ?? throw new InvalidOperationException($"Hybrid.sln not found above {AppContext.BaseDirectory} or {Environment.CurrentDirectory}");

    private static string? FolderAboveWithSolution(string start)
    {
        var dir = new DirectoryInfo(start);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Hybrid.sln"))) dir = dir.Parent;
        return dir?.FullName;
    }

    /// <summary>A path under the repository's datasets folder.</summary>
    public static string Dataset(string relative) => Path.Combine(RepositoryRoot(), "datasets", relative);
}

[CollectionDefinition("Console", DisableParallelization = true)]
public sealed class ConsoleCollection;
