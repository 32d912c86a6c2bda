using SamRealtime.Vulkan;

namespace SamRealtime.Kernels;

/// <summary>
/// ConvTranspose2d with kernel 2, stride 2, no padding (SAM's mask upscaling) on channels-last maps: input
/// [N, H·W, Cin] → output [N, 2H·2W, Cout], optional bias [Cout], fused activation. Every input pixel owns its own
/// 2x2 output block, so it is one GEMM [H·W, Cin] x [Cin, 4·Cout] whose epilogue scatters column (dy, dx, co) of
/// row (y, x) to pixel (2y+dy, 2x+dx) (<see cref="DepthToSpace"/>): the texel GEMM's speed, no scattered loop.
/// The weight is <see cref="WeightAsGemm"/> of PyTorch's [Cin, Cout, 2, 2]: B stored as its transpose [4·Cout, Cin],
/// contiguous along K like every linear weight, because gemm_texel reads such a B four k-steps per fetch (B mode 0)
/// and a B contiguous along N one k-step per fetch (mode 1): 2.4x slower on SAM's first upscaling on lavapipe.
/// </summary>
internal sealed class ConvTranspose2d(GpuContext ctx)
{
    private readonly Gemm _gemm = new(ctx);

    /// <summary>PyTorch's ConvTranspose2d weight [Cin, Cout, 2, 2] as the GEMM's Bᵀ [4·Cout, Cin], rows ordered
    /// (dy, dx, co): Bᵀ[(2·dy + dx)·Cout + co, ci] = w[ci, co, dy, dx].</summary>
    public static float[] WeightAsGemm(ReadOnlySpan<float> weight, int inChannels, int outChannels)
    {
        if (weight.Length != inChannels * outChannels * 4)
            throw new ShapeException($"conv_transpose2x2 weight has {weight.Length} values; [{inChannels}x{outChannels}x2x2] needs {inChannels * outChannels * 4}.");
        var b = new float[weight.Length];
        for (int ci = 0; ci < inChannels; ci++)
            for (int co = 0; co < outChannels; co++)
                for (int d = 0; d < 4; d++)
                    b[(d * outChannels + co) * inChannels + ci] = weight[(ci * outChannels + co) * 4 + d];
        return b;
    }

    public void Record(CommandStream cs, GpuTensor input, GpuTensor weight, GpuTensor? bias, GpuTensor output,
                       int batch, int inChannels, int height, int width, int outChannels, Activation act = Activation.None)
    {
        const string name = "conv_transpose2x2";
        if (batch <= 0 || inChannels <= 0 || height <= 0 || width <= 0 || outChannels <= 0)
            throw new ShapeException($"{name}: batch {batch}, channels {inChannels}->{outChannels}, {height}x{width} must all be positive.");
        int pix = height * width;
        Conv2d.CheckLength(name, "input", input, (long)batch * pix * inChannels, $"[{batch}x{pix}x{inChannels}]");
        Conv2d.CheckLength(name, "output", output, (long)batch * 4 * pix * outChannels, $"[{batch}x{4 * pix}x{outChannels}]");
        Conv2d.CheckLength(name, "weight", weight, (long)inChannels * 4 * outChannels, $"[{4 * outChannels}x{inChannels}]");
        if (weight.Rank == 2 && !weight.Shape.SequenceEqual(new[] { 4 * outChannels, inChannels }))
            throw new ShapeException($"{name}: weight is {weight.ShapeText}, expected [{4 * outChannels}x{inChannels}] (WeightAsGemm of [Cin, Cout, 2, 2]).");
        if (bias is not null) Conv2d.CheckLength(name, "bias", bias, outChannels, $"[{outChannels}]");
        LinearGrid.CheckNotAliased(name, output, ("input", input));

        _gemm.Record(cs, pix, 4 * outChannels, inChannels, StridedView.RowMajor(input, pix, inChannels),
                    StridedView.RowMajor(weight, 4 * outChannels, inChannels, 0, 0).Transposed(),
                    StridedView.RowMajor(output, 4 * pix, outChannels), batch, bias,
                    bias is null ? BiasMode.None : BiasMode.PerColumn, act, depthToSpace: new DepthToSpace(height, width, outChannels));
    }
}
