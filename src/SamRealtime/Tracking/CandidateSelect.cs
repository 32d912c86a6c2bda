using System.Runtime.InteropServices;
using SamRealtime.Model;
using SamRealtime.Vulkan;

namespace SamRealtime.Tracking;

/// <summary>What a candidate row must satisfy to be kept, set by its object's state (<see cref="ObjectTrack.Criteria"/>).</summary>
/// <param name="Object">The object the row is a candidate for (index into the frame's objects).</param>
/// <param name="UserPrompt">A user's prompt: kept whenever its mask is not empty.</param>
/// <param name="Accept">Whether the object takes the row when it is the best passing one (false while a lost object's
/// re-acquisition still needs frames of evidence).</param>
/// <param name="ReferenceArea">Positive low-res cells the area change is measured against; 0: no check.</param>
/// <param name="ReferenceClipped">The reference was clipped by the frame edge, so it may be smaller than the object.</param>
/// <param name="MemoryThreshold">Fraction of the mask's cells that must read out as the object; null: no memory yet.</param>
/// <param name="MinLikeness">Mean likeness (<see cref="MemoryScore.Likeness"/>) the mask's cells must have unless the
/// frame clips the mask (border cells' embeddings are unlike any other); 0: no check.</param>
/// <param name="Gate">A lost object's motion gate: a passing candidate inside it ranks before those outside and is
/// accepted even when <paramref name="Accept"/> is false (it is where the object's motion says it is).</param>
internal readonly record struct Criteria(int Object, bool UserPrompt, bool Accept, float MinScore, float ReferenceArea, bool ReferenceClipped,
                                         float MaxAreaChange, float? MemoryThreshold, MotionGate? Gate = null, float MinLikeness = 0)
{
    /// <summary>Kept whenever SAM is confident enough: a pass without tracking.</summary>
    public static Criteria ScoreOnly(int obj, float minScore) => new(obj, false, true, minScore, 0, false, 1, null);
}

/// <summary>An ellipse around where a lost object's motion model predicts its centre, in low-res cells (a cell is 4×4
/// pixels of SAM's 1024 frame): a candidate whose mask's box centre c has (c - centre)ᵀ S⁻¹ (c - centre) ≤
/// <paramref name="Threshold"/> is inside, S⁻¹ = [[Ixx, Ixy], [Ixy, Iyy]] being the inverse of the filter's innovation
/// covariance.</summary>
internal readonly record struct MotionGate(float X, float Y, float Ixx, float Ixy, float Iyy, float Threshold)
{
    /// <summary>The gate of a filter's one-frame prediction for a <paramref name="width"/>×<paramref name="height"/> frame.</summary>
    public static MotionGate? Of(BoxKalman motion, float threshold, int width, int height)
    {
        if (!motion.Initialised || threshold <= 0) return null;
        var (x, y, sxx, sxy, syy) = motion.Centre(1);
        var (rh, rw) = Prompt.ResizedSize(height, width);
        // Pixels to cells: a cell is 4 pixels of the resized frame.
        double kx = rw / (4.0 * width), ky = rh / (4.0 * height);
        (sxx, sxy, syy) = (sxx * kx * kx, sxy * kx * ky, syy * ky * ky);
        double det = sxx * syy - sxy * sxy;
        if (!(det > 0)) return null;
        return new MotionGate((float)(x * kx), (float)(y * ky), (float)(syy / det), (float)(-sxy / det), (float)(sxx / det), threshold);
    }

    /// <summary>Whether the centre of cells x0..x1, y0..y1 (inclusive) is inside (what track_select.comp computes).</summary>
    public bool Contains(int x0, int y0, int x1, int y1) => Holds((x0 + x1 + 1) / 2.0, (y0 + y1 + 1) / 2.0);

    /// <summary>Whether the point (<paramref name="x"/>, <paramref name="y"/>), in cells, is inside.</summary>
    public bool Holds(double x, double y)
    {
        double dx = x - X, dy = y - Y;
        return Ixx * dx * dx + 2 * Ixy * dx * dy + Iyy * dy * dy <= Threshold;
    }
}

/// <summary>The decision for one object on a frame: its chosen row (the best passing candidate, else its first),
/// the best passing row (-1: none passed), whether the object accepted it and whether it is inside the object's
/// <see cref="MotionGate"/> (or a user's prompt).</summary>
internal readonly record struct Verdict(int Chosen, int Best, bool Accepted, bool Near = false);

/// <summary>
/// Applies the tracking criteria to every candidate of a frame on the GPU (shaders/track_select.comp): per object, the
/// passing candidate the appearance memory likes best, a gate per row for rendering the accepted ones, and a verdict
/// per object the host reads back. Both front ends decide through it, so the engine pass, which renders in the same
/// recording as it decodes, shows exactly the masks the video tracker would accept.
/// </summary>
internal sealed class CandidateSelect(GpuContext ctx, FrameBuffers buffers)
{
    public const int CriteriaStride = 13, VerdictStride = 4;
    private const int UserFlag = 1, MemoryFlag = 2, ReferenceClippedFlag = 4, AcceptFlag = 8;
    private static readonly KernelLayout Layout = new(6, Marshal.SizeOf<Push>(), [4, 5]);

    [StructLayout(LayoutKind.Sequential)]
    private struct Push { public int Rows, Objects, LoX, LoY, HiX, HiY; }

    /// <summary>Records the decision on rows 0..criteria.Count-1 of a frame of <paramref name="width"/>×<paramref name="height"/>.
    /// <paramref name="memory"/>: the appearance memory's scores of the same rows, or null when no object has one.
    /// Returns the gate (fp32 [rows]) and the verdicts (fp32 [objects, <see cref="VerdictStride"/>]), rented for the stream.</summary>
    public (GpuTensor Gate, GpuTensor Verdicts) Record(CommandStream cs, GpuTensor stats, GpuTensor scores, GpuTensor? memory,
                                                       IReadOnlyList<Criteria> criteria, int objects, int width, int height)
    {
        const string name = "track_select";
        int rows = criteria.Count;
        if (rows <= 0 || objects <= 0) throw new ShapeException($"{name}: {rows} rows, {objects} objects.");
        foreach (var c in criteria)
            if (c.Object < 0 || c.Object >= objects) throw new ShapeException($"{name}: a row's object {c.Object} is outside 0..{objects - 1}.");
        if (stats.Length < (long)rows * Kernels.MaskOutput.StatsStride || scores.Length < rows)
            throw new ShapeException($"{name}: stats {stats.ShapeText} / scores {scores.ShapeText} hold fewer than {rows} rows.");
        if (memory is not null && memory.Length < (long)rows * AppearanceMemory.ScoreStride)
            throw new ShapeException($"{name}: memory scores {memory.ShapeText} hold fewer than {rows} rows.");
        var table = buffers.RentTensor(cs, [rows, CriteriaStride], DataType.F32, "select.criteria");
        FramePipeline.Write(cs, table, criteria.SelectMany(Row).ToArray());
        if (memory is null)
        {
            // No object has a memory yet: every candidate ranks alike and the first passing one is kept.
            memory = buffers.RentTensor(cs, [rows, AppearanceMemory.ScoreStride], DataType.F32, "select.nomemory");
            cs.Fill(memory.Buffer, 0);
        }
        var gate = buffers.RentTensor(cs, [rows], DataType.F32, "select.gate");
        var verdicts = buffers.RentTensor(cs, [objects, VerdictStride], DataType.F32, "select.verdicts");
        var (loX, loY, hiX, hiY) = ObjectBatch.EdgeCells(width, height);
        int wg = (int)Math.Min(64u, ctx.Info.MaxComputeWorkGroupInvocations);
        cs.Dispatch(ctx.Kernel(name, Layout, wg), ((uint)((objects + wg - 1) / wg), 1u, 1u),
                    new Push { Rows = rows, Objects = objects, LoX = loX, LoY = loY, HiX = hiX, HiY = hiY },
                    stats.Buffer, scores.Buffer, memory.Buffer, table.Buffer, gate.Buffer, verdicts.Buffer);
        return (gate, verdicts);
    }

    private static float[] Row(Criteria c) =>
    [
        c.Object,
        (c.UserPrompt ? UserFlag : 0) | (c.MemoryThreshold is not null ? MemoryFlag : 0) | (c.ReferenceClipped ? ReferenceClippedFlag : 0) | (c.Accept ? AcceptFlag : 0),
        c.MinScore, c.ReferenceArea, c.MaxAreaChange, c.MemoryThreshold ?? 0,
        c.Gate?.X ?? 0, c.Gate?.Y ?? 0, c.Gate?.Ixx ?? 0, c.Gate?.Ixy ?? 0, c.Gate?.Iyy ?? 0, c.Gate?.Threshold ?? 0,
        c.MemoryThreshold is null ? 0 : c.MinLikeness,
    ];

    /// <summary>The verdicts of <see cref="Record"/> as read back.</summary>
    public static Verdict[] Harvest(ReadOnlySpan<float> verdicts, int objects)
    {
        var list = new Verdict[objects];
        for (int o = 0; o < objects; o++)
            list[o] = new Verdict((int)verdicts[o * VerdictStride], (int)verdicts[o * VerdictStride + 1], verdicts[o * VerdictStride + 2] > 0,
                                 verdicts[o * VerdictStride + 3] > 0);
        return list;
    }
}
