using SamRealtime.Model;

namespace SamRealtime.Tracking;

/// <summary>One decoded candidate for an object, as the GPU reduced it: SAM's statistics and the memory's score.
/// <paramref name="Searched"/>: a lost object's candidate found away from where it was lost (the search);
/// <paramref name="FromMap"/>: placed by last frame's readout map, which counts as that frame's evidence.</summary>
internal readonly record struct Candidate(bool UserPrompt, float Score, (int X0, int Y0, int X1, int Y1)? Box, long Area, MemoryScore Memory,
                                          bool Searched = false, bool FromMap = false)
{
    /// <summary>The mask touches the image border: the object may continue outside it, so its size is a lower bound.</summary>
    public bool Clipped(int width, int height) => Box is { } b && (b.X0 <= 0 || b.Y0 <= 0 || b.X1 >= width || b.Y1 >= height);
}

/// <summary>
/// The tracking decisions for one object, in one place for every front end: its candidates (where a lost object is
/// searched for: the memory's readout map, at the object's last complete size, no further from where it was lost
/// than a distance that grows while it stays lost), what a candidate must satisfy to be kept (SAM's predicted IoU, an
/// area change that knows a mask at the frame edge is clipped, and the appearance memory's score — one threshold while
/// tracked, a higher one to re-acquire a lost object, held for <see cref="TrackerOptions.ReacquireFrames"/> consecutive
/// frames when the candidate was found away from where the object was lost; applied on the GPU by
/// <see cref="CandidateSelect"/>), and when an accepted frame is good enough to join the object's memory (SAMURAI
/// writes only confident frames).
/// </summary>
internal sealed class ObjectTrack(TrackerOptions options)
{
    public TrackState State = TrackState.Tracked;
    /// <summary>Last accepted mask's box and area (positive low-res cells), and whether it was clipped by the frame.</summary>
    public (int X0, int Y0, int X1, int Y1) Box;
    public long Area;
    public bool Clipped;
    /// <summary>Box and area of the last accepted mask that did not touch the frame edge: the object's real size.</summary>
    public (int X0, int Y0, int X1, int Y1)? FullBox;
    public long FullArea;
    /// <summary>Whether the memory holds the object's prompted frame (set by the first accepted user prompt).</summary>
    public bool HasMemory;
    /// <summary>The object's usual likeness to its own memory (<see cref="MemoryScore.Likeness"/>): a running mean over
    /// its accepted masks since the last user prompt (0: none yet). Cosine levels differ from object to object (a
    /// uniform one is more like itself than a textured one), so a candidate is judged against this, not a constant.</summary>
    public float Likeness;
    /// <summary>Recent-frame memory writes so far (which ring block the next one goes to).</summary>
    public int Writes;
    /// <summary>Frames since the object was lost, and consecutive frames a re-acquisition candidate passed.</summary>
    public int LostFrames, Streak;
    /// <summary>The box's motion, from accepted complete masks only; it coasts through the other frames.</summary>
    public readonly BoxKalman Motion = new();
    /// <summary>The object was re-acquired away from where its motion predicted it: its old motion says nothing about
    /// the new place, so the filter starts again there.</summary>
    private bool _jumped;
    /// <summary>Where the last passing re-acquisition candidate was (tried again on the next frame).</summary>
    public (int X0, int Y0, int X1, int Y1)? PendingBox;
    /// <summary>Lost with a memory to search with: its readout map is wanted for the next frame's search.</summary>
    public bool Searched => State == TrackState.Lost && HasMemory;
    /// <summary>While lost: the last frame's readout map of the object's memory (64x64), where the next frame searches.</summary>
    public float[]? Readout;

    /// <summary>What a candidate for this object must satisfy on the next frame (applied on the GPU,
    /// <see cref="CandidateSelect"/>): a user prompt only a mask; otherwise SAM's score, an area change against the last
    /// mask (a lost object: its last complete size) that knows clipped masks, and the memory's fraction — the accept
    /// threshold while tracked, the higher re-acquire one while lost. A lost object's candidate re-acquires it at once
    /// only where its motion model says it is now (the gate, which widens the longer it coasts); anywhere else it is
    /// taken only after <see cref="TrackerOptions.ReacquireFrames"/> consecutive passing frames, last frame's readout
    /// map (<paramref name="fromMap"/>) counting as one: one look-alike frame must not hand the object to another, and a
    /// candidate's frames count only while it stays in one place.
    /// Without a motion model yet, a candidate not found away from where the object was lost
    /// (<paramref name="searched"/>) is the one taken at once.</summary>
    public Criteria Criteria(int obj, bool userPrompt, int width, int height, bool searched = false, bool fromMap = false)
    {
        if (userPrompt) return new Criteria(obj, true, true, 0, 0, false, 1, null);
        bool lost = State == TrackState.Lost;
        long reference = lost && FullArea > 0 ? FullArea : Area;
        var gate = lost ? MotionGate.Of(Motion, options.MotionGate, width, height) : null;
        bool held = Streak + 1 + (fromMap ? 1 : 0) >= options.ReacquireFrames;
        bool accept = !lost || held || (gate is null && !searched);
        float? memory = HasMemory ? lost ? options.ReacquireMemoryScore : options.MinMemoryScore : null;
        float likeness = Likeness * (lost ? options.ReacquireLikeness : options.MinLikeness);
        return new Criteria(obj, false, accept, options.MinScore, reference, !lost && Clipped, options.MaxAreaChange, memory, gate, likeness);
    }

    /// <summary>Takes the GPU's verdict on the object's candidates: counts the frames a lost object's re-acquisition
    /// has passed. Returns the index of the candidate chosen (-1: none) and whether it is accepted.</summary>
    public (int Index, bool Accepted) Decide(ObjectOutcome outcome)
    {
        var (candidates, first, verdict) = (outcome.Candidates, outcome.First, outcome.Verdict);
        int best = verdict.Best >= 0 ? verdict.Best - first : -1;
        if (best >= 0 && State == TrackState.Lost && !candidates[best].UserPrompt)
        {
            // Evidence adds up only for the same place: a look-alike here one frame and another there the next are
            // not two frames of the object.
            var box = candidates[best].Box;
            Streak = PendingBox is { } p && box is { } b && (b.X1 <= p.X0 || p.X1 <= b.X0 || b.Y1 <= p.Y0 || p.Y1 <= b.Y0) ? 1 : Streak + 1;
            PendingBox = box;
        }
        else if (best < 0) { Streak = 0; PendingBox = null; }
        // (Only where there was a gate to be outside of: without one the filter carries on, as before the gate.)
        _jumped = State == TrackState.Lost && verdict.Accepted && !verdict.Near && Motion.Initialised && options.MotionGate > 0;
        return (verdict.Chosen >= 0 ? verdict.Chosen - first : -1, verdict.Accepted);
    }

    /// <summary>Records the outcome: an accepted candidate becomes the object's box and size; else it is lost.</summary>
    public void Update(in Candidate? c, bool accepted, int width, int height)
    {
        Motion.Predict();
        if (!accepted || c is not { Box: { } box } k)
        {
            if (State == TrackState.Lost) LostFrames++;
            else { State = TrackState.Lost; LostFrames = 1; Streak = 0; }
            return;
        }
        State = TrackState.Tracked;
        LostFrames = 0;
        Streak = 0;
        PendingBox = null;
        Box = box;
        Area = k.Area;
        Clipped = k.Clipped(width, height);
        if (_jumped) Motion.Reset();
        _jumped = false;
        if (k.UserPrompt) Likeness = 0;
        else if (HasMemory && k.Memory.Cells > 0)
            Likeness = Likeness == 0 ? k.Memory.Likeness : Likeness + options.LikenessRate * (k.Memory.Likeness - Likeness);
        if (!Clipped || k.UserPrompt) { FullBox = box; FullArea = k.Area; Motion.Correct(box); }
    }

    /// <summary>The memory writes an accepted candidate in row <paramref name="row"/> earns: a user prompt resets the
    /// memory to its frame (mask cells foreground, every other cell background); a confident, complete, tracked mask
    /// goes into the next recent-frame block (mask cells, and a ring of cells around it as background).</summary>
    public IEnumerable<MemoryWrite> MemoryWrites(in Candidate c, int row, int obj, AppearanceMemory memory, int width, int height)
    {
        var list = new List<MemoryWrite>();
        if (c.UserPrompt)
        {
            for (int b = 0; b < memory.Blocks; b++) list.Add(new MemoryWrite(row, obj, b, MemoryWriteKind.Clear));
            list.Add(new MemoryWrite(row, obj, 0, MemoryWriteKind.Foreground));
            list.Add(new MemoryWrite(row, obj, memory.FgBlocks, MemoryWriteKind.BackgroundAll));
            // The whole frame's background is subsampled to one block's keys, a few in a hundred cells: what touches
            // the object (where its mask can bleed to) also gets a block of its own, densely.
            if (memory.BgBlocks > 1) list.Add(new MemoryWrite(row, obj, memory.FgBlocks + 1, MemoryWriteKind.BackgroundRing));
            HasMemory = true;
            Writes = memory.BgBlocks > 1 ? 1 : 0;
        }
        else if (HasMemory && c.Score >= options.MemoryWriteScore && c.Memory.Fraction >= options.MemoryWriteFraction && !c.Clipped(width, height))
        {
            if (memory.FgBlocks > 1) list.Add(new MemoryWrite(row, obj, 1 + Writes % (memory.FgBlocks - 1), MemoryWriteKind.Foreground));
            if (memory.BgBlocks > 1) list.Add(new MemoryWrite(row, obj, memory.FgBlocks + 1 + Writes % (memory.BgBlocks - 1), MemoryWriteKind.BackgroundRing));
            Writes++;
        }
        return list;
    }

    /// <summary>A box (exclusive ends, as <see cref="Prompt.Box"/>) enlarged by the margin and clipped to the image:
    /// the prompt a tracked object carries to the next frame.</summary>
    public (float, float, float, float) Enlarge(float x0, float y0, float x1, float y1, int width, int height)
    {
        float mx = (x1 - 1 - x0) * options.BoxMargin, my = (y1 - 1 - y0) * options.BoxMargin;
        return (Math.Max(0, x0 - mx), Math.Max(0, y0 - my), Math.Min(width, x1 + mx), Math.Min(height, y1 + my));
    }

    /// <summary>This object's candidates on the next frame (object <paramref name="obj"/> of the frame): the user's
    /// prompt when one is pending (<paramref name="refine"/>: with <paramref name="denseRow"/> as its dense prompt); while tracked, its last box enlarged with <paramref name="denseRow"/> (last frame's
    /// logits) as the dense prompt, or what <paramref name="moved"/> makes of it (a front end that measures motion;
    /// null from it: nothing of the object is left in the frame); while lost, its search boxes.</summary>
    public IEnumerable<CandidatePrompt> Candidates(int obj, Prompt? user, int denseRow, int width, int height, bool refine = false,
                                                   Func<(Prompt Prompt, int DenseRow)?>? moved = null)
    {
        if (user is not null) yield return new(user, refine ? denseRow : -1, new(obj, Criteria(obj, true, width, height)));
        else if (State == TrackState.Tracked)
        {
            var next = moved is not null ? moved() : (new Prompt { Box = Enlarge(Box.X0, Box.Y0, Box.X1, Box.Y1, width, height) }, denseRow);
            if (next is { } n) yield return new(n.Prompt, n.DenseRow, new(obj, Criteria(obj, false, width, height)));
        }
        else
            foreach (var (box, far, map) in LostBoxes(width, height))
                yield return new(new Prompt { Box = box }, -1, new(obj, Criteria(obj, false, width, height, far, map), far, map));
    }

    /// <summary>Where a lost object is looked for: at its last box and where its motion model predicts it, with its
    /// last complete size (an object that left through the edge was clipped there), where a candidate passed on the
    /// last frame (hysteresis needs it again), and where last frame's memory readout found it.</summary>
    private IEnumerable<((float, float, float, float) Box, bool Searched, bool FromMap)> LostBoxes(int width, int height)
    {
        var (bx0, by0, bx1, by1) = Box;
        var (w, h) = FullBox is { } f ? (f.X1 - f.X0, f.Y1 - f.Y0) : (bx1 - bx0, by1 - by0);
        var (px, py) = Predicted();
        float lx = (bx0 + bx1) / 2f, ly = (by0 + by1) / 2f;
        // The prediction only when it is somewhere else (a moving object): each candidate costs a decoder row.
        var centres = MathF.Abs(px - lx) + MathF.Abs(py - ly) > 0.25f * Math.Max(w, h) ? new[] { (lx, ly), (px, py) } : new[] { (lx, ly) };
        foreach (var (cx, cy) in centres)
        {
            float x0 = Math.Max(0, cx - w / 2f), y0 = Math.Max(0, cy - h / 2f), x1 = Math.Min(width, cx + w / 2f), y1 = Math.Min(height, cy + h / 2f);
            // A prediction that left the frame has nothing to decode.
            if (x1 - x0 >= 1 && y1 - y0 >= 1) yield return (Enlarge(x0, y0, x1, y1, width, height), false, false);
        }
        if (PendingBox is { } p) yield return (Enlarge(p.X0, p.Y0, p.X1, p.Y1, width, height), true, false);
        if (options.SearchWholeFrame && Readout is { } map && SearchBox(map, width, height) is { } s) yield return (s, true, true);
    }

    /// <summary>Centre of the box the motion model predicts for the next frame (the last box's without one).</summary>
    public (float X, float Y) Predicted()
    {
        var (x0, y0, x1, y1) = Motion.Initialised ? Motion.Box(1) : (Box.X0, Box.Y0, Box.X1, Box.Y1);
        return ((x0 + x1) / 2, (y0 + y1) / 2);
    }

    /// <summary>A box of the object's last complete size centred where its readout map (64x64, this object's row of
    /// the memory readout) has the most foreground cells in a window of that size, within the search distance of
    /// where it was last seen; null when no window is at least <see cref="TrackerOptions.SearchMinFraction"/>
    /// foreground. The best window wherever it is: preferring one inside the motion gate picked a weaker window on the
    /// object's edge (a zooming dog came back as half a dog); the gate judges the candidate decoded there instead.</summary>
    public (float X0, float Y0, float X1, float Y1)? SearchBox(ReadOnlySpan<float> readout, int width, int height)
    {
        if (FullBox is not { } full) return null;
        var (cw, chh) = ImageEmbedding.ValidCells(width, height);
        var (rh, rw) = Prompt.ResizedSize(height, width);
        float cellX = 16f * width / rw, cellY = 16f * height / rh;   // one cell in image pixels
        float w = full.X1 - full.X0, h = full.Y1 - full.Y0;
        int ww = Math.Clamp((int)MathF.Round(w / cellX), 1, cw), wh = Math.Clamp((int)MathF.Round(h / cellY), 1, chh);
        var sat = new int[(chh + 1) * (cw + 1)];
        for (int cy = 0; cy < chh; cy++)
        for (int cx = 0; cx < cw; cx++)
            sat[(cy + 1) * (cw + 1) + cx + 1] = (readout[cy * AppearanceMemory.Side + cx] > 0 ? 1 : 0)
                                              + sat[cy * (cw + 1) + cx + 1] + sat[(cy + 1) * (cw + 1) + cx] - sat[cy * (cw + 1) + cx];
        // Where the object should be now (its motion's prediction, else its last box), and how far from it it may be.
        var (lx, ly) = Predicted();
        float reach = MathF.Max(w, h) * (options.SearchReach + options.SearchReachGrowth * LostFrames);
        int best = -1, bestX = 0, bestY = 0;
        for (int cy = 0; cy + wh <= chh; cy++)
        for (int cx = 0; cx + ww <= cw; cx++)
        {
            float px = (cx + ww / 2f) * cellX, py = (cy + wh / 2f) * cellY;
            if (MathF.Sqrt((px - lx) * (px - lx) + (py - ly) * (py - ly)) > reach) continue;
            int s = sat[(cy + wh) * (cw + 1) + cx + ww] - sat[cy * (cw + 1) + cx + ww] - sat[(cy + wh) * (cw + 1) + cx] + sat[cy * (cw + 1) + cx];
            if (s < options.SearchMinFraction * ww * wh) continue;
            if (s > best) { best = s; bestX = cx; bestY = cy; }
        }
        if (best < 0) return null;
        float x0 = Math.Clamp((bestX + ww / 2f) * cellX - w / 2, 0, Math.Max(0, width - w));
        float y0 = Math.Clamp((bestY + wh / 2f) * cellY - h / 2, 0, Math.Max(0, height - h));
        return (x0, y0, Math.Min(width, x0 + w), Math.Min(height, y0 + h));
    }
}
