using System.Runtime.InteropServices;
using SamRealtime.Vulkan;

namespace SamRealtime.Kernels;

/// <summary>
/// Bilinear resampling per channel plane, PyTorch F.interpolate(mode="bilinear", align_corners=False) semantics
/// (shaders/resize.comp). Resamples the top-left cropH×cropW region of each [inH, inW] plane of the input
/// ([planes, inH, inW] in memory) to [planes, outH, outW]. With <c>antialias</c>, an axis that shrinks uses the
/// triangle filter widened by the scale (PyTorch antialias=True / PIL bilinear); an axis that grows is plain
/// bilinear either way, as in PyTorch.
/// </summary>
internal sealed class Resize
{
    private readonly GpuContext _ctx;
    private static readonly KernelLayout Layout = new(2, Marshal.SizeOf<Push>(), [1]);

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public int InH, InW, CropH, CropW, OutH, OutW;
        public float ScaleY, ScaleX;
        public int AaY, AaX;
    }

    public Resize(GpuContext ctx) => _ctx = ctx;

    public void Record(CommandStream cs, GpuTensor input, GpuTensor output, int planes, int inH, int inW,
                       int cropH, int cropW, int outH, int outW, bool antialias = false)
    {
        const string name = "resize";
        if (planes <= 0 || inH <= 0 || inW <= 0 || cropH <= 0 || cropW <= 0 || outH <= 0 || outW <= 0)
            throw new ShapeException($"{name}: planes {planes}, input {inH}x{inW}, crop {cropH}x{cropW}, output {outH}x{outW} must all be positive.");
        if (cropH > inH || cropW > inW)
            throw new ShapeException($"{name}: crop {cropH}x{cropW} is larger than the input plane {inH}x{inW}.");
        Conv2d.CheckLength(name, "input", input, (long)planes * inH * inW, $"[{planes}x{inH}x{inW}]");
        Conv2d.CheckLength(name, "output", output, (long)planes * outH * outW, $"[{planes}x{outH}x{outW}]");
        if (input.Type != output.Type)
            throw new ShapeException($"{name}: input is {input.Type} but the output is {output.Type}; one storage type per call.");
        if (input == output) throw new ShapeException($"{name}: the output cannot alias the input.");

        // PyTorch computes the scale in float as input/output size when no scale factor is given.
        float scaleY = (float)cropH / outH, scaleX = (float)cropW / outW;
        var push = new Push
        {
            InH = inH, InW = inW, CropH = cropH, CropW = cropW, OutH = outH, OutW = outW,
            ScaleY = scaleY, ScaleX = scaleX,
            AaY = antialias && scaleY > 1f ? 1 : 0, AaX = antialias && scaleX > 1f ? 1 : 0,
        };
        var (wx, wy) = WorkGroup(_ctx);
        var kernel = _ctx.Kernel(input.Type == DataType.F16 ? "resize_f16" : "resize", Layout, wx, wy);
        cs.Dispatch(kernel, ((uint)((outW + wx - 1) / wx), (uint)((outH + wy - 1) / wy), (uint)planes), push, input.Buffer, output.Buffer);
    }

    /// <summary>A 2D workgroup of up to 16x4 within the device's limits (shared with <see cref="Preprocess"/>).</summary>
    internal static (int Wx, int Wy) WorkGroup(GpuContext ctx)
    {
        int wx = 16, wy = 4;
        int maxInv = (int)ctx.Info.MaxComputeWorkGroupInvocations;
        while (wx * wy > maxInv) { if (wx >= wy) wx /= 2; else wy /= 2; }
        wx = Math.Min(wx, (int)ctx.Info.MaxComputeWorkGroupSize[0]);
        wy = Math.Min(wy, (int)ctx.Info.MaxComputeWorkGroupSize[1]);
        return (wx, wy);
    }
}
