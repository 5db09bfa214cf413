using Pgmo.Planner;

namespace Pgmo.Memory;

/// <summary>The device allocators of the runtime; the command line resolves <c>--allocator</c> into one of these once.</summary>
public enum AllocatorKind
{
    /// <summary><c>pool</c>: CuPy's caching pool, the paper's baseline.</summary>
    Pool,
    /// <summary><c>torch-pool</c>: PyTorch's CUDA caching allocator with its default settings.</summary>
    TorchPool,
    /// <summary><c>torch-expandable</c>: PyTorch's CUDA caching allocator with <c>expandable_segments:True</c>.</summary>
    TorchExpandable,
    /// <summary><c>planned</c>: profile an iteration, plan it, replay the plan from one arena.</summary>
    Planned,
    /// <summary><c>naive</c>: one device allocation per request, given back on free.</summary>
    Naive,
}

/// <summary>What an allocator did over a run: its peaks and, for the planned allocator, its first plan and arena.</summary>
public sealed record AllocatorReport(AllocatorKind Kind, long PeakReservedBytes, long PeakInUseBytes)
{
    /// <summary>The first plan made (planned allocator), else null.</summary>
    public PlanRecord? FirstPlan { get; init; }
    /// <summary>Bytes of the arena (planned allocator), else null.</summary>
    public long? ArenaBytes { get; init; }
    /// <summary>Iterations begun (planned allocator), else null.</summary>
    public int? Iterations { get; init; }
    /// <summary>Iterations served entirely from the arena (planned allocator), else null.</summary>
    public int? ReplayedIterations { get; init; }
}

/// <summary>Names, descriptions and the factory of the <see cref="AllocatorKind"/>s.</summary>
public static class Allocators
{
    /// <summary>Every allocator, in the order the command line lists them.</summary>
    public static IReadOnlyList<AllocatorKind> All { get; } = [AllocatorKind.Planned, AllocatorKind.Pool, AllocatorKind.TorchPool, AllocatorKind.TorchExpandable, AllocatorKind.Naive];

    /// <summary>The allocator's name on the command line.</summary>
    public static string Name(this AllocatorKind kind) => kind switch
    {
        AllocatorKind.Pool => PoolPolicy.CuPy.Name,
        AllocatorKind.TorchPool => PoolPolicy.Torch.Name,
        AllocatorKind.TorchExpandable => PoolPolicy.TorchExpandable.Name,
        AllocatorKind.Planned => "planned",
        AllocatorKind.Naive => "naive",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>One line saying what the allocator does.</summary>
    public static string Summary(this AllocatorKind kind) => kind switch
    {
        AllocatorKind.Pool => "CuPy's caching pool",
        AllocatorKind.TorchPool => "PyTorch's caching allocator",
        AllocatorKind.TorchExpandable => "PyTorch's caching allocator with expandable segments",
        AllocatorKind.Planned => "plan the first iteration from a dry run (or a profile), replay the plan from one arena",
        AllocatorKind.Naive => "one device allocation per tensor",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>The allocator that follows a pool policy.</summary>
    public static AllocatorKind OfPolicy(PoolPolicy policy) =>
        policy.IsCuPy ? AllocatorKind.Pool : policy.IsTorch ? AllocatorKind.TorchPool : AllocatorKind.TorchExpandable;

    /// <summary>The pool policy a pool allocator follows; null for the others.</summary>
    public static PoolPolicy? Policy(this AllocatorKind kind) => kind switch
    {
        AllocatorKind.Pool => PoolPolicy.CuPy,
        AllocatorKind.TorchPool => PoolPolicy.Torch,
        AllocatorKind.TorchExpandable => PoolPolicy.TorchExpandable,
        _ => null,
    };

    /// <summary>The allocator with that command-line name (exact, lower case); false when none.</summary>
    public static bool TryParse(string name, out AllocatorKind kind)
    {
        foreach (var k in All)
            if (k.Name() == name) { kind = k; return true; }
        kind = default;
        return false;
    }

    /// <summary>A new allocator of <paramref name="kind"/> on <paramref name="accelerator"/> (null: virtual, for dry
    /// runs). <paramref name="record"/> records iteration traces (the planned allocator always records);
    /// <paramref name="planned"/> configures the planned allocator; <paramref name="limit"/> caps the device memory the
    /// allocator may hold (null: no limit).</summary>
    public static IDeviceAllocator Create(AllocatorKind kind, Accelerator? accelerator, bool record = false, PlannedAllocatorOptions? planned = null, long? limit = null) => kind switch
    {
        AllocatorKind.Pool or AllocatorKind.TorchPool or AllocatorKind.TorchExpandable => new PoolAllocator(kind.Policy()!, accelerator, record, limit),
        AllocatorKind.Planned => new PlannedAllocator(accelerator, planned, limit),
        AllocatorKind.Naive => new NaiveAllocator(accelerator, record, limit),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };
}
