using System.Runtime.InteropServices;
using SamRealtime.Vulkan;

namespace SamRealtime.Kernels;

/// <summary>
/// The GPU-only end of the engine pass: choose each prompt's mask from the decoder's four (the ONNX export's rule,
/// shaders/mask_select.comp), then fold per-object logits at the frame size into one 8-bit mask or label image
/// (shaders/mask_label.comp). <see cref="Model.SamModel.Predict(Model.Prompt, bool)"/> makes the same choice on the CPU.
/// </summary>
public sealed class MaskOutput
{
    private readonly GpuContext _ctx;
    private static readonly KernelLayout SelectLayout = new(4, Marshal.SizeOf<SelectPush>(), [2, 3]);
    private static readonly KernelLayout LabelLayout = new(4, Marshal.SizeOf<LabelPush>(), [3]);

    [StructLayout(LayoutKind.Sequential)]
    private struct SelectPush { public int Plane, Points, FirstObject; }

    [StructLayout(LayoutKind.Sequential)]
    private struct LabelPush { public int Pixels, Objects, Binary; public float MinScore; }

    public MaskOutput(GpuContext ctx) => _ctx = ctx;

    private int GroupSize => (int)Math.Min(64u, _ctx.Info.MaxComputeWorkGroupInvocations);

    /// <param name="logits">Decoder mask logits [batch, 4, plane].</param>
    /// <param name="iou">Decoder IoU predictions [batch, 4].</param>
    /// <param name="chosen">fp32 [objects, plane]; rows firstObject..firstObject+batch-1 are written.</param>
    /// <param name="scores">fp32 [objects]; the chosen mask's predicted IoU.</param>
    /// <param name="points">Sparse tokens per prompt, the padding point included.</param>
    public void Select(CommandStream cs, GpuTensor logits, GpuTensor iou, GpuTensor chosen, GpuTensor scores,
                       int batch, int plane, int points, int firstObject)
    {
        const string name = "mask_select";
        if (batch <= 0 || plane <= 0 || points <= 0 || firstObject < 0)
            throw new ShapeException($"{name}: batch {batch}, plane {plane}, points {points}, first object {firstObject} out of range.");
        Conv2d.CheckLength(name, "logits", logits, (long)batch * 4 * plane, $"[{batch}x4x{plane}]");
        Conv2d.CheckLength(name, "iou", iou, (long)batch * 4, $"[{batch}x4]");
        if (logits.Type != iou.Type) throw new ShapeException($"{name}: logits are {logits.Type} but iou is {iou.Type}.");
        if (chosen.Type != DataType.F32 || scores.Type != DataType.F32)
            throw new ShapeException($"{name}: the chosen logits and scores are fp32 tensors.");
        if (chosen.Length < (long)(firstObject + batch) * plane || scores.Length < firstObject + batch)
            throw new ShapeException($"{name}: objects {firstObject}..{firstObject + batch - 1} do not fit chosen {chosen.ShapeText} / scores {scores.ShapeText}.");
        int wg = GroupSize;
        var kernel = _ctx.Kernel(logits.Type == DataType.F16 ? "mask_select_f16" : "mask_select", SelectLayout, wg);
        cs.Dispatch(kernel, ((uint)((plane + wg - 1) / wg), (uint)batch, 1u),
                    new SelectPush { Plane = plane, Points = points, FirstObject = firstObject },
                    logits.Buffer, iou.Buffer, chosen.Buffer, scores.Buffer);
    }

    /// <summary>Bytes of the packed 8-bit output for <paramref name="pixels"/> pixels (whole uints).</summary>
    public static ulong PackedBytes(long pixels) => (ulong)((pixels + 3) / 4 * 4);

    /// <param name="logits">fp32 [objects, pixels] at the frame size.</param>
    /// <param name="labels">fp32 [objects]: the value written for each object (1..255), 0 to leave it out.</param>
    /// <param name="scores">fp32 [objects]: objects below <paramref name="minScore"/> are left out.</param>
    /// <param name="packed">At least <see cref="PackedBytes"/> bytes: one byte per pixel, row-major.</param>
    /// <param name="binary">Write 255 for every object instead of its label.</param>
    public void Label(CommandStream cs, GpuTensor logits, GpuTensor labels, GpuTensor scores, GpuBuffer packed,
                      int objects, long pixels, bool binary, float minScore)
    {
        const string name = "mask_label";
        if (objects <= 0 || pixels <= 0 || pixels > int.MaxValue)
            throw new ShapeException($"{name}: {objects} objects of {pixels} pixels out of range.");
        Conv2d.CheckLength(name, "logits", logits, objects * pixels, $"[{objects}x{pixels}]");
        if (labels.Length < objects || scores.Length < objects)
            throw new ShapeException($"{name}: labels {labels.ShapeText} / scores {scores.ShapeText} hold fewer than {objects} objects.");
        if (logits.Type != DataType.F32 || labels.Type != DataType.F32 || scores.Type != DataType.F32)
            throw new ShapeException($"{name}: logits, labels and scores are fp32 tensors.");
        if (packed.Size < PackedBytes(pixels))
            throw new ShapeException($"{name}: output '{packed.Name}' has {packed.Size} bytes; {PackedBytes(pixels)} are needed.");
        int wg = GroupSize;
        long words = (pixels + 3) / 4;
        var kernel = _ctx.Kernel("mask_label", LabelLayout, wg);
        cs.Dispatch(kernel, ((uint)((words + wg - 1) / wg), 1u, 1u),
                    new LabelPush { Pixels = (int)pixels, Objects = objects, Binary = binary ? 1 : 0, MinScore = minScore },
                    logits.Buffer, labels.Buffer, scores.Buffer, packed);
    }
}
