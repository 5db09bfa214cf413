using System.Diagnostics;
using ILGPU;
using ILGPU.Runtime;
using Pgmo.Planner;

namespace Pgmo.Memory;

/// <summary>Settings of a <see cref="PlannedAllocator"/>.</summary>
public sealed record PlannedAllocatorOptions
{
    /// <summary>The planner algorithm (see `pgmo plan --algorithm list`).</summary>
    public Algorithm Algorithm { get; init; } = Algorithms.bestFit;
    /// <summary>Time limit, seed and cancellation of each planning run (the planner's defaults: 5 s, seed 1).</summary>
    public PlanSettings Settings { get; init; } = Algorithms.defaults;
    /// <summary>Debug mode: every arena placement is checked against the live arena blocks; an overlap throws.</summary>
    public bool Debug { get; init; }
    /// <summary>Validate every plan with the planner's validator before using it (an invalid plan throws).</summary>
    public bool ValidatePlans { get; init; } = true;
    /// <summary>Replaces the algorithm (tests feed deliberately wrong plans through it).</summary>
    public Func<Problem, Plan>? Planner { get; init; }
    /// <summary>The pool policy of the fallback that serves iterations without a matching plan.</summary>
    public PoolPolicy Fallback { get; init; } = PoolPolicy.CuPy;
    /// <summary>Called for every entry added to <see cref="PlannedAllocator.Log"/> (e.g. to print progress).</summary>
    public Action<PlannedAllocatorEvent>? OnLog { get; init; }

    /// <summary>The default settings.</summary>
    public static PlannedAllocatorOptions Defaults { get; } = new();
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
public sealed record PlanRecord(IterationTrace Trace, long[] Offsets, string Algorithm, long PlanPeakBytes, long LowerBoundBytes, long PoolPeakBytes, double Millis)
{
    /// <summary>Memory saved by the plan against the pool baseline on the same trace, in percent.</summary>
    public double ReductionPercent => PoolPeakBytes == 0 ? 0 : 100.0 * (PoolPeakBytes - PlanPeakBytes) / PoolPeakBytes;
}

/// <summary>
/// The paper's profile-guided allocator. Iterations are marked with <see cref="IIterationAllocator"/>. An iteration
/// without a matching plan is served by a fallback CuPy pool and recorded as an <see cref="IterationTrace"/>; at its end
/// the planner places the trace in one arena of the planned peak and the persistent blocks move to their planned
/// offsets. Later iterations are served from the arena: the k-th event must be the plan's k-th event (same rounded
/// size, same buffer freed), so every placement is one the validated plan allows. At the first event that differs the
/// allocator switches to a cached plan with the same prefix when no transient arena block is live, or else serves the
/// rest of the iteration from the fallback pool (never from the arena), records it and plans it at its end. Plans
/// are cached by <see cref="IterationTrace.Signature"/>. Requests outside iterations take free space in the idle arena
/// (first fit), else the fallback pool.
/// </summary>
public sealed class PlannedAllocator : DeviceAllocator, IIterationAllocator
{
    /// <summary><see cref="DeviceBlock.SegmentIndex"/> of blocks in the arena.</summary>
    public const int ArenaSegment = -1;

    private sealed class CachedPlan
    {
        public required PlanRecord Record;
        public long LastUsed;
        public MemoryEvent[] Events => (MemoryEvent[])Record.Trace.Events;
        public long[] PersistentSizes => (long[])Record.Trace.PersistentSizes;
    }

    private readonly PlannedAllocatorOptions options;
    private readonly Dictionary<ulong, List<CachedPlan>> cache = new();
    private readonly List<PlanRecord> plans = new();
    private readonly List<PlannedAllocatorEvent> log = new();

    private readonly PoolMemory pool;
    private MemoryBuffer1D<byte, Stride1D.Dense>? arena;
    private long arenaBytes;
    private readonly Dictionary<long, (long Start, long End)> arenaLive = new(); // debug mode only
    private CachedPlan? current;
    private long clock;

    // The iteration in progress: its events, persistent blocks and buffers are the recorder's.
    private bool replaying;
    private int iteration;
    private readonly HashSet<long> iterationArenaBlocks = new();

    /// <summary>A planned allocator on <paramref name="accelerator"/> (null: virtual, for dry runs). It always records
    /// (<see cref="IDeviceAllocator.LastTrace"/> is the last iteration's trace).</summary>
    public PlannedAllocator(Accelerator? accelerator, PlannedAllocatorOptions? options = null) : base(accelerator, record: true)
    {
        this.options = options ?? PlannedAllocatorOptions.Defaults;
        pool = new PoolMemory(this.options.Fallback, accelerator);
    }

    public override AllocatorKind Kind => AllocatorKind.Planned;

    public override AllocatorReport Report() => base.Report() with
    {
        FirstPlan = plans.Count > 0 ? plans[0] : null, ArenaBytes = arenaBytes, Iterations = iteration, ReplayedIterations = ReplayedIterations,
    };

    /// <summary>What happened so far: profiles, plans, cache hits, mismatches and switches.</summary>
    public IReadOnlyList<PlannedAllocatorEvent> Log => log;
    /// <summary>Every plan made, in order (the first is the first profiled iteration's).</summary>
    public IReadOnlyList<PlanRecord> Plans => plans;
    /// <summary>Iterations begun so far.</summary>
    public int Iterations => iteration;
    /// <summary>Iterations served entirely from the arena by one plan.</summary>
    public int ReplayedIterations { get; private set; }
    /// <summary>Bytes of the arena (the largest planned peak in use so far).</summary>
    public long ArenaBytes => arenaBytes;
    /// <summary>Bytes the fallback pool holds now.</summary>
    public long FallbackReservedBytes => pool.ReservedBytes;
    /// <summary>Arena placements checked for overlap (debug mode).</summary>
    public long OverlapChecks { get; private set; }
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
            if (PersistentMatch(current, PersistentBlocks)) { Relocate(current, PersistentBlocks); replaying = true; current.LastUsed = ++clock; }
            else Note(PlannedEventKind.Mismatch, $"the {PersistentBlocks.Count} persistent blocks differ from the plan's {current.PersistentSizes.Length}; iteration served by the fallback pool");
        }
    }

    public override void EndIteration()
    {
        int events = Recording.Events.Count;
        base.EndIteration();
        if (replaying && current is not null && current.Events.Length == events)
        {
            ReplayedIterations++;
            return;
        }
        var trace = Recording.Trace;
        var next = Lookup(trace.Signature, trace.PersistentSizes, trace.Events);
        if (next is not null)
            Note(PlannedEventKind.CacheHit, $"iteration of {trace.Events.Count} events matches a cached plan (peak {next.Record.PlanPeakBytes} B): no replanning");
        else
        {
            if (!replaying) Note(PlannedEventKind.Profiled, $"recorded {trace.Problem.Buffers.Length} buffers ({trace.Persistent} persistent) over {trace.Events.Count} events");
            next = new CachedPlan { Record = MakePlan(trace) };
            if (!cache.TryGetValue(trace.Signature, out var bucket)) cache[trace.Signature] = bucket = new();
            bucket.Add(next);
            plans.Add(next.Record);
            var r = next.Record;
            Note(PlannedEventKind.Planned, $"{r.Algorithm}: plan peak {r.PlanPeakBytes} B, lower bound {r.LowerBoundBytes} B, pool {r.PoolPeakBytes} B ({r.ReductionPercent:0.0} % less), {r.Millis:0.0} ms");
        }
        current = next;
        current.LastUsed = ++clock;
        // The blocks live now are the next iteration's persistent blocks: move them to their planned offsets.
        var survivors = Live.OrderBy(b => b.Id).ToList();
        if (PersistentMatch(current, survivors)) Relocate(current, survivors);
        TrimPool();
    }

    protected override DeviceBlock Place(long id, long bytes, string tag)
    {
        DeviceBlock block;
        if (!InIteration) block = IdlePlace(id, bytes, tag);
        else
        {
            // the recorder has recorded this allocation as the last event
            long size = Aligned(bytes);
            int step = Recording.Events.Count - 1;
            int buffer = Recording.BufferOf(id);
            if (replaying && !(step < current!.Events.Length && current.Events[step].Equals(Recording.Events[step]))) Diverge(step);
            if (replaying)
            {
                long offset = current!.Record.Offsets[buffer];
                if (offset % Alignment != 0 || offset < 0 || offset + size > arenaBytes || current.Record.Trace.Problem.Buffers[buffer].Size != size)
                    throw new InvalidOperationException($"planned arena: buffer {buffer} ({tag}) at offset {offset} with {size} B does not fit the arena of {arenaBytes} B with 256-B alignment");
                Track(id, offset, size, tag);
                iterationArenaBlocks.Add(id);
                block = MakeBlock(id, bytes, offset, size, tag, arena, ArenaSegment);
            }
            else block = PoolPlace(id, bytes, tag);
        }
        return block;
    }

    protected override void Release(DeviceBlock block)
    {
        if (block.SegmentIndex == ArenaSegment) Untrack(block.Id);
        else pool.Release(block);
        iterationArenaBlocks.Remove(block.Id);
        if (Recording.BufferOf(block.Id) < 0) return;
        // the recorder has recorded this free as the last event
        int step = Recording.Events.Count - 1;
        if (replaying && !(step < current!.Events.Length && current.Events[step].Equals(Recording.Events[step]))) Diverge(step);
    }

    /// <summary>Event <paramref name="step"/> differs from the plan in use: switch to a cached plan or fall back.</summary>
    private void Diverge(int step)
    {
        replaying = false;
        if (iterationArenaBlocks.Count == 0 && PersistentBlocks.All(b => !b.Freed))
        {
            CachedPlan? best = null;
            foreach (var c in cache.Values.SelectMany(b => b))
            {
                if (c.Events.Length <= step || !PersistentMatch(c, PersistentBlocks)) continue;
                if (!c.Events.AsSpan(0, step + 1).SequenceEqual(Recording.EventSpan)) continue;
                if (best is null || c.LastUsed > best.LastUsed) best = c;
            }
            if (best is not null)
            {
                Relocate(best, PersistentBlocks);
                current = best;
                current.LastUsed = ++clock;
                replaying = true;
                Note(PlannedEventKind.Switched, $"event {step} differs from the plan in use; switched to a cached plan (peak {best.Record.PlanPeakBytes} B)");
                return;
            }
        }
        Note(PlannedEventKind.Mismatch, $"event {step} differs from the plan; the rest of the iteration goes to the fallback pool and will be replanned");
    }

    /// <summary>True when <paramref name="blocks"/> (in id order) have the plan's persistent sizes.</summary>
    private static bool PersistentMatch(CachedPlan plan, IReadOnlyList<DeviceBlock> blocks)
    {
        var sizes = plan.PersistentSizes;
        if (sizes.Length != blocks.Count) return false;
        for (int i = 0; i < sizes.Length; i++)
            if (Aligned(blocks[i].Requested) != sizes[i]) return false;
        return true;
    }

    private CachedPlan? Lookup(ulong signature, IReadOnlyList<long> persistentSizes, IReadOnlyList<MemoryEvent> evs) =>
        cache.TryGetValue(signature, out var bucket)
            ? bucket.FirstOrDefault(c => c.PersistentSizes.SequenceEqual(persistentSizes) && c.Events.SequenceEqual(evs))
            : null;

    private PlanRecord MakePlan(IterationTrace trace)
    {
        var clock = Stopwatch.StartNew();
        var problem = trace.Problem;
        var plan = options.Planner is { } f ? f(problem)
            : options.Algorithm.Plan(problem, options.Settings).Plan;
        double ms = clock.Elapsed.TotalMilliseconds;
        if (plan.Offsets.Length != problem.Buffers.Length)
            throw new InvalidOperationException($"the planner returned {plan.Offsets.Length} offsets for {problem.Buffers.Length} buffers");
        if (options.ValidatePlans)
        {
            var violations = PlannerApi.Violations(problem, plan, null);
            if (violations.Length > 0)
                throw new InvalidOperationException($"the planner's plan is invalid: {PlannerApi.Describe(violations[0])} ({violations.Length} violations)");
        }
        long peak = Aligned(PlannerApi.Peak(problem, plan));
        return new PlanRecord(trace, plan.Offsets, options.Planner is null ? options.Algorithm.Name : "custom", peak,
            PlannerApi.LowerBound(problem), PlannerApi.SimulatePool(PoolPolicy.CuPy, problem).Reserved, ms);
    }

    /// <summary>
    /// Moves the persistent blocks to their offsets in <paramref name="plan"/> (growing the arena to its peak first);
    /// only called when no transient arena block is live. Bytes are staged so moves inside one arena cannot clobber.
    /// </summary>
    private void Relocate(CachedPlan plan, IReadOnlyList<DeviceBlock> persistent)
    {
        var offsets = plan.Record.Offsets;
        bool grow = arena is null && !IsVirtual || arenaBytes < plan.Record.PlanPeakBytes;
        var moves = new List<(DeviceBlock Block, long Offset, long Size, byte[]? Staged)>();
        for (int i = 0; i < persistent.Count; i++)
        {
            var b = persistent[i];
            long size = plan.PersistentSizes[i];
            if (!grow && b.SegmentIndex == ArenaSegment && b.Offset == offsets[i] && b.Length == size) continue;
            moves.Add((b, offsets[i], size, null));
        }
        if (options.Debug) CheckMoves(moves.Select(m => (m.Block, m.Offset, m.Size)).ToList());
        // Stage on the host, so the old places (pool segments, a smaller arena) are given back before the new arena
        // is allocated: the switch never holds both.
        for (int i = 0; i < moves.Count; i++)
        {
            var b = moves[i].Block;
            if (b.Segment is null) continue;
            var bytes = new byte[b.Requested];
            b.View<byte>(b.Requested).CopyToCPU(bytes);
            moves[i] = moves[i] with { Staged = bytes };
        }
        foreach (var (b, _, _, _) in moves)
        {
            if (b.SegmentIndex == ArenaSegment) Untrack(b.Id);
            else pool.Release(b);
        }
        if (grow)
        {
            long size = Math.Max(arenaBytes, plan.Record.PlanPeakBytes);
            arena?.Dispose();
            arena = null;
            arenaBytes = 0;
            TrimPool();
            arenaBytes = size;
            arena = NewSegment(size);
        }
        foreach (var (b, offset, size, staged) in moves)
        {
            AdjustInUse(size - b.Length);
            b.MoveTo(arena, ArenaSegment, offset, size);
            Track(b.Id, offset, size, b.Tag);
            if (staged is not null) b.View<byte>(b.Requested).CopyFromCPU(staged);
        }
        ReservedBytes = arenaBytes + pool.ReservedBytes;
    }

    /// <summary>
    /// A request outside any iteration (e.g. the test-set evaluation). The arena is idle then: only the persistent
    /// blocks (and earlier requests placed here) live in it, so the request takes the lowest gap of the arena that
    /// fits (the planner's placement primitive, 256-B aligned), and the fallback pool only when none does. The next iteration starts from the
    /// plan again once these blocks are freed (a block still live then is a persistent block the plan does not know,
    /// so that iteration is profiled and replanned).
    /// </summary>
    private DeviceBlock IdlePlace(long id, long bytes, string tag)
    {
        long size = Aligned(bytes);
        if (arenaBytes > 0)
        {
            var placed = Live.Where(b => b.SegmentIndex == ArenaSegment).OrderBy(b => b.Offset).ToArray();
            long at = PlannerApi.LowestFit(size, Alignment, placed.Select(b => b.Offset).ToArray(), placed.Select(b => b.Offset + b.Length).ToArray(), placed.Length);
            if (at + size <= arenaBytes)
            {
                Track(id, at, size, tag);
                return MakeBlock(id, bytes, at, size, tag, arena, ArenaSegment);
            }
        }
        return PoolPlace(id, bytes, tag);
    }

    private DeviceBlock PoolPlace(long id, long bytes, string tag)
    {
        var block = pool.Place(id, bytes, tag);
        ReservedBytes = arenaBytes + pool.ReservedBytes;
        return block;
    }

    /// <summary>Gives the fallback pool's device memory back when it holds no live block.</summary>
    private void TrimPool()
    {
        if (pool.InUseBytes != 0 || pool.ReservedBytes == 0) return;
        pool.ReleaseCached();
        ReservedBytes = arenaBytes + pool.ReservedBytes;
    }

    /// <summary>Debug mode: throws, before anything moves, when the new places overlap each other or a live arena block that stays.</summary>
    private void CheckMoves(List<(DeviceBlock Block, long Offset, long Size)> moves)
    {
        var moving = moves.Select(m => m.Block.Id).ToHashSet();
        var placed = arenaLive.Where(kv => !moving.Contains(kv.Key)).Select(kv => (Id: kv.Key, kv.Value.Start, kv.Value.End)).ToList();
        foreach (var (b, offset, size) in moves)
        {
            OverlapChecks++;
            foreach (var (other, start, end) in placed)
                if (offset < end && start < offset + size)
                    throw new InvalidOperationException($"planned arena (debug): persistent block {b.Id} ({b.Tag}) at [{offset}, {offset + size}) overlaps live block {other} at [{start}, {end})");
            placed.Add((b.Id, offset, offset + size));
        }
    }

    private void Track(long id, long offset, long size, string tag)
    {
        if (!options.Debug) return;
        OverlapChecks++;
        long end = offset + size;
        foreach (var (other, r) in arenaLive)
            if (offset < r.End && r.Start < end)
                throw new InvalidOperationException($"planned arena (debug): block {id} ({tag}) at [{offset}, {end}) overlaps live block {other} at [{r.Start}, {r.End})");
        arenaLive[id] = (offset, end);
    }

    private void Untrack(long id)
    {
        if (options.Debug) arenaLive.Remove(id);
    }

    private void Note(PlannedEventKind kind, string message)
    {
        var e = new PlannedAllocatorEvent(iteration, kind, message);
        log.Add(e);
        options.OnLog?.Invoke(e);
    }

    public override void Dispose()
    {
        pool.Dispose();
        arena?.Dispose();
        arena = null;
    }
}
