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
    }
}
