using SamRealtime.Kernels;
using SamRealtime.Vulkan;
using Xunit;

namespace SamRealtime.Tests.Kernels;

// Error metric: elementwise atol 1e-4 (fp32; inputs in [-1, 1], at most a few dozen taps) against a double CPU
// reference of PyTorch's F.interpolate(bilinear, align_corners=False[, antialias=True]); fp16 storage: atol 2e-3.
public sealed class ResizeTests(GpuFixture fixture) : GpuTest(fixture)
{
    /// <summary>Per-axis taps and normalised weights as PyTorch computes them (plain: area_pixel_compute_source_index
    /// clamped at 0; antialias: _compute_indices_weights_aa with the triangle filter). Source positions are computed
    /// in float as PyTorch does for float tensors (at 1200 outputs a double position differs by ~3e-5 pixels);
    /// the weights and the sum are in double.</summary>
    private static (int Lo, double[] W)[] AxisWeights(int inSize, int outSize, bool antialias)
    {
        float scale = (float)inSize / outSize;
        var result = new (int, double[])[outSize];
        for (int o = 0; o < outSize; o++)
        {
            if (antialias && scale > 1)
            {
                float center = scale * (o + 0.5f);
                int lo = Math.Max((int)(center - scale + 0.5), 0);
                int n = Math.Min((int)(center + scale + 0.5), inSize) - lo;
                var w = new double[n];
                double total = 0;
                for (int j = 0; j < n; j++)
                {
                    w[j] = Math.Max(0, 1 - Math.Abs((j + lo - center + 0.5) / scale));
                    total += w[j];
                }
                for (int j = 0; j < n; j++) w[j] /= total;
                result[o] = (lo, w);
            }
            else
            {
                float src = MathF.Max(scale * (o + 0.5f) - 0.5f, 0);
                int i0 = (int)src;
                double l1 = src - i0;   // float subtraction is exact here
                result[o] = i0 < inSize - 1 ? (i0, new[] { 1 - l1, l1 }) : (i0, new[] { 1.0 });
            }
        }
        return result;
    }

    internal static double[] ResizeReference(float[] x, int planes, int inH, int inW, int cropH, int cropW, int outH, int outW, bool aa)
    {
        var wy = AxisWeights(cropH, outH, aa);
        var wx = AxisWeights(cropW, outW, aa);
        var y = new double[planes * outH * outW];
        Parallel.For(0, planes * outH, po =>
        {
            int p = po / outH, oy = po % outH;
            for (int ox = 0; ox < outW; ox++)
            {
                double s = 0;
                var (ly, ky) = wy[oy];
                var (lx, kx) = wx[ox];
                for (int j = 0; j < ky.Length; j++)
                for (int i = 0; i < kx.Length; i++)
                    s += ky[j] * kx[i] * x[(p * inH + ly + j) * inW + lx + i];
                y[(p * outH + oy) * outW + ox] = s;
            }
        });
        return y;
    }

    public static TheoryData<int, int, int, int, int, int, int, bool, bool> Cases() => new()
    {
        // planes, inH, inW, cropH, cropW, outH, outW, antialias, fp16
        { 3, 256, 256, 256, 256, 1024, 1024, false, false },    // mask logits 256 -> 1024 (postprocess)
        { 1, 1024, 1024, 683, 1024, 1200, 1800, false, false },  // crop to the resized frame, then to the original size
        { 1, 1024, 1024, 1024, 683, 1023, 501, false, false },   // crop, odd shrink without antialias
        { 2, 900, 600, 900, 600, 512, 341, true, false },        // antialiased downscale ~1.76x
        { 1, 256, 256, 256, 256, 61, 64, true, false },          // ~4x shrink, many taps
        { 1, 100, 40, 97, 40, 50, 80, true, false },             // one axis shrinks (antialiased), one grows
        { 1, 1, 1, 1, 1, 3, 5, false, false },                   // 1x1 source
        { 1, 7, 5, 7, 5, 1, 1, true, false },                    // down to 1x1
        { 3, 64, 64, 60, 50, 129, 31, true, true },              // fp16
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesCpuReference(int planes, int inH, int inW, int cropH, int cropW, int outH, int outW, bool aa, bool fp16)
    {
        var type = fp16 ? DataType.F16 : DataType.F32;
        var x = Tests.Reference.Random(planes * inH * inW, inH * 3 + inW + outH);
        if (fp16) x = Tests.Reference.ToHalf(x);
        var want = ResizeReference(x, planes, inH, inW, cropH, cropW, outH, outW, aa);
        using var tx = Ctx.Upload(x, [planes, inH, inW], type, "x");
        using var ty = Ctx.CreateTensor([planes, outH, outW], type, "y");
        using (var cs = Ctx.BeginCommands())
        {
            new Resize(Ctx).Record(cs, tx, ty, planes, inH, inW, cropH, cropW, outH, outW, aa);
            cs.Submit();
        }
        Tests.Reference.AssertClose(want, ty.Read(), fp16 ? 2e-3 : 1e-4, 0, $"resize {cropH}x{cropW} of {inH}x{inW} -> {outH}x{outW} aa={aa}");
    }

    [Fact]
    public void AntialiasedUpscaleIsPlainBilinear()
    {
        int inH = 37, inW = 50, outH = 111, outW = 64;
        var x = Tests.Reference.Random(inH * inW, 9);
        var want = ResizeReference(x, 1, inH, inW, inH, inW, outH, outW, aa: false);
        using var tx = Ctx.Upload(x, [1, inH, inW]);
        using var ty = Ctx.CreateTensor([1, outH, outW]);
        using (var cs = Ctx.BeginCommands())
        {
            new Resize(Ctx).Record(cs, tx, ty, 1, inH, inW, inH, inW, outH, outW, antialias: true);
            cs.Submit();
        }
        Tests.Reference.AssertClose(want, ty.Read(), 1e-4, 0, "antialiased upscale");
    }

    [Fact]
    public void RejectsBadShapes()
    {
        using var x = Ctx.CreateTensor([2, 10, 10]);
        using var y = Ctx.CreateTensor([2, 20, 20]);
        using var cs = Ctx.BeginCommands();
        var r = new Resize(Ctx);
        var e = Assert.Throws<ShapeException>(() => r.Record(cs, x, y, 2, 10, 10, 11, 10, 20, 20));   // crop too big
        Assert.Contains("resize", e.Message);
        e = Assert.Throws<ShapeException>(() => r.Record(cs, x, y, 2, 10, 10, 10, 10, 20, 21));
        Assert.Contains("[2x20x21]", e.Message);
        Assert.Throws<ShapeException>(() => r.Record(cs, x, y, 3, 10, 10, 10, 10, 20, 20));
        using var yh = Ctx.CreateTensor([2, 20, 20], DataType.F16);
        Assert.Throws<ShapeException>(() => r.Record(cs, x, yh, 2, 10, 10, 10, 10, 20, 20));
    }
}
