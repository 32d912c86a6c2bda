using System.Runtime.InteropServices;
using SamRealtime.Vulkan;

namespace SamRealtime.Kernels;

/// <summary>
/// ConvTranspose2d with kernel 2, stride 2, no padding (SAM's mask upscaling, shaders/conv_transpose2x2.comp):
/// NCHW [N, Cin, H, W] → [N, Cout, 2H, 2W], weight [Cin, Cout, 2, 2] (PyTorch layout), optional bias [Cout],
/// fused activation.
/// </summary>
public sealed class ConvTranspose2d
{
    private readonly GpuContext _ctx;
    private static readonly KernelLayout Layout = new(4, Marshal.SizeOf<Push>(), [3]);

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public int Cin, H, W, Cout;
        public int HasBias, Act;
    }

    public ConvTranspose2d(GpuContext ctx)
    {
        _ctx = ctx;
    }

    public void Record(CommandStream cs, GpuTensor input, GpuTensor weight, GpuTensor? bias, GpuTensor output,
                       int batch, int inChannels, int height, int width, int outChannels, Activation act = Activation.None)
    {
        const string name = "conv_transpose2x2";
        if (batch <= 0 || inChannels <= 0 || height <= 0 || width <= 0 || outChannels <= 0)
            throw new ShapeException($"{name}: batch {batch}, channels {inChannels}->{outChannels}, {height}x{width} must all be positive.");
        var type = output.Type;
        Conv2d.CheckLength(name, "input", input, (long)batch * inChannels * height * width, $"[{batch}x{inChannels}x{height}x{width}]");
        Conv2d.CheckLength(name, "output", output, (long)batch * outChannels * 4 * height * width, $"[{batch}x{outChannels}x{2 * height}x{2 * width}]");
        Conv2d.CheckLength(name, "weight", weight, (long)inChannels * outChannels * 4, $"[{inChannels}x{outChannels}x2x2]");
        if (weight.Rank == 4 && !weight.Shape.SequenceEqual(new[] { inChannels, outChannels, 2, 2 }))
            throw new ShapeException($"{name}: weight is {weight.ShapeText}, expected [{inChannels}x{outChannels}x2x2] (Cin, Cout, kh, kw).");
        if (bias is not null) Conv2d.CheckLength(name, "bias", bias, outChannels, $"[{outChannels}]");
        foreach (var (t, what) in new[] { (input, "input"), (weight, "weight"), (bias, "bias") })
            if (t is not null && t.Type != type)
                throw new ShapeException($"{name}: {what} is {t.Type} but the output is {type}; one storage type per call.");
        if (input == output) throw new ShapeException($"{name}: the output cannot alias the input.");

        int tc = outChannels % 8 == 0 ? 8 : outChannels % 4 == 0 ? 4 : outChannels % 2 == 0 ? 2 : 1;
        int tp = 4;
        int wx = (int)Math.Min(64u, Math.Min(_ctx.Info.MaxComputeWorkGroupInvocations, _ctx.Info.MaxComputeWorkGroupSize[0]));
        long invocations = ((long)height * width + tp - 1) / tp;
        var kernel = _ctx.Kernel(type == DataType.F16 ? "conv_transpose2x2_f16" : "conv_transpose2x2", Layout, wx, tc, tp);
        var push = new Push { Cin = inChannels, H = height, W = width, Cout = outChannels, HasBias = bias is null ? 0 : 1, Act = (int)act };
        var dummy = _ctx.Unused(type);
        cs.Dispatch(kernel, ((uint)((invocations + wx - 1) / wx), (uint)(outChannels / tc), (uint)batch), push,
                    input.Buffer, weight.Buffer, (bias ?? dummy).Buffer, output.Buffer);
    }
}
