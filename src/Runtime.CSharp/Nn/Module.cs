namespace Pgmo.Nn;

/// <summary>A trainable tensor (persistent: allocated once, freed when the model is disposed) and its gradient.</summary>
public sealed class Parameter
{
    internal Parameter(string name, Tensor value) { Name = name; Value = value; value.RequiresGrad = true; }

    /// <summary>Dotted name, e.g. "features.0.weight".</summary>
    public string Name { get; }
    /// <summary>The weights.</summary>
    public Tensor Value { get; }
    /// <summary>Number of scalars.</summary>
    public long Count => Value.Length;
}

/// <summary>
/// Creates parameters and state for modules: each is allocated from the tape's allocator and initialized on the
/// host from a seeded generator (He-uniform for weights); in shapes-only mode nothing is generated or uploaded.
/// </summary>
public sealed class ParameterFactory
{
    private readonly Random rng;

    /// <summary>A factory allocating through <paramref name="tape"/>, seeded with <paramref name="seed"/>.</summary>
    public ParameterFactory(Tape tape, int seed) { Tape = tape; Seed = seed; rng = new Random(seed); }

    /// <summary>The tape whose allocator holds the parameters.</summary>
    public Tape Tape { get; }

    /// <summary>The seed of the initialization and of every random stream derived from it.</summary>
    public int Seed { get; }

    /// <summary>
    /// The seed of the random stream called <paramref name="name"/> (e.g. a dropout layer's masks): a stable hash
    /// (FNV-1a, then SplitMix64) of the factory's seed and the name, independent of creation order and of the process.
    /// </summary>
    public ulong StreamSeed(string name)
    {
        ulong h = 14695981039346656037UL ^ (uint)Seed;
        foreach (char c in name) h = (h ^ c) * 1099511628211UL;
        return Kernels.KernelBodies.Mix(h);
    }

    /// <summary>A weight tensor uniform in ±sqrt(6 / fanIn) (He), or with standard deviation <paramref name="std"/>
    /// when given (uniform in ±std·sqrt(3)), or constant when <paramref name="constant"/> is set.</summary>
    public Parameter Create(string name, int[] shape, int fanIn, float? constant = null, double? std = null)
    {
        if (!Tape.Computes) return new Parameter(name, Tape.Empty(shape, "param:" + name));
        var data = new float[Tensor.Count(shape)];
        if (constant is { } c) Array.Fill(data, c);
        else
        {
            double bound = std is { } sd ? sd * Math.Sqrt(3) : Math.Sqrt(6.0 / Math.Max(1, fanIn));
            for (int i = 0; i < data.Length; i++) data[i] = (float)((rng.NextDouble() * 2 - 1) * bound);
        }
        return new Parameter(name, Tape.Upload(data, shape, "param:" + name));
    }

    /// <summary>A persistent non-trainable state tensor (e.g. running statistics) filled with <paramref name="value"/>.</summary>
    public Tensor State(string name, int[] shape, float value) => Tape.Full(shape, value, "state:" + name);
}

/// <summary>A layer or block: parameters, persistent state, children, and a forward pass through the tape.</summary>
public abstract class Module
{
    private readonly List<Parameter> parameters = new();
    private readonly List<Tensor> states = new();
    private readonly List<Module> children = new();

    /// <summary>True in training mode (batch statistics), false in inference (running statistics).</summary>
    public bool Training { get; private set; } = true;

    /// <summary>Computes the output from x; consumes x.</summary>
    public abstract Tensor Forward(Tape tape, Tensor x);

    /// <summary>This module's and its children's parameters, in creation order.</summary>
    public IEnumerable<Parameter> Parameters() => parameters.Concat(children.SelectMany(c => c.Parameters()));

    /// <summary>Persistent non-trainable tensors (running statistics), recursively.</summary>
    public IEnumerable<Tensor> States() => states.Concat(children.SelectMany(c => c.States()));

    /// <summary>Switches training/inference mode recursively.</summary>
    public void SetTraining(bool training)
    {
        Training = training;
        foreach (var c in children) c.SetTraining(training);
    }

    protected Parameter Add(Parameter p) { parameters.Add(p); return p; }
    protected Tensor AddState(Tensor t) { states.Add(t); return t; }
    protected T Add<T>(T child) where T : Module { children.Add(child); return child; }
}
