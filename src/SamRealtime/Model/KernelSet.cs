using SamRealtime.Kernels;
using SamRealtime.Vulkan;

namespace SamRealtime.Model;

/// <summary>One instance of every kernel family on a context, shared by the model parts.</summary>
internal sealed class KernelSet(GpuContext ctx)
{
    public GpuContext Context { get; } = ctx;
    public Gemm Gemm { get; } = new(ctx);
    public Attention Attention { get; } = new(ctx);
    public Softmax Softmax { get; } = new(ctx);
    public LayerNorm LayerNorm { get; } = new(ctx);
    public LayerNorm2d LayerNorm2d { get; } = new(ctx);
    public Elementwise Elementwise { get; } = new(ctx);
    public Permute Permute { get; } = new(ctx);
    public Conv2d Conv2d { get; } = new(ctx);
    public DepthwiseConv DepthwiseConv { get; } = new(ctx);
    public ConvTranspose2d ConvTranspose2d { get; } = new(ctx);
    public Resize Resize { get; } = new(ctx);
    public Preprocess Preprocess { get; } = new(ctx);
    public MaskStats MaskStats { get; } = new(ctx);
}
