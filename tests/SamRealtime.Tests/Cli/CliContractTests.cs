using System.Diagnostics;
using SamRealtime.Tests.Live;
using SamRealtime.Tests.Weights;
using Xunit;
using Xunit.Abstractions;

namespace SamRealtime.Tests.Cli;

/// <summary>
/// The CLI contract on every usage error: exit code 2, one line on stderr naming the problem, nothing on stdout, no
/// output file. Each case runs with SAMRT_DEVICE naming a device that does not exist, so a command that got as far
/// as creating a Vulkan context would fail with a device error instead: the expected message proves the input was
/// refused before any GPU work.
/// </summary>
public sealed class CliContractTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(2);
    private const string Vtest = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
    private readonly string _dir = Directory.CreateTempSubdirectory("samrt-cli").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Truck => ModelFiles.SampleImage("truck.jpg");
    private static string ModelDir => Path.GetDirectoryName(ModelFiles.Encoder)!;

    public static TheoryData<string, string[], string> Cases() => new()
    {
        { "no command", [], "Required command was not provided" },
        { "missing --out", ["segment", "--image", "{truck}", "--point", "500,375"], "Option '--out' is required" },
        { "two --box", ["segment", "--image", "{truck}", "--box", "1,1,9,9", "--box", "2,2,9,9", "--out", "{dir}/m.png"], "'--box' expects a single argument but 2 were provided" },
        { "unknown option", ["segment", "--image", "{truck}", "--point", "500,375", "--out", "{dir}/m.png", "--bogus"], "Unrecognized command or argument '--bogus'" },
        { "mask without extension", ["segment", "--image", "{truck}", "--point", "500,375", "--out", "{dir}/mask"], "--out {dir}/mask: a mask must end in .png" },
        { "JPEG mask", ["segment", "--image", "{truck}", "--point", "500,375", "--out", "{dir}/m.jpg"], "masks are written as PNG; JPEG is lossy" },
        { "GIF overlay", ["segment", "--image", "{truck}", "--point", "500,375", "--out", "{dir}/m.png", "--overlay", "{dir}/o.gif"], "--overlay {dir}/o.gif: an image must end in .png, .jpg or .jpeg" },
        { "parent is a file", ["segment", "--image", "{truck}", "--point", "500,375", "--out", "{dir}/file.txt/m.png"], "--out: cannot create directory {dir}/file.txt" },
        { "overlay parent is a file", ["segment", "--image", "{truck}", "--point", "500,375", "--out", "{dir}/m.png", "--overlay", "{dir}/file.txt/o.png"], "--overlay: cannot create directory" },
        { "point outside", ["segment", "--image", "{truck}", "--point", "1800,375", "--out", "{dir}/m.png"], "--point 1800,375 is outside the 1800x1200 image" },
        { "too many points", ["segment", "--image", "{truck}", .. Enumerable.Range(0, 300).SelectMany(i => new[] { "--point", $"{i},{i}" }), "--out", "{dir}/m.png"], "A prompt has 300 points; at most 256 are accepted" },
        { "image missing", ["segment", "--image", "{dir}/none.jpg", "--point", "5,5", "--out", "{dir}/m.png"], "image not found: {dir}/none.jpg" },
        { "not an image", ["segment", "--image", "{dir}/file.txt", "--point", "5,5", "--out", "{dir}/m.png"], "not an image OpenCV can read" },
        { "model missing", ["segment", "--image", "{truck}", "--point", "5,5", "--out", "{dir}/m.png", "--model", "{dir}"], "model directory {dir} (from --model) has no encoder.onnx" },
        { "track video without extension", ["track", "--video", Vtest, "--point", "5,5", "--out", "{dir}/t", "--overlay", "{dir}/t/ovid"], "--overlay {dir}/t/ovid: a video must end in .mp4 or .avi" },
        { "track --max-frames 0 (with --device and --fp16)", ["track", "--video", Vtest, "--point", "5,5", "--out", "{dir}/t", "--max-frames", "0", "--device", "0", "--fp16"], "--max-frames must be at least 1" },
        { "track past the end", ["track", "--video", Vtest, "--frame", "100000", "--point", "5,5", "--out", "{dir}/t"], "--frame 100000 is past the end of" },
        { "track too many objects", ["track", "--video", Vtest, .. Enumerable.Range(1, 65).SelectMany(i => new[] { "--object", $"{i}", "--point", $"{i},{i}" }), "--out", "{dir}/t"], "65 objects; at most 64 are accepted" },
        { "eval --frames 0 (with --device and --fp16)", ["eval", "--frames", "0", "--device", "0", "--fp16"], "--frames must be at least 1" },
        { "eval --set of no option", ["eval", "--set", "NoSuchOption=1"], "--set: no tracker option 'NoSuchOption'" },
        { "eval --set of a bad value", ["eval", "--set", "MotionGate=wide"], "--set MotionGate: 'wide' is not a number" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void UsageErrorIsOneLineExitTwoBeforeAnyGpuWork(string name, string[] args, string expected)
    {
        File.WriteAllText(Path.Combine(_dir, "file.txt"), "not an image");
        string Expand(string s) => s.Replace("{truck}", Truck).Replace("{dir}", _dir);
        var sw = Stopwatch.StartNew();
        using var p = new SamrtProcess(WithModel(args.Select(Expand).ToArray()), null,
                                       environment: new Dictionary<string, string?> { ["SAMRT_DEVICE"] = "no-such-vulkan-device" });
        int code = p.Wait(Limit);
        output.WriteLine($"{name}: exit {code} in {sw.Elapsed.TotalSeconds:F1} s\nstderr: {string.Join("\n", p.Stderr)}");
        Assert.Equal(2, code);
        Assert.Empty(p.Stdout);
        var line = Assert.Single(p.Stderr);
        Assert.StartsWith("samrt: ", line);
        Assert.Contains(Expand(expected), line);
        Assert.DoesNotContain("no-such-vulkan-device", line);
        Assert.Equal("file.txt", string.Join(",", Directory.EnumerateFileSystemEntries(_dir).Select(Path.GetFileName).Where(f => f != "t")));
        if (Directory.Exists(Path.Combine(_dir, "t"))) Assert.Empty(Directory.EnumerateFiles(Path.Combine(_dir, "t"), "*", SearchOption.AllDirectories));
    }

    /// <summary>Adds the repository's model to commands that run it, unless the case names its own.</summary>
    private static string[] WithModel(string[] args) =>
        args.Length > 0 && args[0] is "segment" or "track" or "eval" && !args.Contains("--model") ? [.. args, "--model", ModelDir] : args;

    [Fact]
    public void HelpPrintsHelpAndExitsZero()
    {
        using var p = new SamrtProcess(["segment", "--help"], null);
        Assert.Equal(0, p.Wait(Limit));
        Assert.Contains(p.Stdout, l => l.Contains("--model"));
        Assert.Contains(p.Stdout, l => l.Contains("--device"));
        Assert.Contains(p.Stdout, l => l.Contains("--fp16"));
    }

    [Fact]
    public void ModelFromEnvironmentIsCheckedAndNamed()
    {
        using var p = new SamrtProcess(["segment", "--image", Truck, "--point", "5,5", "--out", Path.Combine(_dir, "m.png")], null,
                                       environment: new Dictionary<string, string?> { ["SAMRT_MODEL"] = _dir });
        Assert.Equal(2, p.Wait(Limit));
        Assert.Equal($"samrt: model directory {_dir} (from SAMRT_MODEL) has no encoder.onnx (fetch it with models/fetch.sh)", Assert.Single(p.Stderr));
    }
}
