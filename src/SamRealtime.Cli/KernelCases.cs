using SamRealtime.Kernels;
using SamRealtime.Vulkan;

namespace SamRealtime.Cli;

/// <summary>One kernel on one shape with its inputs allocated, for benchmarking.</summary>
internal sealed class KernelCase(string name, string shape, double flops, double bytes, Action<CommandStream> record, IDisposable[] owned) : IDisposable
{
    public string Name { get; } = name;
    public string Shape { get; } = shape;
    public double Flops { get; } = flops;
    public double Bytes { get; } = bytes;
    public void Record(CommandStream cs) => record(cs);
    public void Dispose() { foreach (var d in owned) d.Dispose(); }
}

internal static class KernelCases
{
    private static GpuTensor Rand(GpuContext ctx, params int[] shape)
    {
        var n = shape.Aggregate(1, (a, b) => a * b);
        var rng = new Random(n);
        var data = new float[n];
        for (int i = 0; i < n; i++) data[i] = (float)rng.NextDouble() - 0.5f;
        return ctx.Upload(data, shape);
    }

    public static IEnumerable<KernelCase> All(GpuContext ctx)
    {
        {
            // TinyViT stage 1 MLP fc1: 4096 tokens x 128 -> 512 (GELU)
            int m = 4096, k = 128, n = 512;
            var a = Rand(ctx, m, k); var w = Rand(ctx, n, k); var bias = Rand(ctx, n); var c = ctx.CreateTensor([m, n]);
            var gemm = new Gemm(ctx);
            yield return new KernelCase("gemm", $"{m}x{n}x{k} +bias GELU", 2.0 * m * n * k, 0,
                cs => gemm.Record(cs, m, n, k, StridedView.RowMajor(a, m, k), StridedView.RowMajor(w, n, k).Transposed(),
                                  StridedView.RowMajor(c, m, n), 1, bias, BiasMode.PerColumn, Activation.Gelu),
                [a, w, bias, c]);
        }
        {
            // TinyViT stage-2 qkv: 64x64 tokens of 160 in windows of 14 (4900 partitioned rows) -> 480, the window
            // gather and LayerNorm as the GEMM's prologue, against the two-dispatch form (partitioning LayerNorm,
            // then the GEMM) it replaced. Same flops counted for both, so GFLOP/s compare directly.
            int h = 64, c = 160, n = 480;
            var grid = new WindowGrid(h, h, 14);
            int m = grid.Rows;
            var x = Rand(ctx, h * h, c); var w = Rand(ctx, n, c); var bias = Rand(ctx, n); var gamma = Rand(ctx, c); var beta = Rand(ctx, c);
            var table = Rand(ctx, 2 * n); var xn = ctx.CreateTensor([m, c]); var o = ctx.CreateTensor([m, n]);
            var gemm = new Gemm(ctx);
            var ln = new LayerNorm(ctx);
            yield return new KernelCase("gemm+layernorm", $"{m}x{n}x{c} window gather, LN prologue", 2.0 * m * n * c, 0,
                cs => gemm.Record(cs, m, n, c, StridedView.RowMajor(x, h * h, c), StridedView.RowMajor(w, n, c).Transposed(),
                                  StridedView.RowMajor(o, m, n), 1, bias, BiasMode.PerColumn, norm: new NormPrologue(table, 1e-5f), gatherRows: grid),
                []);   // the tensors are shared: the second case, run after this one, owns them
            yield return new KernelCase("layernorm,gemm", $"{m}x{n}x{c} partitioning LN, then GEMM", 2.0 * m * n * c, 0,
                cs =>
                {
                    ln.RecordPartitioned(cs, x, xn, gamma, beta, grid, c, 1e-5f);
                    gemm.Record(cs, m, n, c, StridedView.RowMajor(xn, m, c), StridedView.RowMajor(w, n, c).Transposed(),
                                StridedView.RowMajor(o, m, n), 1, bias, BiasMode.PerColumn);
                },
                [x, w, bias, gamma, beta, table, xn, o]);
        }
        // Other SAM-sized shapes; B is a weight [N,K] viewed transposed unless noted. "storage" forces the
        // storage-buffer shader for comparison with the texel one.
        foreach (var (m, n, k, storage) in new[] { (4096, 512, 128, true), (4096, 128, 512, false), (16384, 256, 128, false) })
        {
            var a = Rand(ctx, m, k); var w = Rand(ctx, n, k); var bias = Rand(ctx, n); var c = ctx.CreateTensor([m, n]);
            var gemm = new Gemm(ctx) { AllowTexel = !storage };
            yield return new KernelCase(storage ? "gemm-storage" : "gemm", $"{m}x{n}x{k} +bias", 2.0 * m * n * k, 0,
                cs => gemm.Record(cs, m, n, k, StridedView.RowMajor(a, m, k), StridedView.RowMajor(w, n, k).Transposed(),
                                  StridedView.RowMajor(c, m, n), 1, bias, BiasMode.PerColumn),
                [a, w, bias, c]);
        }
        {
            // Decoder masks = hyper_in[4x32] · upscaled[32 x 256²]: B contiguous along N.
            int m = 4, k = 32, n = 65536;
            var a = Rand(ctx, m, k); var b = Rand(ctx, k, n); var c = ctx.CreateTensor([m, n]);
            var gemm = new Gemm(ctx);
            yield return new KernelCase("gemm", $"{m}x{n}x{k} B along N", 2.0 * m * n * k, 0,
                cs => gemm.Record(cs, m, n, k, StridedView.RowMajor(a, m, k), StridedView.RowMajor(b, k, n), StridedView.RowMajor(c, m, n)),
                [a, b, c]);
        }
        {
            // TinyViT stage-1 window attention: 100 windows (64x64 padded to 70x70, window 7) x 49 tokens, 2 heads, dim 32,
            // interleaved qkv, per-head bias.
            int win = 100, nt = 49, heads = 2, hd = 32, c = heads * hd;
            var qkv = Rand(ctx, win, nt, 3 * c); var bias = Rand(ctx, heads, nt, nt); var o = ctx.CreateTensor([win, nt, c]);
            var att = new Attention(ctx);
            int tok = 3 * c, bs = nt * tok;
            yield return new KernelCase("attention", $"{win}x{heads}x{nt}x{nt}x{hd} +bias", 4.0 * win * heads * nt * nt * hd, 0,
                cs => att.Record(cs, new HeadView(qkv, 0, bs, tok, 3 * hd), new HeadView(qkv, hd, bs, tok, 3 * hd), new HeadView(qkv, 2 * hd, bs, tok, 3 * hd),
                                 new HeadView(o, 0, nt * c, c, hd), win, heads, nt, nt, hd, 0.17677669f, bias),
                [qkv, bias, o]);
        }
        {
            // SAM decoder token->image attention: 7 tokens over 4096 image tokens, 8 heads of 16.
            int nq = 7, nk = 4096, heads = 8, hd = 16, c = heads * hd;
            var q = Rand(ctx, nq, c); var k = Rand(ctx, nk, c); var v = Rand(ctx, nk, c); var o = ctx.CreateTensor([nq, c]);
            var att = new Attention(ctx);
            yield return new KernelCase("attention", $"{heads}x{nq}x{nk}x{hd}", 4.0 * heads * nq * nk * hd, 0,
                cs => att.Record(cs, HeadView.Dense(q, nq, heads, hd), HeadView.Dense(k, nk, heads, hd), HeadView.Dense(v, nk, heads, hd),
                                 HeadView.Dense(o, nq, heads, hd), 1, heads, nq, nk, hd, 0.25f),
                [q, k, v, o]);
        }
        foreach (var (rows, ch) in new[] { (4900, 128), (4096, 320) })
        {
            var x = Rand(ctx, rows, ch); var g = Rand(ctx, ch); var b = Rand(ctx, ch); var y = ctx.CreateTensor([rows, ch]);
            var ln = new LayerNorm(ctx);
            yield return new KernelCase("layernorm", $"{rows}x{ch}", 0, 8.0 * rows * ch, cs => ln.Record(cs, x, y, g, b, rows, ch, 1e-5f), [x, g, b, y]);
        }
        {
            var x = Rand(ctx, 1, 256, 64, 64); var g = Rand(ctx, 256); var b = Rand(ctx, 256); var y = ctx.CreateTensor([1, 256, 64, 64]);
            var ln = new LayerNorm2d(ctx);
            yield return new KernelCase("layernorm2d", "1x256x64x64", 0, 8.0 * 256 * 4096, cs => ln.Record(cs, x, y, g, b, 1, 256, 4096, 1e-6f), [x, g, b, y]);
        }
        {
            int n = 256 * 256 * 64;
            var a = Rand(ctx, n); var b = Rand(ctx, n); var y = ctx.CreateTensor([n]);
            var ew = new Elementwise(ctx);
            yield return new KernelCase("elementwise", $"add+GELU {n}", 0, 12.0 * n, cs => ew.AddActivate(cs, a, b, y, Activation.Gelu, n), [a, b, y]);
        }
        {
            var x = Rand(ctx, 4096, 256); var y = ctx.CreateTensor([256, 4096]);
            var p = new Permute(ctx);
            yield return new KernelCase("permute", "4096x256", 0, 8.0 * x.Length, cs => p.Transpose(cs, x, y, 1, 4096, 256), [x, y]);
        }
        {
            var x = Rand(ctx, 4096, 49); var y = ctx.CreateTensor([4096, 49]);
            var sm = new Softmax(ctx);
            yield return new KernelCase("softmax", "4096x49", 0, 8.0 * x.Length, cs => sm.Record(cs, x, y, 4096, 49), [x, y]);
        }
        foreach (var (cin, cout, size, k, stride, groups, gemm) in new[]
                 { (256, 256, 256, 3, 1, 256, false), (256, 256, 64, 3, 1, 1, true), (256, 256, 64, 3, 1, 1, false), (64, 256, 256, 1, 1, 1, true), (32, 64, 512, 3, 2, 1, true) })
        {
            int o = Conv2d.OutputSize(size, k, stride, k / 2);
            var x = Rand(ctx, 1, cin, size, size); var w = Rand(ctx, cout, cin / groups, k, k); var b = Rand(ctx, cout);
            var y = ctx.CreateTensor([1, cout, o, o]);
            var conv = new Conv2d(ctx) { AllowGemm = gemm };
            string label = groups > 1 ? "conv2d-depthwise" : gemm ? "conv2d-gemm" : "conv2d-direct";
            yield return new KernelCase(label, $"{cin}->{cout} {size}x{size} k{k} s{stride} g{groups}", 2.0 * cout * (cin / groups) * k * k * o * o, 0,
                cs => conv.Record(cs, x, w, b, y, 1, cin, size, size, cout, k, k, stride, k / 2, groups), [x, w, b, y]);
        }
        {
            var x = Rand(ctx, 1, 64 * 64, 256); var w = Rand(ctx, 256, 4 * 64); var b = Rand(ctx, 64); var y = ctx.CreateTensor([1, 128 * 128, 64]);
            var ct = new ConvTranspose2d(ctx);
            yield return new KernelCase("conv_transpose2x2", "256->64 64x64", 2.0 * 256 * 64 * 4 * 4096, 0,
                cs => ct.Record(cs, x, w, b, y, 1, 256, 64, 64, 64), [x, w, b, y]);
        }
        {
            var x = Rand(ctx, 1, 256, 256); var y = ctx.CreateTensor([1, 1200, 1800]); var mid = ctx.CreateTensor([1, 1024, 1024]);
            var rs = new Resize(ctx);
            yield return new KernelCase("resize", "256->1024->1200x1800", 0, 4.0 * (65536 + 2 * 1024 * 1024 + 1200 * 1800),
                cs => { rs.Record(cs, x, mid, 1, 256, 256, 256, 256, 1024, 1024); rs.Record(cs, mid, y, 1, 1024, 1024, 683, 1024, 1200, 1800); }, [x, y, mid]);
        }
        {
            var px = ctx.CreateBuffer(1800 * 1200 * 4, BufferKind.Device, "pixels");
            px.Write(new byte[1800 * 1200 * 4]);
            var y = ctx.CreateTensor([1, 3, 1024, 1024]);
            var pre = new Preprocess(ctx);
            yield return new KernelCase("preprocess", "1800x1200 RGBA8 -> 1x3x1024x1024", 0, 1800 * 1200 * 4 + 4.0 * 3 * 1024 * 1024,
                cs => pre.Record(cs, px, PixelFormat.Rgba8, 1800, 1200, 1800 * 4, y), [px, y, pre]);
        }
    }
}
