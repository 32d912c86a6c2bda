using SamRealtime.Model;
using SamRealtime.Tests.Weights;
using SamRealtime.Vulkan;
using SamRealtime.Weights;
using Xunit;
using Xunit.Abstractions;

namespace SamRealtime.Tests.Model;

/// <summary>The mask decoder's command stream for one prompt: 79 dispatches before the upscaling became texel GEMMs
/// with a depth-to-space scatter (no permute), the IoU head and hypernetworks one batched GEMM per layer, the image
/// positional encoding's projections constants added as GEMM residuals and projections that share an input one GEMM;
/// 58 now. Recorded, never submitted.</summary>
public sealed class DecoderDispatchTests(GpuFixture fixture, ITestOutputHelper output) : GpuTest(fixture)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DecoderRecordsAtMost58Dispatches(bool maskPrompt)
    {
        var kernels = new KernelSet(Ctx);
        using var decoder = new MaskDecoder(kernels, SamDecoderWeights.Load(ModelFiles.Decoder));
        using var embedding = Ctx.CreateTensor([1, 256, 64, 64], DataType.F32, "embedding");
        var sparse = new[] { Prompt.Point(100, 80).SparsePoints(576, 768) };
        int T = sparse[0].Length + 5;
        using var tokens = Ctx.Upload(decoder.Tokens(sparse), [1, T, 256], DataType.F32, "tokens");
        using var masks = Ctx.CreateTensor([1, 1, 256, 256], DataType.F32, "mask prompt");
        using var cs = Ctx.BeginCommands();
        decoder.Record(cs, embedding, tokens, 1, T, maskPrompt ? masks : null);
        output.WriteLine($"decoder (mask prompt {maskPrompt}): {cs.DispatchCount} dispatches, {cs.BarrierCount} barriers");
        // A mask prompt adds its downscaling: two 2x2 stride-2 convs (im2col + GEMM each), a 1x1 conv, two LayerNorm2d.
        Assert.InRange(cs.DispatchCount, 1, maskPrompt ? 58 + 7 : 58);
    }
}
