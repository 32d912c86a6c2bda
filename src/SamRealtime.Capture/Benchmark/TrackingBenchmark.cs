using System.Diagnostics;
using SamRealtime.Engine;
using SamRealtime.Model;
using SamRealtime.Tracking;

namespace SamRealtime.Capture.Benchmark;

/// <summary>The objects of the benchmark: SAM's example images (Apache-2.0, in samples/data), each cut out with our
/// own model from a prompt on the photo.</summary>
public static class BenchmarkSprites
{
    public sealed record Source(string Name, string Image, Prompt Prompt, int LongSide);

    public static IReadOnlyList<Source> Sources { get; } =
    [
        // The official notebook's box on the truck's front tyre.
        new("tyre", "truck.jpg", new Prompt { Box = (425, 600, 700, 875) }, 150),
        new("dog", "dogs.jpg", new Prompt { Box = (575, 225, 775, 592) }, 200),       // the black dog, stick in mouth
        new("bag", "groceries.jpg", Prompt.Point(400, 267), 170),                    // the blue bag in the boot
        new("bowl", "dog.jpg", new Prompt { Box = (488, 138, 662, 262) }, 140),       // the bowl held out to the dog
        // The hard sequences' tuning part.
        new("golden", "dogs.jpg", new Prompt { Box = (455, 188, 600, 582) }, 190),   // the golden dog beside the black one
        new("bag3", "groceries.jpg", new Prompt { Box = (505, 172, 586, 342) }, 150), // paper bags 3 and 4 from the left
        new("bag4", "groceries.jpg", new Prompt { Box = (580, 172, 645, 342) }, 150),
        new("pickup", "truck.jpg", new Prompt { Box = (75, 275, 1725, 850) }, 260),   // the official notebook's whole-truck box
        // The hard sequences' held-out part.
        new("wheel", "truck.jpg", new Prompt { Box = (1375, 550, 1650, 800) }, 140),  // the notebook's rear-wheel box
        new("bulldog", "dog.jpg", new Prompt { Box = (0, 220, 425, 534) }, 200),
        new("bag2", "groceries.jpg", new Prompt { Box = (440, 178, 512, 342) }, 150),
    ];

    /// <summary>Cuts the sprites <paramref name="names"/> (all when null) out of the images in
    /// <paramref name="imageDir"/>: one encoder pass per image.</summary>
    public static Dictionary<string, Sprite> Cut(SamModel model, string imageDir, IEnumerable<string>? names = null)
    {
        var wanted = names?.ToHashSet() ?? Sources.Select(s => s.Name).ToHashSet();
        return Sources.Where(s => wanted.Contains(s.Name))
                      .ToDictionary(s => s.Name, s => Sprite.Segment(model, s.Name, Path.Combine(imageDir, s.Image), s.Prompt, s.LongSide));
    }
}

/// <summary>One frame's outcome. <see cref="J"/> and <see cref="F"/> follow <see cref="MaskMetrics"/>; on a frame where
/// the object is absent both are 1 when the tracker output an empty mask and 0 otherwise.
/// <see cref="UpdateMs"/> is the tracker's time after the encoder (decoder, motion, checks); NaN for the pass, whose
/// frame is one submission with the encoder in it. <see cref="Similarity"/> is NaN for the pass (it reports none).</summary>
public sealed record FrameScore(int Frame, bool Present, TrackState State, double J, double F, float Score, float Similarity, double TrackMs,
                                double UpdateMs = 0);

/// <summary>A sequence's scores: means over all its frames, the prompted first one included (its mask is SAM's answer
/// to the box, not given), absent frames by <see cref="FrameScore"/>'s rule. Frames per second count the tracker only
/// (encoder, decoder, motion, checks), not rendering or scoring. <see cref="BoundaryTolerance"/> is F's tolerance in pixels.</summary>
public sealed record SequenceScore(string Name, string Description, int BoundaryTolerance, IReadOnlyList<FrameScore> Frames)
{
    public double J => Frames.Average(f => f.J);
    public double F => Frames.Average(f => f.F);
    public double JF => (J + F) / 2;
    public double Fps => Frames.Count / (Frames.Sum(f => f.TrackMs) / 1000);
    public double UpdateMs => Frames.Average(f => f.UpdateMs);
}

/// <summary>The front end the benchmark drives: <see cref="VideoTracker"/> on host frames, or the engine pass
/// (<see cref="PassTracker"/>) on GPU images.</summary>
public enum BenchmarkFront { Tracker, Pass }

public static class TrackingBenchmark
{
    /// <summary>
    /// Tracks the sequence's object for <paramref name="frames"/> frames from a box around it on the first frame (the
    /// prompt a user would draw) and scores every frame against the ground truth.
    /// </summary>
    /// <param name="onFrame">Sees each frame with the tracker's result, e.g. to write an overlay.</param>
    /// <param name="cache">Embeddings of frames encoded before (the evaluation's ablations); null: encode every frame.
    /// The pass encodes its source image itself and takes neither a cache nor a motion estimator.</param>
    /// <param name="encoderInterval">The encoder runs on every N-th frame, the others warp its embedding
    /// (<see cref="KeyFrameEncoder"/>); the tracker front only.</param>
    /// <param name="options">For the pass, null or <see cref="SamPassOptions"/>.</param>
    public static SequenceScore Run(SamModel model, TrackingSequence sequence, IReadOnlyDictionary<string, Sprite> sprites, int frames,
                                    IMotionEstimator? motion = null, TrackerOptions? options = null,
                                    Action<SyntheticFrame, ObjectResult>? onFrame = null, EmbeddingCache? cache = null,
                                    BenchmarkFront front = BenchmarkFront.Tracker, int encoderInterval = 1)
    {
        if (front == BenchmarkFront.Pass)
        {
            if (encoderInterval != 1) throw new ArgumentException("The pass front has its own SamPassOptions.EncoderInterval.", nameof(encoderInterval));
            if (motion is not null) throw new ArgumentException("The pass front has no motion estimator: its frames are on the GPU.", nameof(motion));
            if (options is not null and not SamPassOptions) throw new ArgumentException("The pass front takes SamPassOptions.", nameof(options));
        }
        using var pass = front == BenchmarkFront.Pass ? new PassTracker(model, (SamPassOptions?)options) : null;
        using var tracker = pass is null ? new VideoTracker(model, options, motion) : null;
        // Every frame encoded without a cache: the tracker's own path, encoder and decoder in one submission.
        using var keyFrames = pass is not null || (cache is null && encoderInterval == 1) ? null : new KeyFrameEncoder(model, encoderInterval, cache);
        var scores = new List<FrameScore>();
        int tolerance = 0;
        foreach (var frame in sequence.Render(sprites, frames))
        {
            var img = frame.Image;
            if (frame.Index == 0)
            {
                var box = Box(frame.Truth, img.Width, img.Height)
                          ?? throw new InvalidOperationException($"Sequence {sequence.Name}: the object is not on its first frame.");
                if (pass is not null) pass.AddObject(new Prompt { Box = box });
                else tracker!.AddObject(new Prompt { Box = box });
                tolerance = MaskMetrics.BoundaryTolerance(img.Width, img.Height);
            }
            var sw = Stopwatch.StartNew();
            ObjectResult r;
            double updateMs;
            if (pass is not null)
            {
                // The pass's frame is one submission with the encoder inside: no time after the encoder to tell apart.
                r = pass.Track(img).Single();
                updateMs = double.NaN;
            }
            else if (keyFrames is null)
            {
                r = tracker!.Track(img.Pixels, img.Width, img.Height, img.Stride).Single();
                updateMs = sw.Elapsed.TotalMilliseconds - model.LastEncoderTime.TotalMilliseconds;
            }
            else
            {
                motion?.AddFrame(img.Pixels, img.Width, img.Height, img.Stride);
                keyFrames.SetFrame(img);
                var su = Stopwatch.StartNew();
                r = tracker!.Update().Single();
                updateMs = su.Elapsed.TotalMilliseconds;
            }
            double ms = sw.Elapsed.TotalMilliseconds;
            bool present = frame.Present;
            double j, f;
            if (present)
            {
                j = MaskMetrics.Jaccard(r.Mask, frame.Truth);
                f = MaskMetrics.BoundaryF(r.Mask, frame.Truth, img.Width, img.Height, tolerance);
            }
            else j = f = r.Mask.AsSpan().IndexOfAnyExcept((byte)0) < 0 ? 1 : 0;
            scores.Add(new FrameScore(frame.Index, present, r.State, j, f, r.Score, r.Similarity, ms, updateMs));
            onFrame?.Invoke(frame, r);
        }
        return new SequenceScore(sequence.Name, sequence.Description, tolerance, scores);
    }

    /// <summary>The mask's bounding box as a prompt box (last pixel + 1); null when empty.</summary>
    private static (float, float, float, float)? Box(byte[] mask, int width, int height)
    {
        int x0 = width, y0 = height, x1 = -1, y1 = -1;
        for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
            if (mask[y * width + x] != 0) { x0 = Math.Min(x0, x); x1 = Math.Max(x1, x); y0 = Math.Min(y0, y); y1 = Math.Max(y1, y); }
        return x1 < 0 ? null : (x0, y0, x1 + 1, y1 + 1);
    }
}
