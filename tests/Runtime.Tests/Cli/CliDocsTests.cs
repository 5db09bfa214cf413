using System.Text.RegularExpressions;

namespace Pgmo.Tests.Cli;

/// <summary>
/// docs/cli.md, the command-line contract, against the commands themselves: every command has a row, every row a
/// command, and a row's first cell names exactly the command's options (long names and aliases, --help aside). A
/// branch that adds a flag reruns this test (`dotnet test tests/Runtime.Tests --filter CliDocs`) and updates the row.
/// </summary>
public sealed partial class CliDocsTests
{
    [GeneratedRegex(@"--[a-z][a-z0-9-]*")]
    private static partial Regex Flag();

    /// <summary>Command name → the flags named in the first cell of its row in docs/cli.md.</summary>
    static Dictionary<string, SortedSet<string>> DocumentedFlags()
    {
        var rows = new Dictionary<string, SortedSet<string>>();
        foreach (var line in File.ReadLines(Path.Combine(CliRunner.RepositoryRoot(), "docs", "cli.md")))
        {
            if (!line.StartsWith("| `")) continue;
            int end = line.IndexOf("` |", 3, StringComparison.Ordinal);
            var cell = line[3..end];
            var name = cell.Split(' ')[0];
            rows.Add(name, new SortedSet<string>(Flag().Matches(cell).Select(m => m.Value)));
        }
        return rows;
    }

    /// <summary>Command name → its options' long names and aliases, as --help lists them.</summary>
    static Dictionary<string, SortedSet<string>> ActualFlags() =>
        Pgmo.Cli.Commands.Build().Subcommands.ToDictionary(c => c.Name, c => new SortedSet<string>(
            c.Options.SelectMany(o => o.Aliases.Append(o.Name)).Where(n => n.StartsWith("--") && n != "--help")));

    [Fact]
    public void EveryCommandHasARowAndEveryRowACommand()
    {
        Assert.Equal(new SortedSet<string>(ActualFlags().Keys), new SortedSet<string>(DocumentedFlags().Keys));
    }

    [Fact]
    public void EachRowNamesExactlyTheCommandsOptions()
    {
        var documented = DocumentedFlags();
        var problems = new List<string>();
        foreach (var (command, flags) in ActualFlags())
        {
            if (!documented.TryGetValue(command, out var doc)) continue;
            var missing = flags.Except(doc).ToList();
            var extra = doc.Except(flags).ToList();
            if (missing.Count > 0) problems.Add($"{command}: --help has {string.Join(", ", missing)}, docs/cli.md does not");
            if (extra.Count > 0) problems.Add($"{command}: docs/cli.md has {string.Join(", ", extra)}, --help does not");
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void NothingInTheRepositoryPointsOutsideIt()
    {
        var root = CliRunner.RepositoryRoot();
        var offenders = new List<string>();
        foreach (var ext in new[] { "*.md", "*.fs", "*.fsx", "*.cs", "*.sh", "*.fsproj", "*.csproj", "*.props" })
            foreach (var file in Directory.EnumerateFiles(root, ext, SearchOption.AllDirectories))
            {
                var rel = Path.GetRelativePath(root, file);
                if (rel.Split(Path.DirectorySeparatorChar).Any(p => p is "bin" or "obj" or ".git")) continue;
                if (File.ReadAllText(file).Contains("../" + "shared")) offenders.Add(rel);
            }
        Assert.Empty(offenders);
    }
}
