namespace Pgmo;

/// <summary>The `pgmo` command line.</summary>
public static class Program
{
    public static int Main(string[] args) => Cli.Commands.Run(args);
}
