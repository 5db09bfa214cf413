using System.Diagnostics;
using Pgmo.Planner;

namespace Pgmo.Memory;

/// <summary>Settings of a <see cref="PlannedAllocator"/>.</summary>
public sealed record PlannedAllocatorOptions
{
    /// <summary>The planner algorithm (see `pgmo plan --algorithm list`).</summary>
    public Algorithm Algorithm { get; init; } = Algorithms.bestFit;
    /// <summary>Time limit, seed and cancellation of each planning run (the planner's defaults: 5 s, seed 1).</summary>
    public SolveOptions Settings { get; init; } = Algorithms.defaults;
    /// <summary>Debug mode: every arena placement is checked against the live arena blocks; an overlap throws.</summary>
    public bool Debug { get; init; }
    /// <summary>Validate every plan with the planner's validator before using it (an invalid plan throws).</summary>
    public bool ValidatePlans { get; init; } = true;
    /// <summary>Replaces the algorithm (tests feed deliberately wrong plans through it).</summary>
    public Func<Problem, Plan>? Planner { get; init; }
    /// <summary>The pool policy of the fallback that serves requests without a plan (and requests outside iterations
    /// that the idle arena cannot take).</summary>
    public PoolPolicy Fallback { get; init; } = PoolPolicy.CuPy;
    /// <summary>Where the first plan comes from (see <see cref="PlanSource"/>); the trainer acts on it.</summary>
    public PlanSource PlanFrom { get; init; } = PlanSource.DryRun;
    /// <summary>A trace to plan before the first request (the trainer's dry run of the first iteration): the arena is
    /// committed at the plan's peak at once and the first iteration already replays it. Null: the first iteration is
    /// served by the fallback pool and profiled.</summary>
    public IterationTrace? FirstTrace { get; init; }
    /// <summary>Offsets for <see cref="FirstTrace"/> made elsewhere (validated like any plan) instead of planning it,
    /// and the name they are reported under. Null: the algorithm plans the first trace.</summary>
    public GivenPlan? FirstPlan { get; init; }
    /// <summary>Called for every entry added to <see cref="PlannedAllocator.Log"/> (e.g. to print progress).</summary>
    public Action<PlannedAllocatorEvent>? OnLog { get; init; }

    /// <summary>The default settings.</summary>
    public static PlannedAllocatorOptions Defaults { get; } = new();
}

/// <summary>Offsets for a trace made outside the planned allocator, with the name of what made them and how long it took.</summary>
public sealed record GivenPlan(long[] Offsets, string Algorithm, double Millis);

/// <summary>Where a planned allocator's first plan comes from (<c>--plan-from</c>).</summary>
public enum PlanSource
{
    /// <summary><c>dry-run</c>: a shapes-only run of the first iteration is planned before the first real step, so the
    /// run's peak is the plan's from its first step.</summary>
    DryRun,
    /// <summary><c>profile</c>: the first real iteration is served by the fallback pool and profiled, then planned.</summary>
    Profile,
}

/// <summary>What a planned allocator did at an iteration boundary or when requests stopped matching its plan.</summary>
public enum PlannedEventKind
{
    /// <summary>An iteration was served by the fallback pool and recorded (no plan yet, or it did not match).</summary>
    Profiled,
    /// <summary>The planner planned a recorded iteration.</summary>
    Planned,
    /// <summary>A recorded iteration matched a cached plan: no replanning.</summary>
    CacheHit,
    /// <summary>Requests diverged from the plan in use; the rest of the iteration goes to the fallback pool.</summary>
    Mismatch,
    /// <summary>Requests diverged from the plan in use but matched a cached plan, which took over.</summary>
    Switched,
}

/// <summary>One entry of a planned allocator's log.</summary>
public sealed record PlannedAllocatorEvent(int Iteration, PlannedEventKind Kind, string Message);

/// <summary>A plan made from a profiled iteration, with the figures the paper reports.</summary>
public sealed record PlanRecord(IterationTrace Trace, long[] Offsets, string Algorithm, long PlanPeakBytes, long LowerBoundBytes, long PoolPeakBytes, long TorchPoolPeakBytes, double Millis)
{
    /// <summary>Memory saved by the plan against CuPy's pool (<c>pool</c>) on the same trace, in percent.</summary>
    public double ReductionPercent => Reduction(PoolPeakBytes, PlanPeakBytes);
    /// <summary>Memory saved by the plan against PyTorch's caching allocator (<c>torch-pool</c>) on the same trace, in percent.</summary>
    public double TorchReductionPercent => Reduction(TorchPoolPeakBytes, PlanPeakBytes);
    /// <summary>The pages PyTorch's caching allocator with expandable segments (<c>torch-expandable</c>) maps for the same trace.</summary>
    public long TorchExpandablePeakBytes { get; init; }
    /// <summary>Memory saved by the plan against <c>torch-expandable</c> on the same trace, in percent.</summary>
    public double TorchExpandableReductionPercent => Reduction(TorchExpandablePeakBytes, PlanPeakBytes);

    /// <summary>100 (baseline - peak) / baseline, or 0 for an empty baseline.</summary>
    public static double Reduction(long baseline, long peak) => baseline == 0 ? 0 : 100.0 * (baseline - peak) / baseline;
}

/// <summary>
/// The paper's profile-guided allocator, composed of three parts that each do one thing: an <see cref="Arena"/> (one
/// device buffer; commit, resolve, first fit), a <see cref="PlanCache"/> (plans by request sequence) and a fallback pool
/// (<see cref="PoolMemory"/>, any pool policy). Iterations are marked with <see cref="IIterationAllocator"/>. The first
/// plan comes from <see cref="PlannedAllocatorOptions.FirstTrace"/> (the trainer's dry run) when given, so the first
/// iteration already replays it; otherwise an iteration without a matching plan is served by the fallback pool,
/// recorded and planned at its end, and the persistent blocks move to their planned offsets. A replayed iteration's
/// k-th event must be the plan's k-th event (same rounded size, same buffer freed), so every placement is one the
/// validated plan allows. At the first event that differs the allocator switches to a cached plan with the same
/// prefix when no transient arena block is live, or else serves the rest of the iteration from the fallback pool
/// (never from the arena), records it and plans it at its end. Requests outside iterations take the lowest free gap
/// of the idle arena, else the fallback pool. Under a memory limit the arena and the pool's segments count together.
/// </summary>
public sealed class PlannedAllocator : DeviceAllocator, IIterationAllocator
{
    /// <summary><see cref="DeviceBlock.SegmentIndex"/> of blocks in the arena.</summary>
    public const int ArenaSegment = Arena.Segment;

    private readonly PlannedAllocatorOptions options;
    private readonly PlanCache cache = new();
    private readonly List<PlannedAllocatorEvent> log = new();
    private readonly PoolMemory pool;
    private readonly Arena arena;
    private CachedPlan? current;

    // The iteration in progress: its events, persistent blocks and buffers are the recorder's.
    private bool replaying;
    private int iteration;
    private readonly HashSet<long> iterationArenaBlocks = new();

    /// <summary>A planned allocator on <paramref name="accelerator"/> (null: virtual, for dry runs) under
    /// <paramref name="limit"/> (null: none). It always records (<see cref="IDeviceAllocator.LastTrace"/> is the last
    /// iteration's trace). With <see cref="PlannedAllocatorOptions.FirstTrace"/> it plans that trace and commits the
    /// arena at its peak now.</summary>
    public PlannedAllocator(Accelerator? accelerator, PlannedAllocatorOptions? options = null, long? limit = null) : base(accelerator, record: true, limit)
    {
        this.options = options ?? PlannedAllocatorOptions.Defaults;
        pool = new PoolMemory(this.options.Fallback);
        arena = new Arena(this.options.Debug);
        if (this.options.FirstTrace is { } first)
        {
            current = cache.Add(MakePlan(first, this.options.FirstPlan));
            NotePlanned(current.Record, "dry run");
            CommitArena(current.Record.PlanPeakBytes);
        }
    }

    public override AllocatorKind Kind => AllocatorKind.Planned;

    public override AllocatorReport Report() => base.Report() with
    {
        FirstPlan = Plans.Count > 0 ? Plans[0] : null, ArenaBytes = arena.Bytes, Iterations = iteration, ReplayedIterations = ReplayedIterations,
    };

    /// <summary>What happened so far: profiles, plans, cache hits, mismatches and switches.</summary>
    public IReadOnlyList<PlannedAllocatorEvent> Log => log;
    /// <summary>Every plan made, in order (the first is the dry run's or the first profiled iteration's).</summary>
    public IReadOnlyList<PlanRecord> Plans => cache.Plans;
    /// <summary>Iterations begun so far.</summary>
    public int Iterations => iteration;
    /// <summary>Iterations served entirely from the arena by one plan.</summary>
    public int ReplayedIterations { get; private set; }
    /// <summary>Bytes of the arena (the largest planned peak in use so far).</summary>
    public long ArenaBytes => arena.Bytes;
    /// <summary>Bytes the fallback pool holds now.</summary>
    public long FallbackReservedBytes => pool.ReservedBytes;
    /// <summary>Arena placements checked for overlap (debug mode).</summary>
    public long OverlapChecks => arena.OverlapChecks;
    /// <summary>True while the current iteration is served from the arena.</summary>
    public bool Replaying => InIteration && replaying;

    private IterationRecorder Recording => Recorder!;
    private bool InIteration => Recording.InIteration;
    private IReadOnlyList<DeviceBlock> PersistentBlocks => Recording.Persistent;

    public override void BeginIteration()
    {
        base.BeginIteration();
        iteration++;
        iterationArenaBlocks.Clear();
        replaying = false;
        if (current is not null)
        {
            if (current.MatchesPersistent(PersistentBlocks)) { Relocate(current, PersistentBlocks); replaying = true; cache.Touch(current); }
            else Note(PlannedEventKind.Mismatch, $"the {PersistentBlocks.Count} persistent blocks differ from the plan's {current.PersistentSizes.Length}; iteration served by the fallback pool");
        }
    }

    public override void EndIteration()
    {
        int events = Recording.Events.Count, marks = Recording.Marks.Count;
        base.EndIteration();
        if (replaying && current is not null && current.Events.Length == events && current.Marks.Count == marks)
        {
            ReplayedIterations++;
            return;
        }
        var trace = Recording.Trace;
        var next = cache.Find(trace);
        if (next is not null)
        {
            cache.Touch(next);
            Note(PlannedEventKind.CacheHit, $"iteration of {trace.Events.Count} events matches a cached plan (peak {next.Record.PlanPeakBytes} B): no replanning");
        }
        else
        {
            if (!replaying) Note(PlannedEventKind.Profiled, $"recorded {trace.Problem.Buffers.Length} buffers ({trace.Persistent} persistent) over {trace.Events.Count} events");
            next = cache.Add(MakePlan(trace));
            NotePlanned(next.Record, "profile");
        }
        current = next;
        // The blocks live now are the next iteration's persistent blocks: move them to their planned offsets.
        var survivors = Live.OrderBy(b => b.Id).ToList();
        if (current.MatchesPersistent(survivors)) Relocate(current, survivors);
        TrimPool();
    }

    protected override DeviceBlock Place(long id, long bytes, string tag)
    {
        if (!InIteration) return IdlePlace(id, bytes, tag);
        // the recorder has recorded this allocation as the last event
        long size = Aligned(bytes);
        int step = Recording.Events.Count - 1;
        if (replaying && !(step < current!.Events.Length && current.Events[step].Equals(Recording.Events[step]))) Diverge(step);
        if (!replaying) return PoolPlace(id, bytes, tag);
        int buffer = Recording.BufferOf(id);
        if (current!.Record.Trace.Problem.Buffers[buffer].Size != size)
            throw new InvalidOperationException($"planned arena: buffer {buffer} ({tag}) has {size} B, the plan {current.Record.Trace.Problem.Buffers[buffer].Size} B");
        iterationArenaBlocks.Add(id);
        return arena.Resolve(id, bytes, current.Record.Offsets[buffer], size, tag);
    }

    protected override void Release(DeviceBlock block)
    {
        if (block.Lost) { }
        else if (block.SegmentIndex == ArenaSegment) arena.Remove(block.Id);
        else pool.Release(block);
        iterationArenaBlocks.Remove(block.Id);
        if (Recording.BufferOf(block.Id) < 0) return;
        // the recorder has recorded this free as the last event
        int step = Recording.Events.Count - 1;
        if (replaying && !(step < current!.Events.Length && current.Events[step].Equals(Recording.Events[step]))) Diverge(step);
    }

    /// <summary>A block goes away: an arena block's place is free for the plan's other buffers (the gap of its buffer).
    /// A replayed iteration's k-th mark must be the plan's k-th mark, like its events.</summary>
    protected override void Vacate(DeviceBlock block)
    {
        if (block.SegmentIndex == ArenaSegment) arena.Remove(block.Id);
        CheckMark();
    }

    /// <summary>A block comes back: while the plan replays, an arena block takes its planned place again (its gap ends
    /// here); once the iteration has left the plan, its place may hold another block, so it moves to the fallback pool
    /// (the caller restores its bytes). A pool block kept its bytes.</summary>
    protected override void Reoccupy(DeviceBlock block)
    {
        CheckMark();
        if (block.SegmentIndex != ArenaSegment) return;
        if (replaying) { arena.Reinstate(block); return; }
        var moved = PoolPlace(block.Id, block.Requested, block.Tag);
        iterationArenaBlocks.Remove(block.Id);
        block.MoveTo(moved.Segment, moved.SegmentIndex, moved.Offset, moved.Length);
    }

    /// <summary>In a replayed iteration, the mark just recorded must be the plan's mark of the same rank; else the
    /// iteration leaves the plan (<see cref="Diverge"/>).</summary>
    private void CheckMark()
    {
        if (!InIteration || !replaying) return;
        var marks = Recording.Marks;
        int k = marks.Count - 1;
        if (k < 0) return;
        if (!(k < current!.Marks.Count && current.Marks[k].Equals(marks[k]))) Diverge(Recording.Events.Count - 1, $"mark {k} (buffer {marks[k].Buffer} {(marks[k].Back ? "back" : "away")} at step {marks[k].Step})");
    }

    /// <summary>Under memory pressure: gives back the fallback pool's wholly free segments (the arena stays).</summary>
    protected override void ReleaseCached()
    {
        pool.ReleaseCached();
        ReservedBytes = arena.Bytes + pool.ReservedBytes;
    }

    /// <summary>Event <paramref name="step"/> (or the mark <paramref name="what"/> names, after the events up to
    /// <paramref name="step"/>) differs from the plan in use: switch to a cached plan or fall back.</summary>
    private void Diverge(int step, string? what = null)
    {
        replaying = false;
        what ??= $"event {step}";
        if (iterationArenaBlocks.Count == 0 && PersistentBlocks.All(b => !b.Freed))
        {
            var best = cache.FindPrefix(Recording.EventSpan[..(step + 1)], Recording.Marks, PersistentBlocks);
            if (best is not null)
            {
                Relocate(best, PersistentBlocks);
                current = best;
                cache.Touch(current);
                replaying = true;
                Note(PlannedEventKind.Switched, $"{what} differs from the plan in use; switched to a cached plan (peak {best.Record.PlanPeakBytes} B)");
                return;
            }
        }
        Note(PlannedEventKind.Mismatch, $"{what} differs from the plan; the rest of the iteration goes to the fallback pool and will be replanned");
    }

    private PlanRecord MakePlan(IterationTrace trace, GivenPlan? given = null)
    {
        var clock = Stopwatch.StartNew();
        var problem = trace.Problem;
        var plan = given is not null ? new Plan(given.Offsets)
            : options.Planner is { } f ? f(problem)
            : options.Algorithm.Plan(problem, options.Settings).TryGetPlan(out var planned) ? planned
            : throw new InvalidOperationException($"{options.Algorithm.Name} gives no plan (only a bound)");
        double ms = given?.Millis ?? clock.Elapsed.TotalMilliseconds;
        if (plan.Offsets.Length != problem.Buffers.Length)
            throw new InvalidOperationException($"the planner returned {plan.Offsets.Length} offsets for {problem.Buffers.Length} buffers");
        if (options.ValidatePlans)
        {
            var violations = PlannerApi.Violations(problem, plan, null);
            if (violations.Length > 0)
                throw new InvalidOperationException($"the planner's plan is invalid: {PlannerApi.Describe(violations[0])} ({violations.Length} violations)");
        }
        long peak = Aligned(PlannerApi.Peak(problem, plan));
        return new PlanRecord(trace, plan.Offsets, given?.Algorithm ?? (options.Planner is null ? options.Algorithm.Name : "custom"), peak, PlannerApi.LowerBound(problem),
            PlannerApi.SimulatePool(PoolPolicy.CuPy, problem).Reserved, PlannerApi.SimulatePool(PoolPolicy.Torch, problem).Reserved, ms)
        { TorchExpandablePeakBytes = PlannerApi.SimulatePool(PoolPolicy.TorchExpandable, problem).Reserved };
    }

    /// <summary>
    /// Moves the persistent blocks to their offsets in <paramref name="plan"/> (growing the arena to its peak first);
    /// only called when no transient arena block is live. Bytes are staged on the host, and the old places (pool
    /// segments, a smaller arena) are given back before a new arena is committed: the switch never holds both, so a
    /// limit of the plan's peak is enough. When the new arena cannot be had (the limit, or the device), the blocks go
    /// back into the fallback pool with their bytes, and the <see cref="OutOfDeviceMemoryException"/> is thrown with
    /// every block intact; only when that fails too are the blocks lost (<see cref="DeviceBlock.Lost"/>).
    /// </summary>
    private void Relocate(CachedPlan plan, IReadOnlyList<DeviceBlock> persistent)
    {
        var offsets = plan.Record.Offsets;
        bool grow = arena.Bytes < plan.Record.PlanPeakBytes;
        var moves = new List<(DeviceBlock Block, long Offset, long Size)>();
        for (int i = 0; i < persistent.Count; i++)
        {
            var b = persistent[i];
            long size = plan.PersistentSizes[i];
            if (!grow && b.SegmentIndex == ArenaSegment && b.Offset == offsets[i] && b.Length == size) continue;
            moves.Add((b, offsets[i], size));
        }
        arena.CheckMoves(moves);
        var staged = new byte[]?[moves.Count];
        for (int i = 0; i < moves.Count; i++)
        {
            var b = moves[i].Block;
            if (b.Segment is null) continue;
            staged[i] = new byte[b.Requested];
            b.View<byte>(b.Requested).CopyToCPU(staged[i]!);
        }
        foreach (var (b, _, _) in moves)
        {
            if (b.SegmentIndex == ArenaSegment) arena.Remove(b.Id);
            else pool.Release(b);
        }
        if (grow)
        {
            long size = Math.Max(arena.Bytes, plan.Record.PlanPeakBytes);
            arena.Release();
            TrimPool();
            try { CommitArena(size); }
            catch (OutOfDeviceMemoryException)
            {
                Restore(moves.Select(m => m.Block).ToList(), staged);
                throw;
            }
        }
        for (int i = 0; i < moves.Count; i++)
        {
            var (b, offset, size) = moves[i];
            AdjustInUse(size - b.Length);
            arena.Move(b, offset, size);
            if (staged[i] is { } bytes) b.View<byte>(b.Requested).CopyFromCPU(bytes);
        }
        ReservedBytes = arena.Bytes + pool.ReservedBytes;
    }

    /// <summary>After a failed switch: puts <paramref name="blocks"/> (given back, their bytes in
    /// <paramref name="staged"/>) into the fallback pool; a block that finds no room there is lost.</summary>
    private void Restore(IReadOnlyList<DeviceBlock> blocks, byte[]?[] staged)
    {
        for (int i = 0; i < blocks.Count; i++)
        {
            var b = blocks[i];
            try
            {
                EnsureRoom(b.Tag, b.Requested, pool.NewSegmentBytes(b.Requested));
                long before = b.Length;
                pool.Adopt(b, n => TakeDeviceBuffer(b.Tag, b.Requested, n));
                AdjustInUse(b.Length - before);
                ReservedBytes = arena.Bytes + pool.ReservedBytes;
                if (staged[i] is { } bytes) b.View<byte>(b.Requested).CopyFromCPU(bytes);
            }
            catch (OutOfDeviceMemoryException)
            {
                for (int j = i; j < blocks.Count; j++) blocks[j].Lose();
                return;
            }
        }
    }

    /// <summary>Commits the (released) arena at <paramref name="bytes"/>: allocate within the memory limit, account,
    /// commit.</summary>
    private void CommitArena(long bytes)
    {
        ReservedBytes = pool.ReservedBytes;
        var buffer = TakeDeviceMemory("the arena", bytes, bytes);
        ReservedBytes = bytes + pool.ReservedBytes;
        arena.Commit(bytes, buffer);
    }

    /// <summary>
    /// A request outside any iteration (e.g. the weights before the first step, the test-set evaluation). The arena is
    /// idle then: only the persistent blocks (and earlier requests placed here) live in it, so the request takes the
    /// lowest gap of the arena that fits (first fit, 256-B aligned), and the fallback pool only when none does. The next
    /// iteration starts from the plan again once these blocks are freed (a block still live then is a persistent block
    /// the plan does not know, so that iteration is profiled and replanned).
    /// </summary>
    private DeviceBlock IdlePlace(long id, long bytes, string tag)
    {
        long size = Aligned(bytes);
        long at = arena.Fit(size);
        return at >= 0 ? arena.Resolve(id, bytes, at, size, tag) : PoolPlace(id, bytes, tag);
    }

    private DeviceBlock PoolPlace(long id, long bytes, string tag)
    {
        EnsureRoom(tag, bytes, pool.NewSegmentBytes(bytes));
        var block = pool.Place(id, bytes, tag, n => TakeDeviceBuffer(tag, bytes, n));
        ReservedBytes = arena.Bytes + pool.ReservedBytes;
        return block;
    }

    /// <summary>Gives the fallback pool's device memory back when it holds no live block.</summary>
    private void TrimPool()
    {
        if (pool.InUseBytes != 0 || pool.ReservedBytes == 0) return;
        pool.ReleaseCached();
        ReservedBytes = arena.Bytes + pool.ReservedBytes;
    }

    private void NotePlanned(PlanRecord r, string source) =>
        Note(PlannedEventKind.Planned, $"{r.Algorithm} on the {source} trace: plan peak {r.PlanPeakBytes} B, lower bound {r.LowerBoundBytes} B, " +
            $"pool {r.PoolPeakBytes} B ({r.ReductionPercent:0.0} % less), torch-pool {r.TorchPoolPeakBytes} B ({r.TorchReductionPercent:0.0} % less), " +
            $"torch-expandable {r.TorchExpandablePeakBytes} B ({r.TorchExpandableReductionPercent:0.0} % less), {r.Millis:0.0} ms");

    private void Note(PlannedEventKind kind, string message)
    {
        var e = new PlannedAllocatorEvent(iteration, kind, message);
        log.Add(e);
        options.OnLog?.Invoke(e);
    }

    protected override void GiveBackAll()
    {
        pool.Dispose();
        arena.Dispose();
    }
}
