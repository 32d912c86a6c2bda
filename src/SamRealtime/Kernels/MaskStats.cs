using System.Runtime.InteropServices;
using SamRealtime.Vulkan;

namespace SamRealtime.Kernels;

/// <summary>What <see cref="MaskStats.Record"/> measures of one logit plane, in the plane's pixels.</summary>
/// <param name="AboveHigh">Pixels with logit &gt; threshold + offset.</param>
/// <param name="AboveLow">Pixels with logit &gt; threshold - offset.</param>
/// <param name="Area">Pixels with logit &gt; 0.</param>
/// <param name="X0">Box of the pixels above 0, inclusive (X1 = the last column, as SAM's batched_mask_to_box);
/// all four are 0 for an empty mask, as there.</param>
internal readonly record struct PlaneStats(int AboveHigh, int AboveLow, int Area, int X0, int Y0, int X1, int Y1)
{
    /// <summary>SAM's stability score: IoU of the masks at the two thresholds (one contains the other).
    /// 0/0 is NaN in the official code (torch division); here it is 0, which no threshold keeps either.</summary>
    public float Stability => AboveLow == 0 ? 0f : (float)AboveHigh / AboveLow;
}

/// <summary>
/// The automatic mask generator's reductions (shaders/mask_stats.comp) and the final threshold to 8-bit masks
/// (shaders/mask_binarize.comp), so that only a few integers per candidate mask, and bytes for the kept ones,
/// come back to the CPU.
/// </summary>
internal sealed class MaskStats
{
    private readonly GpuContext _ctx;
    private static readonly KernelLayout StatsLayout = new(2, Marshal.SizeOf<StatsPush>(), [1]);
    private static readonly KernelLayout BinarizeLayout = new(2, Marshal.SizeOf<BinarizePush>(), [1]);
    public const int Fields = 8;
    private const int Bias = 1 << 20;

    [StructLayout(LayoutKind.Sequential)]
    private struct StatsPush
    {
        public int Height, Width, RowStride, PlaneStride, Group, GroupStride, GroupOffset;
        public float Hi, Lo;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct BinarizePush { public int Pixels, Words; }

    public MaskStats(GpuContext ctx) => _ctx = ctx;

    private int GroupSize => (int)Math.Min(64u, _ctx.Info.MaxComputeWorkGroupInvocations);

    /// <summary>Bytes of the stats output for <paramref name="planes"/> planes (int32 × <see cref="Fields"/> each).</summary>
    public static ulong StatsBytes(int planes) => (ulong)planes * Fields * 4;

    /// <summary>
    /// Measures <paramref name="planes"/> planes of <paramref name="logits"/>: output plane i reads source plane
    /// (i / group)·groupStride + groupOffset + i % group (e.g. masks 1..3 of each [4, 256, 256] decoder output:
    /// group 3, stride 4, offset 1), over the top-left height×width region of rows <paramref name="rowStride"/> apart.
    /// Zero-fills and writes <paramref name="stats"/> (at least <see cref="StatsBytes"/>).
    /// </summary>
    public void Record(CommandStream cs, GpuTensor logits, GpuBuffer stats, int planes, int height, int width, int rowStride,
                       int planeStride, float threshold, float offset, int group = 1, int groupStride = 1, int groupOffset = 0)
    {
        const string name = "mask_stats";
        if (planes <= 0 || height <= 0 || width <= 0 || group <= 0 || groupStride < group || groupOffset < 0 || groupOffset + group > groupStride)
            throw new ShapeException($"{name}: planes {planes}, region {height}x{width}, group {group}/{groupStride}+{groupOffset} out of range.");
        if (width > rowStride || (long)(height - 1) * rowStride + width > planeStride)
            throw new ShapeException($"{name}: region {height}x{width} does not fit rows of {rowStride} in planes of {planeStride}.");
        // One row per invocation: llvmpipe ends an invocation after 65535 loop iterations.
        if (width >= 65535 || height >= Bias) throw new ShapeException($"{name}: region {height}x{width} is too large for one row per invocation.");
        if (!float.IsFinite(threshold) || !float.IsFinite(offset)) throw new ShapeException($"{name}: threshold {threshold} and offset {offset} must be finite.");
        long lastPlane = (long)(planes - 1) / group * groupStride + groupOffset + (planes - 1) % group;
        if ((lastPlane + 1) * planeStride > logits.Length)
            throw new ShapeException($"{name}: source plane {lastPlane} of {planeStride} values is outside '{logits.Name}' {logits.ShapeText}.");
        if (stats.Size < StatsBytes(planes))
            throw new ShapeException($"{name}: output '{stats.Name}' has {stats.Size} bytes; {StatsBytes(planes)} are needed.");
        int wg = GroupSize;
        var kernel = _ctx.Kernel(logits.Type == DataType.F16 ? "mask_stats_f16" : "mask_stats", StatsLayout, wg);
        cs.Fill(stats);
        cs.Dispatch(kernel, ((uint)((height + wg - 1) / wg), (uint)planes, 1u),
                    new StatsPush
                    {
                        Height = height, Width = width, RowStride = rowStride, PlaneStride = planeStride,
                        Group = group, GroupStride = groupStride, GroupOffset = groupOffset,
                        Hi = threshold + offset, Lo = threshold - offset,
                    },
                    logits.Buffer, stats);
    }

    /// <summary>Decodes the integers <see cref="Record"/> wrote (read back from the stats buffer).</summary>
    public static PlaneStats[] Decode(ReadOnlySpan<int> raw, int planes)
    {
        var result = new PlaneStats[planes];
        for (int i = 0; i < planes; i++)
        {
            var s = raw.Slice(i * Fields, Fields);
            result[i] = s[2] == 0
                ? new PlaneStats(s[0], s[1], 0, 0, 0, 0, 0)
                : new PlaneStats(s[0], s[1], s[2], Bias - s[3], Bias - s[4], s[5] - 1, s[6] - 1);
        }
        return result;
    }

    /// <summary>Bytes per plane of <see cref="Binarize"/>'s output: whole uints.</summary>
    public static int PackedPlaneBytes(int pixels) => (pixels + 3) / 4 * 4;

    /// <summary>Thresholds [planes, pixels] logits at 0 into 0/255 bytes, each plane <see cref="PackedPlaneBytes"/> long.</summary>
    public void Binarize(CommandStream cs, GpuTensor logits, GpuBuffer packed, int planes, int pixels)
    {
        const string name = "mask_binarize";
        if (planes <= 0 || pixels <= 0) throw new ShapeException($"{name}: {planes} planes of {pixels} pixels out of range.");
        if ((long)planes * pixels > logits.Length)
            throw new ShapeException($"{name}: {planes} planes of {pixels} pixels are more than '{logits.Name}' {logits.ShapeText} holds.");
        int words = (pixels + 3) / 4;
        if (packed.Size < (ulong)planes * (ulong)words * 4)
            throw new ShapeException($"{name}: output '{packed.Name}' has {packed.Size} bytes; {(ulong)planes * (ulong)words * 4} are needed.");
        int wg = GroupSize;
        var kernel = _ctx.Kernel(logits.Type == DataType.F16 ? "mask_binarize_f16" : "mask_binarize", BinarizeLayout, wg);
        cs.Dispatch(kernel, ((uint)((words + wg - 1) / wg), (uint)planes, 1u), new BinarizePush { Pixels = pixels, Words = words },
                    logits.Buffer, packed);
    }
}
