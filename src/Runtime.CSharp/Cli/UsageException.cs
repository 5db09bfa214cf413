namespace Pgmo.Cli;

/// <summary>Bad input or bad arguments: the command prints the message and exits with code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
