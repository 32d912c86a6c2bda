using SamRealtime.Kernels;
using SamRealtime.Vulkan;
using Xunit;

namespace SamRealtime.Tests.Kernels;

public sealed class GemmTests(GpuFixture fixture) : GpuTest(fixture)
{
    // CPU reference with double accumulation over the same strided views.
    private static double[] Reference(float[] a, float[] b, float[]? bias, BiasMode mode, Activation act, float[]? res,
                                      int batch, int m, int n, int k, bool ta, bool tb, int bBatchStride, float alpha)
    {
        var c = new double[batch * m * n];
        for (int z = 0; z < batch; z++)
        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            double s = 0;
            for (int q = 0; q < k; q++)
            {
                double av = ta ? a[z * m * k + q * m + i] : a[z * m * k + i * k + q];
                double bv = tb ? b[z * bBatchStride + j * k + q] : b[z * bBatchStride + q * n + j];
                s += av * bv;
            }
            s *= alpha;
            if (mode == BiasMode.PerColumn) s += bias![j];
            if (mode == BiasMode.PerRow) s += bias![i];
            s = act switch { Activation.Gelu => Tests.Reference.Gelu(s), Activation.Relu => Math.Max(s, 0), _ => s };
            if (res is not null) s += res[z * m * n + i * n + j];
            c[z * m * n + i * n + j] = s;
        }
        return c;
    }

    public static TheoryData<int, int, int, int, bool, bool, bool, int, int, bool> Cases() => new()
    {
        // batch, M, N, K, transA, transB, bias, act, residual-mode(0 none,1 yes), fp16
        { 1, 1, 1, 1, false, false, false, 0, 0, false },
        { 1, 1, 256, 64, false, false, true, 0, 0, false },          // M = 1
        { 1, 77, 1, 33, false, true, true, 2, 0, false },           // N = 1
        { 1, 63, 65, 1, true, false, false, 0, 1, false },          // K = 1
        { 1, 4096, 64, 64, false, true, true, 1, 0, false },        // TinyViT stage-1 fc1 shape (tokens x dim), GELU
        { 1, 257, 129, 31, false, false, true, 1, 1, false },       // nothing a multiple of a tile
        { 3, 49, 49, 32, false, true, false, 0, 0, false },         // attention scores, head dim 32
        { 5, 37, 19, 64, true, true, true, 0, 1, false },
        { 2, 300, 200, 160, false, true, true, 1, 1, true },        // fp16 storage
        { 1, 7, 256, 256, false, true, true, 2, 0, true },          // decoder tokens, fp16
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesCpuReference(int batch, int m, int n, int k, bool ta, bool tb, bool withBias, int act, int withRes, bool fp16)
    {
        var type = fp16 ? DataType.F16 : DataType.F32;
        var seed = m * 31 + n * 7 + k;
        var a = Tests.Reference.Random(batch * m * k, seed);
        var b = Tests.Reference.Random(batch * k * n, seed + 1);
        var bias = withBias ? Tests.Reference.Random(Math.Max(m, n), seed + 2) : null;
        var res = withRes == 1 ? Tests.Reference.Random(batch * m * n, seed + 3) : null;
        var mode = !withBias ? BiasMode.None : (m % 2 == 0 ? BiasMode.PerColumn : BiasMode.PerRow);
        if (fp16)
        {
            a = Tests.Reference.ToHalf(a); b = Tests.Reference.ToHalf(b);
            if (bias is not null) bias = Tests.Reference.ToHalf(bias);
            if (res is not null) res = Tests.Reference.ToHalf(res);
        }
        const float alpha = 0.75f;
        var want = Reference(a, b, bias, mode, (Activation)act, res, batch, m, n, k, ta, tb, k * n, alpha);

        using var ta_ = Ctx.Upload(a, [batch, m, k], type, "A");
        using var tb_ = Ctx.Upload(b, [batch, k, n], type, "B");
        using var tc = Ctx.CreateTensor([batch, m, n], type, "C");
        using var tbias = bias is null ? null : Ctx.Upload(bias, [bias.Length], type, "bias");
        using var tres = res is null ? null : Ctx.Upload(res, [batch, m, n], type, "res");
        var av = ta ? new StridedView(ta_, 0, m * k, 1, m) : StridedView.RowMajor(ta_, m, k);
        var bv = tb ? new StridedView(tb_, 0, k * n, 1, k) : StridedView.RowMajor(tb_, k, n);
        var gemm = new Gemm(Ctx);
        using (var cs = Ctx.BeginCommands())
        {
            gemm.Record(cs, m, n, k, av, bv, StridedView.RowMajor(tc, m, n), batch, tbias, mode, (Activation)act,
                        tres is null ? null : StridedView.RowMajor(tres, m, n), alpha);
            cs.Submit();
        }
        var got = tc.Read();
        // fp32: accumulation-order rounding grows with sqrt(K); fp16 adds the final store's 2^-11 relative rounding.
        double atol = fp16 ? 2e-2 + 1e-3 * Math.Sqrt(k) : 1e-5 * Math.Sqrt(k);
        double rtol = fp16 ? 2e-3 : 1e-5;
        Tests.Reference.AssertClose(want, got, atol, rtol, $"gemm {batch}x{m}x{n}x{k}");
    }

    public static TheoryData<int, int, int, int, bool, bool, int, bool, int, string> PathCases() => new()
    {
        // batch, M, N, K, transB (B a weight [N,K] viewed transposed), bias, act, fp16, A offset, expected shader
        { 1, 4096, 128, 64, true, true, 1, false, 0, "texel-bk" },   // TinyViT shape, weight transposed, GELU
        { 1, 257, 129, 36, true, true, 2, false, 0, "texel-bk" },    // edges of every tile, K = 4*9
        { 3, 49, 49, 32, true, false, 0, false, 0, "texel-bk" },     // batched, N and M odd
        { 1, 7, 256, 256, true, true, 0, false, 0, "texel-bk" },     // decoder tokens (small M)
        { 1, 77, 1, 32, true, true, 2, false, 0, "texel-bk" },      // N = 1 (TN = 1)
        { 1, 1, 10, 64, true, true, 0, true, 0, "texel-bk" },       // M = 1, small N, fp16
        { 1, 1, 8, 8, false, false, 0, false, 0, "texel-bn" },       // M = 1, TN = 4 with B along N
        { 1, 4, 4096, 32, false, false, 0, false, 0, "texel-bn" },   // masks = hyper · up: B contiguous along N
        { 2, 65, 36, 12, false, true, 2, false, 0, "texel-bn" },
        { 2, 300, 200, 160, true, true, 1, true, 0, "texel-bk" },    // fp16 through RGBA16F texels
        { 1, 33, 64, 64, false, false, 0, true, 0, "texel-bn" },
        { 1, 64, 64, 30, true, true, 0, false, 0, "storage" },      // K not a multiple of 4
        { 1, 64, 30, 32, false, false, 0, false, 0, "storage" },    // B along N with N not a multiple of 4
        { 1, 64, 64, 32, true, false, 0, false, 2, "storage" },     // A offset not a multiple of 4
        { 1, 64, 64, 32, true, false, 0, false, 4, "texel-bk" },    // ... but a multiple of 4 is fine
    };

    // The texel shader must pick the expected path and reproduce the storage-buffer shader bit for bit (same fma
    // order), and both must match the double reference (same tolerances as above).
    [Theory]
    [MemberData(nameof(PathCases))]
    public void TexelPathMatchesStoragePath(int batch, int m, int n, int k, bool tb, bool withBias, int act, bool fp16,
                                            int aOffset, string path)
    {
        var type = fp16 ? DataType.F16 : DataType.F32;
        var seed = m * 13 + n * 5 + k;
        var a = Tests.Reference.Random(aOffset + batch * m * k, seed);
        var b = Tests.Reference.Random(batch * k * n, seed + 1);
        var bias = withBias ? Tests.Reference.Random(n, seed + 2) : null;
        var res = Tests.Reference.Random(batch * m * n, seed + 3);
        if (fp16)
        {
            a = Tests.Reference.ToHalf(a); b = Tests.Reference.ToHalf(b); res = Tests.Reference.ToHalf(res);
            if (bias is not null) bias = Tests.Reference.ToHalf(bias);
        }
        var mode = withBias ? BiasMode.PerColumn : BiasMode.None;
        var want = Reference(a[aOffset..], b, bias, mode, (Activation)act, res, batch, m, n, k, false, tb, k * n, 1f);

        using var ta_ = Ctx.Upload(a, [a.Length], type, "A");
        using var tb_ = Ctx.Upload(b, [batch, k, n], type, "B");
        using var tbias = bias is null ? null : Ctx.Upload(bias, [bias.Length], type, "bias");
        using var tres = Ctx.Upload(res, [batch, m, n], type, "res");
        var av = StridedView.RowMajor(ta_, m, k, aOffset);
        var bv = tb ? new StridedView(tb_, 0, k * n, 1, k) : StridedView.RowMajor(tb_, k, n);
        var outs = new float[2][];
        string? used = null;
        foreach (var texel in new[] { true, false })
        {
            using var tc = Ctx.CreateTensor([batch, m, n], type, "C");
            var gemm = new Gemm(Ctx) { AllowTexel = texel };
            using (var cs = Ctx.BeginCommands())
            {
                gemm.Record(cs, m, n, k, av, bv, StridedView.RowMajor(tc, m, n), batch, tbias, mode, (Activation)act,
                            StridedView.RowMajor(tres, m, n));
                cs.Submit();
            }
            if (texel) used = gemm.LastPath;
            else Assert.Equal("storage", gemm.LastPath);
            outs[texel ? 0 : 1] = tc.Read();
        }
        Assert.Equal(path, used);
        Assert.Equal(outs[1], outs[0]);
        double atol = fp16 ? 2e-2 + 1e-3 * Math.Sqrt(k) : 1e-5 * Math.Sqrt(k);
        double rtol = fp16 ? 2e-3 : 1e-5;
        Tests.Reference.AssertClose(want, outs[0], atol, rtol, $"gemm {path} {batch}x{m}x{n}x{k}");
    }

    [Fact]
    public void BroadcastBAcrossBatch()
    {
        int batch = 4, m = 10, n = 12, k = 9;
        var a = Tests.Reference.Random(batch * m * k, 5);
        var b = Tests.Reference.Random(k * n, 6);
        var want = Reference(a, b, null, BiasMode.None, Activation.None, null, batch, m, n, k, false, false, 0, 1f);
        using var ta = Ctx.Upload(a, [batch, m, k]);
        using var tb = Ctx.Upload(b, [k, n]);
        using var tc = Ctx.CreateTensor([batch, m, n]);
        using (var cs = Ctx.BeginCommands())
        {
            new Gemm(Ctx).Record(cs, m, n, k, StridedView.RowMajor(ta, m, k), StridedView.RowMajor(tb, k, n, 0, 0),
                                 StridedView.RowMajor(tc, m, n), batch);
            cs.Submit();
        }
        Tests.Reference.AssertClose(want, tc.Read(), 1e-5, 1e-5, "broadcast gemm");
    }

    [Theory]
    [InlineData(5, 3, 7, 9, true)]    // odd shapes: the storage-buffer shader
    [InlineData(5, 3, 32, 256, true)] // the decoder's heads (K multiple of 4): the texel shader
    [InlineData(4, 6, 12, 8, false)]
    public void PerBatchBias(int batch, int m, int n, int k, bool relu)
    {
        // The decoder's batched MLP heads: one weight and one bias per batch entry (bias batch stride n).
        var a = Tests.Reference.Random(batch * m * k, 15);
        var b = Tests.Reference.Random(batch * k * n, 16);
        var bias = Tests.Reference.Random(batch * n, 17);
        var act = relu ? Activation.Relu : Activation.None;
        var want = new double[batch * m * n];
        for (int z = 0; z < batch; z++)
        {
            var one = Reference(a.AsSpan(z * m * k, m * k).ToArray(), b.AsSpan(z * k * n, k * n).ToArray(),
                                bias.AsSpan(z * n, n).ToArray(), BiasMode.PerColumn, act, null, 1, m, n, k, false, false, 0, 1f);
            one.CopyTo(want, z * m * n);
        }
        using var ta = Ctx.Upload(a, [batch, m, k]);
        using var tb = Ctx.Upload(b, [batch, k, n]);
        using var tbias = Ctx.Upload(bias, [batch, n]);
        using var tc = Ctx.CreateTensor([batch, m, n]);
        using (var cs = Ctx.BeginCommands())
        {
            new Gemm(Ctx).Record(cs, m, n, k, StridedView.RowMajor(ta, m, k), StridedView.RowMajor(tb, k, n), StridedView.RowMajor(tc, m, n),
                                 batch, tbias, BiasMode.PerColumn, act, biasBatchStride: n);
            cs.Submit();
        }
        Tests.Reference.AssertClose(want, tc.Read(), 1e-5 * Math.Sqrt(k), 1e-5, $"per-batch bias {batch}x{m}x{n}x{k}");
    }

    [Fact]
    public void RejectsBadDepthToSpaceAndBiasBatch()
    {
        using var ta = Ctx.CreateTensor([6, 8]);
        using var tb = Ctx.CreateTensor([8, 12]);
        using var tc = Ctx.CreateTensor([24, 3]);
        using var bias = Ctx.CreateTensor([3]);
        using var cs = Ctx.BeginCommands();
        var gemm = new Gemm(Ctx);
        var a = StridedView.RowMajor(ta, 6, 8);
        var b = StridedView.RowMajor(tb, 8, 12);
        var c = StridedView.RowMajor(tc, 24, 3);
        // M = 6 is not a 2x2 map.
        var e = Assert.Throws<ShapeException>(() => gemm.Record(cs, 6, 12, 8, a, b, c, depthToSpace: new DepthToSpace(2, 2, 3)));
        Assert.Contains("depth-to-space", e.Message);
        Assert.Throws<ShapeException>(() => gemm.Record(cs, 6, 12, 8, a, b, c, depthToSpace: new DepthToSpace(2, 3, 3),
                                                        scatterRows: new WindowGrid(2, 3, 7)));
        // A bias of 3 columns read at a batch stride of 3 for 2 batch entries runs past its end.
        using var a2 = Ctx.CreateTensor([2, 2, 4]);
        using var c2 = Ctx.CreateTensor([2, 2, 3]);
        e = Assert.Throws<ShapeException>(() => gemm.Record(cs, 2, 3, 4, StridedView.RowMajor(a2, 2, 4), StridedView.RowMajor(tb, 4, 3, 0, 0),
                                                            StridedView.RowMajor(c2, 2, 3), 2, bias, BiasMode.PerColumn, biasBatchStride: 3));
        Assert.Contains("bias", e.Message);
        Assert.Throws<ShapeException>(() => gemm.Record(cs, 6, 12, 8, a, b, c, depthToSpace: new DepthToSpace(2, 3, 3), bias: null,
                                                        biasBatchStride: 3));
    }

    // TinyViT's window partition in C#: row m of the partitioned matrix is token WindowRow(m) of the map, or -1.
    private static int WindowRow(int m, WindowGrid g)
    {
        int nWw = (g.W + g.Ws - 1) / g.Ws, wsq = g.Ws * g.Ws;
        int win = m / wsq, k = m % wsq;
        int yy = win / nWw * g.Ws + k / g.Ws, xx = win % nWw * g.Ws + k % g.Ws;
        return yy < g.H && xx < g.W ? yy * g.W + xx : -1;
    }

    public static TheoryData<int, int, int, int, int, int, bool, bool, float> NormPrologueCases() => new()
    {
        // map h, w, window (0: plain rows), N, C, act, residual, fp16, common offset of the rows
        { 9, 11, 4, 37, 36, 0, false, false, 0f },     // window gather with bottom and right padding, odd N
        { 10, 10, 7, 3 * 128, 128, 0, false, false, 0f }, // TinyViT's qkv shape (stage 1 dim), cropped map
        { 13, 5, 0, 4 * 160, 160, 1, false, false, 0f },  // fc1: LN + GELU, stage 2 dim
        { 7, 9, 0, 53, 320, 0, true, false, 0f },         // C = 320 (stage 3), with a residual
        { 5, 7, 0, 19, 30, 2, true, false, 0f },          // C not a multiple of 4: the storage shader only
        { 8, 8, 0, 40, 64, 0, false, false, 1000f },      // rows far from zero: the shift must keep the variance
        { 9, 11, 4, 37, 36, 1, false, true, 0f },         // fp16, gather
        { 6, 10, 0, 64, 160, 0, true, true, 0f },         // fp16, residual
    };

    // LayerNorm (eps 1e-5) of each (gathered) row of A, then the linear layer: against a double reference that
    // normalises first and multiplies the unfolded weight; the texel and storage shaders must agree bit for bit.
    [Theory]
    [MemberData(nameof(NormPrologueCases))]
    public void NormPrologueMatchesCpuReference(int h, int w, int ws, int n, int c, int act, bool withRes, bool fp16, float offset)
    {
        var type = fp16 ? DataType.F16 : DataType.F32;
        WindowGrid? grid = ws > 0 ? new WindowGrid(h, w, ws) : null;
        int tokens = h * w, m = grid?.Rows ?? tokens;
        int seed = h * 17 + w * 5 + n + c;
        var x = Tests.Reference.Random(tokens * c, seed, 2f);
        for (int t = 0; t < tokens; t++) for (int j = 0; j < c; j++) x[t * c + j] += offset + (t % 5) - 2;
        var wt = Tests.Reference.Random(n * c, seed + 1, 0.2f);
        var gamma = Tests.Reference.Random(c, seed + 2).Select(v => 1f + 0.5f * v).ToArray();
        var beta = Tests.Reference.Random(c, seed + 3);
        var bias = Tests.Reference.Random(n, seed + 4);
        var res = withRes ? Tests.Reference.Random(m * n, seed + 5) : null;
        if (fp16)
        {
            x = Tests.Reference.ToHalf(x); wt = Tests.Reference.ToHalf(wt); bias = Tests.Reference.ToHalf(bias);
            gamma = Tests.Reference.ToHalf(gamma); beta = Tests.Reference.ToHalf(beta);
            if (res is not null) res = Tests.Reference.ToHalf(res);
        }
        const double eps = 1e-5;
        var want = new double[m * n];
        var row = new double[c];
        for (int i = 0; i < m; i++)
        {
            int t = grid is WindowGrid g ? WindowRow(i, g) : i;
            double mean = 0, v = 0;
            for (int j = 0; j < c; j++) { row[j] = t < 0 ? 0 : x[t * c + j]; mean += row[j]; }
            mean /= c;
            for (int j = 0; j < c; j++) v += (row[j] - mean) * (row[j] - mean);
            double rstd = 1 / Math.Sqrt(v / c + eps);
            for (int j = 0; j < c; j++) row[j] = (row[j] - mean) * rstd * gamma[j] + beta[j];
            for (int o = 0; o < n; o++)
            {
                double s = bias[o];
                for (int j = 0; j < c; j++) s += row[j] * wt[o * c + j];
                s = (Activation)act switch { Activation.Gelu => Tests.Reference.Gelu(s), Activation.Relu => Math.Max(s, 0), _ => s };
                want[i * n + o] = s + (res?[i * n + o] ?? 0);
            }
        }

        var (folded, table) = Gemm.FoldLayerNorm(wt, n, 1, gamma, beta, type);
        using var tx = Ctx.Upload(x, [tokens, c], type, "x");
        using var tw = Ctx.Upload(folded, [n, c], type, "w");
        using var ttab = Ctx.Upload(table, [table.Length], DataType.F32, "table");
        using var tbias = Ctx.Upload(bias, [n], type, "bias");
        using var tres = res is null ? null : Ctx.Upload(res, [m, n], type, "res");
        var outs = new List<float[]>();
        foreach (var texel in c % 4 == 0 ? new[] { true, false } : [false])
        {
            using var tc = Ctx.CreateTensor([m, n], type, "C");
            var gemm = new Gemm(Ctx) { AllowTexel = texel };
            using (var cs = Ctx.BeginCommands())
            {
                gemm.Record(cs, m, n, c, StridedView.RowMajor(tx, tokens, c), StridedView.RowMajor(tw, n, c).Transposed(),
                            StridedView.RowMajor(tc, m, n), 1, tbias, BiasMode.PerColumn, (Activation)act,
                            tres is null ? null : StridedView.RowMajor(tres, m, n),
                            norm: new NormPrologue(ttab, (float)eps), gatherRows: grid);
                cs.Submit();
            }
            Assert.Equal(texel ? "texel-bk" : "storage", gemm.LastPath);
            outs.Add(tc.Read());
        }
        if (outs.Count == 2) Assert.Equal(outs[1], outs[0]);
        // Normalised inputs are O(1) whatever the offset, so the GEMM's usual tolerances apply.
        double atol = fp16 ? 2e-2 + 1e-3 * Math.Sqrt(c) : 2e-5 * Math.Sqrt(c);
        double rtol = fp16 ? 4e-3 : 2e-5;
        Tests.Reference.AssertClose(want, outs[0], atol, rtol, $"gemm LN prologue {h}x{w} ws{ws} N{n} C{c} {type}");
    }

    [Fact]
    public void RejectsBadNormPrologue()
    {
        using var ta = Ctx.CreateTensor([16, 8]);
        using var tb = Ctx.CreateTensor([8, 8]);
        using var tc = Ctx.CreateTensor([16, 8]);
        using var shortTable = Ctx.CreateTensor([15]);
        using var halfTable = Ctx.CreateTensor([16], DataType.F16);
        using var cs = Ctx.BeginCommands();
        var gemm = new Gemm(Ctx);
        void Run(NormPrologue norm, WindowGrid? gather = null, WindowGrid? scatter = null) =>
            gemm.Record(cs, 16, 8, 8, StridedView.RowMajor(ta, 16, 8), StridedView.RowMajor(tb, 8, 8), StridedView.RowMajor(tc, 16, 8),
                        norm: norm, gatherRows: gather, scatterRows: scatter);
        Assert.Contains("shorter", Assert.Throws<ShapeException>(() => Run(new NormPrologue(shortTable, 1e-5f))).Message);
        Assert.Contains("fp32", Assert.Throws<ShapeException>(() => Run(new NormPrologue(halfTable, 1e-5f))).Message);
        using var table = Ctx.CreateTensor([16]);
        Assert.Contains("eps", Assert.Throws<ShapeException>(() => Run(new NormPrologue(table, 0f))).Message);
        // A 4x4 map in windows of 2 has 16 partitioned rows; gather and scatter share the window fields.
        Assert.Contains("cannot be combined", Assert.Throws<ShapeException>(() =>
            Run(new NormPrologue(table, 1e-5f), new WindowGrid(4, 4, 2), new WindowGrid(4, 4, 2))).Message);
        Assert.Contains("partitioned rows", Assert.Throws<ShapeException>(() =>
            Run(new NormPrologue(table, 1e-5f), new WindowGrid(4, 4, 3))).Message);
        Assert.Throws<ShapeException>(() => Gemm.FoldLayerNorm(new float[10], 2, 1, new float[4], new float[4], DataType.F32));
    }

    [Fact]
    public void RejectsViewsOutsideTheTensor()
    {
        using var ta = Ctx.CreateTensor([8, 8]);
        using var tb = Ctx.CreateTensor([8, 8]);
        using var tc = Ctx.CreateTensor([8, 8]);
        using var cs = Ctx.BeginCommands();
        var e = Assert.Throws<ShapeException>(() =>
            new Gemm(Ctx).Record(cs, 8, 8, 9, StridedView.RowMajor(ta, 8, 9), StridedView.RowMajor(tb, 9, 8), StridedView.RowMajor(tc, 8, 8)));
        Assert.Contains("gemm", e.Message);
        Assert.Contains("[8x8]", e.Message);
        using var th = Ctx.CreateTensor([8, 8], DataType.F16);
        Assert.Throws<ShapeException>(() =>
            new Gemm(Ctx).Record(cs, 8, 8, 8, StridedView.RowMajor(th, 8, 8), StridedView.RowMajor(tb, 8, 8), StridedView.RowMajor(tc, 8, 8)));
    }
}
