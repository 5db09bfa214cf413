using System.Runtime.Intrinsics.X86;

namespace Pgmo.Kernels;

/// <summary>The instruction sets of the host kernels (<see cref="HostGemm"/>'s micro-kernels, <see cref="HostWindow"/>'s
/// copies), lowest first.</summary>
public enum HostIsa { Scalar, Avx2, Avx512 }

/// <summary>
/// Which instruction set the host kernels of the CPU accelerator use: the best this CPU has (<see cref="Supported"/>),
/// a lower one where the environment variable <c>PGMO_HOST_ISA</c> asks for it (to measure or check the AVX2 path on an
/// AVX-512 machine), or, on one thread, what <see cref="Use"/> says (tests and benchmarks side by side).
/// </summary>
public static class HostCpu
{
    /// <summary>The best instruction set the host kernels can use on this CPU.</summary>
    public static HostIsa Supported { get; } =
        Avx512F.IsSupported && Fma.IsSupported ? HostIsa.Avx512 : Fma.IsSupported && Avx2.IsSupported ? HostIsa.Avx2 : HostIsa.Scalar;

    /// <summary>The instruction set every thread uses by default: <see cref="Supported"/>, or lower where the
    /// environment variable <c>PGMO_HOST_ISA</c> (<c>avx512</c>, <c>avx2</c>, <c>scalar</c>, <c>auto</c>) asks for it;
    /// a request above <see cref="Supported"/> gets <see cref="Supported"/>, an unknown one <see cref="Supported"/> and
    /// <see cref="EnvironmentError"/>.</summary>
    public static HostIsa Default { get; } = FromEnvironment(out environmentError);

    private static readonly string? environmentError;

    /// <summary>Why <c>PGMO_HOST_ISA</c> was not understood (null: unset or understood); the CLI refuses to run with it.</summary>
    public static string? EnvironmentError => environmentError;

    private static HostIsa FromEnvironment(out string? error)
    {
        error = null;
        try { return Parse(Environment.GetEnvironmentVariable("PGMO_HOST_ISA")) is { } asked && asked < Supported ? asked : Supported; }
        catch (ArgumentException e) { error = e.Message; return Supported; }
    }

    [ThreadStatic] private static HostIsa? forced;

    /// <summary>The instruction set of the host kernels the calling thread starts (the tasks they spread over the cores
    /// use it too): <see cref="Default"/> unless <see cref="Use"/> set another on this thread.</summary>
    public static HostIsa Isa => forced ?? Default;

    /// <summary>Runs this thread's host kernels with <paramref name="isa"/> (at most <see cref="Supported"/>) until the
    /// result is disposed: for benchmarks and tests that compare the instruction sets side by side.</summary>
    public static IDisposable Use(HostIsa isa)
    {
        if (isa > Supported) throw new NotSupportedException($"this CPU has no {isa} (best: {Supported})");
        var before = forced;
        forced = isa;
        return new Restore(() => forced = before);
    }

    private sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }

    /// <summary>avx512, avx2, scalar; null for auto or unset.</summary>
    public static HostIsa? Parse(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        "avx512" or "avx-512" => HostIsa.Avx512,
        "avx2" => HostIsa.Avx2,
        "scalar" => HostIsa.Scalar,
        null or "" or "auto" => null,
        var t => throw new ArgumentException($"PGMO_HOST_ISA: unknown instruction set '{t}' (expected avx512, avx2, scalar or auto)"),
    };
}
