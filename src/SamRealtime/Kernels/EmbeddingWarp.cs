using System.Runtime.InteropServices;
using SamRealtime.Vulkan;

namespace SamRealtime.Kernels;

/// <summary>
/// Feature warping (shaders/embedding_warp.comp): an image embedding [C, 64, 64] resampled by a per-cell flow
/// [64, 64, 2] (offsets in cells from each cell to where its content was on the key frame), bilinear and clamped to
/// the <c>validW</c>×<c>validH</c> cells that hold image; the other (padding) cells are copied unchanged.
/// </summary>
internal sealed class EmbeddingWarp
{
    public const int Side = 64;
    private static readonly KernelLayout Layout = new(3, Marshal.SizeOf<Push>(), [2]);
    private readonly GpuContext _ctx;
    private readonly int _wg;

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public int Channels, ValidW, ValidH;
    }

    public EmbeddingWarp(GpuContext ctx)
    {
        _ctx = ctx;
        _wg = LinearGrid.WorkgroupSize(ctx);
    }

    public void Record(CommandStream cs, GpuTensor key, GpuBuffer flow, GpuTensor output, int channels, int validW, int validH)
    {
        const string name = "embedding_warp";
        if (channels <= 0) throw new ShapeException($"{name}: channels {channels} must be positive.");
        if (validW is < 1 or > Side || validH is < 1 or > Side)
            throw new ShapeException($"{name}: valid cells {validW}x{validH} must be within 1..{Side}.");
        long count = (long)channels * Side * Side;
        LinearGrid.CheckLength(name, "key", key, count, output.Type);
        LinearGrid.CheckLength(name, "output", output, count, output.Type);
        LinearGrid.CheckNotAliased(name, output, ("key", key));
        if (flow.Size < Side * Side * 2 * sizeof(float))
            throw new ShapeException($"{name}: flow '{flow.Name}' holds {flow.Size} bytes; {Side * Side * 2 * sizeof(float)} are needed.");
        var kernel = _ctx.Kernel(output.Type == DataType.F16 ? "embedding_warp_f16" : "embedding_warp", Layout, _wg);
        cs.Dispatch(kernel, LinearGrid.Groups(_ctx, name, count, _wg), new Push { Channels = channels, ValidW = validW, ValidH = validH },
                    key.Buffer, flow, output.Buffer);
    }
}
