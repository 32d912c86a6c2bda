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
/// The tracking decisions for one object, in one place for every front end: which candidate is kept (SAM's predicted
/// IoU, an area change that knows a mask at the frame edge is clipped, and the appearance memory's score — one
/// threshold while tracked, a higher one to re-acquire a lost object, held for <see cref="TrackerOptions.ReacquireFrames"/>
/// consecutive frames when the candidate was found away from where the object was lost), when an accepted frame is good enough to join the object's memory (SAMURAI writes only
/// confident frames), and where a lost object is searched for (the memory's readout map, at the object's last
/// complete size, no further from where it was lost than a distance that grows while it stays lost).
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
    /// <summary>Recent-frame memory writes so far (which ring block the next one goes to).</summary>
    public int Writes;
    /// <summary>Frames since the object was lost, and consecutive frames a re-acquisition candidate passed.</summary>
    public int LostFrames, Streak;
    /// <summary>The box's motion, from accepted complete masks only; it coasts through the other frames.</summary>
    public readonly BoxKalman Motion = new();
    /// <summary>Where the last passing re-acquisition candidate was (tried again on the next frame).</summary>
    public (int X0, int Y0, int X1, int Y1)? PendingBox;

    /// <summary>Whether the candidate passes: user prompts when not empty; tracked objects at the accept threshold;
    /// lost ones at the higher re-acquire threshold, against their last complete size.</summary>
    public bool Passes(in Candidate c, int width, int height)
    {
        if (c.Area <= 0 || c.Box is null) return false;
        if (c.UserPrompt) return true;
        if (c.Score < options.MinScore) return false;
        bool clipped = c.Clipped(width, height);
        bool lost = State == TrackState.Lost;
        long reference = lost && FullArea > 0 ? FullArea : Area;
        bool referenceClipped = !lost && Clipped;
        // A clipped mask may be smaller than the object, one after a clipped mask larger than it was.
        bool area = reference == 0 || ((clipped || c.Area * options.MaxAreaChange >= reference)
                                       && (referenceClipped || c.Area <= reference * options.MaxAreaChange));
        float threshold = lost ? options.ReacquireMemoryScore : options.MinMemoryScore;
        return area && (!HasMemory || c.Memory.Fraction >= threshold);
    }

    /// <summary>Chooses among the object's candidates (the passing one the memory likes best, else the first) and
    /// updates the state. Returns the index chosen and whether its mask is accepted.</summary>
    public (int Index, bool Accepted) Decide(IReadOnlyList<Candidate> candidates, int width, int height)
    {
        int best = -1;
        for (int i = 0; i < candidates.Count; i++)
            if (Passes(candidates[i], width, height) && (best < 0 || Rank(candidates[i]) > Rank(candidates[best]))) best = i;
        int chosen = best >= 0 ? best : candidates.Count > 0 ? 0 : -1;
        bool accepted = best >= 0;
        if (accepted && State == TrackState.Lost && !candidates[best].UserPrompt)
        {
            // Hysteresis: found elsewhere, a lost object comes back only after several consecutive frames that pass
            // (one look-alike frame must not hand it to another object); where it was lost, at once.
            Streak++;
            PendingBox = candidates[best].Box;
            accepted = !candidates[best].Searched || Streak + (candidates[best].FromMap ? 1 : 0) >= options.ReacquireFrames;
        }
        else if (!accepted) { Streak = 0; PendingBox = null; }
        return (chosen, accepted);
    }

    // The mean readout, not the fraction: a look-alike region can be barely positive everywhere, the object clearly so.
    private static float Rank(in Candidate c) => c.UserPrompt ? float.MaxValue : c.Memory.Cells > 0 ? c.Memory.ReadoutSum / c.Memory.Cells : float.MinValue;

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
            HasMemory = true;
            Writes = 0;
        }
        else if (HasMemory && c.Score >= options.MemoryWriteScore && c.Memory.Fraction >= options.MemoryWriteFraction && !c.Clipped(width, height))
        {
            if (memory.FgBlocks > 1) list.Add(new MemoryWrite(row, obj, 1 + Writes % (memory.FgBlocks - 1), MemoryWriteKind.Foreground));
            if (memory.BgBlocks > 1) list.Add(new MemoryWrite(row, obj, memory.FgBlocks + 1 + Writes % (memory.BgBlocks - 1), MemoryWriteKind.BackgroundRing));
            Writes++;
        }
        return list;
    }

    /// <summary>Centre of the box the motion model predicts for the next frame (the last box's without one).</summary>
    public (float X, float Y) Predicted()
    {
        var (x0, y0, x1, y1) = Motion.Initialised ? Motion.Box(1) : (Box.X0, Box.Y0, Box.X1, Box.Y1);
        return ((x0 + x1) / 2, (y0 + y1) / 2);
    }

    /// <summary>A box of the object's last complete size centred where its readout map (64x64, this object's row of
    /// the memory readout) has the most foreground cells in a window of that size, within the search distance of
    /// where it was last seen; null when no window is at least <see cref="TrackerOptions.SearchMinFraction"/> foreground.</summary>
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
            if (s > best) { best = s; bestX = cx; bestY = cy; }
        }
        if (best < options.SearchMinFraction * ww * wh) return null;
        float x0 = Math.Clamp((bestX + ww / 2f) * cellX - w / 2, 0, Math.Max(0, width - w));
        float y0 = Math.Clamp((bestY + wh / 2f) * cellY - h / 2, 0, Math.Max(0, height - h));
        return (x0, y0, Math.Min(width, x0 + w), Math.Min(height, y0 + h));
    }
}
