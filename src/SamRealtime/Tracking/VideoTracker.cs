using SamRealtime.Kernels;
using SamRealtime.Model;
using SamRealtime.Vulkan;

namespace SamRealtime.Tracking;

public enum TrackState { Tracked, Lost }

/// <summary>One object's result on one frame. <see cref="Mask"/> is all zeros while the object is lost; <see cref="Box"/>
/// is its mask's bounding box with exclusive ends, as <see cref="Prompt.Box"/>.
/// <see cref="Similarity"/> is the appearance memory's score of the mask: the fraction of its cells that read out as the
/// object (1 on a prompted frame).</summary>
public sealed record ObjectResult(int Id, byte[] Mask, float Score, TrackState State, (int X0, int Y0, int X1, int Y1)? Box, float Similarity);

/// <summary>Acceptance thresholds: a propagated mask is kept only if SAM is confident and its size is plausible.</summary>
public record TrackerOptions
{
    /// <summary>Minimum predicted IoU of the propagated mask.</summary>
    public float MinScore { get; init; } = 0.6f;
    /// <summary>Largest allowed growth or shrink factor of the mask area between two frames.</summary>
    public float MaxAreaChange { get; init; } = 2.5f;
    /// <summary>Fraction by which the previous box is enlarged to let the object move.</summary>
    public float BoxMargin { get; init; } = 0.15f;
    /// <summary>Fraction of a tracked object's mask cells whose appearance must read out as the object (its
    /// foreground memory over its background memory) for the mask to be kept. SAM happily segments whatever is in the
    /// box when the object has gone, with a high predicted IoU, so the score alone cannot detect loss.</summary>
    public float MinMemoryScore { get; init; } = 0.5f;
    /// <summary>The same fraction a lost object's candidate needs to re-acquire it, higher than
    /// <see cref="MinMemoryScore"/>: background that looks a bit like the object must not bring it back.</summary>
    public float ReacquireMemoryScore { get; init; } = 0.85f;
    /// <summary>Fraction of the object's usual likeness to its own memory (<see cref="ObjectTrack.Likeness"/>) a tracked
    /// mask's cells must keep: the memory fraction compares the object with the background the memory has seen, so
    /// after a scene cut, or on something new, everything can favour the object; the likeness does not. 0: no check.</summary>
    public float MinLikeness { get; init; } = 0.8f;
    /// <summary>The same for a lost object's candidate, higher: a look-alike must not take the object's place.</summary>
    public float ReacquireLikeness { get; init; } = 0.9f;
    /// <summary>Weight of a new accepted mask in the object's usual likeness (a running mean).</summary>
    public float LikenessRate { get; init; } = 0.2f;
    /// <summary>Consecutive frames a lost object's candidate must pass before the object is re-acquired.</summary>
    public int ReacquireFrames { get; init; } = 2;
    /// <summary>A lost object's candidate re-acquires it at once only where its motion model (a Kalman filter on the
    /// box) predicts it: the squared Mahalanobis distance of the candidate's centre from the prediction, under the
    /// filter's uncertainty, must be at most this (5.99: 95% of a 2-D normal, DeepSORT's gate quantile). Elsewhere it
    /// needs <see cref="ReacquireFrames"/>; candidates, and the search's windows, inside the gate rank first. 0: no gate.</summary>
    public float MotionGate { get; init; } = 5.99f;
    /// <summary>Predicted IoU and memory fraction an accepted, complete mask needs to be written into the object's
    /// recent-frame memory (only confident frames teach it what the object now looks like).</summary>
    public float MemoryWriteScore { get; init; } = 0.8f;
    public float MemoryWriteFraction { get; init; } = 0.75f;
    /// <summary>Fraction of a search window (the object's complete size) that must read out as the object.</summary>
    public float SearchMinFraction { get; init; } = 0.3f;
    /// <summary>How far from where it was lost a lost object is searched for, in object sizes: this, plus the growth
    /// per frame lost.</summary>
    public float SearchReach { get; init; } = 1.5f;
    public float SearchReachGrowth { get; init; } = 2f;
    /// <summary>Also look for a lost object where its appearance memory reads out best, not only at its last box: an
    /// object that left the frame or was hidden rarely comes back where it was last seen.</summary>
    public bool SearchWholeFrame { get; init; } = true;
}

/// <summary>
/// Track-Anything-style propagation with SAM alone: one encoder pass per frame serves every object; each object is
/// prompted by its previous box (enlarged) and its previous low-res logits, all objects in one batched decoder pass.
/// With an <see cref="IMotionEstimator"/> the box and the logits are first moved by the object's motion measured on the
/// frames, so an object that moves further than the box margin between two frames is still inside its prompt. A result
/// with low predicted IoU, an implausible area jump or an appearance unlike the prompted one marks the object lost (an
/// empty mask, not a wrong one); a lost object is searched for on every later frame at its last box and where the image
/// embedding best matches its appearance, and re-acquired when the same checks pass. Overlaps go to the higher score.
/// </summary>
public sealed class VideoTracker : IDisposable
{
    private sealed class State(TrackerOptions options)
    {
        public required int Id;
        // Row of the object batch's current frame holding its last accepted logits (-1: none); they never leave the GPU.
        public int Row = -1;
        public byte[]? Mask;
        public Prompt? Correction;
        // The correction refines the current mask: its last logits (its GPU row) are the dense prompt.
        public bool Refines;
        // The last decoded mask before overlaps were resolved, and its score: Refine re-resolves overlaps between a
        // re-decoded object and the others without decoding those again.
        public byte[]? RawMask;
        public float Score;
        public float Similarity = 1f;
        public readonly ObjectTrack Track = new(options);
    }

    private readonly SamModel _model;
    private readonly TrackerOptions _options;
    private readonly IMotionEstimator? _motion;
    private readonly List<State> _objects = new();
    private readonly ObjectBatch _batch;
    private readonly AppearanceMemory _memory;
    private readonly CandidateSelect _select;
    private int _nextId = 1;

    /// <param name="motion">Moves each object's prompt by the motion seen in the frames; null: the prompt stays where
    /// the object was on the previous frame (only its margin lets it move).</param>
    public VideoTracker(SamModel model, TrackerOptions? options = null, IMotionEstimator? motion = null)
    {
        _model = model;
        _options = options ?? new TrackerOptions();
        _motion = motion;
        _batch = new ObjectBatch(model.Context, model.Pipeline);
        _memory = new AppearanceMemory(model.Context, model.Pipeline.Buffers, model.StorageType);
        _select = new CandidateSelect(model.Context, model.Pipeline.Buffers);
    }

    public IReadOnlyList<int> ObjectIds => _objects.Select(o => o.Id).ToArray();

    /// <summary>Adds an object on the next frame given to <see cref="Track"/>, from a user prompt. Returns its id.</summary>
    public int AddObject(Prompt prompt, int? id = null)
    {
        int newId = id ?? _nextId;
        if (_objects.Any(o => o.Id == newId)) throw new ArgumentException($"Object {newId} already exists.");
        Limits.CheckObjectCount(_objects.Count + 1);
        Limits.CheckPointCount(prompt.Points.Count);
        _nextId = Math.Max(_nextId, newId + 1);
        _objects.Add(new State(_options) { Id = newId, Correction = prompt });
        return newId;
    }

    /// <summary>Replaces an object's prompt on the next frame (a user's correction click). With
    /// <paramref name="refine"/>, a prompt without mask logits refines the object's current mask instead of starting
    /// again: its last accepted logits, which stay on the GPU, are the dense prompt (as SAM's notebook refines with the
    /// previous low-res logits).</summary>
    public void Correct(int id, Prompt prompt, bool refine = false)
    {
        var o = _objects.FirstOrDefault(x => x.Id == id) ?? throw new ArgumentException($"No object {id}.");
        Limits.CheckPointCount(prompt.Points.Count);
        o.Correction = prompt;
        o.Refines = refine && prompt.MaskLogits is null;
    }

    /// <summary>Forgets every object; ids start again at 1.</summary>
    public void Clear()
    {
        _objects.Clear();
        _nextId = 1;
    }

    /// <summary>Encodes the frame once and updates every object.</summary>
    public IReadOnlyList<ObjectResult> Track(ReadOnlySpan<byte> rgba, int width, int height, int strideBytes)
    {
        // Every frame, objects or not: the estimator measures motion between consecutive frames.
        CheckPrompts(width, height);
        _motion?.AddFrame(rgba, width, height, strideBytes);
        // The encoder goes into the same submission as the decoder.
        var cs = _model.Context.BeginCommands();
        try
        {
            var image = _model.RecordImage(cs, rgba, width, height, strideBytes, PixelFormat.Rgba8);
            return Decode(onlyPrompted: false, cs, image);
        }
        finally { cs.Dispose(); }
    }

    /// <summary>Updates every object on the image the model holds now, which the caller encoded with
    /// <see cref="SamModel.SetImage(ReadOnlySpan{byte}, int, int, int, PixelFormat)"/>: <see cref="Track"/> without
    /// the encoder, for callers that encode ahead while they still show the previous frame. With a motion estimator,
    /// such a caller gives it the frame too (<see cref="IMotionEstimator.AddFrame"/>).</summary>
    public IReadOnlyList<ObjectResult> Update() =>
        Decode(onlyPrompted: false, null, _model.CurrentImage ?? throw new InvalidOperationException("Update needs an encoded frame: call SetImage first."));

    /// <summary>Applies the pending prompts (<see cref="AddObject"/>, <see cref="Correct"/>) to the frame last
    /// tracked, with the decoder only: an interactive click gets its mask in a decoder pass instead of waiting for the
    /// next frame's encoder. The model must still hold that frame's embedding. Objects without a pending prompt keep
    /// their result; overlaps are resolved again.</summary>
    public IReadOnlyList<ObjectResult> Refine()
    {
        if (!_model.HasImage) throw new InvalidOperationException("Refine needs a tracked frame: call Track first.");
        return Decode(onlyPrompted: true, null, _model.CurrentImage!);
    }

    /// <summary>Pending prompts are checked against the frame they apply to, before any GPU work (the one place
    /// they are: the C ABI relies on it).</summary>
    private void CheckPrompts(int width, int height)
    {
        foreach (var o in _objects)
        {
            if (o.Correction is not { } c) continue;
            try { c.Validate(width, height); }
            catch (ArgumentException e) { throw new ArgumentException($"object {o.Id}: {e.Message} Correct it before tracking on.", e); }
        }
    }

    /// <summary>One frame of tracking in at most two submissions: (1) the encoder when <paramref name="encode"/>
    /// holds it, every candidate prompt decoded into the object batch and judged on the GPU (<see cref="TrackingFrame"/>:
    /// statistics, the appearance memory's scores, the objects' criteria applied); (2) the accepted candidates rendered
    /// to masks at the image size, read back as bytes (the pixel-exact box comes from them), and the confident ones
    /// written into the memory.</summary>
    private IReadOnlyList<ObjectResult> Decode(bool onlyPrompted, CommandStream? encode, ImageEmbedding image)
    {
        int width = image.Width, height = image.Height;
        if (encode is null) CheckPrompts(width, height);
        if (_objects.Count == 0)
        {
            if (encode is not null) { encode.Submit(); _model.ImageReady(image); }
            return [];
        }
        // Candidate prompts per object: one for a tracked or corrected object, up to four for a lost one; none for an
        // object whose motion carried it out of the frame, nor (Refine) for one without a pending prompt.
        var candidates = new List<CandidatePrompt>();
        // Rows moved by their object's motion (on the GPU) before they are read as dense prompts.
        var warps = new List<(int Row, Motion Motion)>();
        var active = new bool[_objects.Count];
        for (int i = 0; i < _objects.Count; i++)
        {
            var o = _objects[i];
            active[i] = !onlyPrompted || o.Correction is not null;
            if (!active[i]) continue;
            candidates.AddRange(o.Track.Candidates(i, o.Correction, o.Row, width, height, o.Refines, () =>
            {
                if (Propagate(o, width, height) is not { } p) return null;
                if (p.Motion is { } m && o.Row >= 0) warps.Add((o.Row, m));
                return (p.Prompt, o.Row);
            }));
        }

        // Submission 1: candidates go to rows 0..k-1; every object's last accepted logits are carried after them, so
        // a rejected candidate leaves the object's mask prompt as it was.
        int k = candidates.Count;
        var carry = _objects.Select((o, i) => (o.Row, i)).Where(x => x.Row >= 0).Select((x, j) => (From: x.Row, To: k + j, Obj: x.i)).ToArray();
        int rows = k + carry.Length;
        var outcomes = new ObjectOutcome?[_objects.Count];
        if (rows > 0)
        {
            var cs = encode ?? _model.Context.BeginCommands();
            try
            {
                _memory.EnsureObjects(cs, _objects.Count);
                var inputs = candidates.Select((c, r) => c.Input(r, width, height)).ToArray();
                foreach (var (row, m) in warps) _batch.Warp(cs, row, m, width, height);
                _batch.Decode(cs, image.Tensor, inputs, rows, carry.Select(c => (c.From, c.To)).ToArray(), []);
                TrackingFrame? frame = null;
                if (k > 0)
                {
                    // Lost objects' readout maps come back for the next frame's search; nothing else of the readout does.
                    var searched = Enumerable.Range(0, _objects.Count)
                                             .Where(i => active[i] && _objects[i].Correction is null && _objects[i].Track.Searched)
                                             .ToArray();
                    frame = TrackingFrame.Record(cs, _model.Pipeline, _batch, _select, _objects.Any(o => o.Track.HasMemory) ? _memory : null, image.Tensor,
                                                 candidates.Select(c => c.Row).ToArray(), _objects.Count, i => i, searched, width, height);
                }
                cs.Submit();
                if (frame is not null) outcomes = frame.Harvest();
            }
            finally { cs.Dispose(); }
        }
        else if (encode is not null) encode.Submit();
        if (encode is not null) _model.ImageReady(image);
        foreach (var (_, to, obj) in carry) _objects[obj].Row = to;

        // Per object: the tracking decisions on its candidates (ObjectTrack, applied on the GPU by CandidateSelect).
        var chosen = new int[_objects.Count];
        Array.Fill(chosen, -1);
        var accepted = new bool[_objects.Count];
        var judged = new Candidate?[_objects.Count];
        var maps = new float[]?[_objects.Count];
        for (int i = 0; i < _objects.Count; i++)
        {
            if (outcomes[i] is not { } outcome) continue;
            var (index, ok) = _objects[i].Track.Decide(outcome);
            maps[i] = outcome.Map;
            if (index < 0) continue;
            chosen[i] = outcome.First + index;
            accepted[i] = ok;
            judged[i] = outcome.Candidates[index];
        }

        // Submission 2: the accepted masks at the image size, as bytes; confident ones join their object's memory.
        var winners = Enumerable.Range(0, _objects.Count).Where(i => accepted[i]).ToArray();
        var masksOut = new byte[]?[_objects.Count];
        if (winners.Length > 0)
        {
            using var cs = _model.Context.BeginCommands();
            var buffers = _model.Pipeline.Buffers;
            var planes = buffers.RentTensor(cs, [winners.Length, FramePipeline.LowRes, FramePipeline.LowRes], DataType.F32, "track.masks");
            var scores = buffers.RentTensor(cs, [winners.Length], DataType.F32, "track.scores");
            const ulong plane = FramePipeline.Plane * 4;
            var writes = new List<MemoryWrite>();
            for (int j = 0; j < winners.Length; j++)
            {
                int i = winners[j], r = chosen[i];
                cs.Copy(_batch.Chosen.Buffer, (ulong)r * plane, planes.Buffer, (ulong)j * plane, plane);
                cs.Copy(_batch.Scores.Buffer, (ulong)r * 4, scores.Buffer, (ulong)j * 4, 4);
                writes.AddRange(_objects[i].Track.MemoryWrites(judged[i]!.Value, r, i, _memory, width, height));
            }
            _memory.Write(cs, _batch.Chosen, image.Tensor, writes, width, height);
            var packed = _model.Pipeline.Render(cs, planes, scores, null, winners.Length, 1, width, height);
            ulong maskBytes = MaskOutput.PackedBytes((long)width * height);
            var results = _model.Pipeline.ReadResults(cs, (packed, (ulong)winners.Length * maskBytes));
            cs.Submit();
            var bytes = results.Part(0);
            for (int j = 0; j < winners.Length; j++)
            {
                var mask = bytes.Slice((int)((ulong)j * maskBytes), width * height);
                // Positive low-res cells whose upsampled logits stay below 0 everywhere: nothing to show or follow.
                if (!mask.ContainsAnyExcept((byte)0)) { accepted[winners[j]] = false; continue; }
                masksOut[winners[j]] = mask.ToArray();
            }
        }

        for (int i = 0; i < _objects.Count; i++)
        {
            var o = _objects[i];
            if (!active[i]) continue;
            var c = judged[i];
            if (accepted[i])
            {
                o.Row = chosen[i];
                o.Mask = masksOut[i];
                // The pixel-exact box of the rendered mask, not the low-res cells' box.
                c = c!.Value with { Box = BoundingBox(o.Mask!, width, height) };
            }
            o.Track.Update(c, accepted[i], width, height);
            o.Track.Readout = o.Track.State == TrackState.Lost ? maps[i] ?? o.Track.Readout : null;
            o.RawMask = accepted[i] ? o.Mask : null;
            o.Score = c?.Score ?? 0;
            o.Similarity = c is { UserPrompt: false } x && o.Track.HasMemory ? x.Memory.Fraction : 1f;
            o.Correction = null;
            o.Refines = false;
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
        return _objects.Select((o, i) => new ObjectResult(o.Id, masks[i], o.Score, o.Track.State,
                                                          o.RawMask is not null ? o.Track.Box : null, o.Similarity)).ToArray();
    }

    /// <summary>The prompt carried over from the previous frame: the enlarged box, moved by the object's motion when
    /// an estimator measured it, and that motion, by which its logits row moves on the GPU (<see cref="ObjectBatch.Warp"/>).
    /// Null when the motion took the object out of the frame.</summary>
    private (Prompt Prompt, Motion? Motion)? Propagate(State o, int width, int height)
    {
        var motion = _motion is not null && o.Mask is not null ? _motion.Estimate(o.Mask) : null;
        if (motion is not { } m) return (new Prompt { Box = o.Track.Enlarge(o.Track.Box.X0, o.Track.Box.Y0, o.Track.Box.X1, o.Track.Box.Y1, width, height) }, null);
        var (x0, y0, x1, y1) = MovedBox(o.Mask!, width, height, m);
        // Less than a pixel of it left inside: SAM would only find the background there.
        if (x1 < 0 || y1 < 0 || x0 > width - 1 || y0 > height - 1) return null;
        return (new Prompt { Box = o.Track.Enlarge(x0, y0, x1 + 1, y1 + 1, width, height) }, m);
    }

    /// <summary>Bounding box (first and last pixel, unclipped) of the mask moved by <paramref name="m"/>: the moved
    /// ends of every row bound it exactly, where the moved corners of the old box would overshoot when it turns.</summary>
    private static (float X0, float Y0, float X1, float Y1) MovedBox(byte[] mask, int width, int height, Motion m)
    {
        float x0 = float.MaxValue, y0 = float.MaxValue, x1 = float.MinValue, y1 = float.MinValue;
        for (int y = 0; y < height; y++)
        {
            var row = mask.AsSpan(y * width, width);
            int first = row.IndexOfAnyExcept((byte)0);
            if (first < 0) continue;
            int last = row.LastIndexOfAnyExcept((byte)0);
            foreach (int x in (ReadOnlySpan<int>)[first, last])
            {
                var (mx, my) = m.Apply(x, y);
                x0 = Math.Min(x0, mx); x1 = Math.Max(x1, mx);
                y0 = Math.Min(y0, my); y1 = Math.Max(y1, my);
            }
        }
        return (x0, y0, x1, y1);
    }

    /// <summary>The mask's bounding box, exclusive ends (as <see cref="Prompt.Box"/>).</summary>
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
        return (x0, y0, x1 + 1, y1 + 1);
    }

    /// <summary>Frees the objects' GPU state (the model stays).</summary>
    public void Dispose()
    {
        _batch.Dispose();
        _memory.Dispose();
    }
}
