using System.CommandLine;
using System.Text.Json;
using Spectre.Console;
using Pgmo.Kernels;
using Pgmo.Models;
using Pgmo.Training;

namespace Pgmo.Cli;

/// <summary>`pgmo train`: trains a network on the bundled digits with the ILGPU runtime and reports loss, accuracy, time and memory.</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "network to train (see `pgmo models`; digits-sized ones: mlp, cnn, lenet, resnet)", DefaultValueFactory = _ => ModelZoo.Default };
        var batch = new Option<int>("--batch") { Description = "samples per step", DefaultValueFactory = _ => 32 };
        var steps = new Option<int>("--steps") { Description = "optimizer steps", DefaultValueFactory = _ => 150 };
        var allocator = new Option<string>("--allocator") { Description = "device allocator: pool (CuPy caching policy) or naive (one device allocation per tensor)", DefaultValueFactory = _ => "pool" };
        var accelerator = new Option<string>("--accelerator") { Description = "auto (CUDA when present, else CPU), cpu or cuda", DefaultValueFactory = _ => "auto" };
        var seed = new Option<int>("--seed") { Description = "seed of the split, the shuffling and the initialization", DefaultValueFactory = _ => 1 };
        var lr = new Option<float>("--lr") { Description = "learning rate (SGD, momentum 0.9, weight decay 1e-4; x0.1 for the last quarter)", DefaultValueFactory = _ => 0.05f };
        var json = new Option<bool>("--json") { Description = "also print the figures as one JSON object on the last line of standard output" };
        var command = new Command("train", "Train a network on the bundled 8x8 digits (seeded stratified 80/20 split) and report final loss, test accuracy, step time and the allocator's peak.")
        {
            model, batch, steps, allocator, accelerator, seed, lr, json,
        };
        command.SetAction(r => Run(r.GetValue(model)!, r.GetValue(batch), r.GetValue(steps), r.GetValue(allocator)!, r.GetValue(accelerator)!,
            r.GetValue(seed), r.GetValue(lr), r.GetValue(json)));
        return command;
    }

    /// <summary>Bad arguments: the command prints the message and exits with code 2.</summary>
    public sealed class BadArguments(string message) : Exception(message);

    /// <summary>Checks the arguments; throws <see cref="BadArguments"/> (exit 2) with a clear message.</summary>
    public static TrainOptions Validate(string model, int batch, int steps, string allocator, string accelerator, int seed, float lr)
    {
        var info = ModelZoo.Find(model) ?? throw new BadArguments($"--model: unknown model '{model}' (known: {string.Join(", ", ModelZoo.All.Select(m => m.Name))})");
        if (!info.Digits) throw new BadArguments($"--model: {info.Name} takes {string.Join("x", info.InputShape)} inputs and cannot train on the 8x8 digits (trainable: {string.Join(", ", ModelZoo.All.Where(m => m.Digits).Select(m => m.Name))})");
        if (batch < 1) throw new BadArguments($"--batch must be at least 1, got {batch}");
        if (steps < 1) throw new BadArguments($"--steps must be at least 1, got {steps}");
        if (allocator is not ("pool" or "naive")) throw new BadArguments($"--allocator: unknown allocator '{allocator}' (expected pool or naive)");
        var acc = Device.Parse(accelerator) ?? throw new BadArguments($"--accelerator: unknown accelerator '{accelerator}' (expected auto, cpu or cuda)");
        if (!(lr > 0)) throw new BadArguments($"--lr must be positive, got {lr}");
        return new TrainOptions { Model = info.Name, Batch = batch, Steps = steps, Allocator = allocator, Accelerator = acc, Seed = seed, LearningRate = lr };
    }

    static int Run(string model, int batch, int steps, string allocator, string accelerator, int seed, float lr, bool json)
    {
        try { return Train(Validate(model, batch, steps, allocator, accelerator, seed, lr), json); }
        catch (BadArguments e)
        {
            Console.Error.WriteLine($"pgmo train: {e.Message}");
            return 2;
        }
    }

    static int Train(TrainOptions options, bool json)
    {
        var (batch, steps, allocator) = (options.Batch, options.Steps, options.Allocator);
        var data = Digits.Load();
        Device device;
        try { device = Device.Create(options.Accelerator); }
        catch (InvalidOperationException e) { throw new BadArguments($"--accelerator: {e.Message}"); }
        using var _ = device;
        using var trainer = new Trainer(options, device);
        Console.Error.WriteLine($"training {options.Model} ({trainer.Model.ParameterCount:N0} parameters) on {device.Description}, batch {batch}, {steps} steps, {allocator} allocator");
        int every = Math.Max(1, steps / 20);
        var result = trainer.Fit(data, (step, loss, rate) =>
        {
            if (step % every == 0 || step == steps)
                Console.Error.WriteLine($"  step {step,5}/{steps}  loss {loss,8:0.0000}  {rate,8:0} samples/s");
        });
        var table = new Table { Border = TableBorder.Simple, Title = new TableTitle($"pgmo train {result.Model}") };
        table.AddColumn("figure");
        table.AddColumn(new TableColumn("value").RightAligned());
        table.AddRow("accelerator", result.Accelerator);
        table.AddRow("allocator", result.Allocator);
        table.AddRow("loss (first → final)", $"{result.InitialLoss:0.0000} → {result.FinalLoss:0.0000}");
        table.AddRow("test accuracy", $"{result.TestAccuracy:P2}");
        table.AddRow("mean step time", $"{result.StepMillis:0.00} ms");
        table.AddRow("allocator peak (reserved)", Bytes(result.PeakBytes));
        table.AddRow("allocator peak (in use)", Bytes(result.PeakInUseBytes));
        Console.Out.Flush();
        Out.Write(table);
        if (json)
            JsonLine(new
            {
                model = result.Model, batch = result.Batch, steps = result.Steps, accelerator = result.Accelerator, allocator = result.Allocator,
                finalLoss = result.FinalLoss, testAccuracy = result.TestAccuracy, stepMillis = result.StepMillis, peakBytes = result.PeakBytes,
                poolPeakBytes = result.Allocator == "pool" ? result.PeakBytes : (long?)null, peakInUseBytes = result.PeakInUseBytes,
            });
        return 0;
    }

    /// <summary>Human output on stdout (tables); progress goes to stderr.</summary>
    internal static readonly IAnsiConsole Out = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Out) });

    /// <summary>One JSON object (camelCase) as the last line of standard output.</summary>
    internal static void JsonLine(object value) =>
        Console.Out.WriteLine(JsonSerializer.Serialize(value, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));

    /// <summary>Bytes in the largest binary unit that keeps the number at or above 1.</summary>
    internal static string Bytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.Length - 1) { v /= 1024; u++; }
        return u == 0 ? $"{bytes} B" : $"{v:0.##} {units[u]}";
    }
}
