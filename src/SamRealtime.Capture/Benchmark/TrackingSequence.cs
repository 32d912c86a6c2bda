namespace SamRealtime.Capture.Benchmark;

/// <summary>One rendered frame of a sequence and the exact mask of the tracked object's visible pixels (0/255).</summary>
public sealed record SyntheticFrame(int Index, RgbaImage Image, byte[] Truth)
{
    public bool Present => Truth.AsSpan().IndexOfAnyExcept((byte)0) >= 0;
}

/// <summary>Which part of the benchmark a sequence belongs to. <see cref="Original"/>: the first six (20 frames,
/// gentle). <see cref="Tuning"/>: the hard 48-frame sequences the tracker's rules and thresholds were chosen on.
/// <see cref="HeldOut"/>: hard sequences of the same kinds built from other objects, another background video and
/// other motions, scored only to report, never to choose a threshold.</summary>
public enum SequenceSet { Original, Tuning, HeldOut }

/// <summary>
/// A tracking sequence with exact ground truth: a cut-out object (optionally with a second one passing in front of it,
/// and a look-alike passing behind it) moves over consecutive frames of a real video. Motions are defined per frame,
/// not per sequence length, and repeat (they bounce or wrap), so the first frames are the same whatever the length and
/// every frame is as hard as the sequence's name says.
/// </summary>
/// <param name="BackgroundAt">Video frame (from <paramref name="BackgroundStart"/>) shown on sequence frame f; null:
/// f itself. A jump is a scene cut.</param>
/// <param name="Distractor">A sprite drawn behind the target (it never hides it): a look-alike to confuse identity.</param>
public sealed record TrackingSequence(string Name, string Description, string Background, int BackgroundStart,
                                      string Target, Func<int, Placement> TargetAt,
                                      string? Occluder = null, Func<int, Placement>? OccluderAt = null,
                                      string? Distractor = null, Func<int, Placement>? DistractorAt = null,
                                      Func<int, int>? BackgroundAt = null,
                                      SequenceSet Set = SequenceSet.Original, int Length = 20)
{
    private const string OpencvData = "/usr/share/doc/opencv-doc/examples/data/";
    /// <summary>opencv-doc's pedestrian video (768x576, static camera, people walking), installed by ./build.sh setup.</summary>
    public const string Vtest = OpencvData + "vtest.avi";
    /// <summary>opencv-doc's Megamind trailer clip (720x528, 270 frames, a moving camera and cuts of its own).</summary>
    public const string Megamind = OpencvData + "Megamind.avi";

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

    /// <summary>The hard sequences (48 frames): zoom, fast exit and re-entry, occlusion by a look-alike, look-alikes
    /// crossing, a scene cut and a long absence, each twice. The tuning part uses paper bag 3 and 4, the golden dog and
    /// the pickup truck over Megamind.avi; the held-out part uses the truck's rear wheel, the bulldog and paper bag 2
    /// (with the benchmark's tyre and bag 1 as their look-alikes) over vtest.avi from frame 400 on, which no other
    /// sequence shows. Placements of the tuning part are in Megamind's 720x528 pixels, the held-out part in vtest's.</summary>
    public static IReadOnlyList<TrackingSequence> Hard { get; } =
    [
        // ---- Tuning: rules and thresholds are chosen on these. ----
        new("zoom", "the golden dog grows steadily from 0.6x to 1.2x of its cut-out (x2 in 48 frames), nearly still",
            Megamind, 0, "golden", f => new(330 + f, 280, 0.6f * MathF.Pow(2, f / 47f)), Set: SequenceSet.Tuning, Length: 48),
        new("swing", "the pickup truck crosses the frame right at 50 px/frame, leaves it (absent ~3 frames a pass) and re-enters at the left",
            Megamind, 40, "pickup", f => new(Wrap(420 + 50 * f, -200, 920), 390), Set: SequenceSet.Tuning, Length: 48),
        new("bags-occlude", "paper bag 4 passes in front of paper bag 3 at 30 px/frame, hiding up to ~60% of it",
            Megamind, 80, "bag3", f => new(Bounce(330, 3, 260, 420, f), 280),
            Occluder: "bag4", OccluderAt: f => new(Bounce(90, 30, 80, 640, f), 340), Set: SequenceSet.Tuning, Length: 48),
        new("bags-cross", "paper bags 3 and 4 cross each other at 12 px/frame each, bag 4 passing behind",
            Megamind, 120, "bag3", f => new(Bounce(150, 12, 100, 620, f), 270 + 2 * MathF.Sin(f / 3f)),
            Distractor: "bag4", DistractorAt: f => new(Bounce(600, -12, 100, 620, f), 290), Set: SequenceSet.Tuning, Length: 48),
        new("cut", "the golden dog walks left to right; at frame 24 the scene cuts (background 120 frames on) and it is elsewhere, smaller",
            Megamind, 20, "golden", f => f < 24 ? new(220 + 4 * f, 300, 0.8f) : new(520 - 3 * (f - 24), 230, 0.65f),
            BackgroundAt: f => f < 24 ? f : f + 120, Set: SequenceSet.Tuning, Length: 48),
        new("absent", "the pickup drives out at the top right, is absent 16 frames (16-31) and returns at the bottom left",
            Megamind, 150, "pickup", f => f < 16 ? new(360 + 12 * f, 200 - 16 * f, 0.8f)
                                           : f < 32 ? new(-1000, -1000, 0.8f) : new(150 + 6 * (f - 32), 420, 0.8f),
            Set: SequenceSet.Tuning, Length: 48),
        // ---- Held out: scored only to report. ----
        new("ho-zoom", "the bulldog grows steadily from 0.5x to 1.0x (x2 in 48 frames) while drifting up",
            Vtest, 400, "bulldog", f => new(380, 330 - f, 0.5f * MathF.Pow(2, f / 47f)), Set: SequenceSet.HeldOut, Length: 48),
        new("ho-swing", "the truck's rear wheel moves left at 52 px/frame, leaves the frame and re-enters at the right",
            Vtest, 450, "wheel", f => new(Wrap(300 - 52 * f, -90, 860), 420), Set: SequenceSet.HeldOut, Length: 48),
        new("ho-occlude", "paper bag 1 passes in front of paper bag 2 at 28 px/frame, hiding up to ~60% of it",
            Vtest, 500, "bag2", f => new(Bounce(400, -3, 300, 480, f), 300),
            Occluder: "bag", OccluderAt: f => new(Bounce(700, -28, 100, 700, f), 370), Set: SequenceSet.HeldOut, Length: 48),
        new("ho-cross", "the truck's rear wheel and its front tyre cross each other at 14 px/frame, the tyre passing behind",
            Vtest, 550, "wheel", f => new(Bounce(120, 14, 90, 680, f), 300),
            Distractor: "tyre", DistractorAt: f => new(Bounce(680, -14, 90, 680, f), 315), Set: SequenceSet.HeldOut, Length: 48),
        new("ho-cut", "the bulldog drifts left; at frame 20 the scene cuts (background 100 frames on) and it is elsewhere, larger",
            Vtest, 600, "bulldog", f => f < 20 ? new(500 - 3 * f, 250, 0.6f) : new(250 + 2 * (f - 20), 330, 0.75f),
            BackgroundAt: f => f < 20 ? f : f + 100, Set: SequenceSet.HeldOut, Length: 48),
        new("ho-absent", "paper bag 2 walks off the left edge, is absent 20 frames (14-33) and comes back at the right",
            Vtest, 650, "bag2", f => f < 14 ? new(200 - 14 * f, 280) : f < 34 ? new(-1000, -1000) : new(700 - 5 * (f - 34), 300),
            Set: SequenceSet.HeldOut, Length: 48),
    ];

    /// <summary>Every sequence: the original six, then the hard ones.</summary>
    public static IReadOnlyList<TrackingSequence> Every { get; } = [.. All, .. Hard];

    public static TrackingSequence Get(string name) =>
        Every.FirstOrDefault(s => s.Name == name)
        ?? throw new ArgumentException($"No sequence '{name}' (there are {string.Join(", ", Every.Select(s => s.Name))}).");

    /// <summary>The sprites the sequence draws.</summary>
    public IEnumerable<string> Sprites => new[] { Target, Occluder, Distractor }.OfType<string>();

    /// <summary>Renders the first <paramref name="count"/> frames (the background video loops when shorter).</summary>
    public IEnumerable<SyntheticFrame> Render(IReadOnlyDictionary<string, Sprite> sprites, int count)
    {
        var target = Sprite(sprites, Target);
        var occluder = Occluder is null ? null : Sprite(sprites, Occluder);
        var distractor = Distractor is null ? null : Sprite(sprites, Distractor);
        var video = VideoSource.OpenFile(Background);
        int position = 0;   // video frames read so far
        RgbaImage? bg = null;
        try
        {
            for (int f = 0; f < count; f++)
            {
                int want = BackgroundStart + (BackgroundAt?.Invoke(f) ?? f);
                if (want < position - 1) { video.Dispose(); video = VideoSource.OpenFile(Background); position = 0; bg = null; }
                while (position <= want) { video = Next(video, out var read); bg = read; position++; }
                int w = bg!.Width, h = bg.Height;
                var px = (byte[])bg.Pixels.Clone();
                var truth = new byte[w * h];
                distractor?.Draw(px, new byte[w * h], w, h, DistractorAt!(f));
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
