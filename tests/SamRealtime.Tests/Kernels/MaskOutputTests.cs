using SamRealtime.Kernels;
using SamRealtime.Model;
using SamRealtime.Vulkan;
using Xunit;

namespace SamRealtime.Tests.Kernels;

// mask_render (separable in two passes, or in one) against SAM's postprocessing done the long way in double: bilinear 256 -> 1024, crop to the resized
// image, bilinear to the frame (ResizeTests' PyTorch reference twice), then threshold / largest positive logit.
// Pixels whose reference logit is within 1e-4 of a decision (0, or the runner-up object) are not compared: fp32 may
// fall either side there. object_stats against a CPU box and cell count.
public sealed class MaskOutputTests(GpuFixture fixture) : GpuTest(fixture)
{
    private static float[] SmoothLogits(int planes, int seed)
    {
        // Blobs rather than noise: real logits are smooth, and most pixels then sit far from the threshold.
        var rng = new Random(seed);
        var x = new float[planes * 65536];
        for (int p = 0; p < planes; p++)
        {
            double cx = rng.Next(40, 200), cy = rng.Next(40, 200), r = rng.Next(20, 70);
            for (int y = 0; y < 256; y++)
                for (int c = 0; c < 256; c++)
                    x[p * 65536 + y * 256 + c] = (float)((r - Math.Sqrt((c - cx) * (c - cx) + (y - cy) * (y - cy))) / 8 + (rng.NextDouble() - 0.5) * 0.2);
        }
        return x;
    }

    private static double[] Reference(float[] logits, int planes, int width, int height)
    {
        var up = ResizeTests.ResizeReference(logits, planes, 256, 256, 256, 256, 1024, 1024, false);
        var (rh, rw) = Prompt.ResizedSize(height, width);
        return ResizeTests.ResizeReference(up.Select(v => (float)v).ToArray(), planes, 1024, 1024, rh, rw, height, width, false);
    }

    [Theory]
    [InlineData(37, 23, true, true)]     // odd, not whole uints of pixels, taller crop than frame
    [InlineData(301, 157, true, true)]
    [InlineData(90, 200, true, true)]    // portrait
    [InlineData(37, 23, false, true)]    // sources as storage buffers (devices without R32F texel buffers)
    [InlineData(90, 200, false, true)]
    [InlineData(301, 157, true, false)]  // one pass (rows over the render's memory budget)
    [InlineData(37, 23, false, false)]
    public void RenderedMasksMatchTheTwoResizesAndTheThreshold(int width, int height, bool texel, bool separable)
    {
        const int planes = 3;
        var logits = SmoothLogits(planes, width * 31 + height);
        var scores = new float[] { 0.9f, 0.4f, 0.7f };
        var labels = new float[] { 5, 9, 200 };
        using var chosen = Ctx.Upload(logits, [planes, 256, 256]);
        using var sc = Ctx.Upload(scores, [planes]);
        using var lb = Ctx.Upload(labels, [planes]);
        ulong bytes = MaskOutput.PackedBytes((long)width * height);
        using var separate = Ctx.CreateBuffer(planes * bytes, BufferKind.Device, "separate");
        using var combined = Ctx.CreateBuffer(bytes, BufferKind.Device, "combined");
        var output = new MaskOutput(Ctx) { AllowTexel = texel };
        using var rows = separable ? Ctx.CreateBuffer(output.RowsBytes(planes, width), BufferKind.Device, "rows") : null;
        using (var cs = Ctx.BeginCommands())
        {
            output.Render(cs, chosen, sc, sc, separate, planes, 1, width, height, binary: true, minScore: float.MinValue, rows);
            output.Render(cs, chosen, lb, sc, combined, 1, planes, width, height, binary: false, minScore: 0.5f, rows);
            Assert.Equal(separable ? 4 : 2, cs.DispatchCount);
            cs.Submit();
        }
        var sep = new byte[planes * bytes];
        separate.Read(sep);
        var comb = new byte[bytes];
        combined.Read(comb);

        var want = Reference(logits, planes, width, height);
        int n = width * height, compared = 0;
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < n; i++)
            {
                double v = want[p * n + i];
                if (Math.Abs(v) < 1e-4) continue;
                compared++;
                Assert.True(sep[(int)((ulong)p * bytes) + i] == (v > 0 ? 255 : 0), $"plane {p} pixel {i}: logit {v}, got {sep[(int)((ulong)p * bytes) + i]}");
            }
        for (int i = 0; i < n; i++)
        {
            // Plane 1 scores below the floor and is left out.
            double a = want[i], c = want[2 * n + i];
            if (Math.Abs(a) < 1e-4 || Math.Abs(c) < 1e-4 || Math.Abs(a - c) < 1e-4) continue;
            byte expected = a <= 0 && c <= 0 ? (byte)0 : a > c ? (byte)5 : (byte)200;
            Assert.True(comb[i] == expected, $"combined pixel {i}: logits {a} / {c}, got {comb[i]}");
        }
        Assert.True(compared > planes * n * 9 / 10, $"only {compared} of {planes * n} pixels were away from the threshold");
        // Padding bytes of the last uint stay 0.
        for (ulong i = (ulong)n; i < bytes; i++) Assert.Equal(0, comb[i]);
    }

    [Fact]
    public void ObjectStatsGiveTheBoxAndCellCount()
    {
        const int objects = 2, width = 640, height = 427;   // resized 1024x683: rows of cells 171+ are padding
        var logits = SmoothLogits(objects, 7);
        // Object 1 also covers padding rows: those cells do not count for the box or area.
        for (int y = 160; y < 256; y++) for (int x = 10; x < 20; x++) logits[65536 + y * 256 + x] = 3;
        using var chosen = Ctx.Upload(logits, [objects, 256, 256]);
        using var stats = Ctx.CreateTensor([objects, MaskOutput.StatsStride]);
        using (var cs = Ctx.BeginCommands())
        {
            new MaskOutput(Ctx).Stats(cs, chosen, stats, objects, width, height);
            cs.Submit();
        }
        var got = stats.Read();
        var (rh, rw) = Prompt.ResizedSize(height, width);
        int vw = (rw + 3) / 4, vh = (rh + 3) / 4;
        for (int o = 0; o < objects; o++)
        {
            int x0 = 256, y0 = 256, x1 = -1, y1 = -1, area = 0;
            for (int y = 0; y < vh; y++)
                for (int x = 0; x < vw; x++)
                    if (logits[o * 65536 + y * 256 + x] > 0)
                    {
                        x0 = Math.Min(x0, x); x1 = Math.Max(x1, x); y0 = Math.Min(y0, y); y1 = Math.Max(y1, y); area++;
                    }
            var s = got.AsSpan(o * MaskOutput.StatsStride, MaskOutput.StatsStride);
            Assert.Equal([x0, y0, x1, y1, area], new[] { (int)s[0], (int)s[1], (int)s[2], (int)s[3], (int)s[4] });
        }
    }
}
