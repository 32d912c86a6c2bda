using SamRealtime.Model;
using SamRealtime.Tracking;
using SamRealtime.Vulkan;
using Xunit;

namespace SamRealtime.Tests.Tracking;

// track_select (the tracking decision on the GPU) against a plain CPU statement of the same rules in double precision:
// random candidates for several objects with empty masks, user prompts, clipped masks and references, memory fractions
// and likeness on both sides of their thresholds, ties in the memory's rank, re-acquisitions not yet accepted and lost objects' motion
// gates that candidates fall inside or outside of (inside ranks first and accepts); frame sizes whose
// cells do not map to whole pixels, so the frame-edge test is the pixel box's (Candidate.Clipped), not the cell grid's.
public sealed class CandidateSelectTests(GpuFixture fixture) : GpuTest(fixture)
{
    private sealed record Row(int Object, float Score, int X0, int Y0, int X1, int Y1, int Area, int Cells, int Fg, float Sum, float Like, Criteria Criteria);

    private static bool Passes(Row r, int width, int height, out double rank)
    {
        rank = double.MinValue;
        if (r.Area <= 0 || r.X1 < 0) return false;
        var c = r.Criteria;
        if (c.UserPrompt) { rank = double.MaxValue; return true; }
        if (r.Score < c.MinScore) return false;
        if (r.Cells > 0) rank = (double)r.Sum / r.Cells;
        var box = ObjectBatch.CellBox(r.X0, r.Y0, r.X1, r.Y1, width, height);
        bool clipped = new Candidate(false, r.Score, box, r.Area, default).Clipped(width, height);
        double reference = c.ReferenceArea, change = c.MaxAreaChange;
        bool area = reference == 0 || ((clipped || r.Area * change >= reference) && (c.ReferenceClipped || r.Area <= reference * change));
        // (The likeness compares in fp32 as the shader does: a sum against threshold × cells.)
        bool memory = c.MemoryThreshold is not { } t || (r.Cells > 0 && (double)r.Fg / r.Cells >= t && (clipped || r.Like >= c.MinLikeness * r.Cells));
        return area && memory;
    }

    private static bool Near(Row r) => r.Criteria.UserPrompt || r.Criteria.Gate is { } g && g.Contains(r.X0, r.Y0, r.X1, r.Y1);

    private static (float[] Gate, Verdict[] Verdicts) Reference(Row[] rows, int objects, int width, int height)
    {
        var gate = new float[rows.Length];
        var verdicts = new Verdict[objects];
        for (int o = 0; o < objects; o++)
        {
            int first = -1, best = -1;
            double bestRank = 0;
            bool bestNear = false;
            for (int r = 0; r < rows.Length; r++)
            {
                if (rows[r].Object != o) continue;
                if (first < 0) first = r;
                if (!Passes(rows[r], width, height, out double rank)) continue;
                bool near = Near(rows[r]);
                if (best < 0 || (near && !bestNear) || (near == bestNear && rank > bestRank)) { best = r; bestRank = rank; bestNear = near; }
            }
            int chosen = best >= 0 ? best : first;
            bool accepted = best >= 0 && (rows[best].Criteria.Accept || bestNear);
            if (chosen >= 0 && accepted) gate[chosen] = 1;
            verdicts[o] = new Verdict(chosen, best, accepted, best >= 0 && bestNear);
        }
        return (gate, verdicts);
    }

    private static Row[] RandomRows(int seed, int objects, int width, int height, bool memory)
    {
        // (Likeness draws from its own generator: the other draws, and so the cases they cover, stay as they were.)
        var (rng, likeRng) = (new Random(seed), new Random(seed + 1000));
        var (rh, rw) = Prompt.ResizedSize(height, width);
        int vw = (rw + 3) / 4, vh = (rh + 3) / 4;
        var rows = new List<Row>();
        for (int o = 0; o < objects; o++)
        {
            if (o == objects - 1 && objects > 2) continue;   // an object without candidates
            int n = rng.Next(1, 5);
            bool user = rng.Next(6) == 0, lost = rng.Next(2) == 0;
            float reference = rng.Next(4) == 0 ? 0 : rng.Next(50, 400);
            // A lost object's gate: an ellipse as wide as a few boxes, tilted or not, near one of its candidates so that
            // some fall inside and some outside; the rows get it once they are drawn.
            MotionGate? motionGate = null;
            double gx = rng.NextDouble(), gy = rng.NextDouble();
            if (lost)
            {
                double sx = 2 + rng.NextDouble() * 20, sy = 2 + rng.NextDouble() * 20, rho = rng.Next(2) == 0 ? 0 : rng.NextDouble() * 1.6 - 0.8;
                double sxx = sx * sx, syy = sy * sy, sxy = rho * sx * sy, det = sxx * syy - sxy * sxy;
                motionGate = new MotionGate((float)(gx * sx * 4 - sx * 2), (float)(gy * sy * 4 - sy * 2), (float)(syy / det), (float)(-sxy / det),
                                            (float)(sxx / det), 9.21f);
            }
            int firstRow = rows.Count;
            for (int i = 0; i < n; i++)
            {
                bool empty = rng.Next(8) == 0;
                int x0 = rng.Next(0, vw), y0 = rng.Next(0, vh);
                // Some boxes reach the last cells of the image, which touch the frame edge or not depending on the scale.
                int x1 = rng.Next(3) == 0 ? vw - 1 - rng.Next(2) : Math.Min(vw - 1, x0 + rng.Next(0, 40));
                int y1 = rng.Next(3) == 0 ? vh - 1 - rng.Next(2) : Math.Min(vh - 1, y0 + rng.Next(0, 40));
                x0 = Math.Min(x0, x1); y0 = Math.Min(y0, y1);
                if (rng.Next(5) == 0) x0 = rng.Next(2);
                // Areas around the reference, on both sides of the allowed change.
                int area = empty ? 0 : reference > 0 ? Math.Max(1, (int)(reference * (0.3 + rng.NextDouble() * 3))) : rng.Next(1, 400);
                int cells = rng.Next(6) == 0 ? 0 : rng.Next(1, 60), fg = cells == 0 ? 0 : cells - rng.Next(0, cells / 2 + 1);
                // Ties in the rank: the first passing row keeps its place.
                float sum = rng.Next(4) == 0 ? 0.25f * cells : (float)(rng.NextDouble() * 2 - 1) * cells;
                // Likeness on both sides of a threshold some criteria set.
                float like = (float)(0.3 + likeRng.NextDouble() * 0.6) * cells, minLike = likeRng.Next(2) == 0 ? 0 : 0.6f;
                var criteria = new Criteria(o, user, !lost || rng.Next(2) == 0, 0.6f, reference, rng.Next(3) == 0, 2.5f,
                                            memory && rng.Next(5) > 0 ? (lost ? 0.85f : 0.5f) : null, MinLikeness: minLike);
                rows.Add(new Row(o, 0.4f + 0.6f * (float)rng.NextDouble(), empty ? -1 : x0, empty ? -1 : y0, empty ? -1 : x1, empty ? -1 : y1, area,
                                 cells, fg, sum, like, criteria));
            }
            if (motionGate is { } g && rows.Count > firstRow)
            {
                // Centred on a random candidate's box, offset by up to two standard deviations.
                var at = rows[rng.Next(firstRow, rows.Count)];
                var centred = g with { X = g.X + (at.X0 + at.X1 + 1) / 2f, Y = g.Y + (at.Y0 + at.Y1 + 1) / 2f };
                for (int r = firstRow; r < rows.Count; r++) rows[r] = rows[r] with { Criteria = rows[r].Criteria with { Gate = centred } };
            }
        }
        return rows.ToArray();
    }

    [Theory]
    [InlineData(1, 5, 301, 187, true)]
    [InlineData(2, 7, 97, 533, true)]
    [InlineData(5, 3, 640, 480, false)]
    [InlineData(4, 4, 1023, 17, true)]
    public void SelectionMatchesTheCpuRules(int seed, int objects, int width, int height, bool memory)
    {
        var rows = RandomRows(seed, objects, width, height, memory);
        var stats = rows.SelectMany(r => new float[] { r.X0, r.Y0, r.X1, r.Y1, r.Area, 0, 0, 0 }).ToArray();
        var scores = rows.Select(r => r.Score).ToArray();
        var mem = rows.SelectMany(r => new[] { r.Cells, r.Fg, r.Sum, 0f, r.Like }).ToArray();
        using var buffers = new FrameBuffers(Ctx);
        using var statsT = Ctx.Upload(stats, [rows.Length, SamRealtime.Kernels.MaskOutput.StatsStride]);
        using var scoresT = Ctx.Upload(scores, [rows.Length]);
        using var memT = Ctx.Upload(mem, [rows.Length, AppearanceMemory.ScoreStride]);
        float[] gate, verdicts;
        using (var cs = Ctx.BeginCommands())
        {
            var (g, v) = new CandidateSelect(Ctx, buffers).Record(cs, statsT, scoresT, memory ? memT : null, rows.Select(r => r.Criteria).ToArray(),
                                                                  objects, width, height);
            cs.Submit();
            (gate, verdicts) = (g.Read(), v.Read());
        }
        var (wantGate, wantVerdicts) = Reference(memory ? rows : rows.Select(r => r with { Cells = 0, Fg = 0, Sum = 0, Like = 0 }).ToArray(), objects, width, height);
        Assert.Equal(wantGate, gate);
        Assert.Equal(wantVerdicts, CandidateSelect.Harvest(verdicts, objects));
        // The cases the rules distinguish all occur.
        Assert.Contains(wantVerdicts, v => v.Accepted);
        Assert.Contains(wantVerdicts, v => !v.Accepted);
        Assert.Contains(rows, r => r.Criteria.Gate is not null && Near(r));
        Assert.Contains(rows, r => r.Criteria.Gate is not null && !Near(r));
        if (memory)
        {
            Assert.Contains(rows, r => r.Criteria.MemoryThreshold is not null && r.Criteria.MinLikeness > 0 && r.Like < r.Criteria.MinLikeness * r.Cells);
            Assert.Contains(rows, r => r.Criteria.MemoryThreshold is not null && r.Criteria.MinLikeness > 0 && r.Like >= r.Criteria.MinLikeness * r.Cells);
        }
    }

    [Theory]
    [InlineData(301, 187)]
    [InlineData(97, 533)]
    [InlineData(1023, 17)]
    [InlineData(1920, 1080)]
    public void EdgeCellsAgreeWithTheClippedPixelBox(int width, int height)
    {
        var (lx, ly, hx, hy) = ObjectBatch.EdgeCells(width, height);
        for (int c = 0; c < FramePipeline.LowRes; c++)
        {
            var (x0, y0, x1, y1) = ObjectBatch.CellBox(c, c, c, c, width, height);
            Assert.Equal(x0 <= 0, c <= lx);
            Assert.Equal(y0 <= 0, c <= ly);
            Assert.Equal(x1 >= width, c >= hx);
            Assert.Equal(y1 >= height, c >= hy);
        }
    }
}
