namespace SamRealtime.Capture.Benchmark;

/// <summary>One rendered frame of a sequence and the exact mask of the tracked object's visible pixels (0/255).</summary>
public sealed record SyntheticFrame(int Index, RgbaImage Image, byte[] Truth)
{
    public bool Present => Truth.AsSpan().IndexOfAnyExcept((byte)0) >= 0;
}

/// <summary>
/// A tracking sequence with exact ground truth: a cut-out object (optionally with a second one passing in front of it)
/// moves over consecutive frames of a real video. Motions are defined per frame, not per sequence length, and repeat
/// (they bounce or wrap), so the first frames are the same whatever the length and every frame is as hard as the
/// sequence's name says.
/// </summary>
public sealed record TrackingSequence(string Name, string Description, string Background, int BackgroundStart,
                                      string Target, Func<int, Placement> TargetAt,
                                      string? Occluder = null, Func<int, Placement>? OccluderAt = null)
{
    /// <summary>opencv-doc's pedestrian video (768x576, static camera, people walking), installed by ./build.sh setup.</summary>
    public const string Vtest = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

    /// <summary>The benchmark. Placements are in pixels of vtest's 768x576 frames; sprites are
    /// <see cref="BenchmarkSprites.Sources"/>.</summary>
    public static IReadOnlyList<TrackingSequence> All { get; } =
    [
        new("translate", "a standing dog slides diagonally (~23 px/frame), bouncing off the frame's sides", Vtest, 0,
            "dog", f => new(Bounce(230, 22, 70, 700, f), Bounce(330, 7, 110, 470, f))),
        new("scale", "the truck's tyre grows and shrinks by 12% a frame (0.65x to 1.44x) while drifting", Vtest, 60,
            "tyre", f => new(380 + 5 * f, 290 + 2 * f, 0.65f * MathF.Pow(1.12f, Bounce(0, 1, 0, 7, f)))),
        new("rotate", "a shopping bag turns 15 degrees a frame while drifting right", Vtest, 120,
            "bag", f => new(Bounce(330, 6, 100, 670, f), 300, 1, 15 * f)),
        new("occlusion", "a dog walks in front of the tyre, hiding up to ~70% of it (frames 3-8), back and forth", Vtest, 180,
            "tyre", f => new(Bounce(380, 4, 300, 470, f), 300),
            "dog", f => new(Bounce(150, 45, 150, 650, f), 300)),
        new("exit", "a bowl moves right at 60 px/frame, leaves the frame (absent on frames 4-5) and comes back in at the left",
            Vtest, 240, "bowl", f => new(Wrap(630 + 60 * f, -70, 930), 430)),
        new("fast", "the tyre zig-zags at ~94 px/frame, far beyond the tracker's 15% box margin", Vtest, 300,
            "tyre", f => new(Bounce(200, 85, 80, 688, f), Bounce(200, 40, 80, 496, f))),
    ];

    public static TrackingSequence Get(string name) =>
        All.FirstOrDefault(s => s.Name == name)
        ?? throw new ArgumentException($"No sequence '{name}' (there are {string.Join(", ", All.Select(s => s.Name))}).");

    /// <summary>Renders the first <paramref name="count"/> frames (the background video loops when shorter).</summary>
    public IEnumerable<SyntheticFrame> Render(IReadOnlyDictionary<string, Sprite> sprites, int count)
    {
        var target = Sprite(sprites, Target);
        var occluder = Occluder is null ? null : Sprite(sprites, Occluder);
        var video = VideoSource.OpenFile(Background);
        try
        {
            for (int i = 0; i < BackgroundStart; i++) video = Next(video, out _);
            for (int f = 0; f < count; f++)
            {
                video = Next(video, out var bg);
                int w = bg.Width, h = bg.Height;
                var px = (byte[])bg.Pixels.Clone();
                var truth = new byte[w * h];
                target.Draw(px, truth, w, h, TargetAt(f));
                if (occluder is not null)
                {
                    var hidden = new byte[w * h];
                    occluder.Draw(px, hidden, w, h, OccluderAt!(f));
                    for (int i = 0; i < truth.Length; i++) if (hidden[i] != 0) truth[i] = 0;
                }
                yield return new SyntheticFrame(f, new RgbaImage(px, w, h), truth);
            }
        }
        finally { video.Dispose(); }
    }

    private VideoSource Next(VideoSource video, out RgbaImage frame)
    {
        if (!video.TryRead(out var f))
        {
            video.Dispose();
            video = VideoSource.OpenFile(Background);
            if (!video.TryRead(out f)) throw new CaptureException($"Video {Background} has no frames.");
        }
        frame = f.Image;
        return video;
    }

    private static Sprite Sprite(IReadOnlyDictionary<string, Sprite> sprites, string name) =>
        sprites.TryGetValue(name, out var s) ? s : throw new ArgumentException($"No sprite '{name}' was cut.");

    /// <summary>Position on frame <paramref name="f"/> of a point leaving <paramref name="start"/> at
    /// <paramref name="speed"/> per frame and reflecting off <paramref name="lo"/> and <paramref name="hi"/>.</summary>
    public static float Bounce(float start, float speed, float lo, float hi, int f)
    {
        float span = hi - lo, d = Mod(start - lo + speed * f, 2 * span);
        return lo + (d > span ? 2 * span - d : d);
    }

    /// <summary>Position wrapped into [lo, hi): what leaves at one end comes back at the other.</summary>
    public static float Wrap(float x, float lo, float hi) => lo + Mod(x - lo, hi - lo);

    private static float Mod(float a, float m) => ((a % m) + m) % m;
}
