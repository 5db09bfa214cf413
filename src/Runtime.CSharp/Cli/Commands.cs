namespace Pgmo.Cli;

/// <summary>Builds the command tree and runs it.</summary>
public static class Commands
{
    public static int Run(string[] args)
    {
        Console.WriteLine("pgmo");
        return 0;
    }
}
