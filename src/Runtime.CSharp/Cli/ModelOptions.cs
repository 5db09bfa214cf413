using System.CommandLine;
using Pgmo.Models;
using Pgmo.Training;

namespace Pgmo.Cli;

/// <summary>The options that choose a network, its input size and its training data, shared by train, profile and bench-kernels.</summary>
public static class ModelOptions
{
    /// <summary>The `--image-size` option (no value: the network's default size).</summary>
    public static Option<int?> ImageSizeOption() => new("--image-size")
    {
        Description = "side of the square input images in pixels (default: the network's, 224 or 299; the paper networks pool " +
                      "adaptively before their classifiers and take any size from their smallest up, see `pgmo models`; the digits networks take 8 only)",
    };

    /// <summary>The `--conv-workspace` option (no value: <see cref="Kernels.ConvTiling.DefaultWorkspaceBytes"/>);
    /// <paramref name="auto"/> also offers the word auto (train and infer, with a dry-run plan).</summary>
    public static Option<string?> ConvWorkspaceOption(bool auto = false) => new("--conv-workspace")
    {
        Description = "the most bytes one convolution's im2col workspace may take, e.g. 8MiB (the default, as Chainer's cuDNN workspace); " +
                      "a convolution runs in tiles of output positions within it (at least one position's column), and the workspace is a traced buffer" +
                      (auto ? "; auto (with --allocator planned and a dry-run plan): each workspace grows from 8MiB into the bytes the plan leaves free at its step, at the same peak (the pools of --compare-allocators keep 8MiB)" : ""),
        HelpName = auto ? "SIZE|auto" : "SIZE",
    };

    /// <summary>The workspace bound in bytes: the default when null, else the size given (a usage error when not a positive size).</summary>
    public static long ConvWorkspace(string? text) =>
        text is null ? Kernels.ConvTiling.DefaultWorkspaceBytes : Inputs.ParseBytes(text, "--conv-workspace");

    /// <summary>The workspace setting of train and infer: the bound in bytes and whether it grows into the plan's
    /// slack (auto, which needs the planned allocator planning a dry run: else a usage error).</summary>
    public static (long Bytes, bool Grow) ConvWorkspace(string? text, Memory.AllocatorKind allocator, Memory.PlanSource planFrom)
    {
        if (text != "auto") return (ConvWorkspace(text), false);
        if (allocator != Memory.AllocatorKind.Planned || planFrom != Memory.PlanSource.DryRun)
            throw new UsageException("--conv-workspace auto grows each workspace into the bytes a dry-run plan leaves free: it needs --allocator planned and --plan-from dry-run");
        return (Kernels.ConvTiling.DefaultWorkspaceBytes, true);
    }

    /// <summary>The network called <paramref name="name"/>, or a usage error listing the known ones.</summary>
    public static ModelInfo Find(string name) =>
        ModelZoo.Find(name) ?? throw new UsageException($"--model: unknown model '{name}' (known: {string.Join(", ", ModelZoo.All.Select(m => m.Name))})");

    /// <summary>The image side to use: <paramref name="size"/> when the network is defined on it (else a usage error
    /// naming the smallest size), the network's default when null.</summary>
    public static int ImageSize(ModelInfo info, int? size)
    {
        if (size is not { } s) return info.ImageSize;
        if (s < 1) throw new UsageException($"--image-size must be at least 1, got {s}");
        return ModelZoo.ImageSizeError(info, s) is { } error ? throw new UsageException($"--image-size: {error}") : s;
    }

    /// <summary>
    /// The training data: digits or synthetic as asked, else digits for the digits networks and synthetic for the
    /// others. Digits for a network with another input is a usage error (its inputs are not 8x8 images).
    /// </summary>
    public static TrainingData Data(ModelInfo info, string? text)
    {
        var data = text?.ToLowerInvariant() switch
        {
            null => info.Digits ? TrainingData.Digits : TrainingData.Synthetic,
            "digits" => TrainingData.Digits,
            "synthetic" => TrainingData.Synthetic,
            _ => throw new UsageException($"--data: unknown data '{text}' (expected digits or synthetic)"),
        };
        if (data == TrainingData.Digits && !info.Digits)
            throw new UsageException($"--data digits: {info.Name} takes {string.Join("x", info.InputShape)} inputs, not the 1x8x8 digits; " +
                                     "train it with --data synthetic (its default)");
        return data;
    }
}
