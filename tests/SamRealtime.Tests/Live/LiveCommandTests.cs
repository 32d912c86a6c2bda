using OpenCvSharp;
using SamRealtime.Tests.Weights;
using Xunit;
using Xunit.Abstractions;

namespace SamRealtime.Tests.Live;

/// <summary>
/// <c>samrt live</c> as a user runs it: the real HighGUI window on a private Xvfb display, a video played as the
/// camera (SAM's truck photo, moved a few pixels per frame), driven by a script through the same event path as the
/// mouse, and by real X input events. In the "gpu" collection so the child process does not compete with other GPU
/// tests for the CPU.
/// </summary>
[Collection("gpu")]
public sealed class LiveCommandTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);
    private readonly string _dir = Directory.CreateTempSubdirectory("samrt-live").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The truck, moved (6, 2) px per frame: frame k has the door's point (1125, 625) at (1125 + 6k, 625 + 2k).</summary>
    private string TruckVideo(int frames)
    {
        var path = Path.Combine(_dir, "truck.avi");
        using var img = Cv2.ImRead(Path.Combine(ModelFiles.RepoRoot, "samples", "data", "truck.jpg"));
        Assert.False(img.Empty());
        using var writer = new VideoWriter(path, FourCC.MJPG, 10, img.Size());
        for (int k = 0; k < frames; k++)
        {
            using var shift = Mat.FromPixelData(2, 3, MatType.CV_64FC1, new double[] { 1, 0, 6 * k, 0, 1, 2 * k });
            using var frame = new Mat();
            Cv2.WarpAffine(img, frame, shift, img.Size(), borderMode: BorderTypes.Replicate);
            writer.Write(frame);
        }
        return path;
    }

    private static byte[] Mask(string path, out int width)
    {
        using var m = Cv2.ImRead(path, ImreadModes.Unchanged);
        Assert.False(m.Empty(), $"cannot read {path}");
        Assert.Equal(1, m.Channels());
        width = m.Width;
        m.GetArray(out byte[] data);
        return data;
    }

    [Fact]
    public void ScriptedClicksAndKeysSegmentSaveClearAndQuit()
    {
        using var x = Xvfb.Start();
        var video = TruckVideo(3);
        var script = Path.Combine(_dir, "events.txt");
        File.WriteAllLines(script,
        [
            "frame 0 click 1125 625 +    # the driver's door (with the fender)",
            "frame 0 key s",
            "frame 0 click 1140 375 -    # not its window",
            "frame 0 key s",
            "frame 0 key n",
            "frame 0 click 575 750 +     # a second object: the rear wheel",
            "frame 0 key s",
            "frame 1 key s",
            "frame 1 key c",
            "frame 1 key s",
            "frame 1 key q",
        ]);
        var outDir = Path.Combine(_dir, "out");
        var started = DateTime.UtcNow;
        using var p = new SamrtProcess(["live", "--video", video, "--script", script, "--out", outDir, "--hold", "0", "--max-frames", "2"], x.Display);
        int code = p.Wait(Limit);
        output.WriteLine($"{(DateTime.UtcNow - started).TotalSeconds:F0} s\n" + string.Join("\n", p.Stdout) + "\n" + string.Join("\n", p.Stderr));
        if (code != 0) throw p.Fail($"exit code {code}");
        Assert.DoesNotContain(p.Stderr, l => l.Contains("[vulkan"));
        Assert.Contains(p.Stdout, l => l.StartsWith("window: image at (") && l.EndsWith("size 1200x800, scale 0.6667"));

        // Each save prints its paths, then the HUD.
        var saves = new List<List<string>> { new() };
        var huds = new List<string>();
        foreach (var line in p.Stdout)
        {
            if (line.StartsWith("saved ")) saves[^1].Add(line["saved ".Length..]);
            if (line.StartsWith("hud: ")) { huds.Add(line); saves.Add(new()); }
        }
        saves.RemoveAt(saves.Count - 1);
        Assert.Equal(5, saves.Count);
        Assert.All(saves.SelectMany(s => s), f => Assert.True(File.Exists(f), f));
        string Obj(int save, int id) => Assert.Single(saves[save], f => f.EndsWith($"-obj{id}.png"));
        const int W = 1800;
        int At(byte[] m, int px, int py) => m[py * W + px];

        // 1. The click segments the door: the clicked pixel is in its mask, the road far away is not.
        var door = Mask(Obj(0, 1), out int w);
        Assert.Equal(W, w);
        Assert.Equal(255, At(door, 1125, 625));
        Assert.Equal(255, At(door, 1140, 375));
        Assert.Equal(0, At(door, 100, 1150));
        Assert.Contains(saves[0], f => f.EndsWith("-overlay.png"));
        Assert.Contains(saves[0], f => f.EndsWith("-screen.png"));

        // 2. The negative click on its window takes the window out: a smaller mask without the clicked pixel.
        var refined = Mask(Obj(1, 1), out _);
        Assert.Equal(0, At(refined, 1140, 375));
        Assert.Equal(255, At(refined, 1125, 625));
        Assert.True(refined.Count(v => v != 0) < door.Count(v => v != 0) * 0.9, "the negative click should shrink the mask");

        // 3. 'n' and a click make a second object, disjoint from the first, which keeps its mask.
        var wheel = Mask(Obj(2, 2), out _);
        Assert.Equal(255, At(wheel, 575, 750));
        Assert.Equal(0, At(wheel, 100, 1150));
        var first = Mask(Obj(2, 1), out _);
        Assert.Equal(refined, first);
        Assert.DoesNotContain(Enumerable.Range(0, first.Length), i => first[i] != 0 && wheel[i] != 0);

        // 4. Frame 1: both objects tracked where the truck moved to.
        Assert.Contains("f00001", saves[3][0]);
        Assert.Equal(255, At(Mask(Obj(3, 1), out _), 1125 + 6, 625 + 2));
        Assert.Equal(255, At(Mask(Obj(3, 2), out _), 575 + 6, 750 + 2));
        var frame1 = Assert.Single(p.Stdout, l => l.StartsWith("frame 1: capture"));
        Assert.Matches(@"encoder \d+ ms, decoder \d+ ms, total \d+ ms, [\d.]+ fps; #1 [\d.]+ \d+ px, #2 [\d.]+ \d+ px$", frame1);

        // 5. 'c' clears every object: the next save has the frame only.
        Assert.Contains("cleared 2 object(s)", p.Stdout);
        Assert.DoesNotContain(saves[4], f => f.Contains("-obj"));
        Assert.Equal(2, saves[4].Count);
        Assert.Contains("no objects", huds[4]);

        // The HUD shows the frame rate and stage times once two frames were on screen.
        Assert.Matches(@"^hud: [\d.]+ fps \| capture \d+ ms \| encoder \d+ ms \| decoder \d+ ms \| total \d+ ms \|\| frame 1 ", huds[3]);
        using var screen = Cv2.ImRead(saves[3].Single(f => f.EndsWith("-screen.png")));
        Assert.Equal(new Size(1200, 800), screen.Size());
        Assert.Equal("quit", p.Stdout[^1]);
    }

    [Fact]
    public void RealMouseClicksAndKeysReachTheWindowAndClosingItQuits()
    {
        using var x = Xvfb.Start();
        var video = TruckVideo(1);
        var outDir = Path.Combine(_dir, "out");
        using var p = new SamrtProcess(["live", "--video", video, "--out", outDir, "--hold", "0"], x.Display);
        var where = p.WaitFor(l => l.StartsWith("window: image at ("), Limit, "window line");
        var m = System.Text.RegularExpressions.Regex.Match(where, @"at \((\d+),(\d+)\) size (\d+)x(\d+), scale ([\d.]+)");
        Assert.True(m.Success, where);
        int ox = int.Parse(m.Groups[1].Value), oy = int.Parse(m.Groups[2].Value);
        double scale = double.Parse(m.Groups[5].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(2.0 / 3, scale, 3);
        using var xc = new X11(x.Display);

        // A left click on the truck's window (SAM's notebook point) in screen pixels; the session gets image pixels.
        xc.Click(ox + (int)Math.Round(500 * scale), oy + (int)Math.Round(375 * scale), 1);
        var click = p.WaitFor(l => l.Contains(": click ("), Limit, "the click's result");
        Assert.StartsWith("frame 0: click (500,375) + -> object 1: ", click);
        // A right click is a negative point.
        xc.Click(ox + (int)Math.Round(900 * scale), oy + (int)Math.Round(1100 * scale), 3);
        Assert.StartsWith("frame 0: click (900,1100) - -> object 1: ", p.WaitFor(l => l.Contains(": click ("), Limit, "the right click's result"));
        xc.Key("s");
        var saved = p.WaitFor(l => l.StartsWith("saved ") && l.EndsWith("-obj1.png"), Limit, "the saved mask");
        var mask = Mask(saved["saved ".Length..], out int w);
        Assert.Equal(255, mask[375 * w + 500]);
        Assert.Equal(0, mask[1100 * w + 900]);

        // Closing the window (as a window manager asks) ends the session normally.
        Assert.True(xc.RequestClose("samrt live"), "no window titled 'samrt live' on the display");
        int code = p.Wait(Limit);
        output.WriteLine(string.Join("\n", p.Stdout) + "\n" + string.Join("\n", p.Stderr));
        Assert.Equal(0, code);
        Assert.Contains("window closed", p.Stdout);
        Assert.DoesNotContain(p.Stderr, l => l.Contains("[vulkan"));
    }

    public static TheoryData<string[], string> BadInputs => new()
    {
        { ["--video", "/no/such/video.avi"], "Video not found: /no/such/video.avi" },
        { ["--camera", "97"], "Camera 97 not found" },
        { ["--camera", "/dev/no-such-camera"], "/dev/no-such-camera" },
        { ["--camera", "0", "--video", "x.avi"], "give --camera or --video, not both" },
        { ["--video", "/no/such/video.avi", "--script", "/no/such/script.txt"], "script not found: /no/such/script.txt" },
        { ["--video", "/no/such/video.avi", "--script", "BAD"], "line 2: unknown event 'clack'" },
        { ["--video", "TRUCK", "--max-frames", "0"], "--max-frames must be at least 1" },
        { ["--video", "TRUCK", "--model", "/no/such/models"], "model directory /no/such/models (from --model) has no encoder.onnx" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void BadInputExitsWith2AndOneLine(string[] args, string message)
    {
        var bad = Path.Combine(_dir, "bad.txt");
        File.WriteAllLines(bad, ["frame 0 click 500 375 +", "frame 1 clack 1 2"]);
        args = args.Select(a => a == "BAD" ? bad : a == "TRUCK" ? TruckVideo(1) : a).ToArray();
        // A display that exists only as a name: every one of these must fail before it opens a window.
        using var p = new SamrtProcess(["live", .. args], ":12345");
        int code = p.Wait(TimeSpan.FromSeconds(60));
        Assert.Equal(2, code);
        var line = Assert.Single(p.Stderr, l => l.Length > 0);
        Assert.StartsWith("samrt: ", line);
        Assert.Contains(message, line);
    }

    [Fact]
    public void WithoutADisplayItSaysHowToRunHeadless()
    {
        using var p = new SamrtProcess(["live", "--video", TruckVideo(1)], display: null);
        Assert.Equal(2, p.Wait(TimeSpan.FromSeconds(60)));
        Assert.Equal("samrt: no display for the window (DISPLAY is not set); headless, run it under xvfb-run -a", Assert.Single(p.Stderr));
    }
}
