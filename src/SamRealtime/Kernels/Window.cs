using System.Runtime.InteropServices;
using SamRealtime.Vulkan;

namespace SamRealtime.Kernels;

/// <summary>A [H, W] token map cut into ws x ws windows, padded bottom/right: <see cref="Rows"/> partitioned rows.
/// Kernels that take one gather or scatter rows through it (shaders/common.glsl window_row) instead of copying.</summary>
public readonly record struct WindowGrid(int H, int W, int Ws)
{
    public int Rows => ((H + Ws - 1) / Ws) * ((W + Ws - 1) / Ws) * Ws * Ws;
}

/// <summary>
/// TinyViT window partition/unpartition on a [B, H, W, C] token map (shaders/window.comp). Partition pads
/// bottom/right to whole windows with literal zeros; unpartition crops them and can add a residual.
/// </summary>
public sealed class Window
{
    private static readonly KernelLayout Layout = new(3, Marshal.SizeOf<Push>(), [2]);
    private readonly GpuContext _ctx;
    private readonly int _wg;

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public uint Batch, H, W, C, Ws, NWh, NWw;
        public int Unpartition, HasResidual;
    }

    public Window(GpuContext ctx)
    {
        _ctx = ctx;
        _wg = LinearGrid.WorkgroupSize(ctx);
    }

    /// <summary>Number of windows and padded size for a map: [batch · ceil(h/ws) · ceil(w/ws), ws·ws, channels].</summary>
    public static long PartitionedLength(int batch, int h, int w, int channels, int ws) =>
        (long)batch * ((h + ws - 1) / ws) * ((w + ws - 1) / ws) * ws * ws * channels;

    /// <summary>[B, H, W, C] → [B·ceil(H/ws)·ceil(W/ws), ws·ws, C], zero padding at bottom/right.</summary>
    public void Partition(CommandStream cs, GpuTensor input, GpuTensor output, int batch, int h, int w, int channels, int ws) =>
        Run(cs, "window.partition", input, output, null, batch, h, w, channels, ws, unpartition: false);

    /// <summary>Inverse of <see cref="Partition"/>, cropping the padding; with a residual, output = residual + unpartitioned.</summary>
    public void Unpartition(CommandStream cs, GpuTensor input, GpuTensor output, int batch, int h, int w, int channels, int ws,
                            GpuTensor? residual = null) =>
        Run(cs, "window.unpartition", input, output, residual, batch, h, w, channels, ws, unpartition: true);

    private void Run(CommandStream cs, string name, GpuTensor input, GpuTensor output, GpuTensor? residual,
                     int batch, int h, int w, int channels, int ws, bool unpartition)
    {
        if (batch <= 0 || h <= 0 || w <= 0 || channels <= 0 || ws <= 0)
            throw new ShapeException($"{name}: batch={batch}, h={h}, w={w}, channels={channels}, ws={ws} must all be positive.");
        long image = (long)batch * h * w * channels;
        long windows = PartitionedLength(batch, h, w, channels, ws);
        if (windows > int.MaxValue)
            throw new ShapeException($"{name}: {batch}x{h}x{w}x{channels} in windows of {ws} needs {windows} elements; at most {int.MaxValue}.");
        var type = output.Type;
        LinearGrid.CheckLength(name, "input", input, unpartition ? windows : image, type);
        LinearGrid.CheckLength(name, "output", output, unpartition ? image : windows, type);
        if (residual is not null) LinearGrid.CheckLength(name, "residual", residual, image, type);
        LinearGrid.CheckNotAliased(name, output, ("input", input), ("residual", residual));

        var push = new Push
        {
            Batch = (uint)batch, H = (uint)h, W = (uint)w, C = (uint)channels, Ws = (uint)ws,
            NWh = (uint)((h + ws - 1) / ws), NWw = (uint)((w + ws - 1) / ws),
            Unpartition = unpartition ? 1 : 0, HasResidual = residual is null ? 0 : 1,
        };
        var kernel = _ctx.Kernel(type == DataType.F16 ? "window_f16" : "window", Layout, _wg);
        long tokens = (unpartition ? image : windows) / channels;
        long invocations = tokens * ((channels + 3) / 4);   // 4 channels each
        // Without a residual the input is bound twice (read-only both times), so no dummy tensor is needed.
        cs.Dispatch(kernel, LinearGrid.Groups(_ctx, name, invocations, _wg), push,
                    input.Buffer, (residual ?? input).Buffer, output.Buffer);
    }
}
