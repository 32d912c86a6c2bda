using SamRealtime.Kernels;
using SamRealtime.Vulkan;
using Xunit;
using Xunit.Abstractions;

namespace SamRealtime.Tests.Kernels;

// Error metric: elementwise |got - want| <= atol + rtol·|want| against a double-precision CPU reference, with
// atol growing with sqrt(K) (K = Cin/groups · kh · kw terms per output): fp32 atol 1e-5·sqrt(K), rtol 1e-5;
// fp16 storage (inputs rounded to fp16 in the reference too) atol 2e-2 + 1e-3·sqrt(K), rtol 2e-3 for the final store.
public sealed class ConvTests(GpuFixture fixture, ITestOutputHelper output) : GpuTest(fixture)
{
    private static double[] ConvReference(float[] x, float[] w, float[]? bias, float[]? res, int n, int cin, int h, int wd,
                                          int cout, int kh, int kw, int stride, int pad, int groups, Activation act)
    {
        int oh = (h + 2 * pad - kh) / stride + 1, ow = (wd + 2 * pad - kw) / stride + 1;
        int cinG = cin / groups, coutG = cout / groups;
        var y = new double[n * cout * oh * ow];
        Parallel.For(0, n * cout, nc =>
        {
            int b = nc / cout, co = nc % cout, g = co / coutG;
            for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
            {
                double s = bias?[co] ?? 0;
                for (int ci = 0; ci < cinG; ci++)
                for (int ky = 0; ky < kh; ky++)
                {
                    int iy = oy * stride - pad + ky;
                    if (iy < 0 || iy >= h) continue;
                    for (int kx = 0; kx < kw; kx++)
                    {
                        int ix = ox * stride - pad + kx;
                        if (ix < 0 || ix >= wd) continue;
                        s += (double)x[((b * cin + g * cinG + ci) * h + iy) * wd + ix] * w[((co * cinG + ci) * kh + ky) * kw + kx];
                    }
                }
                s = Act(s, act);
                int o = ((b * cout + co) * oh + oy) * ow + ox;
                if (res is not null) s += res[o];
                y[o] = s;
            }
        });
        return y;
    }

    /// <summary>[C, pixels] (NCHW, batch 1) → [pixels, C]: the channels-last kernels' layout.</summary>
    /// <summary>[batch, c, pixels] → [batch, pixels, c] (the batch is whatever the length holds).</summary>
    private static T[] ToNhwc<T>(T[] a, int c, int pixels)
    {
        var o = new T[a.Length];
        int per = c * pixels;
        for (int b = 0; b < a.Length / per; b++)
            for (int ch = 0; ch < c; ch++) for (int p = 0; p < pixels; p++) o[b * per + p * c + ch] = a[b * per + ch * pixels + p];
        return o;
    }

    private static double Act(double s, Activation act) =>
        act switch { Activation.Gelu => Tests.Reference.Gelu(s), Activation.Relu => Math.Max(s, 0), _ => s };

    public static IEnumerable<object[]> Cases() => new object[][]
    {
        // batch, cin, h, w, cout, kh, kw, stride, pad, groups, bias, act, residual, fp16
        [ 1, 3, 1024, 1024, 32, 3, 3, 2, 1, 1, true, 1, false, false ],  // TinyViT stem conv 1, full size, GELU
        [ 1, 32, 64, 64, 64, 3, 3, 2, 1, 1, true, 0, false, false ],     // stem conv 2 (512->256 in the model), cropped
        [ 1, 64, 64, 64, 256, 1, 1, 1, 0, 1, true, 1, false, false ],    // MBConv expand 1x1 (256x256 in the model), cropped
        [ 1, 256, 64, 64, 64, 1, 1, 1, 0, 1, true, 0, true, false ],     // MBConv project 1x1 + residual
        [ 1, 128, 64, 64, 128, 3, 3, 1, 1, 128, true, 1, false, false ], // depthwise 3x3 stride 1
        [ 1, 128, 64, 64, 128, 3, 3, 2, 1, 128, true, 0, false, false ], // PatchMerging depthwise 3x3 stride 2
        [ 1, 320, 64, 64, 256, 1, 1, 1, 0, 1, false, 0, false, false ],  // neck 1x1 320->256, full size
        [ 1, 256, 16, 16, 256, 3, 3, 1, 1, 1, false, 0, false, false ],  // neck 3x3 256->256 (64x64 in the model), cropped
        [ 2, 6, 13, 17, 4, 5, 5, 1, 2, 2, true, 1, true, false ],        // k5, groups 2, odd sizes, batch 2
        [ 1, 5, 9, 11, 1, 1, 1, 2, 0, 1, false, 0, false, false ],       // k1 stride 2, Cout 1
        [ 1, 5, 9, 11, 5, 3, 3, 2, 0, 5, true, 2, true, false ],         // depthwise odd, pad 0, ReLU, residual
        [ 1, 3, 15, 7, 7, 3, 3, 1, 1, 1, true, 0, false, false ],        // Cout 7: one channel per invocation
        [ 1, 4, 23, 3, 6, 5, 3, 2, 1, 2, false, 2, false, false ],       // non-square kernel, narrow image
        [ 1, 16, 1, 1, 8, 1, 1, 1, 0, 1, true, 0, false, false ],        // 1x1 image
        [ 1, 32, 20, 20, 64, 3, 3, 1, 1, 1, true, 1, true, true ],       // fp16
        [ 1, 64, 33, 31, 64, 3, 3, 2, 1, 64, true, 1, false, true ],     // fp16 depthwise stride 2, odd
        [ 2, 3, 13, 11, 5, 3, 3, 2, 1, 1, true, 1, true, true ],         // unfolded B: batch 2, residual, fp16
        [ 1, 1, 10, 9, 6, 3, 3, 1, 0, 1, false, 0, false, false ],       // unfolded B: one channel, pad 0
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesCpuReference(int n, int cin, int h, int w, int cout, int kh, int kw, int stride, int pad, int groups,
                                    bool withBias, int act, bool withRes, bool fp16)
    {
        var type = fp16 ? DataType.F16 : DataType.F32;
        int oh = (h + 2 * pad - kh) / stride + 1, ow = (w + 2 * pad - kw) / stride + 1;
        int cinG = cin / groups;
        int seed = cin * 131 + cout * 17 + h + kh;
        var x = Tests.Reference.Random(n * cin * h * w, seed);
        var wt = Tests.Reference.Random(cout * cinG * kh * kw, seed + 1);
        var bias = withBias ? Tests.Reference.Random(cout, seed + 2) : null;
        var res = withRes ? Tests.Reference.Random(n * cout * oh * ow, seed + 3) : null;
        if (fp16)
        {
            x = Tests.Reference.ToHalf(x); wt = Tests.Reference.ToHalf(wt);
            if (bias is not null) bias = Tests.Reference.ToHalf(bias);
            if (res is not null) res = Tests.Reference.ToHalf(res);
        }
        var want = ConvReference(x, wt, bias, res, n, cin, h, w, cout, kh, kw, stride, pad, groups, (Activation)act);

        using var tx = Ctx.Upload(x, [n, cin, h, w], type, "x");
        using var tw = Ctx.Upload(wt, [cout, cinG, kh, kw], type, "w");
        using var tb = bias is null ? null : Ctx.Upload(bias, [cout], type, "bias");
        using var tr = res is null ? null : Ctx.Upload(res, [n, cout, oh, ow], type, "res");
        using var ty = Ctx.CreateTensor([n, cout, oh, ow], type, "y");
        int k = cinG * kh * kw;
        double atol = fp16 ? 2e-2 + 1e-3 * Math.Sqrt(k) : 1e-5 * Math.Sqrt(k);
        double rtol = fp16 ? 2e-3 : 1e-5;
        // Both the GEMM route (ungrouped convs) and the direct kernel must match the reference.
        foreach (var allowGemm in new[] { true, false })
        {
            var conv = new Conv2d(Ctx) { AllowGemm = allowGemm };
            using (var cs = Ctx.BeginCommands())
            {
                conv.Record(cs, tx, tw, tb, ty, n, cin, h, w, cout, kh, kw, stride, pad, groups, (Activation)act, tr);
                cs.Submit();
            }
            bool pointwise = kh == 1 && kw == 1 && stride == 1 && pad == 0;
            if (groups == 1 && allowGemm && Ctx.Info.UniformTexelRgba32F)
                Assert.Equal(pointwise ? "gemm" : kh == kw && k % 4 != 0 ? "unfolded-gemm" : "im2col+gemm", conv.LastPath);
            else Assert.Equal("direct", conv.LastPath);
            Tests.Reference.AssertClose(want, ty.Read(), atol, rtol, $"conv2d ({conv.LastPath}) {cin}->{cout} {h}x{w} k{kh}x{kw} s{stride} p{pad} g{groups}");
        }
    }

    public static TheoryData<int, int, int, int, int, bool, int, bool, bool> DepthwiseCases() => new()
    {
        // c, h, w, k, stride, bias, act, residual, fp16
        { 128, 64, 64, 3, 1, true, 0, false, false },   // TinyViT local conv (stage 1 map)
        { 160, 32, 32, 3, 2, true, 1, false, false },   // patch merging depthwise stride 2 + GELU
        { 320, 64, 64, 3, 1, true, 0, true, false },    // stage 3 width, residual
        { 8, 13, 7, 5, 2, false, 2, false, false },     // k5, odd map narrower than a strip, ReLU
        { 4, 1, 1, 3, 1, true, 1, true, false },        // 1x1 map: only the centre tap
        { 64, 33, 31, 3, 2, true, 1, false, true },     // fp16, odd
    };

    [Theory]
    [MemberData(nameof(DepthwiseCases))]
    public void DepthwiseChannelsLastMatchesCpuReference(int c, int h, int w, int k, int stride, bool withBias, int act, bool withRes, bool fp16)
    {
        var type = fp16 ? DataType.F16 : DataType.F32;
        int pad = k / 2;
        int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
        int seed = c * 13 + h * 7 + k;
        var x = Tests.Reference.Random(c * h * w, seed);
        var wt = Tests.Reference.Random(c * k * k, seed + 1);
        var bias = withBias ? Tests.Reference.Random(c, seed + 2) : null;
        var res = withRes ? Tests.Reference.Random(c * oh * ow, seed + 3) : null;
        if (fp16)
        {
            x = Tests.Reference.ToHalf(x); wt = Tests.Reference.ToHalf(wt);
            if (bias is not null) bias = Tests.Reference.ToHalf(bias);
            if (res is not null) res = Tests.Reference.ToHalf(res);
        }
        // The reference works on NCHW; the kernel reads and writes [H, W, C].
        var wantNhwc = ToNhwc(ConvReference(x, wt, bias, res, 1, c, h, w, c, k, k, stride, pad, c, (Activation)act), c, oh * ow);

        using var tx = Ctx.Upload(ToNhwc(x, c, h * w), [h * w, c], type, "x");
        using var tw = Ctx.Upload(DepthwiseConv.TapsMajor(wt, c, k), [k * k, c], type, "w");
        using var tb = bias is null ? null : Ctx.Upload(bias, [c], type, "bias");
        using var tr = res is null ? null : Ctx.Upload(ToNhwc(res, c, oh * ow), [oh * ow, c], type, "res");
        using var ty = Ctx.CreateTensor([oh * ow, c], type, "y");
        // Both shaders: inputs as texels and as storage buffers.
        foreach (bool texel in new[] { true, false })
        {
            var dw = new DepthwiseConv(Ctx) { AllowTexel = texel };
            using (var cs = Ctx.BeginCommands())
            {
                dw.Record(cs, tx, tw, tb, ty, h, w, c, k, stride, pad, (Activation)act, tr);
                cs.Submit();
            }
            Assert.Equal(texel ? "texel" : "storage", dw.LastPath);
            double atol = fp16 ? 2e-2 + 1e-3 * k : 1e-5 * k;
            double rtol = fp16 ? 2e-3 : 1e-5;
            Tests.Reference.AssertClose(wantNhwc, ty.Read(), atol, rtol, $"dwconv_nhwc c{c} {h}x{w} k{k} s{stride} ({dw.LastPath})");
        }
    }

    public static TheoryData<int, int, int, int, int, int, bool, int, bool> ImplicitGemmCases() => new()
    {
        // cin, h, w, cout, k, stride, bias, act, fp16
        { 32, 40, 36, 64, 3, 2, true, 0, false },    // TinyViT stem conv 2 (512x512 in the model), cropped
        { 256, 16, 16, 256, 3, 1, false, 0, false }, // neck 3x3 (64x64 in the model), cropped
        { 8, 9, 7, 5, 3, 1, true, 1, false },        // odd map, Cout 5, GELU
        { 4, 11, 6, 3, 5, 2, true, 2, false },       // k5 stride 2, ReLU
        { 4, 1, 1, 7, 3, 1, true, 0, false },        // 1x1 map: one tap inside
        { 16, 17, 13, 24, 3, 2, true, 1, true },     // fp16
    };

    [Theory]
    [MemberData(nameof(ImplicitGemmCases))]
    public void ImplicitGemmConvMatchesCpuReference(int cin, int h, int w, int cout, int k, int stride, bool withBias, int act, bool fp16)
    {
        var type = fp16 ? DataType.F16 : DataType.F32;
        int pad = k / 2;
        int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
        int seed = cin * 5 + cout * 11 + h;
        var x = Tests.Reference.Random(cin * h * w, seed);
        var wt = Tests.Reference.Random(cout * cin * k * k, seed + 1);
        var bias = withBias ? Tests.Reference.Random(cout, seed + 2) : null;
        if (fp16)
        {
            x = Tests.Reference.ToHalf(x); wt = Tests.Reference.ToHalf(wt);
            if (bias is not null) bias = Tests.Reference.ToHalf(bias);
        }
        var wantNhwc = ToNhwc(ConvReference(x, wt, bias, null, 1, cin, h, w, cout, k, k, stride, pad, 1, (Activation)act), cout, oh * ow);

        using var tx = Ctx.Upload(ToNhwc(x, cin, h * w), [h * w, cin], type, "x");
        using var tw = Ctx.Upload(Gemm.ConvWeightChannelsLast(wt, cout, cin, k), [cout, k * k * cin], type, "w");
        using var tb = bias is null ? null : Ctx.Upload(bias, [cout], type, "bias");
        using var ty = Ctx.CreateTensor([oh * ow, cout], type, "y");
        var gemm = new Gemm(Ctx);
        Assert.True(gemm.CanRecordConv(tx, tw, cin));
        using (var cs = Ctx.BeginCommands())
        {
            gemm.RecordConv(cs, tx, tw, tb, ty, h, w, cin, cout, k, stride, pad, (Activation)act);
            cs.Submit();
        }
        int kk = cin * k * k;
        double atol = fp16 ? 2e-2 + 1e-3 * Math.Sqrt(kk) : 1e-5 * Math.Sqrt(kk);
        double rtol = fp16 ? 2e-3 : 1e-5;
        Tests.Reference.AssertClose(wantNhwc, ty.Read(), atol, rtol, $"implicit-gemm conv {cin}->{cout} {h}x{w} k{k} s{stride}");
    }

    public static TheoryData<int, int, int, int, int, int, bool> NormPrologueConvCases() => new()
    {
        // cin, h, w, cout, k, stride, fp16
        { 256, 9, 7, 24, 3, 1, false },   // the neck: LayerNorm2d then the 3x3 conv, cropped map, few outputs
        { 12, 7, 5, 10, 3, 2, false },    // odd map, stride 2
        { 8, 6, 9, 5, 5, 1, false },      // k5: taps two deep in the zero padding
        { 16, 5, 6, 12, 3, 1, true },     // fp16
    };

    // LayerNorm (eps 1e-6, over each pixel's channels) then the conv with zero padding, against a double reference.
    [Theory]
    [MemberData(nameof(NormPrologueConvCases))]
    public void ImplicitGemmConvWithNormPrologueMatchesCpuReference(int cin, int h, int w, int cout, int k, int stride, bool fp16)
    {
        var type = fp16 ? DataType.F16 : DataType.F32;
        int pad = k / 2;
        int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
        int seed = cin * 3 + cout * 7 + h + k;
        var x = Tests.Reference.Random(h * w * cin, seed, 3f);   // channels-last
        for (int p = 0; p < h * w; p++) for (int c = 0; c < cin; c++) x[p * cin + c] += (p % 3) - 1;
        var wt = Tests.Reference.Random(cout * cin * k * k, seed + 1, 0.2f);
        var gamma = Tests.Reference.Random(cin, seed + 2).Select(v => 1f + 0.5f * v).ToArray();
        var beta = Tests.Reference.Random(cin, seed + 3);
        var bias = Tests.Reference.Random(cout, seed + 4);
        if (fp16)
        {
            x = Tests.Reference.ToHalf(x); wt = Tests.Reference.ToHalf(wt); bias = Tests.Reference.ToHalf(bias);
            gamma = Tests.Reference.ToHalf(gamma); beta = Tests.Reference.ToHalf(beta);
        }
        const double eps = 1e-6;
        var xn = Tests.Reference.LayerNorm(x, gamma, beta, h * w, cin, eps);
        var want = new double[oh * ow * cout];
        for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++)
        for (int o = 0; o < cout; o++)
        {
            double s = bias[o];
            for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++)
            {
                int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                for (int c = 0; c < cin; c++) s += xn[(iy * w + ix) * cin + c] * wt[((o * cin + c) * k + ky) * k + kx];
            }
            want[(oy * ow + ox) * cout + o] = s;
        }

        var (folded, table) = Gemm.FoldLayerNorm(Gemm.ConvWeightChannelsLast(wt, cout, cin, k), cout, k * k, gamma, beta, type);
        using var tx = Ctx.Upload(x, [h * w, cin], type, "x");
        using var tw = Ctx.Upload(folded, [cout, k * k * cin], type, "w");
        using var ttab = Ctx.Upload(table, [table.Length], DataType.F32, "table");
        using var tb = Ctx.Upload(bias, [cout], type, "bias");
        using var ty = Ctx.CreateTensor([oh * ow, cout], type, "y");
        var gemm = new Gemm(Ctx);
        Assert.True(gemm.CanRecordConv(tx, tw, cin));
        using (var cs = Ctx.BeginCommands())
        {
            gemm.RecordConv(cs, tx, tw, tb, ty, h, w, cin, cout, k, stride, pad, Activation.None, new NormPrologue(ttab, (float)eps));
            cs.Submit();
        }
        int kk = cin * k * k;
        double atol = fp16 ? 2e-2 + 1e-3 * Math.Sqrt(kk) : 2e-5 * Math.Sqrt(kk);
        double rtol = fp16 ? 4e-3 : 2e-5;
        Tests.Reference.AssertClose(want, ty.Read(), atol, rtol, $"LN + implicit-gemm conv {cin}->{cout} {h}x{w} k{k} s{stride} {type}");
    }

    [Fact]
    public void ChannelsLastOutputMatchesNchw()
    {
        // The stem's first conv writes token rows through the GEMM's output strides: the same values, transposed.
        const int cin = 3, h = 21, w = 19, cout = 8;
        var x = Tests.Reference.Random(cin * h * w, 3);
        var wt = Tests.Reference.Random(cout * cin * 9, 4);
        var bias = Tests.Reference.Random(cout, 5);
        int oh = (h + 2 - 3) / 2 + 1, ow = (w + 2 - 3) / 2 + 1;
        var wantNhwc = ToNhwc(ConvReference(x, wt, bias, null, 1, cin, h, w, cout, 3, 3, 2, 1, 1, Activation.Gelu), cout, oh * ow);
        using var tx = Ctx.Upload(x, [1, cin, h, w], DataType.F32, "x");
        using var tw = Ctx.Upload(wt, [cout, cin, 3, 3], DataType.F32, "w");
        using var tb = Ctx.Upload(bias, [cout], DataType.F32, "bias");
        using var ty = Ctx.CreateTensor([oh * ow, cout], DataType.F32, "y");
        using (var cs = Ctx.BeginCommands())
        {
            new Conv2d(Ctx).Record(cs, tx, tw, tb, ty, 1, cin, h, w, cout, 3, 3, 2, 1, 1, Activation.Gelu, channelsLastOutput: true);
            cs.Submit();
        }
        Tests.Reference.AssertClose(wantNhwc, ty.Read(), 1e-5 * Math.Sqrt(27), 1e-5, "conv2d channels-last output");
    }

    [Fact]
    public void DepthwiseRejectsChannelsNotMultipleOfFour()
    {
        using var x = Ctx.CreateTensor([9 * 9, 6]);
        using var w = Ctx.CreateTensor([9, 6]);
        using var y = Ctx.CreateTensor([9 * 9, 6]);
        using var cs = Ctx.BeginCommands();
        var e = Assert.Throws<ShapeException>(() => new DepthwiseConv(Ctx).Record(cs, x, w, null, y, 9, 9, 6, 3, 1, 1));
        Assert.Contains("multiple of 4", e.Message);
    }

    [Fact]
    public void RejectsBadShapes()
    {
        using var x = Ctx.CreateTensor([1, 8, 10, 10]);
        using var w = Ctx.CreateTensor([16, 8, 3, 3]);
        using var y = Ctx.CreateTensor([1, 16, 10, 10]);
        using var ySmall = Ctx.CreateTensor([1, 16, 5, 5]);
        using var wT = Ctx.CreateTensor([8, 16, 3, 3]);
        using var yH = Ctx.CreateTensor([1, 16, 10, 10], DataType.F16);
        using var cs = Ctx.BeginCommands();
        var conv = new Conv2d(Ctx);
        conv.Record(cs, x, w, null, y, 1, 8, 10, 10, 16, 3, 3, 1, 1, 1);   // the good call records
        var e = Assert.Throws<ShapeException>(() => conv.Record(cs, x, wT, null, y, 1, 8, 10, 10, 16, 3, 3, 1, 1, 1));
        Assert.Contains("conv2d", e.Message);
        Assert.Contains("[8x16x3x3]", e.Message);
        e = Assert.Throws<ShapeException>(() => conv.Record(cs, x, w, null, ySmall, 1, 8, 10, 10, 16, 3, 3, 1, 1, 1));
        Assert.Contains("[1x16x10x10]", e.Message);
        Assert.Throws<ShapeException>(() => conv.Record(cs, x, w, null, y, 1, 8, 10, 10, 16, 3, 3, 1, 1, 3));   // groups
        Assert.Throws<ShapeException>(() => conv.Record(cs, x, w, null, yH, 1, 8, 10, 10, 16, 3, 3, 1, 1, 1));  // types
        Assert.Throws<ShapeException>(() => conv.Record(cs, x, w, null, y, 1, 8, 10, 10, 16, 3, 3, 1, 1, 1, residual: ySmall));
        using var b = Ctx.CreateTensor([8]);
        Assert.Throws<ShapeException>(() => conv.Record(cs, x, w, b, y, 1, 8, 10, 10, 16, 3, 3, 1, 1, 1));   // bias length
    }

    // ConvTranspose2d k2 s2: out[n, co, 2y+dy, 2x+dx] = act(bias[co] + sum_ci x[n, ci, y, x] · w[ci, co, dy, dx]).
    private static double[] ConvTReference(float[] x, float[] w, float[]? bias, int n, int cin, int h, int wd, int cout, Activation act)
    {
        var y = new double[n * cout * 4 * h * wd];
        int ow = 2 * wd;
        Parallel.For(0, n * cout, nc =>
        {
            int b = nc / cout, co = nc % cout;
            for (int iy = 0; iy < h; iy++)
            for (int ix = 0; ix < wd; ix++)
            for (int d = 0; d < 4; d++)
            {
                double s = bias?[co] ?? 0;
                for (int ci = 0; ci < cin; ci++)
                    s += (double)x[((b * cin + ci) * h + iy) * wd + ix] * w[(ci * cout + co) * 4 + d];
                y[((b * cout + co) * 2 * h + 2 * iy + d / 2) * ow + 2 * ix + d % 2] = Act(s, act);
            }
        });
        return y;
    }

    public static TheoryData<int, int, int, int, int, bool, int, bool> TransposeCases() => new()
    {
        // batch, cin, h, w, cout, bias, act, fp16 (cin not a multiple of 4: the storage-buffer GEMM's scatter)
        { 1, 256, 64, 64, 64, true, 0, false },    // SAM decoder upscaling 1 (then LayerNorm + GELU)
        { 1, 64, 128, 128, 32, true, 1, false },   // upscaling 2 with GELU fused
        { 2, 5, 7, 9, 3, true, 1, false },         // odd everything, batch 2
        { 1, 3, 1, 1, 1, false, 2, false },        // 1x1, Cout 1, ReLU
        { 1, 13, 5, 3, 6, false, 0, false },       // pixel count not a multiple of the strip
        { 1, 256, 16, 16, 64, true, 1, true },     // fp16
    };

    [Theory]
    [MemberData(nameof(TransposeCases))]
    public void TransposeMatchesCpuReference(int n, int cin, int h, int w, int cout, bool withBias, int act, bool fp16)
    {
        var type = fp16 ? DataType.F16 : DataType.F32;
        int seed = cin * 7 + cout * 3 + h;
        var x = Tests.Reference.Random(n * cin * h * w, seed);
        var wt = Tests.Reference.Random(cin * cout * 4, seed + 1);
        var bias = withBias ? Tests.Reference.Random(cout, seed + 2) : null;
        if (fp16)
        {
            x = Tests.Reference.ToHalf(x); wt = Tests.Reference.ToHalf(wt);
            if (bias is not null) bias = Tests.Reference.ToHalf(bias);
        }
        // The kernel works on channels-last maps; the reference on NCHW.
        var want = ToNhwc(ConvTReference(x, wt, bias, n, cin, h, w, cout, (Activation)act), cout, 4 * h * w);
        using var tx = Ctx.Upload(ToNhwc(x, cin, h * w), [n, h * w, cin], type, "x");
        using var tw = Ctx.Upload(ConvTranspose2d.WeightAsGemm(wt, cin, cout), [4 * cout, cin], type, "w");
        using var tb = bias is null ? null : Ctx.Upload(bias, [cout], type, "bias");
        using var ty = Ctx.CreateTensor([n, 4 * h * w, cout], type, "y");
        using (var cs = Ctx.BeginCommands())
        {
            new ConvTranspose2d(Ctx).Record(cs, tx, tw, tb, ty, n, cin, h, w, cout, (Activation)act);
            cs.Submit();
        }
        double atol = fp16 ? 2e-2 + 1e-3 * Math.Sqrt(cin) : 1e-5 * Math.Sqrt(cin);
        double rtol = fp16 ? 2e-3 : 1e-5;
        Tests.Reference.AssertClose(want, ty.Read(), atol, rtol, $"conv_transpose2x2 {cin}->{cout} {h}x{w}");
    }

    [Fact]
    public void TransposeRejectsBadShapes()
    {
        using var x = Ctx.CreateTensor([1, 16, 8]);
        using var w = Ctx.CreateTensor([16, 8]);
        using var wSwapped = Ctx.CreateTensor([8, 16]);
        using var y = Ctx.CreateTensor([1, 64, 4]);
        using var ySame = Ctx.CreateTensor([1, 16, 4]);
        using var cs = Ctx.BeginCommands();
        var convT = new ConvTranspose2d(Ctx);
        var e = Assert.Throws<ShapeException>(() => convT.Record(cs, x, wSwapped, null, y, 1, 8, 4, 4, 4));
        Assert.Contains("conv_transpose2x2", e.Message);
        Assert.Contains("[16x8]", e.Message);
        e = Assert.Throws<ShapeException>(() => convT.Record(cs, x, w, null, ySame, 1, 8, 4, 4, 4));
        Assert.Contains("[1x64x4]", e.Message);
        Assert.Throws<ShapeException>(() => ConvTranspose2d.WeightAsGemm(new float[10], 8, 4));
    }

    /// <summary>GPU time of SAM-sized convs on a warm pipeline; prints only (set SAMRT_BENCH=1 to run).</summary>
    [Fact]
    public void Timing()
    {
        if (Environment.GetEnvironmentVariable("SAMRT_BENCH") != "1") return;
        var shapes = new (string Name, int Cin, int H, int Cout, int K, int S, int P, int G)[]
        {
            ("stem1 3->32 1024 s2", 3, 1024, 32, 3, 2, 1, 1),
            ("stem2 32->64 512 s2", 32, 512, 64, 3, 2, 1, 1),
            ("mbconv 1x1 64->256 256", 64, 256, 256, 1, 1, 0, 1),
            ("dw 3x3 256 @256", 256, 256, 256, 3, 1, 1, 256),
            ("neck 1x1 320->256 64", 320, 64, 256, 1, 1, 0, 1),
            ("neck 3x3 256->256 64", 256, 64, 256, 3, 1, 1, 1),
        };
        var conv = new Conv2d(Ctx);
        foreach (var s in shapes)
        {
            int oh = (s.H + 2 * s.P - s.K) / s.S + 1;
            using var x = Ctx.Upload(Tests.Reference.Random(s.Cin * s.H * s.H, 1), [1, s.Cin, s.H, s.H]);
            using var w = Ctx.Upload(Tests.Reference.Random(s.Cout * (s.Cin / s.G) * s.K * s.K, 2), [s.Cout, s.Cin / s.G, s.K, s.K]);
            using var y = Ctx.CreateTensor([1, s.Cout, oh, oh]);
            var ms = new List<double>();
            for (int rep = 0; rep < 4; rep++)
            {
                using var cs = Ctx.BeginCommands(profile: true);
                conv.Record(cs, x, w, null, y, 1, s.Cin, s.H, s.H, s.Cout, s.K, s.K, s.S, s.P, s.G);
                cs.Submit();
                if (rep > 0) ms.Add(cs.Timings.Sum(t => t.Milliseconds));
            }
            ms.Sort();
            double flops = 2.0 * s.Cout * oh * oh * (s.Cin / s.G) * s.K * s.K;
            output.WriteLine($"{s.Name}: {ms[ms.Count / 2]:F2} ms median, {flops / ms[ms.Count / 2] / 1e6:F1} GFLOP/s");
        }
        {
            // The same work as "mbconv 1x1" through Gemm, to calibrate against the GEMM numbers in DESIGN.md.
            using var a = Ctx.Upload(Tests.Reference.Random(256 * 64, 1), [256, 64]);
            using var b = Ctx.Upload(Tests.Reference.Random(64 * 65536, 2), [64, 65536]);
            using var c = Ctx.CreateTensor([256, 65536]);
            var gemm = new Gemm(Ctx);
            for (int rep = 0; rep < 3; rep++)
            {
                using var cs = Ctx.BeginCommands(profile: true);
                gemm.Record(cs, 256, 65536, 64, StridedView.RowMajor(a, 256, 64), StridedView.RowMajor(b, 64, 65536), StridedView.RowMajor(c, 256, 65536));
                cs.Submit();
                if (rep == 2) output.WriteLine($"gemm 256x65536x64 (same as mbconv 1x1): {cs.Timings.Sum(t => t.Milliseconds):F2} ms");
            }
        }
        using var tx = Ctx.Upload(Tests.Reference.Random(256 * 64 * 64, 1), [1, 64 * 64, 256]);
        using var tw = Ctx.Upload(Tests.Reference.Random(256 * 64 * 4, 2), [256, 4 * 64]);
        using var ty = Ctx.CreateTensor([1, 128 * 128, 64]);
        var convT = new ConvTranspose2d(Ctx);
        for (int rep = 0; rep < 3; rep++)
        {
            using var cs = Ctx.BeginCommands(profile: true);
            convT.Record(cs, tx, tw, null, ty, 1, 256, 64, 64, 64);
            cs.Submit();
            if (rep == 2) output.WriteLine($"convT 256->64 64->128: {cs.Timings.Sum(t => t.Milliseconds):F2} ms");
        }
    }
}
