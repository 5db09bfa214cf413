using Pgmo.Nn;

namespace Pgmo.Training;

/// <summary>
/// SGD with momentum and weight decay (v = mu v + g + wd w; w -= lr v). The velocity buffers are persistent blocks
/// from the allocator; each step consumes and frees the parameters' gradients.
/// </summary>
public sealed class Sgd : IDisposable
{
    private readonly Tape tape;
    private readonly IReadOnlyList<Parameter> parameters;
    private readonly Tensor[] velocity;

    public Sgd(Tape tape, IReadOnlyList<Parameter> parameters, float lr, float momentum = 0.9f, float weightDecay = 1e-4f)
    {
        this.tape = tape; this.parameters = parameters;
        LearningRate = lr; Momentum = momentum; WeightDecay = weightDecay;
        velocity = parameters.Select(p => tape.Full(p.Value.Shape, 0f, "momentum:" + p.Name)).ToArray();
    }

    public float LearningRate { get; set; }
    public float Momentum { get; }
    public float WeightDecay { get; }

    /// <summary>Updates every parameter that has a gradient and frees the gradient.</summary>
    public void Step()
    {
        using var _ = tape.Time(OpKind.Optimizer, OpPhase.Other);
        for (int i = 0; i < parameters.Count; i++)
        {
            var w = parameters[i].Value;
            if (w.Grad is not { } g) continue;
            tape.Device.Kernels?.Sgd(w.View, g.View, velocity[i].View, LearningRate, Momentum, WeightDecay);
            g.Release();
            w.Grad = null;
        }
    }

    public void Dispose()
    {
        foreach (var v in velocity)
            if (v.References > 0) v.Release();
    }
}
