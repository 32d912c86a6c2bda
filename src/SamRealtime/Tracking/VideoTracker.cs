using SamRealtime.Kernels;
using SamRealtime.Model;

namespace SamRealtime.Tracking;

public enum TrackState { Tracked, Lost }

/// <summary>One object's result on one frame. <see cref="Mask"/> is all zeros while the object is lost.
/// <see cref="Similarity"/> is the appearance similarity to the prompted frame (1 on a prompted frame).</summary>
public sealed record ObjectResult(int Id, byte[] Mask, float Score, TrackState State, (int X0, int Y0, int X1, int Y1)? Box, float Similarity);

/// <summary>Acceptance thresholds: a propagated mask is kept only if SAM is confident and its size is plausible.</summary>
public sealed record TrackerOptions
{
    /// <summary>Minimum predicted IoU of the propagated mask.</summary>
    public float MinScore { get; init; } = 0.6f;
    /// <summary>Largest allowed growth or shrink factor of the mask area between two frames.</summary>
    public float MaxAreaChange { get; init; } = 2.5f;
    /// <summary>Fraction by which the previous box is enlarged to let the object move.</summary>
    public float BoxMargin { get; init; } = 0.15f;
    /// <summary>Minimum cosine similarity between the object's appearance (mean image embedding under its mask) on
    /// the frame it was prompted and on the current frame: SAM happily segments whatever is in the box when the
    /// object has gone, with a high predicted IoU, so the score alone cannot detect loss.</summary>
    public float MinFeatureSimilarity { get; init; } = 0.8f;
}

/// <summary>
/// Track-Anything-style propagation with SAM alone: one encoder pass per frame serves every object; each object is
/// prompted by its previous box (enlarged) and its previous low-res logits, all objects in one batched decoder pass.
/// (No motion model yet: fast motion that leaves the enlarged box is lost, then re-acquired only near the last box.) A result with low predicted IoU or an implausible area
/// jump marks the object lost (an empty mask, not a wrong one); a lost object is searched for again around its last
/// box on every later frame and re-acquired when the check passes. Overlaps go to the higher-scoring object.
/// </summary>
public sealed class VideoTracker
{
    private sealed class State
    {
        public required int Id;
        public float[]? Logits;
        public (int X0, int Y0, int X1, int Y1) Box;
        public long Area;
        public TrackState TrackState = TrackState.Tracked;
        public Prompt? Correction;
        public float[]? Feature;
        // The last decoded mask before overlaps were resolved, and its score: Refine re-resolves overlaps between a
        // re-decoded object and the others without decoding those again.
        public byte[]? RawMask;
        public float Score;
        public float Similarity = 1f;
    }

    private readonly SamModel _model;
    private readonly TrackerOptions _options;
    private readonly List<State> _objects = new();
    private int _nextId = 1;

    public VideoTracker(SamModel model, TrackerOptions? options = null)
    {
        _model = model;
        _options = options ?? new TrackerOptions();
    }

    public IReadOnlyList<int> ObjectIds => _objects.Select(o => o.Id).ToArray();

    /// <summary>Adds an object on the next frame given to <see cref="Track"/>, from a user prompt. Returns its id.</summary>
    public int AddObject(Prompt prompt, int? id = null)
    {
        int newId = id ?? _nextId;
        if (_objects.Any(o => o.Id == newId)) throw new ArgumentException($"Object {newId} already exists.");
        _nextId = Math.Max(_nextId, newId + 1);
        _objects.Add(new State { Id = newId, Correction = prompt });
        return newId;
    }

    /// <summary>Replaces an object's prompt on the next frame (a user's correction click).</summary>
    public void Correct(int id, Prompt prompt)
    {
        var o = _objects.FirstOrDefault(x => x.Id == id) ?? throw new ArgumentException($"No object {id}.");
        o.Correction = prompt;
    }

    /// <summary>Forgets every object; ids start again at 1.</summary>
    public void Clear()
    {
        _objects.Clear();
        _nextId = 1;
    }

    /// <summary>The object's last accepted 256x256 low-res logits (null before its first mask or when unknown): the
    /// mask prompt for a correction that should refine the object's current mask rather than start again.</summary>
    public float[]? LowResLogits(int id) => _objects.FirstOrDefault(o => o.Id == id)?.Logits;

    /// <summary>Encodes the frame once and updates every object.</summary>
    public IReadOnlyList<ObjectResult> Track(ReadOnlySpan<byte> rgba, int width, int height, int strideBytes)
    {
        _model.SetImage(rgba, width, height, strideBytes, PixelFormat.Rgba8);
        return Update();
    }

    /// <summary>Updates every object on the image the model holds now, which the caller encoded with
    /// <see cref="SamModel.SetImage(ReadOnlySpan{byte}, int, int, int, PixelFormat)"/>: <see cref="Track"/> without
    /// the encoder, for callers that encode ahead while they still show the previous frame.</summary>
    public IReadOnlyList<ObjectResult> Update() => Decode(onlyPrompted: false);

    /// <summary>Applies the pending prompts (<see cref="AddObject"/>, <see cref="Correct"/>) to the frame last
    /// tracked, with the decoder only: an interactive click gets its mask in a decoder pass instead of waiting for the
    /// next frame's encoder. The model must still hold that frame's embedding. Objects without a pending prompt keep
    /// their result; overlaps are resolved again.</summary>
    public IReadOnlyList<ObjectResult> Refine()
    {
        if (!_model.HasImage) throw new InvalidOperationException("Refine needs a tracked frame: call Track first.");
        return Decode(onlyPrompted: true);
    }

    private IReadOnlyList<ObjectResult> Decode(bool onlyPrompted)
    {
        int width = _model.ImageWidth, height = _model.ImageHeight;
        if (_objects.Count == 0) return [];
        var active = _objects.Where(o => !onlyPrompted || o.Correction is not null).ToList();
        var prompts = active.Select(o => o.Correction ?? Propagate(o, width, height)).ToList();
        var preds = prompts.Count > 0 ? _model.Predict(prompts) : [];
        var embedding = preds.Count > 0 ? _model.Embedding.Read() : [];
        for (int i = 0; i < active.Count; i++)
        {
            var o = active[i];
            var p = preds[i];
            long area = p.BestMask.LongCount(v => v != 0);
            bool userPrompt = o.Correction is not null;
            var feature = Feature(embedding, p.LowResLogits[p.Best], width, height);
            float similarity = userPrompt || o.Feature is null || feature is null ? 1f : Cosine(o.Feature, feature);
            bool ok = area > 0 && (userPrompt || (p.BestScore >= _options.MinScore && AreaPlausible(o, area)
                                                  && similarity >= _options.MinFeatureSimilarity));
            if (ok && userPrompt) o.Feature = feature;
            if (ok)
            {
                o.Logits = p.LowResLogits[p.Best];
                o.Area = area;
                o.Box = BoundingBox(p.BestMask, width, height);
                o.TrackState = TrackState.Tracked;
            }
            else
            {
                o.TrackState = TrackState.Lost;
            }
            o.RawMask = ok ? p.BestMask : null;
            o.Score = p.BestScore;
            o.Similarity = similarity;
            o.Correction = null;
        }
        // A pixel belongs to at most one object: the one whose mask scored higher.
        var masks = _objects.Select(o => o.RawMask is { } m && m.Length == width * height ? (byte[])m.Clone() : new byte[width * height]).ToArray();
        var order = Enumerable.Range(0, _objects.Count).Where(i => _objects[i].RawMask is not null).OrderByDescending(i => _objects[i].Score).ToArray();
        var owner = new byte[width * height];
        foreach (var i in order)
        {
            var m = masks[i];
            for (int j = 0; j < m.Length; j++)
            {
                if (m[j] == 0) continue;
                if (owner[j] != 0) m[j] = 0;
                else owner[j] = 1;
            }
        }
        return _objects.Select((o, i) => new ObjectResult(o.Id, masks[i], o.Score, o.TrackState,
                                                          o.RawMask is not null ? o.Box : null, o.Similarity)).ToArray();
    }

    private bool AreaPlausible(State o, long area) =>
        o.Area == 0 || (area <= o.Area * _options.MaxAreaChange && area * _options.MaxAreaChange >= o.Area);

    /// <summary>The prompt carried over from the previous frame: enlarged box, centre point, previous logits. A lost
    /// object keeps its last box (and no mask prompt, which described a wrong frame) so it can be re-acquired there.</summary>
    private Prompt Propagate(State o, int width, int height)
    {
        var (x0, y0, x1, y1) = o.Box;
        float mx = (x1 - x0) * _options.BoxMargin, my = (y1 - y0) * _options.BoxMargin;
        var box = (Math.Max(0, x0 - mx), Math.Max(0, y0 - my), Math.Min(width, x1 + 1 + mx), Math.Min(height, y1 + 1 + my));
        return new Prompt
        {
            Box = box,
            MaskLogits = o.TrackState == TrackState.Tracked ? o.Logits : null,
        };
    }

    /// <summary>Mean of the 256-channel embedding over the 64x64 cells the mask covers (its 256x256 logits are in the
    /// same padded 1024 frame, 4x4 logits per cell); null for an empty mask.</summary>
    private static float[]? Feature(float[] embedding, float[] logits, int width, int height)
    {
        const int side = 64, ch = 256;
        var sum = new double[ch];
        int cells = 0;
        for (int cy = 0; cy < side; cy++)
        for (int cx = 0; cx < side; cx++)
        {
            double mean = 0;
            for (int dy = 0; dy < 4; dy++)
            for (int dx = 0; dx < 4; dx++) mean += logits[(cy * 4 + dy) * 256 + cx * 4 + dx];
            if (mean <= 0) continue;
            cells++;
            for (int c = 0; c < ch; c++) sum[c] += embedding[(c * side + cy) * side + cx];
        }
        if (cells == 0) return null;
        return sum.Select(v => (float)(v / cells)).ToArray();
    }

    private static float Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
        return na == 0 || nb == 0 ? 0 : (float)(dot / Math.Sqrt(na * nb));
    }

    private static (int, int, int, int) BoundingBox(byte[] mask, int width, int height)
    {
        int x0 = width, y0 = height, x1 = -1, y1 = -1;
        for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
        {
            if (mask[y * width + x] == 0) continue;
            if (x < x0) x0 = x;
            if (x > x1) x1 = x;
            if (y < y0) y0 = y;
            if (y > y1) y1 = y;
        }
        return (x0, y0, x1, y1);
    }
}
