using System.Runtime.InteropServices;
using SamRealtime.Vulkan;

namespace SamRealtime.Kernels;

/// <summary>
/// Resamples one plane of fp32 logits by an affine map (shaders/logit_warp.comp): bilinear, and the source plane's
/// minimum wherever a tap falls outside it. The video tracker moves an object's last 256x256 logits by its measured
/// motion with it, on the GPU.
/// </summary>
internal sealed class LogitWarp(GpuContext ctx)
{
    private static readonly KernelLayout Layout = new(2, Marshal.SizeOf<Push>(), [1]);

    /// <summary>Where output cell (u, v) samples the source: (A00·u + A01·v + A02, A10·u + A11·v + A12), in cells
    /// (cell centres at integers).</summary>
    public readonly record struct Map(float A00, float A01, float A02, float A10, float A11, float A12);

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public int Cols, Rows, SrcOffset, DstOffset;
        public Map Map;
    }

    /// <summary>Warps plane <paramref name="srcPlane"/> of <paramref name="src"/> into plane <paramref name="dstPlane"/>
    /// of <paramref name="dst"/>, planes of <paramref name="rows"/>×<paramref name="cols"/> fp32 values.</summary>
    public void Record(CommandStream cs, GpuTensor src, int srcPlane, GpuTensor dst, int dstPlane, int cols, int rows, in Map map)
    {
        const string name = "logit_warp";
        // One workgroup walks the plane; an invocation may loop at most 65535 times on lavapipe.
        int wg = (int)Math.Min(256u, Math.Min(ctx.Info.MaxComputeWorkGroupInvocations, ctx.Info.MaxComputeWorkGroupSize[0]));
        long plane = (long)cols * rows;
        if (cols <= 0 || rows <= 0 || plane > 65535L * wg)
            throw new ShapeException($"{name}: a {cols}x{rows} plane is empty or larger than one workgroup of {wg} can walk.");
        if (src.Type != DataType.F32 || dst.Type != DataType.F32) throw new ShapeException($"{name}: source and destination are fp32 tensors.");
        if (srcPlane < 0 || (srcPlane + 1) * plane > src.Length)
            throw new ShapeException($"{name}: plane {srcPlane} of {cols}x{rows} is outside source {src.ShapeText}.");
        if (dstPlane < 0 || (dstPlane + 1) * plane > dst.Length)
            throw new ShapeException($"{name}: plane {dstPlane} of {cols}x{rows} is outside destination {dst.ShapeText}.");
        if (src.Buffer == dst.Buffer) throw new ShapeException($"{name}: the destination cannot alias the source.");
        var m = map;
        if (!float.IsFinite(m.A00) || !float.IsFinite(m.A01) || !float.IsFinite(m.A02) || !float.IsFinite(m.A10) || !float.IsFinite(m.A11) || !float.IsFinite(m.A12))
            throw new ArgumentException($"{name}: the map {m} is not finite.", nameof(map));
        cs.Dispatch(ctx.Kernel(name, Layout, wg), (1u, 1u, 1u),
                    new Push { Cols = cols, Rows = rows, SrcOffset = (int)(srcPlane * plane), DstOffset = (int)(dstPlane * plane), Map = m },
                    src.Buffer, dst.Buffer);
    }
}
