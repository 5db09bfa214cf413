using System.CommandLine;
using Spectre.Console;
using Pgmo.Kernels;
using Pgmo.Memory;
using Pgmo.Models;
using Pgmo.Nn;

namespace Pgmo.Cli;

/// <summary>`pgmo models`: the networks the runtime can build, with input shape and parameter count (from a shapes-only build).</summary>
public static class ModelsCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "also print the list as one JSON object on the last line of standard output" };
        var command = new Command("models", "List the networks the runtime can build: name, default input, image sizes it takes, classes, parameters, whether it trains on the digits.") { json };
        command.SetAction(r => Run(r.GetValue(json)));
        return command;
    }

    static int Run(bool json)
    {
        using var device = Device.ShapesOnly();
        var rows = new List<object>();
        var table = new Table { Border = TableBorder.Simple };
        foreach (var c in new[] { "model", "input", "image sizes", "classes", "parameters", "digits", "description" })
            table.AddColumn(c is "classes" or "parameters" ? new TableColumn(c).RightAligned() : new TableColumn(c));
        foreach (var info in ModelZoo.All)
        {
            using var alloc = Allocators.Create(AllocatorKind.Naive, device.Accelerator);
            using var model = ModelZoo.Create(info.Name, new ParameterFactory(new Tape(device, alloc), 0));
            var input = string.Join("x", info.InputShape);
            int smallest = ModelZoo.MinimumImageSize(info);
            var sizes = info.AnySize ? $"{smallest} to {ModelZoo.MaxImageSize}" : $"{smallest} only";
            table.AddRow(info.Name, input, sizes, info.Classes.ToString(), model.ParameterCount.ToString("N0"), info.Digits ? "yes" : "no", Spectre.Console.Markup.Escape(info.Description));
            rows.Add(new { name = info.Name, input = info.InputShape, minImageSize = smallest, maxImageSize = info.AnySize ? ModelZoo.MaxImageSize : smallest, classes = info.Classes, parameters = model.ParameterCount, digits = info.Digits, description = info.Description });
        }
        Output.Out.Write(table);
        if (json) Output.JsonLine(new { models = rows });
        return 0;
    }
}
