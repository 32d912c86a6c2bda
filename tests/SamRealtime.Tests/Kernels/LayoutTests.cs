using SamRealtime.Kernels;
using SamRealtime.Vulkan;
using Xunit;

namespace SamRealtime.Tests.Kernels;

// Metric: window partition/unpartition and transpose only move data, so they must be bit-exact (fp32 and fp16);
// the unpartition residual add is one rounding: |err| ≤ 1e-6·(1 + |want|) (fp16: 2e-3 each).
public sealed class LayoutTests(GpuFixture fixture) : GpuTest(fixture)
{
    private static float[] PartitionRef(float[] x, int b, int h, int w, int c, int ws)
    {
        int nh = (h + ws - 1) / ws, nw = (w + ws - 1) / ws;
        var o = new float[b * nh * nw * ws * ws * c];
        for (int z = 0; z < b; z++)
        for (int wy = 0; wy < nh; wy++)
        for (int wx = 0; wx < nw; wx++)
        for (int ty = 0; ty < ws; ty++)
        for (int tx = 0; tx < ws; tx++)
        {
            int y = wy * ws + ty, xx = wx * ws + tx;
            int win = (z * nh + wy) * nw + wx, tok = ty * ws + tx;
            for (int ch = 0; ch < c; ch++)
                o[(win * ws * ws + tok) * c + ch] = y < h && xx < w ? x[((z * h + y) * w + xx) * c + ch] : 0f;
        }
        return o;
    }

    // TinyViT attention without window copies: LayerNorm gathers rows out of windows (padding rows are LN(0) = beta)
    // and the projection GEMM scatters them back onto the map with the residual, here with GELU after the residual.
    // Against a double-precision reference; fp32 tolerance 1e-5·sqrt(C), fp16 storage 2e-2 + 1e-3·sqrt(C).
    [Theory]
    [InlineData(13, 11, 12, 5, false)]
    [InlineData(14, 14, 64, 7, false)]
    [InlineData(9, 10, 8, 4, true)]
    public void WindowedLayerNormAndScatterGemm(int h, int w, int c, int ws, bool fp16)
    {
        var type = fp16 ? DataType.F16 : DataType.F32;
        var grid = new WindowGrid(h, w, ws);
        var x = Tests.Reference.Random(h * w * c, h * 31 + c, 2f);
        var gamma = Tests.Reference.Random(c, 7);
        var beta = Tests.Reference.Random(c, 8);
        var wt = Tests.Reference.Random(c * c, 9, 0.3f);
        var bias = Tests.Reference.Random(c, 10);
        if (fp16) { x = Tests.Reference.ToHalf(x); gamma = Tests.Reference.ToHalf(gamma); beta = Tests.Reference.ToHalf(beta); wt = Tests.Reference.ToHalf(wt); bias = Tests.Reference.ToHalf(bias); }
        var part = PartitionRef(x, 1, h, w, c, ws);
        int rows = grid.Rows;
        Assert.Equal(part.Length, rows * c);
        var ln = new double[rows * c];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, v = 0;
            for (int j = 0; j < c; j++) mean += part[r * c + j];
            mean /= c;
            for (int j = 0; j < c; j++) v += (part[r * c + j] - mean) * (part[r * c + j] - mean);
            double rstd = 1 / Math.Sqrt(v / c + 1e-5);
            for (int j = 0; j < c; j++) ln[r * c + j] = (part[r * c + j] - mean) * rstd * gamma[j] + beta[j];
        }
        using var tx = Ctx.Upload(x, [h * w, c], type, "x");
        using var tg = Ctx.Upload(gamma, [c], type, "gamma");
        using var tb = Ctx.Upload(beta, [c], type, "beta");
        using var tw = Ctx.Upload(wt, [c, c], type, "w");
        using var tbias = Ctx.Upload(bias, [c], type, "bias");
        using var tln = Ctx.CreateTensor([rows, c], type, "ln");
        using var ty = Ctx.CreateTensor([h * w, c], type, "y");
        using (var cs = Ctx.BeginCommands())
        {
            new LayerNorm(Ctx).RecordPartitioned(cs, tx, tln, tg, tb, grid, c, 1e-5f);
            cs.Submit();
        }
        var lnGot = tln.Read();
        double atol = fp16 ? 2e-2 + 1e-3 * Math.Sqrt(c) : 1e-5 * Math.Sqrt(c), rtol = fp16 ? 2e-3 : 1e-5;
        Tests.Reference.AssertClose(ln, lnGot, atol, rtol, $"windowed layernorm {h}x{w}x{c} ws{ws}");

        // The GEMM reads the GPU's LayerNorm output so only its own rounding is measured.
        var want = new double[h * w * c];
        for (int r = 0; r < rows; r++)
        {
            int win = r / (ws * ws), k = r % (ws * ws), nw = (w + ws - 1) / ws;
            int yy = win / nw * ws + k / ws, xx = win % nw * ws + k % ws;
            if (yy >= h || xx >= w) continue;
            int tok = yy * w + xx;
            for (int n = 0; n < c; n++)
            {
                double sum = bias[n];
                for (int j = 0; j < c; j++) sum += (double)lnGot[r * c + j] * wt[n * c + j];
                want[tok * c + n] = Tests.Reference.Gelu(sum + x[tok * c + n]);
            }
        }
        using (var cs = Ctx.BeginCommands())
        {
            new Gemm(Ctx).Record(cs, rows, c, c, StridedView.RowMajor(tln, rows, c), StridedView.RowMajor(tw, c, c).Transposed(),
                                 StridedView.RowMajor(ty, h * w, c), 1, tbias, BiasMode.PerColumn, Activation.Gelu,
                                 StridedView.RowMajor(tx, h * w, c), activateAfterResidual: true, scatterRows: grid);
            cs.Submit();
        }
        Tests.Reference.AssertClose(want, ty.Read(), atol, rtol, $"window-scatter gemm {h}x{w}x{c} ws{ws}");
    }

    public static TheoryData<int, int, int, bool> TransposeCases() => new()
    {
        // batch, rows, cols, fp16
        { 1, 256, 4096, false },   // NCHW embedding -> tokens
        { 1, 4096, 64, false },
        { 1, 1, 1, false },
        { 3, 7, 5, false },        // ragged blocks
        { 2, 1, 33, false },
        { 1, 33, 1, false },
        { 4, 12, 16, false },
        { 1, 4096, 256, true },
        { 2, 9, 6, true },
    };

    [Theory]
    [MemberData(nameof(TransposeCases))]
    public void TransposeIsExact(int batch, int rows, int cols, bool fp16)
    {
        var type = fp16 ? DataType.F16 : DataType.F32;
        var x = Reference.Random(batch * rows * cols, rows * 3 + cols, 5f);
        if (fp16) x = Reference.ToHalf(x);
        var want = new float[x.Length];
        for (int z = 0; z < batch; z++)
        for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            want[(z * cols + j) * rows + i] = x[(z * rows + i) * cols + j];
        using var tx = Ctx.Upload(x, [batch, rows, cols], type, "x");
        using var ty = Ctx.CreateTensor([batch, cols, rows], type, "y");
        using (var cs = Ctx.BeginCommands())
        {
            new Permute(Ctx).Transpose(cs, tx, ty, batch, rows, cols);
            cs.Submit();
        }
        Assert.Equal(want, ty.Read());
    }

    [Fact]
    public void RejectsBadShapes()
    {
        using var x = Ctx.CreateTensor([1, 8, 8, 4]);
        using var small = Ctx.CreateTensor([1, 8, 8, 4]);
        using var h = Ctx.CreateTensor([1, 8, 8, 4], DataType.F16);
        using var cs = Ctx.BeginCommands();
        var perm = new Permute(Ctx);
        Assert.Throws<ShapeException>(() => perm.Transpose(cs, x, small, 1, 16, 17));
        Assert.Throws<ShapeException>(() => perm.Transpose(cs, x, h, 1, 16, 16));
        Assert.Throws<ShapeException>(() => perm.Transpose(cs, x, x, 1, 16, 16));
    }
}
