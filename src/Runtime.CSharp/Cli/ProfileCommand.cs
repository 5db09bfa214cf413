using System.CommandLine;
using System.Diagnostics;
using Pgmo.Kernels;
using Pgmo.Models;
using Pgmo.Memory;
using Pgmo.Planner;
using Pgmo.Profiling;
using Pgmo.Training;

namespace Pgmo.Cli;

/// <summary>`pgmo profile --model NAME [--batch N] [--image-size S] [--dry-run] --out TRACE.csv`: the memory trace of one training iteration.</summary>
public static class ProfileCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "network to profile (see `pgmo models`)", Required = true };
        var batch = new Option<int>("--batch") { Description = "samples per iteration", DefaultValueFactory = _ => 32 };
        var imageSize = ModelOptions.ImageSizeOption();
        var dryRun = new Option<bool>("--dry-run") { Description = "shapes only: no kernels, no device memory, no data (any network, any batch, in seconds); " +
                                                                   "without it one real iteration runs, on the digits for the digits networks and on seeded synthetic data for the others" };
        var outFile = new Option<string>("--out", "-o") { Description = "trace CSV to write (id,lower,upper,size,alignment,tag)", Required = true };
        var convWorkspace = ModelOptions.ConvWorkspaceOption();
        var accelerator = new Option<string>("--accelerator") { Description = "for real runs: auto (CUDA when present, else CPU), cpu or cuda", DefaultValueFactory = _ => "cpu" };
        var json = Commands.JsonOption();
        var command = new Command("profile", "Record the memory trace of one training iteration (forward, backward, optimizer step) as a problem CSV with a tag column.")
        {
            model, batch, imageSize, convWorkspace, dryRun, outFile, accelerator, json,
        };
        command.SetAction(r => Run(r.GetValue(model)!, r.GetValue(batch), r.GetValue(imageSize), ModelOptions.ConvWorkspace(r.GetValue(convWorkspace)), r.GetValue(dryRun), r.GetValue(outFile)!, r.GetValue(accelerator)!, r.GetValue(json)));
        return command;
    }

    /// <summary>The network called <paramref name="name"/>, or a usage error listing the known ones.</summary>
    public static ModelInfo FindModel(string name) => ModelOptions.Find(name);

    static int Run(string modelName, int batch, int? imageSizeArg, long convWorkspace, bool dryRun, string outFile, string acceleratorName, bool json)
    {
        var info = FindModel(modelName);
        if (batch < 1) throw new UsageException($"--batch must be at least 1, got {batch}");
        int imageSize = ModelOptions.ImageSize(info, imageSizeArg);
        var choice = Device.Parse(acceleratorName) ?? throw new UsageException($"--accelerator: unknown accelerator '{acceleratorName}' (expected auto, cpu or cuda)");
        var watch = Stopwatch.StartNew();
        ProfiledIteration profiled;
        if (dryRun) profiled = Profiler.DryRun(info.Name, batch, imageSize, convWorkspace);
        else
        {
            Device device;
            try { device = Device.Create(choice); }
            catch (InvalidOperationException e) { throw new UsageException($"--accelerator: {e.Message}"); }
            using var _ = device;
            profiled = Profiler.Real(info.Name, batch, device, info.Digits ? Digits.Load() : null, imageSize, convWorkspace);
        }
        var trace = profiled.Trace;
        var millis = watch.Elapsed.TotalMilliseconds;
        Output.WriteAtomically(outFile, PlannerApi.TraceCsv(trace.Problem, trace.Tags));
        var problem = trace.Problem;
        var lowerBound = PlannerApi.LowerBound(problem);
        var steps = trace.Events.Count;
        Console.WriteLine($"{info.Name}, batch {batch}, {imageSize}x{imageSize} px{(dryRun ? " (dry run)" : "")}: {problem.Buffers.Length} buffers ({trace.Persistent} persistent) over {steps} steps, " +
                          $"lower bound {Output.Bytes(lowerBound)}, pool reserved {Output.Bytes(profiled.PoolReservedBytes)}, {Output.Millis(millis)}");
        Console.WriteLine($"trace written to {outFile}");
        if (json)
            Output.JsonLine(new
            {
                model = info.Name, batch, imageSize, buffers = problem.Buffers.Length, lowerBound, millis,
                persistent = trace.Persistent, steps, poolReservedBytes = profiled.PoolReservedBytes, dryRun,
            });
        return ExitCodes.Success;
    }
}
