using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SamRealtime.Kernels;
using SamRealtime.Model;
using SamRealtime.Vulkan;

namespace SamRealtime.Native;

/// <summary>samrt_everything_options of samrt.h.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct EverythingOptions
{
    public int PointsPerSide, PointsPerBatch;
    public float PredIouThresh, StabilityScoreThresh, StabilityScoreOffset, BoxNmsThresh;
    public int CropNLayers;
    public float CropNmsThresh, CropOverlapRatio;
    public int CropNPointsDownscaleFactor, MinMaskRegionArea;
}

/// <summary>samrt_mask_info of samrt.h.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct MaskInfo
{
    public int Area, BboxX, BboxY, BboxW, BboxH;
    public float PredictedIou, StabilityScore, PointX, PointY;
    public int CropX, CropY, CropW, CropH;
}

/// <summary>Segment everything through the C ABI: one call runs the generator and returns the count (and a label
/// image); the masks' records and COCO RLE strings are read one by one from the context's last result.</summary>
internal static unsafe partial class Exports
{
    private static readonly ConditionalWeakTable<Session, GeneratedMask[]> LastMasks = new();

    [UnmanagedCallersOnly(EntryPoint = "samrt_everything_defaults")]
    public static int EverythingDefaults(EverythingOptions* options)
    {
        LastError.Clear();
        try
        {
            if (options == null) throw SamrtException.Arg("options is NULL.");
            var d = new AutomaticMaskGeneratorOptions();
            *options = new EverythingOptions
            {
                PointsPerSide = d.PointsPerSide!.Value, PointsPerBatch = 0,
                PredIouThresh = d.PredIouThresh, StabilityScoreThresh = d.StabilityScoreThresh, StabilityScoreOffset = d.StabilityScoreOffset,
                BoxNmsThresh = d.BoxNmsThresh, CropNLayers = d.CropNLayers, CropNmsThresh = d.CropNmsThresh,
                CropOverlapRatio = (float)d.CropOverlapRatio, CropNPointsDownscaleFactor = d.CropNPointsDownscaleFactor,
                MinMaskRegionArea = d.MinMaskRegionArea,
            };
            return 0;
        }
        catch (Exception e) { return LastError.Fail("samrt_everything_defaults", e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "samrt_everything")]
    public static int Everything(nint ctx, byte* rgba, int width, int height, int strideBytes, EverythingOptions* options, ushort* labelsOut) =>
        WithSession("samrt_everything", ctx, s =>
        {
            var o = (options == null ? new AutomaticMaskGeneratorOptions() : FromC(*options)) with { OutputMode = MaskOutputMode.Rle };
            o.Validate();
            var pixels = Pixels(rgba, width, height, strideBytes);
            var masks = new AutomaticMaskGenerator(s.Model, o).Generate(pixels, width, height, strideBytes, PixelFormat.Rgba8)
                                                                 .OrderByDescending(m => m.Area).ToArray();
            LastMasks.AddOrUpdate(s, masks);
            if (labelsOut != null)
            {
                var labels = new Span<ushort>(labelsOut, width * height);
                labels.Clear();
                // Largest first, so a smaller mask inside a larger one keeps its own label.
                for (int i = 0; i < Math.Min(masks.Length, ushort.MaxValue); i++)
                {
                    var m = masks[i].Rle.Decode();
                    for (int p = 0; p < m.Length; p++) if (m[p] != 0) labels[p] = (ushort)(i + 1);
                }
            }
            return masks.Length;
        });

    [UnmanagedCallersOnly(EntryPoint = "samrt_everything_mask")]
    public static int EverythingMask(nint ctx, int index, MaskInfo* infoOut, byte* rleBuf, int rleBufSize) =>
        WithSession("samrt_everything_mask", ctx, s =>
        {
            if (!LastMasks.TryGetValue(s, out var masks)) throw new SamrtException(ErrorCode.NoImage, "no result: call samrt_everything first.");
            if (index < 0 || index >= masks.Length) throw SamrtException.Arg($"index {index} is outside the last result's {masks.Length} masks.");
            var m = masks[index];
            int length = LastError.CopyTo(m.Rle.ToCocoString(), rleBuf, rleBufSize);
            if (infoOut != null)
            {
                var b = m.Box.Xywh;
                var c = m.CropBoxXywh;
                *infoOut = new MaskInfo
                {
                    Area = (int)m.Area, BboxX = b.X, BboxY = b.Y, BboxW = b.W, BboxH = b.H,
                    PredictedIou = m.PredictedIou, StabilityScore = m.StabilityScore, PointX = m.PointCoords.X, PointY = m.PointCoords.Y,
                    CropX = c.X, CropY = c.Y, CropW = c.W, CropH = c.H,
                };
            }
            return length;
        });

    private static AutomaticMaskGeneratorOptions FromC(EverythingOptions o) => new()
    {
        PointsPerSide = o.PointsPerSide, PointsPerBatch = o.PointsPerBatch == 0 ? null : o.PointsPerBatch,
        PredIouThresh = o.PredIouThresh, StabilityScoreThresh = o.StabilityScoreThresh, StabilityScoreOffset = o.StabilityScoreOffset,
        BoxNmsThresh = o.BoxNmsThresh, CropNLayers = o.CropNLayers, CropNmsThresh = o.CropNmsThresh, CropOverlapRatio = o.CropOverlapRatio,
        CropNPointsDownscaleFactor = o.CropNPointsDownscaleFactor, MinMaskRegionArea = o.MinMaskRegionArea,
    };
}
