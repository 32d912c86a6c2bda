using System.Diagnostics;
using System.Globalization;
using SamRealtime.Capture;
using SamRealtime.Model;
using SamRealtime.Tests.Model;
using SamRealtime.Tests.Weights;
using SamRealtime.Tracking;
using Xunit;
using Xunit.Abstractions;

namespace SamRealtime.Tests.Native;

/// <summary>A fact for Linux only, reported as skipped elsewhere: the C ABI tests link libsamrt.so with gcc.</summary>
public sealed class LinuxFactAttribute : FactAttribute
{
    public LinuxFactAttribute()
    {
        if (!OperatingSystem.IsLinux()) Skip = "libsamrt.so and gcc: Linux only";
    }
}

/// <summary>
/// libsamrt.so (the NativeAOT build that ./build.sh build writes to artifacts/native) used from C: the sample and a
/// check program are compiled with gcc and run as separate processes, each on its own Vulkan device, and what they
/// produce must equal the C# API's result on the shared context. A missing library or gcc fails the test.
/// </summary>
public sealed class CAbiTests(GpuFixture fixture, ITestOutputHelper output) : GpuTest(fixture)
{
    private static string NativeDir => Path.Combine(ModelFiles.RepoRoot, "artifacts", "native");
    private static string ModelDir => Path.GetDirectoryName(ModelFiles.Encoder)!;

    /// <summary>The README's C sample as a user builds it: against the libsamrt tarball of ./build.sh pack, unpacked in
    /// a fresh directory, with <c>pkg-config --cflags --libs samrt stb</c>, reading the image file itself. The image is
    /// the truck as OpenCV decodes it, saved as PNG: JPEG decoders (stb_image's, libjpeg-turbo's) differ in the last
    /// bit, a lossless file gives both sides the same pixels.</summary>
    [LinuxFact]
    public void SampleBuiltFromTheTarballMatchesSamModel()
    {
        var dir = TempDir();
        var exe = CompileWithPkgConfig(Path.Combine(ModelFiles.RepoRoot, "samples", "c-plugin", "main.c"), Path.Combine(dir, "segment"), dir);
        var img = ImageIO.LoadRgba(ModelFiles.SampleImage("truck.jpg"));
        var input = Path.Combine(dir, "truck.png");
        ImageIO.SaveRgba(input, img);
        var png = Path.Combine(dir, "mask.png");

        var stdout = Run(exe, ModelDir, input, "500", "375", png);
        float score = float.Parse(Line(stdout, "score:"), CultureInfo.InvariantCulture);
        using var read = OpenCvSharp.Cv2.ImRead(png, OpenCvSharp.ImreadModes.Unchanged);
        Assert.Equal((img.Width, img.Height, 1), (read.Width, read.Height, read.Channels()));
        read.GetArray(out byte[] mask);

        using var model = new SamModel(Ctx, ModelDir);
        model.SetImage(img.Pixels, img.Width, img.Height, img.Stride);
        var expected = model.Predict(Prompt.Point(500, 375));
        double iou = IoU(mask, expected.BestMask);
        output.WriteLine($"C vs C#: mask IoU {iou:F6}, score {score:G9} vs {expected.BestScore:G9}, area {expected.BestMask.Count(v => v != 0)}");
        Assert.True(expected.BestMask.Count(v => v != 0) > 1000, "the C# mask is degenerate; pick another prompt");
        Assert.True(iou >= 0.999, $"mask IoU {iou:F6} < 0.999 between the C sample and SamModel");
        Assert.True(Math.Abs(score - expected.BestScore) <= 1e-5, $"score {score:G9} from C vs {expected.BestScore:G9} from C#");
    }

    [LinuxFact]
    public void ErrorPathsAndTrackerFromC()
    {
        var dir = TempDir();
        var exe = Compile(Path.Combine(ModelFiles.RepoRoot, "tests", "SamRealtime.Tests", "Native", "abi_check.c"), Path.Combine(dir, "abi_check"));
        var img = ImageIO.LoadRgba(ModelFiles.SampleImage("truck.jpg"));
        // The second frame is the first moved 12 px right, so the tracker has to follow something.
        var moved = new byte[img.Pixels.Length];
        for (int y = 0; y < img.Height; y++)
        for (int x = 0; x < img.Width; x++)
            Array.Copy(img.Pixels, (y * img.Width + Math.Max(x - 12, 0)) * 4, moved, (y * img.Width + x) * 4, 4);
        var frames = new[] { img.Pixels, moved };
        File.WriteAllBytes(Path.Combine(dir, "f0.rgba"), frames[0]);
        File.WriteAllBytes(Path.Combine(dir, "f1.rgba"), frames[1]);

        var stdout = Run(exe, ModelDir, Path.Combine(dir, "f0.rgba"), Path.Combine(dir, "f1.rgba"),
                         img.Width.ToString(CultureInfo.InvariantCulture), img.Height.ToString(CultureInfo.InvariantCulture), dir);

        using var model = new SamModel(Ctx, ModelDir);
        using var tracker = new VideoTracker(model);
        tracker.AddObject(new Prompt { Box = (425, 600, 700, 875) });
        tracker.AddObject(Prompt.Point(500, 375));
        var fromC = stdout.Split('\n').Where(l => l.StartsWith("track ") && !l.StartsWith("track frame")).Select(l => l.Split(' ')).ToList();
        Assert.Equal(4, fromC.Count);
        for (int f = 0; f < 2; f++)
        {
            var results = tracker.Track(frames[f], img.Width, img.Height, img.Stride);
            foreach (var r in results)
            {
                var c = fromC.Single(l => l[1] == f.ToString(CultureInfo.InvariantCulture) && l[2] == r.Id.ToString(CultureInfo.InvariantCulture));
                var mask = File.ReadAllBytes(Path.Combine(dir, $"track_{f}_{r.Id}.raw"));
                double iou = IoU(mask, r.Mask);
                float score = float.Parse(c[4], CultureInfo.InvariantCulture);
                output.WriteLine($"frame {f} object {r.Id}: {r.State} in C#, state {c[3]} in C, mask IoU {iou:F6}, score {score:G9} vs {r.Score:G9}");
                Assert.Equal(r.State == TrackState.Tracked ? "0" : "1", c[3]);
                Assert.Equal(TrackState.Tracked, r.State);
                Assert.True(iou >= 0.999, $"frame {f} object {r.Id}: mask IoU {iou:F6} between C and C#");
                Assert.True(Math.Abs(score - r.Score) <= 1e-5, $"frame {f} object {r.Id}: score {score:G9} vs {r.Score:G9}");
                var box = r.Box!.Value;
                Assert.Equal($"{box.X0} {box.Y0} {box.X1 - 1} {box.Y1 - 1}", string.Join(' ', c[6..10]));   // C boxes are inclusive
            }
        }
    }

    [LinuxFact]
    public void EnginePassOnTheHostsOwnDeviceFromC()
    {
        // The C program is the host engine and its own reference: the pass's masks (recorded into its command buffer,
        // then submitted by the library) against samrt_predict on the same context, so only its exit status and
        // output matter here. Three encoder runs in all.
        var dir = TempDir();
        var exe = Compile(Path.Combine(ModelFiles.RepoRoot, "tests", "SamRealtime.Tests", "Native", "pass_check.c"),
                          Path.Combine(dir, "pass_check"), "-lvulkan");
        var img = ImageIO.LoadRgba(ModelFiles.SampleImage("truck.jpg"));
        Assert.Equal(img.Width * 4, img.Stride);
        var raw = Path.Combine(dir, "truck.rgba");
        File.WriteAllBytes(raw, img.Pixels);

        var stdout = Run(exe, ModelDir, raw, img.Width.ToString(CultureInfo.InvariantCulture), img.Height.ToString(CultureInfo.InvariantCulture));
        Assert.Contains(", validation on", stdout); // Run sets SAMRT_VALIDATION=1: the host's messenger counted
        Assert.Contains("recorded pass equals samrt_predict's mask", stdout);
        Assert.Contains("submitted pass equals samrt_predict's mask", stdout);
        Assert.Contains("0 failure(s), 0 validation message(s) from the host's messenger", stdout);
    }

    // ---------------------------------------------------------------- helpers

    private readonly List<string> _dirs = new();

    private string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "samrt-cabi-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        _dirs.Add(dir);
        return dir;
    }

    public override void Dispose()
    {
        // Frames of 8 MiB each: not left behind in /tmp by every run.
        foreach (var d in _dirs) Directory.Delete(d, recursive: true);
        base.Dispose();
    }

    [LinuxFact]
    public void EverythingFromCMatchesTheGenerator()
    {
        var dir = TempDir();
        var exe = Compile(Path.Combine(ModelFiles.RepoRoot, "tests", "SamRealtime.Tests", "Native", "everything_check.c"), Path.Combine(dir, "everything_check"));
        var img = ImageIO.LoadRgba(Path.Combine(ModelFiles.RepoRoot, "samples", "data", "dogs.jpg"));
        File.WriteAllBytes(Path.Combine(dir, "img.rgba"), img.Pixels);
        var stdout = Run(exe, ModelDir, Path.Combine(dir, "img.rgba"), img.Width.ToString(CultureInfo.InvariantCulture),
                         img.Height.ToString(CultureInfo.InvariantCulture), dir);

        using var model = new SamModel(Ctx, ModelDir);
        var masks = new AutomaticMaskGenerator(model, new AutomaticMaskGeneratorOptions { PointsPerSide = 2 })
                    .Generate(img.Pixels, img.Width, img.Height, img.Stride).OrderByDescending(m => m.Area).ToList();
        Assert.Equal(masks.Count.ToString(CultureInfo.InvariantCulture), Line(stdout, "count "));
        var fromC = stdout.Split('\n').Where(l => l.StartsWith("mask ")).Select(l => l.Split(' ')).ToList();
        Assert.Equal(masks.Count, fromC.Count);
        // Another process on its own device: the same masks up to the last bits of the GPU's arithmetic.
        var labels = new ushort[img.Width * img.Height];
        for (int i = 0; i < masks.Count; i++)
        {
            var c = fromC[i];
            var mask = MaskRle.FromCocoString(c[7], img.Height, img.Width).Decode();
            double iou = IoU(mask, masks[i].Segmentation!);
            output.WriteLine($"mask {i}: area {c[2]} in C, {masks[i].Area} in C#, IoU {iou:F6}");
            Assert.True(iou >= 0.999, $"mask {i}: IoU {iou:F6} between C and C#");
            Assert.Equal(mask.Count(v => v != 0).ToString(CultureInfo.InvariantCulture), c[2]);
            var m = masks[i].Segmentation!;
            for (int p = 0; p < m.Length; p++) if (m[p] != 0) labels[p] = (ushort)(i + 1);
        }
        var raw = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(File.ReadAllBytes(Path.Combine(dir, "labels.raw"))).ToArray();
        Assert.Equal(labels.Length, raw.Length);
        double same = labels.Zip(raw).Count(p => p.First == p.Second) / (double)labels.Length;
        Assert.True(same >= 0.999, $"label images agree on {same:P3} of the pixels");
    }

    /// <summary>Builds a C program against artifacts/native exactly as the sample's header comment says, plus
    /// <paramref name="libraries"/> (-lvulkan for a program that is a Vulkan host itself).</summary>
    private string Compile(string source, string exe, params string[] libraries)
    {
        var lib = Path.Combine(NativeDir, "libsamrt.so");
        if (!File.Exists(lib))
            throw new FileNotFoundException($"{lib} is missing: ./build.sh build publishes it " +
                                            "(dotnet publish src/SamRealtime.Native -c Release -r linux-x64 -o artifacts/native).", lib);
        var gcc = FindOnPath("gcc")
                  ?? throw new InvalidOperationException("gcc is not on PATH: the C ABI tests compile C with it. " +
                                                         "./build.sh setup installs it (apt-get install gcc libc6-dev).");
        var (code, stdout, stderr) = Exec(gcc, TimeSpan.FromMinutes(2), null,
            ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-I" + Path.Combine(NativeDir, "include"), source,
             "-L" + NativeDir, "-lsamrt", .. libraries, "-Wl,-rpath," + NativeDir, "-o", exe]);
        var hint = stderr.Contains("vulkan/vulkan.h") || stderr.Contains("-lvulkan")
            ? "\nvulkan.h or libvulkan.so is missing: ./build.sh setup installs them (apt-get install libvulkan-dev)." : "";
        Assert.True(code == 0, $"gcc failed ({code}):\n{stdout}{stderr}{hint}");
        return exe;
    }

    /// <summary>Unpacks artifacts/packages/libsamrt-*.tar.gz into <paramref name="dir"/> and compiles
    /// <paramref name="source"/> with the flags pkg-config gives for samrt (and stb, which the sample reads images with).</summary>
    private string CompileWithPkgConfig(string source, string exe, string dir)
    {
        var packages = Path.Combine(ModelFiles.RepoRoot, "artifacts", "packages");
        var tarball = (Directory.Exists(packages) ? Directory.GetFiles(packages, "libsamrt-*.tar.gz") : []).SingleOrDefault()
                      ?? throw new FileNotFoundException($"no libsamrt-*.tar.gz in {packages}: ./build.sh pack writes it");
        var (code, stdout, stderr) = Exec("tar", TimeSpan.FromMinutes(1), null, ["-xzf", tarball, "-C", dir]);
        Assert.True(code == 0, $"tar failed: {stdout}{stderr}");
        var root = Path.Combine(dir, Path.GetFileName(tarball)[..^".tar.gz".Length]);
        foreach (var f in new[] { "include/samrt.h", "lib/libsamrt.so", "lib/pkgconfig/samrt.pc", "LICENSE" })
            Assert.True(File.Exists(Path.Combine(root, f)), $"{f} is missing from {Path.GetFileName(tarball)}");
        var env = new Dictionary<string, string> { ["PKG_CONFIG_PATH"] = Path.Combine(root, "lib", "pkgconfig") };
        (code, stdout, stderr) = Exec("pkg-config", TimeSpan.FromMinutes(1), env, ["--cflags", "--libs", "samrt", "stb"]);
        Assert.True(code == 0, $"pkg-config failed ({code}): {stdout}{stderr} (./build.sh setup installs pkgconf and libstb-dev)");
        var flags = stdout.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Contains("-lsamrt", flags);
        var gcc = FindOnPath("gcc") ?? throw new InvalidOperationException("gcc is not on PATH (./build.sh setup installs it)");
        (code, stdout, stderr) = Exec(gcc, TimeSpan.FromMinutes(2), null, ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", source, .. flags, "-o", exe]);
        Assert.True(code == 0, $"gcc failed ({code}):\n{stdout}{stderr}");
        return exe;
    }

    /// <summary>Runs a C program with the validation layer on (as the fixture's context has it) and returns its
    /// output; a non-zero exit fails the test with everything it printed.</summary>
    private string Run(string exe, params string[] args)
    {
        var sw = Stopwatch.StartNew();
        var (code, stdout, stderr) = Exec(exe, TimeSpan.FromMinutes(5), new() { ["SAMRT_VALIDATION"] = "1" }, args);
        output.WriteLine($"{Path.GetFileName(exe)} ran {sw.Elapsed.TotalSeconds:F1} s, exit {code}:\n{stdout}{stderr}");
        Assert.True(code == 0, $"{Path.GetFileName(exe)} exited {code}:\n{stdout}{stderr}");
        return stdout;
    }

    private static (int Code, string Stdout, string Stderr) Exec(string file, TimeSpan timeout, Dictionary<string, string>? env, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} did not finish in {timeout.TotalMinutes} min");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    private static string Line(string stdout, string prefix) =>
        stdout.Split('\n').FirstOrDefault(l => l.StartsWith(prefix))?[prefix.Length..].Trim()
        ?? throw new Xunit.Sdk.XunitException($"no '{prefix}' line in:\n{stdout}");

    private static double IoU(byte[] a, byte[] b)
    {
        Assert.Equal(a.Length, b.Length);
        long inter = 0, union = 0;
        for (int i = 0; i < a.Length; i++)
        {
            bool x = a[i] != 0, y = b[i] != 0;
            if (x && y) inter++;
            if (x || y) union++;
        }
        return union == 0 ? 1 : (double)inter / union;
    }
}
