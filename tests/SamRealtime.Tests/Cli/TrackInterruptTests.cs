using System.Diagnostics;
using System.Text.Json.Nodes;
using OpenCvSharp;
using SamRealtime.Tests.Live;
using SamRealtime.Tests.Weights;
using Xunit;
using Xunit.Abstractions;

namespace SamRealtime.Tests.Cli;

/// <summary>
/// <c>samrt track</c> stopped by a real SIGTERM once it has tracked a frame: it exits 130 and leaves what it did
/// usable: a track.json that parses and lists exactly the frames whose masks exist, an overlay video that opens and
/// has those frames, and no temporary file. In the "gpu" collection: the child runs the encoder.
/// </summary>
[Collection("gpu")]
public sealed class TrackInterruptTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("samrt-track").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void SigtermLeavesValidJsonAndPlayableVideo()
    {
        var outDir = Path.Combine(_dir, "out");
        var video = Path.Combine(_dir, "overlay", "walk.mp4");
        var json = Path.Combine(outDir, "track.json");
        var sw = Stopwatch.StartNew();
        using var p = new SamrtProcess(["track", "--video", "/usr/share/doc/opencv-doc/examples/data/vtest.avi", "--box", "498,155,532,235",
                                        "--out", outDir, "--overlay", video, "--model", Path.GetDirectoryName(ModelFiles.Encoder)!], null);
        // track.json appears after the first tracked frame.
        while (!File.Exists(json))
        {
            Assert.True(sw.Elapsed < TimeSpan.FromMinutes(8), "no track.json after 8 minutes");
            Thread.Sleep(200);
        }
        using (var kill = Process.Start("kill", ["-TERM", p.Id.ToString()])) kill.WaitForExit();
        int code = p.Wait(TimeSpan.FromMinutes(5));
        output.WriteLine($"exit {code} after {sw.Elapsed.TotalSeconds:F0} s\n{string.Join("\n", p.Stdout)}\n{string.Join("\n", p.Stderr)}");
        Assert.Equal(130, code);

        var doc = JsonNode.Parse(File.ReadAllText(json))!;
        Assert.True(doc["interrupted"]!.GetValue<bool>());
        Assert.False(doc["complete"]!.GetValue<bool>());
        var frames = doc["frames"]!.AsArray().Select(f => f!["frame"]!.GetValue<int>()).ToArray();
        Assert.NotEmpty(frames);
        Assert.True(frames.Length < 795, "the run was not interrupted");
        Assert.Equal(frames.Length, doc["frames_processed"]!.GetValue<int>());
        Assert.Equal(frames.Select(f => $"{f:D5}.png"), Directory.EnumerateFiles(Path.Combine(outDir, "1")).Select(Path.GetFileName).Order());

        using var cap = new VideoCapture(video);
        Assert.True(cap.IsOpened(), $"{video} does not open");
        int read = 0;
        using var m = new Mat();
        while (cap.Read(m) && !m.Empty()) read++;
        Assert.Equal(frames.Length, read);

        var leftovers = Directory.EnumerateFiles(_dir, "*", SearchOption.AllDirectories).Where(f => Path.GetFileName(f).StartsWith('.')).ToArray();
        Assert.Empty(leftovers);
    }
}
