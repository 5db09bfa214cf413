using System.CommandLine;
using System.CommandLine.Parsing;
using Pgmo.Memory;
using Pgmo.Planner;
using Pgmo.Planner.Optimal;

namespace Pgmo.Cli;

/// <summary>
/// The command line's named choices, resolved into values once, where the arguments are parsed: an
/// <see cref="Algorithm"/> for <c>--algorithm</c>, an <see cref="AllocatorKind"/> for <c>--allocator</c>. Below the
/// command line nothing is passed on or looked up by name. An unknown name is a parse error (exit 2) naming the known ones.
/// </summary>
public static class Choices
{
    /// <summary>The names of every algorithm of the registry (<see cref="Registry"/>: the planner's and the solver).</summary>
    public static IReadOnlyList<string> Names => [.. Registry.names];

    /// <summary>The algorithm of the registry with that name, if any.</summary>
    public static bool TryFind(string name, out Algorithm algorithm)
    {
        var found = Registry.tryFind(name);
        algorithm = found is null ? null! : found.Value;
        return found is not null;
    }

    /// <summary>The algorithm named, or a usage error listing the names.</summary>
    public static Algorithm Algorithm(string name) =>
        TryFind(name, out var found) ? found
        : throw new UsageException($"unknown algorithm '{name}'; known: {string.Join(", ", Names)}");

    /// <summary>Every planning algorithm (null or empty text: the heuristics and the pools, those that give a plan), or
    /// those of a comma-separated list of names.</summary>
    public static IReadOnlyList<Algorithm> Algorithms(string? names) =>
        string.IsNullOrWhiteSpace(names)
            ? [.. Pgmo.Planner.Algorithms.planners]
            : names.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Algorithm).ToList();

    /// <summary>What <c>--algorithm list</c> parses to where the word is allowed: the command lists the algorithms.</summary>
    public static Algorithm ListAlgorithms { get; } = PlannerApi.Algorithm("list", "lists the algorithms", (_, _) => throw new InvalidOperationException("'list' is not a planning algorithm"));

    /// <summary>An <c>--algorithm</c> option (with <paramref name="aliases"/>) parsed into an <see cref="Planner.Algorithm"/>.
    /// With <paramref name="listWord"/>, the word <c>list</c> parses to <see cref="ListAlgorithms"/>.</summary>
    public static Option<Algorithm> AlgorithmOption(string description, Algorithm defaultValue, bool listWord = false, params string[] aliases) =>
        new("--algorithm", aliases)
        {
            Description = $"{description}; one of {string.Join(", ", Names)}" + (listWord ? " ('list' describes them)" : ""),
            HelpName = "NAME",
            DefaultValueFactory = _ => defaultValue,
            CustomParser = r =>
            {
                var text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";
                if (listWord && text == "list") return ListAlgorithms;
                if (TryFind(text, out var found)) return found;
                r.AddError($"--algorithm: unknown algorithm '{text}' (known: {string.Join(", ", Names)})");
                return defaultValue;
            },
        };

    /// <summary>An <c>--allocator</c> option parsed into an <see cref="AllocatorKind"/>; null when absent (the caller's
    /// default, named in the help, applies: an enum's default would print as its C# name).</summary>
    public static Option<AllocatorKind?> AllocatorOption(AllocatorKind defaultValue) =>
        new("--allocator")
        {
            Description = "device allocator: " + string.Join(", ", Allocators.All.Select(k => $"{k.Name()} ({k.Summary()})")) + $" [default: {defaultValue.Name()}]",
            HelpName = string.Join("|", Allocators.All.Select(k => k.Name())),
            CustomParser = r =>
            {
                var text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";
                if (Allocators.TryParse(text, out var kind)) return kind;
                r.AddError($"--allocator: unknown allocator '{text}' (expected {string.Join(", ", Allocators.All.Select(k => k.Name()))})");
                return defaultValue;
            },
        };
}
