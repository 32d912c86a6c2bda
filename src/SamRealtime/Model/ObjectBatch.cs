using SamRealtime.Kernels;
using SamRealtime.Tracking;
using SamRealtime.Vulkan;

namespace SamRealtime.Model;

/// <summary>What the CPU learns about one object from a decoded frame (<see cref="ObjectBatch.Stats"/>).</summary>
/// <param name="Score">Predicted IoU of the chosen mask.</param>
/// <param name="Box">Box of the mask's positive low-res cells in image pixels, exclusive ends (as <see cref="Prompt.Box"/>); null when empty.</param>
/// <param name="Area">Positive low-res cells (one cell is 4x4 pixels of SAM's 1024 frame).</param>
internal sealed record ObjectStats(float Score, (int X0, int Y0, int X1, int Y1)? Box, long Area);

/// <summary>
/// Per-object state that stays on the GPU from frame to frame: each frame's rows of chosen 256x256 logits (written by
/// the decoder's mask choice) and scores. The next frame's decoder reads an object's row directly as its dense prompt:
/// the batch keeps two sets of rows and alternates, so a frame reads the previous frame's rows while it writes its own
/// in any order. Per frame it renders masks and reduces each row to <see cref="ObjectStats"/> (32 bytes), which with
/// the appearance memory's score is all the host needs to make tracking decisions.
/// </summary>
internal sealed class ObjectBatch : IDisposable
{
    private readonly FramePipeline _pipeline;
    private readonly GpuContext _ctx;
    private readonly LogitWarp _warp;
    // [0]: this frame's rows, [1]: the previous frame's. Each is (chosen [capacity, 256, 256], scores [capacity]).
    private readonly (GpuTensor Chosen, GpuTensor Scores)?[] _rows = new (GpuTensor, GpuTensor)?[2];
    private int _previousCount;

    public ObjectBatch(GpuContext ctx, FramePipeline pipeline)
    {
        _ctx = ctx;
        _pipeline = pipeline;
        _warp = new LogitWarp(ctx);
    }

    /// <summary>Rows the current frame holds.</summary>
    public int Count { get; private set; }

    /// <summary>This frame's chosen logits [Count, 256, 256].</summary>
    public GpuTensor Chosen => GpuTensor.View(Current.Chosen.Buffer, [Count, FramePipeline.LowRes, FramePipeline.LowRes], DataType.F32);

    /// <summary>This frame's scores [Count].</summary>
    public GpuTensor Scores => GpuTensor.View(Current.Scores.Buffer, [Count], DataType.F32);

    private (GpuTensor Chosen, GpuTensor Scores) Current => _rows[0] ?? throw new InvalidOperationException("No frame was decoded.");

    /// <summary>
    /// Starts a frame of <paramref name="rows"/> rows and decodes <paramref name="inputs"/> into it: input.Row is the
    /// row it writes, input.DenseRow a row of the previous frame used as its dense prompt. <paramref name="carry"/>
    /// copies previous rows that are not decoded again (objects kept as they were). Buffers replaced by a larger
    /// frame are freed once <paramref name="cs"/> and every stream in <paramref name="inFlight"/> are done with them.
    /// </summary>
    public void Decode(CommandStream cs, GpuTensor embedding, IReadOnlyList<DecodeInput> inputs, int rows,
                       IReadOnlyList<(int From, int To)> carry, IReadOnlyList<CommandStream> inFlight)
    {
        if (rows <= 0) throw new ArgumentOutOfRangeException(nameof(rows), "A frame holds at least one row.");
        foreach (var x in inputs)
            if (x.Row < 0 || x.Row >= rows || x.DenseRow >= Count)
                throw new ArgumentException($"Decoder input rows {x.Row} / {x.DenseRow} are outside this frame's {rows} / the previous frame's {Count} rows.");
        (_rows[0], _rows[1]) = (_rows[1], _rows[0]);
        _previousCount = Count;
        if (_rows[0] is not { } cur || cur.Scores.Length < rows)
        {
            if (_rows[0] is { } old) _pipeline.Buffers.Retire([old.Chosen, old.Scores], [cs, .. inFlight]);
            int capacity = Math.Max(rows, 4);
            _rows[0] = (_ctx.CreateTensor([capacity, FramePipeline.LowRes, FramePipeline.LowRes], DataType.F32, "objects.chosen"),
                        _ctx.CreateTensor([capacity], DataType.F32, "objects.scores"));
        }
        Count = rows;
        var (chosen, scores) = _rows[0]!.Value;
        var previous = _rows[1];
        const ulong plane = FramePipeline.Plane * 4;
        foreach (var (from, to) in carry)
        {
            if (previous is not { } p || from < 0 || from >= _previousCount || to < 0 || to >= rows)
                throw new ArgumentException($"Carried row {from} -> {to} is outside the previous frame's {_previousCount} / this frame's {rows} rows.");
            cs.Copy(p.Chosen.Buffer, (ulong)from * plane, chosen.Buffer, (ulong)to * plane, plane);
            cs.Copy(p.Scores.Buffer, (ulong)from * 4, scores.Buffer, (ulong)to * 4, 4);
        }
        _pipeline.Decode(cs, embedding, inputs, Chosen, Scores, multimask: false, denseSource: previous?.Chosen);
    }

    /// <summary>Moves row <paramref name="row"/> of the current frame's logits in place as if its object had moved by
    /// <paramref name="motion"/> (pixels of a <paramref name="width"/>×<paramref name="height"/> frame): bilinear, the
    /// row's minimum where nothing maps. Recorded before <see cref="Decode"/>, which then reads the moved row as the
    /// object's dense prompt (and carries it, moved, if the object is not decoded again).</summary>
    public void Warp(CommandStream cs, int row, Motion motion, int width, int height)
    {
        if (row < 0 || row >= Count) throw new ArgumentOutOfRangeException(nameof(row), $"Row {row} of a frame of {Count}.");
        const ulong plane = FramePipeline.Plane * 4;
        var moved = _pipeline.Buffers.RentTensor(cs, [1, FramePipeline.LowRes, FramePipeline.LowRes], DataType.F32, "objects.warp");
        _warp.Record(cs, Chosen, row, moved, 0, FramePipeline.LowRes, FramePipeline.LowRes, CellMap(motion, width, height));
        cs.Copy(moved.Buffer, 0, Current.Chosen.Buffer, (ulong)row * plane, plane);
    }

    /// <summary>A motion of image pixels as the map from a moved logit cell to the cell it comes from: pixel → cell is
    /// the resize to SAM's 1024 frame and 4 pixels per cell (centres at +0.5), so the inverse motion conjugated by it
    /// is affine. Computed in double; the kernel takes floats.</summary>
    internal static LogitWarp.Map CellMap(Motion m, int width, int height)
    {
        var (rh, rw) = Prompt.ResizedSize(height, width);
        double kx = rw / (double)width / 4, ky = rh / (double)height / 4;
        double d = (double)m.A * m.A + (double)m.B * m.B;
        if (!(d > 0)) throw new ArgumentException("A motion with zero scale cannot move logits.", nameof(m));
        double ia = m.A / d, ib = -m.B / d, tx = -(ia * m.Tx - ib * m.Ty), ty = -(ib * m.Tx + ia * m.Ty);
        (double, double) Source(double u, double v)
        {
            double x = (u + 0.5) / kx - 0.5, y = (v + 0.5) / ky - 0.5;
            double sx = ia * x - ib * y + tx, sy = ib * x + ia * y + ty;
            return ((sx + 0.5) * kx - 0.5, (sy + 0.5) * ky - 0.5);
        }
        var (u0, v0) = Source(0, 0);
        var (u1, v1) = Source(1, 0);
        var (u2, v2) = Source(0, 1);
        return new LogitWarp.Map((float)(u1 - u0), (float)(u2 - u0), (float)u0, (float)(v1 - v0), (float)(v2 - v0), (float)v0);
    }

    /// <summary>Renders the rows whose <paramref name="gate"/> is 1 (fp32 [Count], the tracking decision's
    /// <see cref="Tracking.CandidateSelect"/>) into one mask of the frame size: <paramref name="labels"/>[row] (1..255)
    /// or 255 when null; where gated rows overlap, a pixel goes to the row with the largest positive logit.</summary>
    public GpuBuffer Render(CommandStream cs, int[]? labels, GpuTensor gate, int width, int height)
    {
        GpuTensor? l = null;
        if (labels is not null)
        {
            if (labels.Length != Count) throw new ArgumentException($"{labels.Length} labels for a frame of {Count} rows.", nameof(labels));
            l = _pipeline.Buffers.RentTensor(cs, [Count], DataType.F32, "objects.labels");
            FramePipeline.Write(cs, l, labels.Select(v => (float)v).ToArray());
        }
        return _pipeline.Render(cs, Chosen, gate, l, 1, Count, width, height, 0.5f);
    }

    /// <summary>Reduces rows 0..<paramref name="count"/>-1 (all by default) to their statistics: fp32
    /// [count, <see cref="MaskOutput.StatsStride"/>] rented for the stream. The host reads it with <see cref="Scores"/>
    /// (<see cref="Harvest"/>).</summary>
    public GpuTensor Stats(CommandStream cs, int width, int height, int? count = null)
    {
        int n = count ?? Count;
        if (n <= 0 || n > Count) throw new ArgumentOutOfRangeException(nameof(count), $"{n} rows of a frame of {Count}.");
        var stats = _pipeline.Buffers.RentTensor(cs, [n, MaskOutput.StatsStride], DataType.F32, "objects.stats");
        _pipeline.Output.Stats(cs, Chosen, stats, n, width, height);
        return stats;
    }

    /// <summary>The read-back parts a frame's decisions need of rows 0..<paramref name="count"/>-1: their scores and
    /// <paramref name="stats"/> (<see cref="Harvest"/> reads them in this order).</summary>
    public (GpuBuffer, ulong)[] StatsParts(GpuTensor stats, int count) =>
        [(Current.Scores.Buffer, (ulong)count * 4), (stats.Buffer, (ulong)count * MaskOutput.StatsStride * 4)];

    /// <summary>The statistics of <see cref="StatsParts"/> as read back, for a <paramref name="width"/>×<paramref name="height"/> frame.</summary>
    public static ObjectStats[] Harvest(ReadOnlySpan<float> scores, ReadOnlySpan<float> stats, int count, int width, int height)
    {
        var list = new ObjectStats[count];
        for (int i = 0; i < count; i++)
        {
            var s = stats.Slice(i * MaskOutput.StatsStride, MaskOutput.StatsStride);
            list[i] = new ObjectStats(scores[i], s[2] >= 0 ? CellBox((int)s[0], (int)s[1], (int)s[2], (int)s[3], width, height) : null, (long)s[4]);
        }
        return list;
    }

    /// <summary>The image-pixel box (exclusive ends) of low-res cells x0..x1, y0..y1 (inclusive): a cell covers 4x4
    /// pixels of SAM's 1024 frame.</summary>
    public static (int X0, int Y0, int X1, int Y1) CellBox(int x0, int y0, int x1, int y1, int width, int height)
    {
        var (rh, rw) = Prompt.ResizedSize(height, width);
        double sx = (double)width / rw, sy = (double)height / rh;
        return ((int)Math.Floor(x0 * 4 * sx), (int)Math.Floor(y0 * 4 * sy),
                Math.Min(width, (int)Math.Ceiling((x1 + 1) * 4 * sx)), Math.Min(height, (int)Math.Ceiling((y1 + 1) * 4 * sy)));
    }

    /// <summary>The low-res cells whose <see cref="CellBox"/> touches the frame edge: a box of cells is clipped when
    /// x0 ≤ LoX, y0 ≤ LoY, x1 ≥ HiX or y1 ≥ HiY (what <see cref="Tracking.Candidate.Clipped"/> says of its pixel box).</summary>
    public static (int LoX, int LoY, int HiX, int HiY) EdgeCells(int width, int height)
    {
        int loX = 0, loY = 0, hiX = FramePipeline.LowRes, hiY = FramePipeline.LowRes;
        for (int c = FramePipeline.LowRes - 1; c >= 0; c--)
        {
            var (x0, y0, x1, y1) = CellBox(c, c, c, c, width, height);
            if (x0 <= 0) loX = Math.Max(loX, c);
            if (y0 <= 0) loY = Math.Max(loY, c);
            if (x1 >= width) hiX = c;
            if (y1 >= height) hiY = c;
        }
        return (loX, loY, hiX, hiY);
    }

    public void Dispose()
    {
        foreach (var r in _rows)
            if (r is { } x) { x.Chosen.Dispose(); x.Scores.Dispose(); }
        _rows[0] = _rows[1] = null;
        Count = 0;
    }
}
