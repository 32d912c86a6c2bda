using SamRealtime.Kernels;
using SamRealtime.Vulkan;
using Xunit;

namespace SamRealtime.Tests.Kernels;

// Metric (LayerNorm, LayerNorm2d): max |got - want| against a two-pass double reference, ≤ 1e-4 for fp32 (plus an
// NMSE bound, which catches a small error spread everywhere); fp16 storage: atol/rtol sized to the final store's
// 2^-11 relative rounding, NMSE ≤ 1e-5.
public sealed class NormTests(GpuFixture fixture) : GpuTest(fixture)
{

    private static double[] LayerNorm2dRef(float[] x, float[] g, float[] b, int n, int c, int hw, double eps, Activation act)
    {
        var y = new double[n * c * hw];
        for (int z = 0; z < n; z++)
        for (int p = 0; p < hw; p++)
        {
            double mean = 0, v = 0;
            for (int j = 0; j < c; j++) mean += x[(z * c + j) * hw + p];
            mean /= c;
            for (int j = 0; j < c; j++) { double d = x[(z * c + j) * hw + p] - mean; v += d * d; }
            double rstd = 1 / Math.Sqrt(v / c + eps);
            for (int j = 0; j < c; j++)
            {
                double o = (x[(z * c + j) * hw + p] - mean) * rstd * g[j] + b[j];
                y[(z * c + j) * hw + p] = act switch { Activation.Gelu => Reference.Gelu(o), Activation.Relu => Math.Max(o, 0), _ => o };
            }
        }
        return y;
    }

    private static void Check(double[] want, float[] got, bool fp16, string what)
    {
        double nmse = Reference.Nmse(want, got);
        if (fp16)
        {
            Reference.AssertClose(want, got, 4e-3, 2e-3, what);
            Assert.True(nmse <= 1e-5, $"{what}: NMSE {nmse:E2}");
        }
        else
        {
            Reference.AssertClose(want, got, 1e-4, 0, what);
            Assert.True(nmse <= 1e-10, $"{what}: NMSE {nmse:E2}");
        }
    }

    public static TheoryData<int, int, bool> LayerNormCases() => new()
    {
        // rows, channels, fp16
        { 4096, 64, false },   // TinyViT stage widths over 64x64 tokens
        { 4096, 128, false },
        { 4096, 160, false },
        { 4096, 320, false },
        { 1, 257, false },     // one row, odd width (scalar path)
        { 33, 1, false },      // a single channel: variance 0, output = beta
        { 65, 3, false },
        { 70, 257, false },
        { 4096, 64, true },
        { 1024, 320, true },
        { 65, 3, true },
    };

    [Theory]
    [MemberData(nameof(LayerNormCases))]
    public void LayerNormMatchesReference(int rows, int c, bool fp16)
    {
        var type = fp16 ? DataType.F16 : DataType.F32;
        var x = Reference.Random(rows * c, rows + c, 3f);
        var g = Reference.Random(c, c + 1);
        var b = Reference.Random(c, c + 2);
        // Shift each row so the mean is not ~0 (x - mean matters) and varies by row.
        for (int r = 0; r < rows; r++) for (int j = 0; j < c; j++) x[r * c + j] += (r % 7) - 3;
        if (fp16) { x = Reference.ToHalf(x); g = Reference.ToHalf(g); b = Reference.ToHalf(b); }
        var got = RunLayerNorm(x, g, b, rows, c, 1e-5f, type);
        Check(Tests.Reference.LayerNorm(x, g, b, rows, c, 1e-5), got, fp16, $"layernorm {rows}x{c} {type}");
    }

    public static TheoryData<int, int, int, bool> LayerNormActivationCases() => new()
    {
        // rows, channels, act, fp16
        { 128 * 128, 64, 1, false },   // the decoder's channels-last LayerNorm2d + GELU
        { 65, 3, 1, false },           // scalar path
        { 70, 257, 2, false },         // ReLU, odd width
        { 4096, 64, 1, true },
    };

    [Theory]
    [MemberData(nameof(LayerNormActivationCases))]
    public void LayerNormWithActivationMatchesReference(int rows, int c, int act, bool fp16)
    {
        var type = fp16 ? DataType.F16 : DataType.F32;
        var x = Reference.Random(rows * c, rows + 3 * c, 2f);
        var g = Reference.Random(c, c + 7);
        var b = Reference.Random(c, c + 8);
        for (int r = 0; r < rows; r++) for (int j = 0; j < c; j++) x[r * c + j] += (r % 5) - 2;
        if (fp16) { x = Reference.ToHalf(x); g = Reference.ToHalf(g); b = Reference.ToHalf(b); }
        var want = Tests.Reference.LayerNorm(x, g, b, rows, c, 1e-6)
            .Select(o => (Activation)act switch { Activation.Gelu => Reference.Gelu(o), Activation.Relu => Math.Max(o, 0), _ => o }).ToArray();
        var got = RunLayerNorm(x, g, b, rows, c, 1e-6f, type, (Activation)act);
        Check(want, got, fp16, $"layernorm {rows}x{c} act {act} {type}");
    }

    [Fact]
    public void LayerNormLargeMean()
    {
        // 1000 + noise of std ~0.006: E[x²] - E[x]² in fp32 loses the variance entirely (x² ≈ 1e6 has an ulp of 0.06,
        // ~2000x the variance); a two-pass kernel must still be within 1e-4 of the double reference.
        int rows = 256, c = 320;
        var x = Reference.Random(rows * c, 42, 0.01f).Select(v => 1000f + v).ToArray();
        var g = Reference.Random(c, 43);
        var b = Reference.Random(c, 44);
        var got = RunLayerNorm(x, g, b, rows, c, 1e-6f, DataType.F32);
        Check(Tests.Reference.LayerNorm(x, g, b, rows, c, 1e-6), got, false, "layernorm large mean");
        // The same for the NCHW kernel: 1000 + noise along the channels of every pixel.
        var got2d = RunLayerNorm2d(x, g, b, 1, c, rows, 1e-6f, Activation.None, DataType.F32);
        Check(LayerNorm2dRef(x, g, b, 1, c, rows, 1e-6, Activation.None), got2d, false, "layernorm2d large mean");
    }

    [Theory]
    [InlineData(4096, 256, false)]   // the encoder's last norm writing the NCHW embedding
    [InlineData(33, 7, false)]       // scalar path, odd sizes
    [InlineData(70, 36, true)]
    public void LayerNormTransposedOutputMatchesReference(int rows, int c, bool fp16)
    {
        var type = fp16 ? DataType.F16 : DataType.F32;
        var x = Reference.Random(rows * c, rows + 5 * c, 2f);
        var g = Reference.Random(c, c + 3);
        var b = Reference.Random(c, c + 4);
        if (fp16) { x = Reference.ToHalf(x); g = Reference.ToHalf(g); b = Reference.ToHalf(b); }
        var rowsFirst = Tests.Reference.LayerNorm(x, g, b, rows, c, 1e-6);
        var want = new double[rows * c];
        for (int r = 0; r < rows; r++) for (int j = 0; j < c; j++) want[j * rows + r] = rowsFirst[r * c + j];
        using var tx = Ctx.Upload(x, [rows, c], type, "x");
        using var tg = Ctx.Upload(g, [c], type, "gamma");
        using var tb = Ctx.Upload(b, [c], type, "beta");
        using var ty = Ctx.CreateTensor([c, rows], type, "y");
        using (var cs = Ctx.BeginCommands())
        {
            new LayerNorm(Ctx).Record(cs, tx, ty, tg, tb, rows, c, 1e-6f, transposedOutput: true);
            cs.Submit();
        }
        Check(want, ty.Read(), fp16, $"layernorm transposed {rows}x{c} {type}");
    }

    public static TheoryData<int, int, int, int, bool> LayerNorm2dCases() => new()
    {
        // batch, channels, hw, act, fp16
        { 1, 256, 64 * 64, 0, false },    // neck
        { 1, 64, 128 * 128, 1, false },   // decoder upscaling: LayerNorm2d + GELU
        { 1, 32, 256 * 256 / 16, 1, false },
        { 2, 3, 7 * 5, 1, false },        // hw not a multiple of 4 (ragged path), batch 2
        { 3, 1, 9, 0, false },            // one channel
        { 1, 257, 13, 2, false },
        { 2, 3, 36, 1, false },           // hw % 4 == 0 with fewer channels than one register chunk
        { 1, 37, 64, 0, false },          // a partial last chunk
        { 1, 64, 128 * 128, 1, true },
        { 2, 5, 11, 1, true },
    };

    [Theory]
    [MemberData(nameof(LayerNorm2dCases))]
    public void LayerNorm2dMatchesReference(int n, int c, int hw, int act, bool fp16)
    {
        var type = fp16 ? DataType.F16 : DataType.F32;
        var x = Reference.Random(n * c * hw, c * 3 + hw, 2f);
        for (int i = 0; i < x.Length; i++) x[i] += (i % hw % 5) - 2;   // per-pixel offsets
        var g = Reference.Random(c, c + 5);
        var b = Reference.Random(c, c + 6);
        if (fp16) { x = Reference.ToHalf(x); g = Reference.ToHalf(g); b = Reference.ToHalf(b); }
        var got = RunLayerNorm2d(x, g, b, n, c, hw, 1e-6f, (Activation)act, type);
        Check(LayerNorm2dRef(x, g, b, n, c, hw, 1e-6, (Activation)act), got, fp16, $"layernorm2d {n}x{c}x{hw} act {act} {type}");
    }

    [Fact]
    public void RejectsBadShapesAndAliasing()
    {
        using var x = Ctx.CreateTensor([16, 8]);
        using var y = Ctx.CreateTensor([16, 8]);
        using var g = Ctx.CreateTensor([8]);
        using var h = Ctx.CreateTensor([16, 8], DataType.F16);
        using var cs = Ctx.BeginCommands();
        var ln = new LayerNorm(Ctx);
        var e = Assert.Throws<ShapeException>(() => ln.Record(cs, x, y, g, g, 16, 9, 1e-5f));
        Assert.Contains("layernorm", e.Message);
        Assert.Contains("[16x8]", e.Message);
        e = Assert.Throws<ShapeException>(() => ln.Record(cs, x, x, g, g, 16, 8, 1e-5f));
        Assert.Contains("same tensor", e.Message);
        Assert.Throws<ShapeException>(() => ln.Record(cs, h, y, g, g, 16, 8, 1e-5f));
        var ln2 = new LayerNorm2d(Ctx);
        Assert.Throws<ShapeException>(() => ln2.Record(cs, x, y, g, g, 1, 16, 8, 1e-5f));   // gamma shorter than C
        Assert.Throws<ShapeException>(() => ln2.Record(cs, x, y, g, g, 2, 8, 9, 1e-5f));
        Assert.Throws<ShapeException>(() => ln2.Record(cs, x, x, g, g, 1, 8, 16, 1e-5f));
    }

    private float[] RunLayerNorm(float[] x, float[] g, float[] b, int rows, int c, float eps, DataType type, Activation act = Activation.None)
    {
        using var tx = Ctx.Upload(x, [rows, c], type, "x");
        using var tg = Ctx.Upload(g, [c], type, "gamma");
        using var tb = Ctx.Upload(b, [c], type, "beta");
        using var ty = Ctx.CreateTensor([rows, c], type, "y");
        // Both shaders (texels where C % 4 == 0, storage buffers): the same arithmetic, so the same bits.
        float[]? first = null;
        foreach (bool texel in new[] { true, false })
        {
            var ln = new LayerNorm(Ctx) { AllowTexel = texel };
            using (var cs = Ctx.BeginCommands())
            {
                ln.Record(cs, tx, ty, tg, tb, rows, c, eps, act);
                cs.Submit();
            }
            Assert.Equal(texel && c % 4 == 0 ? "texel" : "storage", ln.LastPath);
            var got = ty.Read();
            if (first is null) first = got;
            else Assert.Equal(first, got);
        }
        return first!;
    }

    private float[] RunLayerNorm2d(float[] x, float[] g, float[] b, int n, int c, int hw, float eps, Activation act, DataType type)
    {
        using var tx = Ctx.Upload(x, [n, c, hw], type, "x");
        using var tg = Ctx.Upload(g, [c], type, "gamma");
        using var tb = Ctx.Upload(b, [c], type, "beta");
        using var ty = Ctx.CreateTensor([n, c, hw], type, "y");
        using (var cs = Ctx.BeginCommands())
        {
            new LayerNorm2d(Ctx).Record(cs, tx, ty, tg, tb, n, c, hw, eps, act);
            cs.Submit();
        }
        return ty.Read();
    }
}
