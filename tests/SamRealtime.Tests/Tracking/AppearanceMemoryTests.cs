using System.Runtime.InteropServices;
using SamRealtime.Model;
using SamRealtime.Tracking;
using SamRealtime.Vulkan;
using Xunit;

namespace SamRealtime.Tests.Tracking;

// The appearance memory's kernels (memory_write, the GEMM + memory_readout, memory_score) against a plain
// double-precision CPU reference: which cells each write selects (mask, all background, ring) and how it subsamples
// them into a block, the normalised keys, the top-k readout per cell, and the per-candidate counts. Odd shapes: an
// image whose valid cells are not whole, a block capacity that forces subsampling, k larger than some memories.
public sealed class AppearanceMemoryTests(GpuFixture fixture) : GpuTest(fixture)
{
    private const int Side = 64, Cells = Side * Side, Ch = 256;

    private static float[] Blobs(int planes, int seed)
    {
        var rng = new Random(seed);
        var x = new float[planes * 65536];
        for (int p = 0; p < planes; p++)
        {
            double cx = rng.Next(30, 150), cy = rng.Next(20, 90), r = rng.Next(15, 45);
            for (int y = 0; y < 256; y++)
                for (int c = 0; c < 256; c++)
                    x[p * 65536 + y * 256 + c] = (float)((r - Math.Sqrt((c - cx) * (c - cx) + (y - cy) * (y - cy))) / 8 + (rng.NextDouble() - 0.5) * 0.2);
        }
        return x;
    }

    private static bool InMask(float[] logits, int row, int c)
    {
        int cy = c / Side, cx = c % Side;
        double m = 0;
        for (int dy = 0; dy < 4; dy++) for (int dx = 0; dx < 4; dx++) m += logits[row * 65536 + (cy * 4 + dy) * 256 + cx * 4 + dx];
        return m > 0;
    }

    /// <summary>The cells a write selects, in raster order, and the keys it stores (evenly subsampled to cap).</summary>
    private static List<int> Selected(float[] logits, MemoryWrite w, int vw, int vh, float ring)
    {
        int x0 = Side, y0 = Side, x1 = -1, y1 = -1;
        for (int c = 0; c < Cells; c++)
            if (c % Side < vw && c / Side < vh && InMask(logits, w.Row, c))
            { x0 = Math.Min(x0, c % Side); x1 = Math.Max(x1, c % Side); y0 = Math.Min(y0, c / Side); y1 = Math.Max(y1, c / Side); }
        int margin = Math.Max(1, (int)(ring * Math.Max(x1 - x0 + 1, y1 - y0 + 1)));
        var list = new List<int>();
        for (int c = 0; c < Cells; c++)
        {
            int cx = c % Side, cy = c / Side;
            if (cx >= vw || cy >= vh) continue;
            bool m = InMask(logits, w.Row, c);
            bool sel = w.Kind switch
            {
                MemoryWriteKind.Foreground => m,
                MemoryWriteKind.BackgroundAll => !m,
                _ => !m && x1 >= 0 && cx >= x0 - margin && cx <= x1 + margin && cy >= y0 - margin && cy <= y1 + margin,
            };
            if (sel) list.Add(c);
        }
        return list;
    }

    private static List<int> Subsample(List<int> cells, int cap) =>
        cells.Count <= cap ? cells : Enumerable.Range(0, cap).Select(s => cells[(int)Math.Ceiling((double)s * cells.Count / cap)]).ToList();

    public static TheoryData<bool> Types => new() { false, true };

    [Theory]
    [MemberData(nameof(Types))]
    public void WritesReadoutAndScoresMatchTheCpuReference(bool fp16)
    {
        if (fp16 && !Ctx.Info.StorageBuffer16Bit) return;
        var type = fp16 ? DataType.F16 : DataType.F32;
        const int width = 301, height = 157, rows = 3, cap = 37, k = 5;   // 1024x534: 64x34 valid cells
        var (vw, vh) = ImageEmbedding.ValidCells(width, height);
        Assert.Equal((64, 34), (vw, vh));
        var logits = Blobs(rows, 11);
        // Row 2 is a small mask (fewer fg cells than k) at the image's left edge.
        for (int i = 0; i < 65536; i++) logits[2 * 65536 + i] = -5;
        for (int y = 40; y < 48; y++) for (int x = 0; x < 8; x++) logits[2 * 65536 + y * 256 + x] = 4;
        var rng = new Random(5);
        var emb = Enumerable.Range(0, Ch * Cells).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        // Object-like structure: cells under row 0's mask share a direction, so the readout is not noise around 0.
        for (int c = 0; c < Cells; c++)
            if (InMask(logits, 0, c)) for (int ch = 0; ch < 16; ch++) emb[ch * Cells + c] += 3;
        if (fp16) emb = Tests.Reference.ToHalf(emb);
        const float ring = 0.5f;
        var writes = new MemoryWrite[]
        {
            new(0, 0, 0, MemoryWriteKind.Foreground), new(0, 0, 2, MemoryWriteKind.BackgroundAll),
            new(1, 1, 0, MemoryWriteKind.Foreground), new(0, 1, 1, MemoryWriteKind.Foreground), new(1, 1, 3, MemoryWriteKind.BackgroundRing),
            new(2, 0, 1, MemoryWriteKind.Foreground), new(2, 0, 3, MemoryWriteKind.BackgroundRing),
            new(1, 1, 4, MemoryWriteKind.Foreground), new(0, 1, 4, MemoryWriteKind.Clear),   // written then cleared: empty
        };
        var candidates = new[] { (0, 1), (1, 0), (1, 1), (2, 0) };

        using var buffers = new FrameBuffers(Ctx);
        using var memory = new AppearanceMemory(Ctx, buffers, type, cap, fgBlocks: 2, bgBlocks: 3, k: k, ring: ring);
        using var chosen = Ctx.Upload(logits, [rows, 256, 256]);
        using var embedding = Ctx.Upload(emb, [1, Ch, Side, Side], type);
        float[] readout, likeness, scores, keys;
        var counts = new int[2 * memory.Blocks];
        using (var cs = Ctx.BeginCommands())
        {
            memory.EnsureObjects(cs, 2);
            memory.Write(cs, chosen, embedding, writes[..^2], width, height);
            cs.Submit();
        }
        using (var cs = Ctx.BeginCommands())
        {
            // A second stream: writes see the first one's, and a clear follows a write to the same block.
            memory.Write(cs, chosen, embedding, writes[^2..], width, height);
            var r = memory.Readout(cs, embedding, 2);
            var s = memory.Score(cs, chosen, r, candidates, width, height);
            cs.Submit();
            readout = r.Readout.Read();
            likeness = r.Likeness.Read();
            scores = s.Read();
        }
        keys = memory.State.Keys.Read();
        memory.State.Counts.Read(MemoryMarshal.AsBytes(counts.AsSpan()));

        // Keys and counts.
        var expectedKeys = new double[2, memory.Slots, Ch];
        var expectedCounts = new int[2, memory.Blocks];
        bool subsampled = false, partial = false;
        foreach (var w in writes)
        {
            if (w.Kind == MemoryWriteKind.Clear) { expectedCounts[w.Object, w.Block] = 0; continue; }
            var all = Selected(logits, w, vw, vh, ring);
            var picked = Subsample(all, cap);
            subsampled |= all.Count > cap;
            partial |= all.Count is > 0 and < cap;
            expectedCounts[w.Object, w.Block] = picked.Count;
            for (int s = 0; s < picked.Count; s++)
            {
                double norm = Math.Sqrt(Enumerable.Range(0, Ch).Sum(ch => (double)emb[ch * Cells + picked[s]] * emb[ch * Cells + picked[s]]));
                for (int ch = 0; ch < Ch; ch++) expectedKeys[w.Object, w.Block * cap + s, ch] = emb[ch * Cells + picked[s]] / norm;
            }
        }
        Assert.True(subsampled && partial, "the case covers subsampling and a block that is not full");
        Assert.InRange(expectedCounts[0, 1], 1, k - 1);
        double keyTol = fp16 ? 2e-3 : 1e-6;
        for (int o = 0; o < 2; o++)
            for (int b = 0; b < memory.Blocks; b++)
            {
                Assert.Equal(expectedCounts[o, b], counts[o * memory.Blocks + b]);
                for (int s = b * cap; s < b * cap + expectedCounts[o, b]; s++)
                    for (int ch = 0; ch < Ch; ch++)
                        Assert.True(Math.Abs(keys[(o * memory.Slots + s) * Ch + ch] - expectedKeys[o, s, ch]) <= keyTol,
                                    $"object {o} slot {s} channel {ch}: {keys[(o * memory.Slots + s) * Ch + ch]} vs {expectedKeys[o, s, ch]}");
            }

        // Readout: mean of the k best cosines over foreground blocks minus over background blocks; likeness: the first alone.
        var expectedReadout = new double[2, Cells];
        var expectedLikeness = new double[2, Cells];
        double readTol = fp16 ? 1e-2 : 1e-4;
        for (int o = 0; o < 2; o++)
            for (int c = 0; c < Cells; c++)
            {
                double qn = Math.Sqrt(Enumerable.Range(0, Ch).Sum(ch => (double)emb[ch * Cells + c] * emb[ch * Cells + c]));
                double TopMean(int b0, int b1)
                {
                    var sims = new List<double>();
                    for (int b = b0; b < b1; b++)
                        for (int s = b * cap; s < b * cap + expectedCounts[o, b]; s++)
                        {
                            double dot = 0;
                            for (int ch = 0; ch < Ch; ch++) dot += expectedKeys[o, s, ch] * emb[ch * Cells + c];
                            sims.Add(dot / qn);
                        }
                    var top = sims.OrderByDescending(v => v).Take(k).ToList();
                    return top.Count == 0 ? 0 : top.Average();
                }
                expectedLikeness[o, c] = TopMean(0, 2);
                expectedReadout[o, c] = expectedLikeness[o, c] - TopMean(2, 5);
                Assert.True(Math.Abs(likeness[o * Cells + c] - expectedLikeness[o, c]) <= readTol,
                            $"object {o} cell {c}: likeness {likeness[o * Cells + c]} vs {expectedLikeness[o, c]}");
                Assert.True(Math.Abs(readout[o * Cells + c] - expectedReadout[o, c]) <= readTol,
                            $"object {o} cell {c}: readout {readout[o * Cells + c]} vs {expectedReadout[o, c]}");
            }

        // Scores: cells in the mask, those reading out as foreground (ambiguous ones near 0 either way), sum, edge.
        bool sawForeground = false;
        for (int i = 0; i < candidates.Length; i++)
        {
            var (row, o) = candidates[i];
            int cells = 0, fgSure = 0, fgMaybe = 0, edge = 0;
            double sum = 0, like = 0;
            for (int c = 0; c < Cells; c++)
            {
                int cx = c % Side, cy = c / Side;
                if (cx >= vw || cy >= vh || !InMask(logits, row, c)) continue;
                cells++;
                double r = expectedReadout[o, c];
                if (r > readTol) fgSure++;
                if (r > -readTol) fgMaybe++;
                if (cx == 0 || cy == 0 || cx == vw - 1 || cy == vh - 1) edge++;
                sum += r;
                like += expectedLikeness[o, c];
            }
            var got = AppearanceMemory.Harvest(scores, candidates.Length)[i];
            Assert.Equal(cells, got.Cells);
            Assert.InRange(got.Foreground, fgSure, fgMaybe);
            Assert.True(Math.Abs(got.ReadoutSum - sum) <= readTol * cells + 1e-3, $"candidate {i}: readout sum {got.ReadoutSum} vs {sum}");
            Assert.Equal(edge, got.EdgeCells);
            Assert.True(Math.Abs(got.LikenessSum - like) <= readTol * cells + 1e-3, $"candidate {i}: likeness sum {got.LikenessSum} vs {like}");
            sawForeground |= fgSure > 0 && fgSure < cells;
        }
        Assert.True(sawForeground, "some candidate is partly foreground");
        Assert.True(AppearanceMemory.Harvest(scores, candidates.Length)[3].EdgeCells > 0, "the edge case touches the border");
    }
}
