using System.Runtime.InteropServices;
using SamRealtime.Model;
using SamRealtime.Vulkan;
using Silk.NET.Vulkan;

namespace SamRealtime.Kernels;

/// <summary>
/// The GPU end of every front end: choose each prompt's mask from the decoder's four (the ONNX export's rule,
/// shaders/mask_select.comp — the only implementation of it), then render chosen 256x256 logits straight into 8-bit
/// masks at the frame size with SAM's two resizes and crop composed per pixel (shaders/mask_render.comp).
/// </summary>
internal sealed class MaskOutput
{
    private readonly GpuContext _ctx;
    private static readonly KernelLayout SelectLayout = new(5, Marshal.SizeOf<SelectPush>(), [3, 4]);
    private static readonly KernelLayout GatherLayout = new(3, sizeof(int), [2]);
    private static readonly KernelLayout StatsLayout = new(2, 2 * sizeof(int), [1]);

    /// <summary>Floats per row written by <see cref="Stats"/>: box (4), positive cells, 3 spare.</summary>
    public const int StatsStride = 8;

    /// <summary>The side of SAM's low-res logit planes.</summary>
    private const int LowRes = 256;
    private static readonly KernelLayout RenderLayout = new(4, Marshal.SizeOf<RenderPush>(), [3]);
    private static readonly KernelLayout RenderTexelLayout = new(4, Marshal.SizeOf<RenderPush>(), [3])
        { TexelBindings = [(0, Format.R32Sfloat)] };
    private static readonly KernelLayout RowsLayout = new(2, Marshal.SizeOf<RowsPush>(), [1]);
    private static readonly KernelLayout RowsTexelLayout = new(2, Marshal.SizeOf<RowsPush>(), [1])
        { TexelBindings = [(0, Format.R32Sfloat)] };

    /// <summary>The most memory the separable render's rows may take (a frame's worth for a few dozen planes); a
    /// render that needs more runs in one pass.</summary>
    private const ulong MaxRowsBytes = 64UL << 20;

    [StructLayout(LayoutKind.Sequential)]
    private struct SelectPush { public int Plane, Points, Multimask; }

    [StructLayout(LayoutKind.Sequential)]
    private struct StatsPush { public int ValidW, ValidH; }

    [StructLayout(LayoutKind.Sequential)]
    private struct RowsPush
    {
        public int OutW, CropW;
        public float ScaleX;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RenderPush
    {
        public int OutW, OutH, CropW, CropH;
        public float ScaleX, ScaleY;
        public int Objects, Binary;
        public float MinScore;
        public int Words, GroupsX;
    }

    public MaskOutput(GpuContext ctx) => _ctx = ctx;

    /// <summary>False makes <see cref="Render"/> read logits as a storage buffer, as on devices without R32F
    /// texel buffers (for tests).</summary>
    public bool AllowTexel { get; init; } = true;

    private int GroupSize => (int)Math.Min(64u, _ctx.Info.MaxComputeWorkGroupInvocations);

    /// <summary>Rows each prompt writes into the chosen logits: 1, or 3 with multimask.</summary>
    public static int RowsPerPrompt(bool multimask) => multimask ? 3 : 1;

    /// <param name="logits">Decoder mask logits [batch, 4, plane].</param>
    /// <param name="iou">Decoder IoU predictions [batch, 4].</param>
    /// <param name="rows">int32 [batch]: the first row of each prompt's outputs (<see cref="RowsPerPrompt"/> rows each).</param>
    /// <param name="rowCount">Largest row + 1 that <paramref name="rows"/> names (checked against the outputs).</param>
    /// <param name="chosen">fp32 [rows, plane]: the chosen logits.</param>
    /// <param name="scores">fp32 [rows]: the chosen masks' predicted IoU.</param>
    /// <param name="points">Sparse tokens per prompt, the padding point included.</param>
    public void Select(CommandStream cs, GpuTensor logits, GpuTensor iou, GpuBuffer rows, int rowCount, GpuTensor chosen, GpuTensor scores,
                       int batch, int plane, int points, bool multimask = false)
    {
        const string name = "mask_select";
        if (batch <= 0 || plane <= 0 || points <= 0 || rowCount <= 0)
            throw new ShapeException($"{name}: batch {batch}, plane {plane}, points {points}, rows {rowCount} out of range.");
        Conv2d.CheckLength(name, "logits", logits, (long)batch * 4 * plane, $"[{batch}x4x{plane}]");
        Conv2d.CheckLength(name, "iou", iou, (long)batch * 4, $"[{batch}x4]");
        if (logits.Type != iou.Type) throw new ShapeException($"{name}: logits are {logits.Type} but iou is {iou.Type}.");
        if (chosen.Type != DataType.F32 || scores.Type != DataType.F32)
            throw new ShapeException($"{name}: the chosen logits and scores are fp32 tensors.");
        if (rows.Size < (ulong)batch * 4) throw new ShapeException($"{name}: row indices '{rows.Name}' hold fewer than {batch} entries.");
        if (chosen.Length < (long)rowCount * plane || scores.Length < rowCount)
            throw new ShapeException($"{name}: {rowCount} rows do not fit chosen {chosen.ShapeText} / scores {scores.ShapeText}.");
        int wg = GroupSize;
        var kernel = _ctx.Kernel(logits.Type == DataType.F16 ? "mask_select_f16" : "mask_select", SelectLayout, wg);
        cs.Dispatch(kernel, ((uint)((plane + wg - 1) / wg), (uint)batch, (uint)RowsPerPrompt(multimask)),
                    new SelectPush { Plane = plane, Points = points, Multimask = multimask ? 1 : 0 },
                    logits.Buffer, iou.Buffer, rows, chosen.Buffer, scores.Buffer);
    }

    /// <summary>Copies rows <paramref name="rows"/>[b] of <paramref name="chosen"/> into <paramref name="dense"/>
    /// [batch, plane] in its storage type: the decoder's dense prompts from last frame's chosen logits.</summary>
    public void Gather(CommandStream cs, GpuTensor chosen, GpuBuffer rows, GpuTensor dense, int batch, int plane)
    {
        const string name = "mask_gather";
        if (batch <= 0 || plane <= 0) throw new ShapeException($"{name}: batch {batch}, plane {plane} out of range.");
        if (chosen.Type != DataType.F32) throw new ShapeException($"{name}: the chosen logits are an fp32 tensor.");
        Conv2d.CheckLength(name, "dense", dense, (long)batch * plane, $"[{batch}x{plane}]");
        if (rows.Size < (ulong)batch * 4) throw new ShapeException($"{name}: row indices '{rows.Name}' hold fewer than {batch} entries.");
        int wg = GroupSize, p = plane;
        var kernel = _ctx.Kernel(dense.Type == DataType.F16 ? "mask_gather_f16" : "mask_gather", GatherLayout, wg);
        cs.Dispatch(kernel, ((uint)((plane + wg - 1) / wg), (uint)batch, 1u), p, chosen.Buffer, rows, dense.Buffer);
    }

    /// <summary>Bytes of one packed 8-bit mask of <paramref name="pixels"/> pixels (whole uints).</summary>
    public static ulong PackedBytes(long pixels) => (ulong)((pixels + 3) / 4 * 4);

    /// <summary>Renders <paramref name="outputs"/> masks of <paramref name="width"/>×<paramref name="height"/>, each
    /// from <paramref name="objects"/> consecutive planes of <paramref name="chosen"/> (one: threshold at 0; more: the
    /// largest positive logit wins, no overlaps).</summary>
    /// <param name="chosen">fp32 [outputs × objects, 256, 256] logits in SAM's padded 1024 frame.</param>
    /// <param name="labels">fp32 [planes]: the value written for each plane (1..255); not read when binary.</param>
    /// <param name="scores">fp32 [planes]: planes below <paramref name="minScore"/> are left out.</param>
    /// <param name="packed">outputs × <see cref="PackedBytes"/>: one byte per pixel, row-major, each output whole uints.</param>
    /// <param name="rows">A device buffer of at least <see cref="RowsBytes"/> for the separable render's first pass
    /// (each plane's 256 rows resampled to the frame width, then every pixel from 4 of them instead of 16 logits);
    /// null renders in one pass.</param>
    public void Render(CommandStream cs, GpuTensor chosen, GpuTensor labels, GpuTensor scores, GpuBuffer packed,
                       int outputs, int objects, int width, int height, bool binary, float minScore, GpuBuffer? rows = null)
    {
        const string name = "mask_render";
        long pixels = (long)width * height;
        if (outputs <= 0 || objects <= 0 || width <= 0 || height <= 0 || pixels > int.MaxValue - 3)
            throw new ShapeException($"{name}: {outputs} outputs of {objects} planes at {width}x{height} out of range.");
        int planes = outputs * objects;
        Conv2d.CheckLength(name, "chosen", chosen, (long)planes * 65536, $"[{planes}x256x256]");
        if ((!binary && labels.Length < planes) || scores.Length < planes)
            throw new ShapeException($"{name}: labels {labels.ShapeText} / scores {scores.ShapeText} hold fewer than {planes} planes.");
        if (chosen.Type != DataType.F32 || labels.Type != DataType.F32 || scores.Type != DataType.F32)
            throw new ShapeException($"{name}: logits, labels and scores are fp32 tensors.");
        ulong bytes = PackedBytes(pixels);
        if (packed.Size < (ulong)outputs * bytes)
            throw new ShapeException($"{name}: output '{packed.Name}' has {packed.Size} bytes; {(ulong)outputs * bytes} are needed.");
        var (rh, rw) = Prompt.ResizedSize(height, width);
        int wg = GroupSize;
        int words = (int)(bytes / 4), groups = (words + wg - 1) / wg;
        int maxX = (int)_ctx.Info.MaxComputeWorkGroupCount[0];
        int gx = Math.Min(groups, maxX), gy = (groups + gx - 1) / gx;
        // Each pixel reads logits at addresses that differ per lane: lavapipe serves those as texel fetches
        // through its gather path and as storage loads one lane at a time, so the sources go in as texels where they can.
        var source = chosen.Buffer;
        string shader = "mask_render";
        if (rows is not null)
        {
            ulong need = RowsBytes(planes, width);
            if (need == 0 || rows.Size < need || (ulong)planes > _ctx.Info.MaxComputeWorkGroupCount[2])
                throw new ShapeException($"{name}: rows buffer '{rows.Name}' has {rows.Size} bytes; {planes} planes at width {width} need {need} (0: render in one pass).");
            bool texelRows = Texel(chosen.Buffer);
            cs.Dispatch(texelRows ? _ctx.Kernel("mask_render_rows_texel", RowsTexelLayout, wg) : _ctx.Kernel("mask_render_rows", RowsLayout, wg),
                        ((uint)((width + wg - 1) / wg), (uint)LowRes, (uint)planes),
                        new RowsPush { OutW = width, CropW = rw, ScaleX = (float)rw / width }, chosen.Buffer, rows);
            source = rows;
            shader = "mask_render_cols";
        }
        bool texel = Texel(source);
        var kernel = texel ? _ctx.Kernel(shader + "_texel", RenderTexelLayout, wg) : _ctx.Kernel(shader, RenderLayout, wg);
        cs.Dispatch(kernel, ((uint)gx, (uint)gy, (uint)outputs),
                    new RenderPush
                    {
                        OutW = width, OutH = height, CropW = rw, CropH = rh,
                        // PyTorch computes the scale in float as input/output size when no scale factor is given.
                        ScaleX = (float)rw / width, ScaleY = (float)rh / height,
                        Objects = objects, Binary = binary ? 1 : 0, MinScore = minScore, Words = words, GroupsX = gx,
                    },
                    source, labels.Buffer, scores.Buffer, packed);
    }

    private bool Texel(GpuBuffer source) => AllowTexel && source.TexelView(Format.R32Sfloat) is not null;

    /// <summary>Bytes of the separable render's rows for <paramref name="planes"/> planes at <paramref name="width"/>
    /// ([planes, 256, width] fp32), or 0 when they would exceed the render's memory budget or one storage buffer:
    /// such a render runs in one pass.</summary>
    public ulong RowsBytes(int planes, int width)
    {
        ulong bytes = (ulong)planes * LowRes * (ulong)width * sizeof(float);
        return bytes <= Math.Min(MaxRowsBytes, _ctx.Info.MaxStorageBufferRange) ? bytes : 0;
    }

    /// <summary>Per row (rows 0..objects-1 of <paramref name="chosen"/>): box and count of positive low-res cells
    /// inside the resized image (shaders/object_stats.comp).</summary>
    /// <param name="stats">fp32 [objects, <see cref="StatsStride"/>].</param>
    public void Stats(CommandStream cs, GpuTensor chosen, GpuTensor stats, int objects, int width, int height)
    {
        const string name = "object_stats";
        if (objects <= 0 || width <= 0 || height <= 0) throw new ShapeException($"{name}: {objects} objects at {width}x{height} out of range.");
        if (chosen.Type != DataType.F32 || stats.Type != DataType.F32) throw new ShapeException($"{name}: chosen logits and stats are fp32 tensors.");
        if (chosen.Length < (long)objects * 65536) throw new ShapeException($"{name}: chosen {chosen.ShapeText} holds fewer than {objects} planes.");
        Conv2d.CheckLength(name, "stats", stats, (long)objects * StatsStride, $"[{objects}x{StatsStride}]");
        var (rh, rw) = Prompt.ResizedSize(height, width);
        int wg = GroupSize;
        var kernel = _ctx.Kernel("object_stats", StatsLayout, wg);
        cs.Dispatch(kernel, ((uint)objects, 1u, 1u), new StatsPush { ValidW = (rw + 3) / 4, ValidH = (rh + 3) / 4 }, chosen.Buffer, stats.Buffer);
    }
}
