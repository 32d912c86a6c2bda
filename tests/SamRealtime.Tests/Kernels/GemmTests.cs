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
