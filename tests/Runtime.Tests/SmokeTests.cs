namespace Pgmo.Tests;

public sealed class SmokeTests
{
    [Fact]
    public void ProgramRuns() => Assert.Equal(0, Pgmo.Program.Main(Array.Empty<string>()));
}
