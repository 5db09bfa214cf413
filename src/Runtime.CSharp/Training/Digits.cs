using System.Globalization;
using System.IO.Compression;

namespace Pgmo.Training;

/// <summary>A labelled image set held on the host: samples of C x H x W floats and int labels.</summary>
public sealed record Dataset(float[][] Samples, int[] Labels, int[] SampleShape, int Classes)
{
    /// <summary>Number of samples.</summary>
    public int Count => Labels.Length;

    /// <summary>The samples at <paramref name="indices"/>.</summary>
    public Dataset Subset(IEnumerable<int> indices)
    {
        var idx = indices.ToArray();
        return this with { Samples = idx.Select(i => Samples[i]).ToArray(), Labels = idx.Select(i => Labels[i]).ToArray() };
    }
}

/// <summary>The bundled 8x8 digits (1797 samples, 64 pixels 0..16 then the label per CSV row).</summary>
public static class Digits
{
    /// <summary>Path of datasets/digits/digits.csv.gz, searched upwards from the working directory and the program.</summary>
    public static string? Locate()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var p = Path.Combine(dir.FullName, "datasets", "digits", "digits.csv.gz");
                if (File.Exists(p)) return p;
            }
        }
        return null;
    }

    /// <summary>Loads the digits with pixels scaled to [-1, 1].</summary>
    public static Dataset Load(string? path = null)
    {
        path ??= Locate() ?? throw new FileNotFoundException("datasets/digits/digits.csv.gz not found above the working directory");
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using var reader = new StreamReader(gz);
        var samples = new List<float[]>();
        var labels = new List<int>();
        string? line;
        int lineNo = 0;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNo++;
            if (line.Length == 0) continue;
            var parts = line.Split(',');
            if (!float.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out _)) continue; // header
            if (parts.Length != 65) throw new InvalidDataException($"{path}:{lineNo}: expected 65 values, got {parts.Length}");
            var x = new float[64];
            for (int i = 0; i < 64; i++) x[i] = float.Parse(parts[i], CultureInfo.InvariantCulture) / 8f - 1f;
            samples.Add(x);
            labels.Add((int)float.Parse(parts[64], CultureInfo.InvariantCulture));
        }
        return new Dataset(samples.ToArray(), labels.ToArray(), new[] { 1, 8, 8 }, 10);
    }

    /// <summary>A seeded stratified split: <paramref name="testFraction"/> of every class goes to the test set.</summary>
    public static (Dataset Train, Dataset Test) Split(Dataset all, double testFraction, int seed)
    {
        var rng = new Random(seed);
        var train = new List<int>();
        var test = new List<int>();
        foreach (var group in Enumerable.Range(0, all.Count).GroupBy(i => all.Labels[i]).OrderBy(g => g.Key))
        {
            var idx = group.ToArray();
            rng.Shuffle(idx);
            int nTest = (int)Math.Round(idx.Length * testFraction);
            test.AddRange(idx.Take(nTest));
            train.AddRange(idx.Skip(nTest));
        }
        train.Sort();
        test.Sort();
        return (all.Subset(train), all.Subset(test));
    }
}
