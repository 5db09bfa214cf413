using System.CommandLine;

namespace Pgmo.Cli;

/// <summary>Builds the `pgmo` command tree and runs it, mapping failures to the contract's exit codes.</summary>
public static class Commands
{
    /// <summary>The root command with every subcommand.</summary>
    public static RootCommand Build() =>
        new("pgmo: profile-guided memory optimization for deep neural networks")
        {
            PlanCommand.Create(),
            CheckCommand.Create(),
            CompareCommand.Create(),
            SolveCommand.Create(),
            BoundCommand.Create(),
            BenchCommand.Create(),
            TrainCommand.Create(),
            InferCommand.Create(),
            ModelsCommand.Create(),
            BenchKernelsCommand.Create(),
            ProfileCommand.Create(),
            MaxBatchCommand.Create(),
            ImportCommand.Create(),
        };

    /// <summary>Runs the command line; returns 0 on success, 2 on bad input or arguments, 1 on any other failure.</summary>
    public static int Run(string[] args)
    {
        var parsed = Build().Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) Console.Error.WriteLine($"pgmo: {error.Message}");
            Console.Error.WriteLine("Run 'pgmo --help' or 'pgmo COMMAND --help' for usage.");
            return ExitCodes.BadInput;
        }
        if (Pgmo.Kernels.HostCpu.EnvironmentError is { } isa)
        {
            Console.Error.WriteLine($"pgmo: {isa}");
            return ExitCodes.BadInput;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"pgmo: {e.Message}");
            return ExitCodes.BadInput;
        }
        catch (Pgmo.Memory.OutOfDeviceMemoryException e)
        {
            Console.Error.WriteLine($"pgmo: {e.Message}");
            return ExitCodes.Failure;
        }
        catch (OverflowException e)
        {
            // checked byte arithmetic: a sum of offsets and sizes past 64 bits is refused, never wrapped
            Console.Error.WriteLine($"pgmo: offsets and sizes add up past the 64-bit limit ({e.Message})");
            return ExitCodes.Failure;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("pgmo: cancelled");
            return ExitCodes.Failure;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"pgmo: internal error: {e}");
            return ExitCodes.Failure;
        }
    }

    /// <summary>The `--json` option every reporting command takes.</summary>
    public static Option<bool> JsonOption() =>
        new("--json") { Description = "also print the figures as one JSON object on the last line of standard output" };

    /// <summary>A `--nodes` option: a budget of work in search nodes for <paramref name="what"/> (absent: none).</summary>
    public static Option<long?> NodesOption(string what) =>
        new("--nodes")
        {
            Description = $"budget of work in search nodes for {what}",
            Validators = { r => { if (r.GetValueOrDefault<long?>() is < 1) r.AddError("--nodes must be at least 1"); } },
        };

    /// <summary>The time limit of a command with a node budget: the `--time-limit` given, or none when `--nodes` is
    /// given without one (so that the node budget alone decides, the same on any machine), or the default.</summary>
    public static TimeSpan Budget(ParseResult r, Option<double> timeLimit, Option<long?> nodes)
    {
        var explicitLimit = r.GetResult(timeLimit) is { Implicit: false };
        if (r.GetValue(nodes) is not null && !explicitLimit) return TimeSpan.MaxValue;
        return TimeSpan.FromSeconds(r.GetValue(timeLimit));
    }

    /// <summary>A `--time-limit` option in seconds with the given default.</summary>
    public static Option<double> TimeLimitOption(double defaultSeconds, string what) =>
        new("--time-limit")
        {
            Description = $"time budget in seconds for {what}",
            DefaultValueFactory = _ => defaultSeconds,
            Validators = { r => { if (r.GetValueOrDefault<double>() is < 0 or double.NaN) r.AddError("--time-limit must be a number of seconds >= 0"); } },
        };
}
