using System.Runtime.InteropServices;
using SamRealtime.Kernels;
using SamRealtime.Model;
using SamRealtime.Vulkan;
using Xunit;

namespace SamRealtime.Tests.Kernels;

// Exact: counts and boxes are integers; the CPU reference compares the stored values (rounded to fp16 for fp16
// storage) with the thresholds in double, as SAM's calculate_stability_score and batched_mask_to_box do on the logits.
public sealed class MaskStatsTests(GpuFixture fixture) : GpuTest(fixture)
{
    /// <summary>Blobs of logits: a few Gaussian bumps over noise, so masks have real boxes, holes and empty planes.</summary>
    private static float[] Logits(int planes, int h, int w, int seed)
    {
        var rng = new Random(seed);
        var x = new float[planes * h * w];
        for (int p = 0; p < planes; p++)
        {
            int bumps = p % 5;   // every 5th plane has no bump: the noise stays below -1, so it is empty at both thresholds
            var c = Enumerable.Range(0, bumps).Select(_ => (X: rng.NextDouble() * w, Y: rng.NextDouble() * h, R: 2 + rng.NextDouble() * w / 4)).ToArray();
            for (int y = 0; y < h; y++)
            for (int i = 0; i < w; i++)
            {
                double v = -3 + rng.NextDouble() * 1.5;
                foreach (var b in c) v += 8 * Math.Exp(-((i - b.X) * (i - b.X) + (y - b.Y) * (y - b.Y)) / (b.R * b.R));
                x[(p * h + y) * w + i] = (float)v;
            }
        }
        return x;
    }

    internal static PlaneStats Reference(float[] x, int plane, int planeStride, int rowStride, int h, int w, double threshold, double offset)
    {
        int hi = 0, lo = 0, area = 0, x0 = int.MaxValue, y0 = int.MaxValue, x1 = -1, y1 = -1;
        for (int y = 0; y < h; y++)
        for (int i = 0; i < w; i++)
        {
            double v = x[plane * planeStride + y * rowStride + i];
            if (v > threshold + offset) hi++;
            if (v > threshold - offset) lo++;
            if (v > 0)
            {
                area++;
                x0 = Math.Min(x0, i); x1 = Math.Max(x1, i); y0 = Math.Min(y0, y); y1 = Math.Max(y1, y);
            }
        }
        return area == 0 ? new PlaneStats(hi, lo, 0, 0, 0, 0, 0) : new PlaneStats(hi, lo, area, x0, y0, x1, y1);
    }

    public static TheoryData<int, int, int, int, int, int, int, bool> Cases() => new()
    {
        // groups of planes, plane h x w, valid region h x w, group (planes measured per group), group stride, fp16
        { 5, 37, 53, 37, 53, 1, 1, false },        // whole odd planes
        { 4, 64, 64, 41, 29, 3, 4, false },        // masks 1..3 of decoder-like groups of 4, partial valid region
        { 3, 256, 256, 171, 256, 3, 4, true },     // the decoder's layout for a 1800x1200 image, fp16 storage
        { 2, 1, 300, 1, 300, 1, 1, false },        // one row
        { 2, 300, 1, 300, 1, 1, 1, true },         // one column
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesCpuReference(int groups, int h, int w, int vh, int vw, int group, int stride, bool fp16)
    {
        var type = fp16 ? DataType.F16 : DataType.F32;
        int totalPlanes = groups * stride, planes = groups * group, offset = stride - group;
        var x = Logits(totalPlanes, h, w, h * 7 + w);
        if (fp16) x = Tests.Reference.ToHalf(x);
        using var tx = Ctx.Upload(x, [totalPlanes, h, w], type, "logits");
        using var stats = Ctx.CreateBuffer(MaskStats.StatsBytes(planes), BufferKind.Readback, "stats");
        using (var cs = Ctx.BeginCommands())
        {
            new MaskStats(Ctx).Record(cs, tx, stats, planes, vh, vw, w, h * w, 0f, 1f, group, stride, offset);
            cs.Submit();
        }
        var raw = new int[planes * MaskStats.Fields];
        stats.Read(MemoryMarshal.AsBytes(raw.AsSpan()));
        var got = MaskStats.Decode(raw, planes);
        bool sawEmpty = false, sawBox = false;
        for (int i = 0; i < planes; i++)
        {
            int src = i / group * stride + offset + i % group;
            var want = Reference(x, src, h * w, w, vh, vw, 0, 1);
            Assert.True(want == got[i], $"plane {i} (source {src}): got {got[i]}, expected {want}");
            sawEmpty |= want.Area == 0;
            sawBox |= want.Area > 0;
        }
        Assert.True(sawBox && sawEmpty, "the case must have empty and non-empty planes");
    }

    [Fact]
    public void BinarizeMatchesThreshold()
    {
        int planes = 3, h = 17, w = 29, pixels = h * w;   // 493 pixels: planes end mid-uint
        var x = Logits(planes, h, w, 5);
        using var tx = Ctx.Upload(x, [planes, h, w], DataType.F32, "logits");
        int bytes = MaskStats.PackedPlaneBytes(pixels);
        using var packed = Ctx.CreateBuffer((ulong)(planes * bytes), BufferKind.Readback, "packed");
        using (var cs = Ctx.BeginCommands())
        {
            new MaskStats(Ctx).Binarize(cs, tx, packed, planes, pixels);
            cs.Submit();
        }
        var got = new byte[planes * bytes];
        packed.Read(got);
        for (int p = 0; p < planes; p++)
        for (int i = 0; i < pixels; i++)
            Assert.True((x[p * pixels + i] > 0 ? 255 : 0) == got[p * bytes + i], $"plane {p} pixel {i}");
    }

    [Fact]
    public void RejectsBadShapes()
    {
        using var x = Ctx.CreateTensor([2, 4, 10, 10]);
        using var stats = Ctx.CreateBuffer(MaskStats.StatsBytes(6), BufferKind.Readback, "stats");
        using var cs = Ctx.BeginCommands();
        var k = new MaskStats(Ctx);
        Assert.Throws<ShapeException>(() => k.Record(cs, x, stats, 7, 10, 10, 10, 100, 0, 1, 3, 4, 1));   // plane 7 is outside
        Assert.Throws<ShapeException>(() => k.Record(cs, x, stats, 6, 10, 11, 10, 100, 0, 1, 3, 4, 1));   // region wider than a row
        Assert.Throws<ShapeException>(() => k.Record(cs, x, stats, 6, 10, 10, 10, 100, 0, 1, 3, 4, 2));   // group runs past its stride
        using var small = Ctx.CreateBuffer(MaskStats.StatsBytes(5), BufferKind.Readback, "small");
        Assert.Throws<ShapeException>(() => k.Record(cs, x, small, 6, 10, 10, 10, 100, 0, 1, 3, 4, 1));
    }
}
