using System.CommandLine;

namespace Pgmo.Cli;

/// <summary>Builds the command tree and runs it (minimal runtime-branch version; main's integrator owns the full one).</summary>
public static class Commands
{
    /// <summary>The root command with every subcommand.</summary>
    public static RootCommand Build() =>
        new("pgmo: profile-guided memory optimization for deep neural networks")
        {
            TrainCommand.Create(),
            ModelsCommand.Create(),
            BenchKernelsCommand.Create(),
        };

    /// <summary>Runs the command line; 0 on success, 2 on bad arguments, 1 on any other failure.</summary>
    public static int Run(string[] args)
    {
        var parsed = Build().Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) Console.Error.WriteLine($"pgmo: {error.Message}");
            return 2;
        }
        try { return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false }); }
        catch (Exception e)
        {
            Console.Error.WriteLine($"pgmo: internal error: {e}");
            return 1;
        }
    }
}
