namespace Pgmo.Training;

/// <summary>
/// Seeded random training data for any network (`pgmo train --data synthetic`): every call draws a fresh batch of
/// inputs uniform in [-1, 1] of the network's input shape and labels uniform over its classes, as a benchmark's fake
/// data does. The same seed gives the same batches.
/// </summary>
public sealed class SyntheticData
{
    private readonly Random rng;
    private readonly int sampleLength;

    /// <summary>Batches of samples of <paramref name="sampleShape"/> (channels, height, width) labelled in [0, classes).</summary>
    public SyntheticData(int[] sampleShape, int classes, int seed)
    {
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), classes, "at least one class");
        SampleShape = sampleShape;
        Classes = classes;
        sampleLength = checked((int)Nn.Tensor.Count(sampleShape));
        rng = new Random(seed);
    }

    /// <summary>The shape of one sample.</summary>
    public int[] SampleShape { get; }
    /// <summary>Labels are drawn from [0, Classes).</summary>
    public int Classes { get; }

    /// <summary>Overwrites the batch: samples[i] (allocated when missing or of the wrong length) and labels[i] for every i.</summary>
    public void Fill(float[][] samples, int[] labels)
    {
        if (samples.Length != labels.Length) throw new ArgumentException($"{samples.Length} samples but {labels.Length} labels");
        for (int i = 0; i < samples.Length; i++)
        {
            var x = samples[i] is { } s && s.Length == sampleLength ? s : samples[i] = new float[sampleLength];
            for (int k = 0; k < x.Length; k++) x[k] = (float)(rng.NextDouble() * 2 - 1);
            labels[i] = rng.Next(Classes);
        }
    }

    /// <summary>A set of <paramref name="count"/> samples drawn as by <see cref="Fill"/>.</summary>
    public Dataset Take(int count)
    {
        var (xs, ys) = (new float[count][], new int[count]);
        Fill(xs, ys);
        return new Dataset(xs, ys, SampleShape, Classes);
    }
}

/// <summary>What a training run learns from: the bundled digits or <see cref="SyntheticData"/>.</summary>
public enum TrainingData { Digits, Synthetic }
