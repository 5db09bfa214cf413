namespace Pgmo.Tests.Cli;

/// <summary>A fresh temporary folder for one test class's files, deleted with everything in it by Dispose; it converts
/// to its path, so <c>Path.Combine(dir, "plan.csv")</c> reads as before.</summary>
public sealed class TempFolder(string prefix) : IDisposable
{
    /// <summary>The folder's full path.</summary>
    public string Path { get; } = Directory.CreateTempSubdirectory(prefix).FullName;

    /// <summary>Writes a file of that name in the folder and returns its path.</summary>
    public string Write(string name, string text)
    {
        var path = System.IO.Path.Combine(Path, name);
        File.WriteAllText(path, text);
        return path;
    }

    public static implicit operator string(TempFolder folder) => folder.Path;

    public override string ToString() => Path;

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
