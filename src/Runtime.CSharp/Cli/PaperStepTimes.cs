using Spectre.Console;
using Pgmo.Kernels;
using Pgmo.Models;
using Pgmo.Training;

namespace Pgmo.Cli;

/// <summary>
/// The training step time of each paper network (alexnet, vgg16, googlenet, resnet50, inception3) on synthetic data
/// at batch 2 and 96x96 pixels: rows of `pgmo bench-kernels`, after the kernel rows.
/// </summary>
public static class PaperStepTimes
{
    /// <summary>Samples per measured step.</summary>
    public const int Batch = 2;
    /// <summary>Side of the synthetic input images in pixels.</summary>
    public const int ImageSize = 96;

    /// <summary>Measures every paper network and adds one row each to <paramref name="table"/> (network, shape,
    /// milliseconds in the last column, whatever the table's width) and to <paramref name="rows"/> (the JSON rows).</summary>
    public static void AddRows(Device device, Table table, List<object> rows)
    {
        table.AddEmptyRow();
        foreach (var info in ModelZoo.All.Where(m => !m.Digits))
        {
            double ms = Measure(device, info, Batch, ImageSize);
            var shape = $"batch {Batch}, {ImageSize}x{ImageSize} synthetic";
            var cells = Enumerable.Repeat("", table.Columns.Count).ToArray();
            (cells[0], cells[1], cells[^1]) = ($"train step {info.Name}", shape, Output.Millis(ms));
            table.AddRow(cells);
            rows.Add(new { kernel = "step:" + info.Name, shape, millis = ms });
        }
    }

    /// <summary>
    /// Milliseconds of one training step (upload, forward, loss, backward, SGD) of <paramref name="info"/> on a
    /// synthetic batch, with the pool allocator: one warm-up step (it fills the pool and loads the kernels), then the
    /// median of <paramref name="steps"/> timed steps.
    /// </summary>
    public static double Measure(Device device, ModelInfo info, int batch, int imageSize, int steps = 1)
    {
        var options = new TrainOptions { Model = info.Name, Batch = batch, ImageSize = imageSize, Steps = steps + 1, LearningRate = info.LearningRate, Allocator = Memory.AllocatorKind.Pool };
        using var trainer = new Trainer(options, device);
        var (xs, ys) = (new float[batch][], new int[batch]);
        new SyntheticData(trainer.Model.InputShape, trainer.Model.Classes, options.Seed).Fill(xs, ys);
        trainer.Step(xs, ys);
        return Timing.Measure(steps, () => { trainer.Step(xs, ys); device.Synchronize(); }).MedianMillis;
    }
}
