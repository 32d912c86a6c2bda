using SamRealtime.Kernels;
using SamRealtime.Vulkan;
using Xunit;

namespace SamRealtime.Tests.Kernels;

// Error metric: elementwise atol 1e-5 (fp32; inputs in [-1, 1], four taps) against a double CPU reference of
// bilinear sampling clamped to the valid cells; fp16 storage: atol 2e-3.
public sealed class EmbeddingWarpTests(GpuFixture fixture) : GpuTest(fixture)
{
    private const int Side = EmbeddingWarp.Side;

    private static double[] Reference(float[] key, float[] flow, int channels, int validW, int validH)
    {
        var y = new double[channels * Side * Side];
        for (int c = 0; c < channels; c++)
        for (int yy = 0; yy < Side; yy++)
        for (int xx = 0; xx < Side; xx++)
        {
            int i = (c * Side + yy) * Side + xx;
            if (xx >= validW || yy >= validH) { y[i] = key[i]; continue; }
            int cell = yy * Side + xx;
            double sx = Math.Clamp(xx + (double)flow[cell * 2], 0, validW - 1), sy = Math.Clamp(yy + (double)flow[cell * 2 + 1], 0, validH - 1);
            int x0 = (int)Math.Floor(sx), y0 = (int)Math.Floor(sy);
            int x1 = Math.Min(x0 + 1, validW - 1), y1 = Math.Min(y0 + 1, validH - 1);
            double fx = sx - x0, fy = sy - y0;
            double At(int a, int b) => key[(c * Side + b) * Side + a];
            y[i] = (1 - fy) * ((1 - fx) * At(x0, y0) + fx * At(x1, y0)) + fy * ((1 - fx) * At(x0, y1) + fx * At(x1, y1));
        }
        return y;
    }

    [Theory]
    // channels, valid cells, fp16
    [InlineData(7, 64, 48, false)]     // a 4:3 frame: the bottom 16 rows are padding
    [InlineData(3, 37, 64, false)]     // portrait, odd width
    [InlineData(5, 1, 1, false)]       // a one-cell image: every sample clamps to it
    [InlineData(256, 64, 64, true)]    // a whole fp16 embedding
    public void MatchesCpuReference(int channels, int validW, int validH, bool fp16)
    {
        var type = fp16 ? DataType.F16 : DataType.F32;
        var key = Tests.Reference.Random(channels * Side * Side, channels + validW * 7 + validH);
        if (fp16) key = Tests.Reference.ToHalf(key);
        // Offsets up to ±6 cells, fractional, some pointing outside the image (clamped).
        var flow = Tests.Reference.Random(Side * Side * 2, 99).Select(v => v * 6).ToArray();
        var want = Reference(key, flow, channels, validW, validH);
        using var tk = Ctx.Upload(key, [channels, Side, Side], type, "key");
        using var tf = Ctx.Upload(flow, [Side, Side, 2], DataType.F32, "flow");
        using var ty = Ctx.CreateTensor([channels, Side, Side], type, "y");
        using (var cs = Ctx.BeginCommands())
        {
            new EmbeddingWarp(Ctx).Record(cs, tk, tf.Buffer, ty, channels, validW, validH);
            cs.Submit();
        }
        Tests.Reference.AssertClose(want, ty.Read(), fp16 ? 2e-3 : 1e-5, 0, $"embedding warp {channels}ch {validW}x{validH}");
    }

    [Fact]
    public void RejectsBadShapes()
    {
        using var key = Ctx.CreateTensor([2, Side, Side]);
        using var y = Ctx.CreateTensor([2, Side, Side]);
        using var flow = Ctx.CreateTensor([Side, Side, 2]);
        using var small = Ctx.CreateTensor([Side, 2]);
        using var cs = Ctx.BeginCommands();
        var w = new EmbeddingWarp(Ctx);
        Assert.Throws<ShapeException>(() => w.Record(cs, key, flow.Buffer, y, 3, 64, 64));     // more channels than held
        Assert.Throws<ShapeException>(() => w.Record(cs, key, flow.Buffer, y, 2, 65, 64));     // valid cells beyond the grid
        Assert.Throws<ShapeException>(() => w.Record(cs, key, small.Buffer, y, 2, 64, 64));    // flow too short
        Assert.Throws<ShapeException>(() => w.Record(cs, key, flow.Buffer, key, 2, 64, 64));   // in place
    }
}
