using SamRealtime.Kernels;
using SamRealtime.Model;
using SamRealtime.Tracking;
using SamRealtime.Vulkan;
using Xunit;

namespace SamRealtime.Tests.Kernels;

// logit_warp against bilinear resampling done in double on the CPU, with the plane's minimum where a tap falls outside.
// The Motion case also checks ObjectBatch.CellMap: its reference maps every cell through pixels the long way (the
// tracker's former CPU warp, in double), not through the affine coefficients the kernel gets.
public sealed class LogitWarpTests(GpuFixture fixture) : GpuTest(fixture)
{
    private static float[] Smooth(int planes, int cols, int rows, int seed)
    {
        var rng = new Random(seed);
        var x = new float[planes * cols * rows];
        for (int p = 0; p < planes; p++)
        {
            double cx = rng.Next(cols), cy = rng.Next(rows), r = Math.Max(cols, rows) / 3.0;
            for (int y = 0; y < rows; y++)
            for (int c = 0; c < cols; c++)
                x[(p * rows + y) * cols + c] = (float)((r - Math.Sqrt((c - cx) * (c - cx) + (y - cy) * (y - cy))) / 4 + rng.NextDouble() - 0.5);
        }
        return x;
    }

    private static double Bilinear(float[] src, int offset, int cols, int rows, double fill, double su, double sv)
    {
        int iu = (int)Math.Floor(su), iv = (int)Math.Floor(sv);
        double fu = su - iu, fv = sv - iv;
        double At(int a, int b) => a < 0 || b < 0 || a >= cols || b >= rows ? fill : src[offset + b * cols + a];
        return (1 - fv) * ((1 - fu) * At(iu, iv) + fu * At(iu + 1, iv)) + fv * ((1 - fu) * At(iu, iv + 1) + fu * At(iu + 1, iv + 1));
    }

    private float[] RunKernel(float[] src, int srcPlanes, int srcPlane, int dstPlanes, int dstPlane, int cols, int rows, LogitWarp.Map map)
    {
        using var s = Ctx.Upload(src, [srcPlanes, rows, cols]);
        using var d = Ctx.Upload(new float[dstPlanes * rows * cols], [dstPlanes, rows, cols]);
        using (var cs = Ctx.BeginCommands())
        {
            new LogitWarp(Ctx).Record(cs, s, srcPlane, d, dstPlane, cols, rows, map);
            cs.Submit();
        }
        var all = d.Read();
        for (int i = 0; i < all.Length; i++)
            if (i / (cols * rows) != dstPlane) Assert.Equal(0f, all[i]);   // other planes untouched
        return all.AsSpan(dstPlane * cols * rows, cols * rows).ToArray();
    }

    [Fact]
    public void WarpsAnOddPlaneByARotatedScaledShiftedMap()
    {
        const int cols = 37, rows = 23;
        var src = Smooth(2, cols, rows, 7);
        // Turned by 0.4 rad, scaled by 0.8, shifted: part of the plane maps from outside.
        double c = 0.8 * Math.Cos(0.4), s = 0.8 * Math.Sin(0.4);
        var map = new LogitWarp.Map((float)c, (float)-s, 6.5f, (float)s, (float)c, -3.25f);
        var got = RunKernel(src, 2, 1, 3, 2, cols, rows, map);
        int offset = cols * rows;
        double fill = src.Skip(offset).Take(offset).Min();
        int outside = 0;
        for (int v = 0; v < rows; v++)
        for (int u = 0; u < cols; u++)
        {
            double su = c * u - s * v + 6.5, sv = s * u + c * v - 3.25;
            if (su < -1 || sv < -1 || su > cols || sv > rows) outside++;
            double want = Bilinear(src, offset, cols, rows, fill, su, sv);
            Assert.True(Math.Abs(got[v * cols + u] - want) <= 1e-4 * (1 + Math.Abs(want)), $"({u},{v}): {got[v * cols + u]} vs {want}");
        }
        Assert.True(outside > 20, "the map should reach outside the plane");
    }

    [Theory]
    [InlineData(517, 301)]   // landscape, odd
    [InlineData(283, 611)]   // portrait, odd
    public void MovesTrackerLogitsByAMotionOfImagePixels(int width, int height)
    {
        var motion = new Motion(1.1f * MathF.Cos(0.2f), 1.1f * MathF.Sin(0.2f), 23, -17);
        const int side = FramePipeline.LowRes;
        var src = Smooth(3, side, side, width);
        var got = RunKernel(src, 3, 1, 2, 0, side, side, ObjectBatch.CellMap(motion, width, height));

        // The reference: cell centre → image pixel → inverse motion → cell, in double.
        var (rh, rw) = Prompt.ResizedSize(height, width);
        double kx = rw / (double)width / 4, ky = rh / (double)height / 4;
        double a = motion.A, b = motion.B, d = a * a + b * b;
        int offset = side * side;
        double fill = src.Skip(offset).Take(offset).Min();
        for (int v = 0; v < side; v++)
        for (int u = 0; u < side; u++)
        {
            double x = (u + 0.5) / kx - 0.5 - motion.Tx, y = (v + 0.5) / ky - 0.5 - motion.Ty;
            double px = (a * x + b * y) / d, py = (-b * x + a * y) / d;
            double want = Bilinear(src, offset, side, side, fill, (px + 0.5) * kx - 0.5, (py + 0.5) * ky - 0.5);
            Assert.True(Math.Abs(got[v * side + u] - want) <= 1e-3 * (1 + Math.Abs(want)), $"({u},{v}): {got[v * side + u]} vs {want}");
        }
    }

    [Fact]
    public void RefusesAnAliasedOrOutOfRangePlane()
    {
        using var t = Ctx.Upload(new float[2 * 5 * 7], [2, 5, 7]);
        using var cs = Ctx.BeginCommands();
        var warp = new LogitWarp(Ctx);
        var id = new LogitWarp.Map(1, 0, 0, 0, 1, 0);
        Assert.Throws<ShapeException>(() => warp.Record(cs, t, 0, t, 1, 7, 5, id));
        using var d = Ctx.Upload(new float[5 * 7], [5, 7]);
        Assert.Throws<ShapeException>(() => warp.Record(cs, t, 2, d, 0, 7, 5, id));
        Assert.Throws<ShapeException>(() => warp.Record(cs, t, 0, d, 1, 7, 5, id));
    }
}
