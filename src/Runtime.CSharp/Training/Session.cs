using Pgmo.Kernels;
using Pgmo.Memory;
using Pgmo.Models;
using Pgmo.Nn;

namespace Pgmo.Training;

/// <summary>
/// The settings every run of a network shares, training (<see cref="TrainOptions"/>) or inference
/// (<see cref="Inference.InferOptions"/>): the network and its input, the batch, the allocator and its limit. A copy
/// made with <c>with</c> keeps the run's kind, so the largest-batch search and the side-by-side comparison work on
/// either through <see cref="Open"/>.
/// </summary>
public abstract record RunOptions
{
    public string Model { get; init; } = ModelZoo.Default;
    /// <summary>Side of the square input images in pixels; null: the network's default (see <see cref="ModelZoo.Create"/>).</summary>
    public int? ImageSize { get; init; }
    public int Batch { get; init; } = 32;
    /// <summary>The allocator (default: the paper's planned allocator; pool, torch-pool and naive are baselines).</summary>
    public AllocatorKind Allocator { get; init; } = AllocatorKind.Planned;
    public AcceleratorChoice Accelerator { get; init; } = AcceleratorChoice.Auto;
    public int Seed { get; init; } = 1;
    /// <summary>Settings of the planned allocator (algorithm, debug checks); used when <see cref="Allocator"/> is planned.</summary>
    public PlannedAllocatorOptions Planned { get; init; } = PlannedAllocatorOptions.Defaults;
    /// <summary>Record the trace of every iteration (<see cref="IDeviceAllocator.LastTrace"/>).</summary>
    public bool Record { get; init; }
    /// <summary>The most device memory the allocator may hold, in bytes (null: no limit); past it a request throws
    /// <see cref="OutOfDeviceMemoryException"/>.</summary>
    public long? MemoryLimit { get; init; }
    /// <summary>The most bytes one convolution's im2col workspace may take (<see cref="Tape.ConvWorkspaceBytes"/>).</summary>
    public long ConvWorkspaceBytes { get; init; } = ConvTiling.DefaultWorkspaceBytes;
    /// <summary><c>--conv-workspace auto</c>: with the planned allocator planning a dry run, each convolution's
    /// workspace grows from <see cref="ConvWorkspaceBytes"/> into the bytes the plan leaves free at its step, at the
    /// same peak (<see cref="WorkspaceGrowth"/>). Without a dry-run plan it changes nothing.</summary>
    public bool GrowConvWorkspaces { get; init; }
    /// <summary>The bound of each workspace request of an iteration, in order (<see cref="Tape.WorkspaceBounds"/>);
    /// null: <see cref="ConvWorkspaceBytes"/> for all. A session that grows its workspaces sets its own.</summary>
    public IReadOnlyList<long>? ConvWorkspaceBounds { get; init; }
    /// <summary><c>--trade</c>: the trade-offs planned with the layout before the first step so that the plan fits
    /// <see cref="MemoryLimit"/> (<see cref="TradePlanning"/>); needs the planned allocator planning a dry run.</summary>
    public TradeChoice Trade { get; init; } = TradeChoice.None;
    /// <summary>The costs the trade-off planner models (<see cref="Training.TradeCosts"/>); null: measured on the
    /// session's device when it plans (the documented constants on a shapes-only device).</summary>
    public TradeCosts? TradeCosts { get; init; }

    /// <summary>A session of this run's kind on <paramref name="device"/> (null: its own device of
    /// <see cref="Accelerator"/>): a <see cref="Trainer"/> or an <see cref="Inference.Inferencer"/>.</summary>
    public abstract Session Open(Device? device = null);
}

/// <summary>
/// One network with its allocator and tape on one device, running iterations of one kind: training steps
/// (<see cref="Trainer"/>) or inference batches (<see cref="Inference.Inferencer"/>). An
/// <see cref="IIterationAllocator"/> is told where each iteration begins (before the input upload) and ends. With the
/// planned allocator and <see cref="PlanSource.DryRun"/>, the first iteration is planned from a dry run of this
/// session's own kind before any memory is taken, so the whole run's peak is the plan's.
/// </summary>
public abstract class Session : IDisposable
{
    private readonly bool ownsDevice;
    // True while an iteration or evaluation runs, and after one threw (out of device memory): the tape's tensors are
    // then in no known state, so Dispose only gives the allocator's device memory back.
    private bool interrupted;

    /// <summary>Opens the device (unless given), the allocator (planned from a dry run of this kind of session when it
    /// is the planned one) and the tape, then builds the network; <paramref name="setup"/> then allocates what else
    /// persists (an optimizer's state) before the persistent blocks are counted. When any of it throws, whatever was
    /// taken is given back.</summary>
    protected Session(RunOptions options, Device? device, Action<Session>? setup = null)
    {
        RunOptions = options;
        ownsDevice = device is null;
        Device = device ?? Device.Create(options.Accelerator);
        try
        {
            var (planned, bounds) = (options.Planned, options.ConvWorkspaceBounds);
            if (options.Trade != TradeChoice.None && !(options.Allocator == AllocatorKind.Planned && planned is { PlanFrom: PlanSource.DryRun, FirstTrace: null } && !options.GrowConvWorkspaces))
                throw new NotSupportedException("trade-offs need the planned allocator planning a dry run, without --conv-workspace auto");
            if (options.Allocator == AllocatorKind.Planned && planned is { PlanFrom: PlanSource.DryRun, FirstTrace: null })
            {
                if (options.Trade != TradeChoice.None)
                {
                    Trades = TradePlanning.Plan(options, options.TradeCosts ?? TradeCosts.Measure(Device));
                    planned = planned with { FirstTrace = Trades.Trace, FirstPlan = Trades.Plan };
                }
                else if (options.GrowConvWorkspaces)
                {
                    var grown = WorkspaceGrowth.Plan(options);
                    (planned, bounds) = (planned with { FirstTrace = grown.Trace, FirstPlan = grown.Plan }, grown.Bounds);
                }
                else planned = planned with { FirstTrace = DryRunTrace(options), FirstPlan = null };
            }
            Allocator = Allocators.Create(options.Allocator, Device.Accelerator, options.Record, planned, options.MemoryLimit);
            Tape = new Tape(Device, Allocator) { ConvWorkspaceBytes = options.ConvWorkspaceBytes, WorkspaceBounds = bounds, AwayAfter = Trades?.Schedule };
            Model = ModelZoo.Create(options.Model, new ParameterFactory(Tape, options.Seed), options.ImageSize);
            setup?.Invoke(this);
            PersistentBlocks = Allocator.LiveBlocks;
        }
        catch
        {
            Allocator?.Dispose();
            if (ownsDevice) Device.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The trace of the first iteration of a run with <paramref name="options"/> (same kind, network, batch and input
    /// shape), from a dry run through a recording pool on a shapes-only device: no kernels, no device memory. The
    /// planned allocator plans it before the first real iteration (<see cref="PlanSource.DryRun"/>).
    /// </summary>
    public static IterationTrace DryRunTrace(RunOptions options)
    {
        using var device = Device.ShapesOnly();
        using var dry = (options with { Allocator = AllocatorKind.Pool, Record = true, MemoryLimit = null }).Open(device);
        dry.DryStep(options.Batch);
        return dry.Allocator.LastTrace ?? throw new InvalidOperationException("the dry run recorded no iteration");
    }

    /// <summary>The options the session was opened with.</summary>
    public RunOptions RunOptions { get; }
    public Device Device { get; }
    public IDeviceAllocator Allocator { get; } = null!;
    public Tape Tape { get; } = null!;
    public Model Model { get; } = null!;
    /// <summary>The trade-offs planned before the first step (<see cref="RunOptions.Trade"/>), or null.</summary>
    public TradePlanning.Planned? Trades { get; }
    /// <summary>Blocks alive between iterations: parameters, running statistics, optimizer state.</summary>
    public int PersistentBlocks { get; }

    /// <summary>One iteration of the session's kind over <paramref name="samples"/> (a training step with
    /// <paramref name="labels"/>, or an inference batch, which ignores them).</summary>
    public abstract void Iterate(float[][] samples, int[] labels);

    /// <summary>A dry-run iteration at batch size <paramref name="batch"/> (no data needed; for shapes-only devices).</summary>
    public void DryStep(int batch)
    {
        if (Device.Computes) throw new InvalidOperationException("DryStep needs a shapes-only device");
        Iterate(new float[batch][], new int[batch]);
    }

    /// <summary>In shapes-only mode, what a run does after its iterations at batch <paramref name="batch"/> (a
    /// training run classifies its test set); nothing for an inference run.</summary>
    public virtual void DryEvaluate(int batch) { }

    /// <summary>Runs <paramref name="body"/> as one iteration: marked for the allocator, the tape (its workspace bounds)
    /// and its op times (one step), and, when it throws, leaving the
    /// session interrupted (its tensors in no known state; an iteration that throws is not ended, so the allocator does
    /// not plan half an iteration).</summary>
    protected T Iteration<T>(Func<T> body)
    {
        var marks = Allocator as IIterationAllocator;
        // interrupted from the start: beginning an iteration may move the persistent blocks (the plan switch), and
        // ending it may plan and move them, and either can run out of device memory
        interrupted = true;
        marks?.BeginIteration();
        Tape.BeginIteration();
        Tape.OpTimes?.BeginStep();
        var result = body();
        Tape.OpTimes?.EndStep();
        Tape.EndIteration();
        marks?.EndIteration();
        interrupted = false;
        return result;
    }

    /// <summary>Runs <paramref name="body"/> outside any iteration, leaving the session interrupted when it throws.</summary>
    protected void Guarded(Action body)
    {
        interrupted = true;
        body();
        interrupted = false;
    }

    /// <summary>The samples one after another in one array (empty for no samples).</summary>
    protected static float[] Flatten(float[][] samples)
    {
        if (samples.Length == 0) return Array.Empty<float>();
        int d = samples[0].Length;
        var a = new float[samples.Length * d];
        for (int i = 0; i < samples.Length; i++) samples[i].CopyTo(a, i * d);
        return a;
    }

    /// <summary>Gives back what the subclass holds beyond the network (an optimizer's state); only called when no
    /// iteration was interrupted.</summary>
    protected virtual void DisposeState() { }

    public void Dispose()
    {
        if (!interrupted)
        {
            Tape.Clear();
            DisposeState();
            Model.Dispose();
        }
        Tape.Dispose();
        Allocator.Dispose();
        if (ownsDevice) Device.Dispose();
    }
}
