using System.Diagnostics;
using OpenCvSharp;
using SamRealtime.Model;
using SamRealtime.Tracking;

namespace SamRealtime.Capture.Live;

/// <summary>How a live session shows and saves what it does.</summary>
public sealed record LiveOptions
{
    /// <summary>Where <c>s</c> writes the masks and overlay.</summary>
    public string OutDir { get; init; } = "live-out";
    /// <summary>Display pixels per image pixel; null: fit the frame into <see cref="MaxDisplay"/> (never enlarge).</summary>
    public double? DisplayScale { get; init; }
    public (int Width, int Height) MaxDisplay { get; init; } = (1280, 800);
    public TrackerOptions? Tracker { get; init; }
}

/// <summary>The last frame's stage times in milliseconds and the rate at which frames came on screen.</summary>
public sealed record LiveTimings(double CaptureMs, double EncoderMs, double DecoderMs, double TotalMs, double Fps);

/// <summary>
/// The state of an interactive segmentation session, free of any window: objects, the current object, the clicks
/// made on the frame on screen, the last results, the HUD, saving. A window (or a script, or a test) feeds it
/// <see cref="LiveEvent"/>s and frames and shows what <see cref="Render"/> draws. Not thread-safe: one thread drives it.
/// <para>
/// Clicks apply to the frame on screen, whose embedding is the model's, with the decoder only: the mask answers a
/// click in one decoder pass, not after the next frame's encoder pass. A frame is shown in two steps so that the
/// encoder can run while the previous frame stays on screen: <see cref="BeginFrame"/> encodes it,
/// <see cref="EndFrame"/> propagates the objects to it (decoder) and puts it on screen. An event applied in between
/// still lands on the frame on screen: its embedding was kept on the host before the encoder pass and is put back
/// for the decoder (and the new frame's is put back for <see cref="EndFrame"/>), so a click made while the encoder
/// works on the next frame is applied to the frame the user clicked on. The one gap is <see cref="EndFrame"/>
/// itself (one decoder pass): a click made while it runs is applied to the frame it puts on screen.
/// </para>
/// </summary>
public sealed class LiveSession
{
    private enum Held { Shown, Pending }

    // BGR, one per object id (1 → first); the current object's is drawn more boldly.
    private static readonly Scalar[] Palette =
    [
        new(255, 144, 30), new(60, 200, 60), new(40, 40, 230), new(200, 60, 200), new(0, 200, 230),
        new(230, 230, 0), new(0, 128, 255), new(160, 160, 255), new(128, 0, 64), new(64, 128, 0),
    ];

    private readonly SamModel _model;
    private readonly LiveOptions _options;
    private readonly VideoTracker _tracker;
    private Frame? _shown, _pending;
    // Both frames' embeddings stay on the GPU; the model decodes on whichever is held.
    private ImageEmbedding? _shownImage, _pendingImage;
    private Held _held = Held.Shown;
    private TimeSpan _pendingCapture, _pendingEncoder;
    private IReadOnlyList<ObjectResult> _results = [];
    private readonly Dictionary<int, List<PromptPoint>> _clicks = new();
    private readonly Dictionary<int, (int X0, int Y0, int X1, int Y1)> _lastBox = new();
    private readonly Queue<long> _shownAt = new();

    private readonly IMotionEstimator? _motion;

    /// <param name="motion">Moves the objects' prompts by the motion between shown frames (e.g.
    /// <see cref="OpticalFlowMotion"/>); owned by the caller. Null: prompts stay where the objects were.</param>
    public LiveSession(SamModel model, LiveOptions? options = null, IMotionEstimator? motion = null)
    {
        _model = model;
        _options = options ?? new LiveOptions();
        _motion = motion;
        _tracker = new VideoTracker(model, _options.Tracker, motion);
    }

    /// <summary>Receives one line per thing that happened (click results, frames, saved paths).</summary>
    public Action<string>? Log { get; set; }

    public Frame? Shown => _shown;
    public int? ShownIndex => _shown?.Index;
    public bool HasPendingFrame => _pending is not null;
    /// <summary>The object the next click goes to (created by its first click).</summary>
    public int CurrentObject { get; private set; } = 1;
    public IReadOnlyList<ObjectResult> Results => _results;
    public bool Paused { get; private set; }
    public bool QuitRequested { get; private set; }
    /// <summary>Set by whoever drives the session, e.g. "end of stream"; shown in the HUD.</summary>
    public string? Notice { get; set; }
    public LiveTimings? Timings { get; private set; }
    /// <summary>Wall time of the last click's decoder pass.</summary>
    public double? LastClickMs { get; private set; }

    public static bool IsKnownKey(char k) => k is 'n' or 'c' or 's' or 'q' or ' ' or KeyEvent.Escape or (>= '1' and <= '9');

    /// <summary>Encodes <paramref name="frame"/> while the previous frame stays on screen.</summary>
    public void BeginFrame(Frame frame, TimeSpan captureTime)
    {
        if (_pending is not null) throw new InvalidOperationException("EndFrame must come before the next BeginFrame.");
        var sw = Stopwatch.StartNew();
        var img = frame.Image;
        // A new embedding: the shown frame's stays, so a click during the encoder pass is decoded on the frame it was made on.
        _pendingImage = _model.Encode(img.Pixels, img.Width, img.Height, img.Stride);
        _pendingEncoder = sw.Elapsed;
        _pendingCapture = captureTime;
        _pending = frame;
    }

    /// <summary>Propagates every object to the frame given to <see cref="BeginFrame"/> and shows it.</summary>
    public void EndFrame()
    {
        if (_pending is not { } frame) throw new InvalidOperationException("BeginFrame must come first.");
        Hold(Held.Pending);
        var sw = Stopwatch.StartNew();
        // The tracker's Update does not see the frame; the estimator needs every shown frame, in order.
        _motion?.AddFrame(frame.Image.Pixels, frame.Image.Width, frame.Image.Height, frame.Image.Stride);
        _results = _tracker.Update();
        var decoder = sw.Elapsed;
        _shown = frame;
        _pending = null;
        _shownImage?.Dispose();
        _shownImage = _pendingImage;
        _pendingImage = null;
        _held = Held.Shown;
        _clicks.Clear();
        RememberBoxes();
        long now = Stopwatch.GetTimestamp();
        _shownAt.Enqueue(now);
        while (_shownAt.Count > 8) _shownAt.Dequeue();
        double fps = _shownAt.Count < 2 ? 0 : (_shownAt.Count - 1) / Stopwatch.GetElapsedTime(_shownAt.Peek(), now).TotalSeconds;
        var t = new LiveTimings(_pendingCapture.TotalMilliseconds, _pendingEncoder.TotalMilliseconds, decoder.TotalMilliseconds,
                                (_pendingCapture + _pendingEncoder + decoder).TotalMilliseconds, fps);
        Timings = t;
        Log?.Invoke($"frame {frame.Index}: capture {t.CaptureMs:F0} ms, encoder {t.EncoderMs:F0} ms, decoder {t.DecoderMs:F0} ms, " +
                    $"total {t.TotalMs:F0} ms, {FpsText(t)}; {Summary()}");
    }

    /// <summary>Encodes and shows a frame in one go.</summary>
    public void ShowFrame(Frame frame, TimeSpan captureTime = default)
    {
        BeginFrame(frame, captureTime);
        EndFrame();
    }

    /// <summary>Applies an event to the frame on screen. Returns false once the user asked to quit.</summary>
    public bool Apply(LiveEvent e)
    {
        switch (e)
        {
            case ClickEvent c: Click(c); break;
            case KeyEvent k: Key(k.Key); break;
        }
        return !QuitRequested;
    }

    private void Click(ClickEvent c)
    {
        if (_shown is not { } shown)
        {
            Log?.Invoke("click ignored: no frame on screen yet");
            return;
        }
        int w = shown.Image.Width, h = shown.Image.Height;
        float x = Math.Clamp(c.X, 0, w - 1), y = Math.Clamp(c.Y, 0, h - 1);
        var sw = Stopwatch.StartNew();
        Hold(Held.Shown);
        int id = CurrentObject;
        if (!_clicks.TryGetValue(id, out var points)) _clicks[id] = points = new();
        points.Add(new PromptPoint(x, y, c.Positive ? PointLabel.Positive : PointLabel.Negative));
        bool exists = _tracker.ObjectIds.Contains(id);
        bool tracked = _results.FirstOrDefault(r => r.Id == id)?.State == TrackState.Tracked;
        // Every click on this frame, plus (refine) the object's current mask as the dense prompt: a click corrects
        // what is there instead of starting again from one point.
        var prompt = new Prompt { Points = points.ToArray() };
        if (exists) _tracker.Correct(id, prompt, refine: tracked);
        else _tracker.AddObject(prompt, id);
        _results = _tracker.Refine();
        LastClickMs = sw.Elapsed.TotalMilliseconds;
        RememberBoxes();
        var r = _results.First(o => o.Id == id);
        Log?.Invoke($"frame {shown.Index}: click ({x:F0},{y:F0}) {(c.Positive ? '+' : '-')} -> object {id}: " +
                    (r.State == TrackState.Tracked ? $"{Area(r)} px, score {r.Score:F2}" : "no mask") + $" ({LastClickMs:F0} ms)");
    }

    private void Key(char key)
    {
        switch (char.ToLowerInvariant(key))
        {
            case 'n':
                if (_tracker.ObjectIds.Contains(CurrentObject))
                {
                    CurrentObject = _tracker.ObjectIds.Append(CurrentObject).Max() + 1;
                    Log?.Invoke($"object {CurrentObject}: click on it to add it");
                }
                else Log?.Invoke($"object {CurrentObject} has no click yet: click on it first");
                break;
            case 'c':
                int n = _tracker.ObjectIds.Count;
                _tracker.Clear();
                _results = [];
                _clicks.Clear();
                _lastBox.Clear();
                CurrentObject = 1;
                Log?.Invoke($"cleared {n} object(s)");
                break;
            case 's':
                Save();
                break;
            case 'q' or KeyEvent.Escape:
                QuitRequested = true;
                Log?.Invoke("quit");
                break;
            case ' ':
                Paused = !Paused;
                Log?.Invoke(Paused ? "paused: the frame stays, clicks refine it" : "resumed");
                break;
            case >= '1' and <= '9':
                int id = key - '0';
                if (_tracker.ObjectIds.Contains(id))
                {
                    CurrentObject = id;
                    Log?.Invoke($"object {id} selected");
                }
                else Log?.Invoke($"no object {id}");
                break;
        }
    }

    /// <summary>Writes the frame on screen: a mask PNG per object (0/255, image size; all zeros when lost), the
    /// overlay at image size, and the screen as shown (HUD included). Returns the paths.</summary>
    public IReadOnlyList<string> Save()
    {
        if (_shown is not { } shown)
        {
            Log?.Invoke("nothing to save: no frame on screen yet");
            return [];
        }
        Directory.CreateDirectory(_options.OutDir);
        string stem = Path.Combine(_options.OutDir, $"f{shown.Index:D5}");
        // A second save of the same frame (after more clicks) must not overwrite the first.
        for (int k = 2; File.Exists(stem + "-overlay.png"); k++) stem = Path.Combine(_options.OutDir, $"f{shown.Index:D5}-{k}");
        var paths = new List<string>();
        foreach (var r in _results)
        {
            string p = $"{stem}-obj{r.Id}.png";
            ImageIO.SaveMask(p, r.Mask, shown.Image.Width, shown.Image.Height);
            paths.Add(p);
        }
        using (var overlay = RenderScene(1.0))
        {
            string p = stem + "-overlay.png";
            if (!Cv2.ImWrite(p, overlay)) throw new IOException($"Cannot write '{p}'.");
            paths.Add(p);
        }
        using (var screen = Render())
        {
            string p = stem + "-screen.png";
            if (!Cv2.ImWrite(p, screen)) throw new IOException($"Cannot write '{p}'.");
            paths.Add(p);
        }
        foreach (var p in paths) Log?.Invoke($"saved {p}");
        Log?.Invoke($"hud: {string.Join(" || ", HudLines)}");
        return paths;
    }

    /// <summary>Display pixels per image pixel for the frame on screen.</summary>
    public double DisplayScale
    {
        get
        {
            if (_options.DisplayScale is { } s) return s;
            if (_shown is null) return 1;
            var (mw, mh) = _options.MaxDisplay;
            return Math.Min(1.0, Math.Min((double)mw / _shown.Image.Width, (double)mh / _shown.Image.Height));
        }
    }

    /// <summary>The HUD's text: stage times and fps, then the frame and objects.</summary>
    public IReadOnlyList<string> HudLines
    {
        get
        {
            var t = Timings;
            string times = t is null ? FpsText(t) :
                $"{FpsText(t)} | capture {t.CaptureMs:F0} ms | encoder {t.EncoderMs:F0} ms | decoder {t.DecoderMs:F0} ms | total {t.TotalMs:F0} ms";
            bool exists = _tracker.ObjectIds.Contains(CurrentObject);
            string objects = _results.Count == 0 ? "no objects" :
                string.Join("  ", _results.Select(r => r.State == TrackState.Tracked ? $"#{r.Id} {r.Score:F2}" : $"#{r.Id} lost"));
            string state = $"frame {ShownIndex?.ToString() ?? "-"} | object {CurrentObject}{(exists ? "" : " (click to add)")} | {objects}";
            if (LastClickMs is { } c) state += $" | click {c:F0} ms";
            if (Paused) state += " | PAUSED";
            if (Notice is { } notice) state += $" | {notice}";
            return [times, state];
        }
    }

    public const string Help = "click + | right click - | n new object | 1-9 pick | c clear | s save | space pause | q quit";

    /// <summary>The frame on screen at display size with the masks, clicks and HUD; <paramref name="status"/> is an
    /// extra line (e.g. what the encoder is doing). The caller disposes the Mat.</summary>
    public Mat Render(string? status = null)
    {
        var img = RenderScene(DisplayScale);
        var lines = HudLines;
        int lineH = 20;
        Band(img, 0, lineH * lines.Count + 8);
        for (int i = 0; i < lines.Count; i++) Text(img, lines[i], 8, 18 + i * lineH, i == 0 ? new Scalar(255, 255, 255) : new Scalar(200, 255, 255));
        var bottom = status is null ? [Help] : new[] { status, Help };
        int top = img.Rows - lineH * bottom.Length - 8;
        Band(img, top, img.Rows - top);
        for (int i = 0; i < bottom.Length; i++) Text(img, bottom[i], 8, top + 18 + i * lineH, new Scalar(220, 220, 220));
        return img;
    }

    private Mat RenderScene(double scale)
    {
        if (_shown is not { } shown)
        {
            var blank = new Mat(new Size(640, 360), MatType.CV_8UC3, Scalar.All(32));
            Text(blank, "waiting for the first frame...", 20, 180, new Scalar(255, 255, 255));
            return blank;
        }
        var im = shown.Image;
        var bgr = new Mat();
        using (var rgba = Mat.FromPixelData(im.Height, im.Width, MatType.CV_8UC4, im.Pixels))
            Cv2.CvtColor(rgba, bgr, ColorConversionCodes.RGBA2BGR);
        var size = new Size(Math.Max(1, (int)Math.Round(im.Width * scale)), Math.Max(1, (int)Math.Round(im.Height * scale)));
        if (size != bgr.Size()) Cv2.Resize(bgr, bgr, size, 0, 0, scale < 1 ? InterpolationFlags.Area : InterpolationFlags.Linear);
        // The current object last, so its outline is on top.
        foreach (var r in _results.OrderBy(r => r.Id == CurrentObject))
        {
            var colour = Colour(r.Id);
            bool current = r.Id == CurrentObject;
            if (r.State == TrackState.Lost)
            {
                if (_lastBox.TryGetValue(r.Id, out var b)) DashedBox(bgr, b, scale, colour, $"{r.Id} lost");
                continue;
            }
            using var m = Mat.FromPixelData(im.Height, im.Width, MatType.CV_8UC1, r.Mask);
            using var md = new Mat();
            if (size != m.Size())
            {
                Cv2.Resize(m, md, size, 0, 0, InterpolationFlags.Linear);
                Cv2.Threshold(md, md, 127, 255, ThresholdTypes.Binary);
            }
            else m.CopyTo(md);
            using (var tint = new Mat(bgr.Size(), bgr.Type(), colour))
            using (var blended = new Mat())
            {
                double a = current ? 0.5 : 0.35;
                Cv2.AddWeighted(bgr, 1 - a, tint, a, 0, blended);
                blended.CopyTo(bgr, md);
            }
            Cv2.FindContours(md, out var contours, out _, RetrievalModes.External, ContourApproximationModes.ApproxSimple);
            if (current) Cv2.DrawContours(bgr, contours, -1, Scalar.White, 4, LineTypes.AntiAlias);
            Cv2.DrawContours(bgr, contours, -1, colour, current ? 2 : 1, LineTypes.AntiAlias);
            if (r.Box is { } box) Label(bgr, $"{r.Id}{(current ? "*" : "")} {r.Score:F2}", (int)(box.X0 * scale), (int)(box.Y0 * scale), colour);
        }
        // The clicks made on this frame, the current object's larger: what the masks were asked for.
        foreach (var (id, points) in _clicks)
            foreach (var p in points)
            {
                var c = new Point(p.X * scale, p.Y * scale);
                int radius = id == CurrentObject ? 6 : 4;
                Cv2.Circle(bgr, c, radius + 2, Scalar.White, -1, LineTypes.AntiAlias);
                Cv2.Circle(bgr, c, radius, p.Label == PointLabel.Positive ? new Scalar(0, 200, 0) : new Scalar(0, 0, 230), -1, LineTypes.AntiAlias);
            }
        return bgr;
    }

    private void Hold(Held which)
    {
        var image = which == Held.Shown ? _shownImage : _pendingImage;
        if ((_held == which && _model.CurrentImage == image) || image is null) return;
        _model.SetImage(image);
        _held = which;
    }

    private void RememberBoxes()
    {
        foreach (var r in _results)
            if (r.Box is { } b) _lastBox[r.Id] = b;
    }

    // fps needs two frames on screen; before that a number would be made up.
    private static string FpsText(LiveTimings? t) => t is null || t.Fps == 0 ? "-- fps" : $"{t.Fps:F2} fps";

    private string Summary() =>
        _results.Count == 0 ? "no objects" :
        string.Join(", ", _results.Select(r => r.State == TrackState.Tracked ? $"#{r.Id} {r.Score:F2} {Area(r)} px" : $"#{r.Id} lost"));

    private static long Area(ObjectResult r) => r.Mask.LongCount(v => v != 0);

    private static Scalar Colour(int id) => Palette[(id - 1) % Palette.Length];

    private static void Band(Mat img, int y, int height)
    {
        var rect = new Rect(0, Math.Max(0, y), img.Cols, Math.Min(height, img.Rows - Math.Max(0, y)));
        if (rect.Height <= 0) return;
        using var roi = new Mat(img, rect);
        roi.ConvertTo(roi, -1, 0.35, 0);
    }

    private static void Text(Mat img, string text, int x, int y, Scalar colour) =>
        Cv2.PutText(img, text, new Point(x, y), HersheyFonts.HersheySimplex, 0.45, colour, 1, LineTypes.AntiAlias);

    private static void Label(Mat img, string text, int x, int y, Scalar colour)
    {
        var size = Cv2.GetTextSize(text, HersheyFonts.HersheySimplex, 0.5, 1, out int baseline);
        y = Math.Max(y, size.Height + baseline + 2);
        Cv2.Rectangle(img, new Rect(x, y - size.Height - baseline - 2, size.Width + 6, size.Height + baseline + 4), colour, -1);
        Cv2.PutText(img, text, new Point(x + 3, y - baseline), HersheyFonts.HersheySimplex, 0.5, Scalar.White, 1, LineTypes.AntiAlias);
    }

    private static void DashedBox(Mat img, (int X0, int Y0, int X1, int Y1) b, double scale, Scalar colour, string label)
    {
        int x0 = (int)(b.X0 * scale), y0 = (int)(b.Y0 * scale), x1 = (int)(b.X1 * scale), y1 = (int)(b.Y1 * scale);
        var grey = new Scalar(160, 160, 160);
        void Dash(Point a, Point c)
        {
            double len = Math.Sqrt((c.X - a.X) * (double)(c.X - a.X) + (c.Y - a.Y) * (double)(c.Y - a.Y));
            for (double s = 0; s < len; s += 12)
            {
                double e = Math.Min(len, s + 6);
                Cv2.Line(img, new Point(a.X + (c.X - a.X) * s / len, a.Y + (c.Y - a.Y) * s / len),
                         new Point(a.X + (c.X - a.X) * e / len, a.Y + (c.Y - a.Y) * e / len), grey, 2);
            }
        }
        Dash(new Point(x0, y0), new Point(x1, y0));
        Dash(new Point(x1, y0), new Point(x1, y1));
        Dash(new Point(x1, y1), new Point(x0, y1));
        Dash(new Point(x0, y1), new Point(x0, y0));
        Label(img, label, x0, y0, new Scalar(colour.Val0 * 0.5, colour.Val1 * 0.5, colour.Val2 * 0.5));
    }
}
