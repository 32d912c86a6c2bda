using System.Runtime.InteropServices;
using SamRealtime.Kernels;
using SamRealtime.Model;
using SamRealtime.Vulkan;

namespace SamRealtime.Tracking;

/// <summary>Which cells of a row's mask a <see cref="AppearanceMemory.Write"/> stores, and where.</summary>
internal enum MemoryWriteKind { Foreground = 0, BackgroundAll = 1, BackgroundRing = 2, Clear = 3 }

/// <summary>One memory write: cells of chosen-logits row <paramref name="Row"/> go into block
/// <paramref name="Block"/> of object <paramref name="Object"/>'s memory.</summary>
internal readonly record struct MemoryWrite(int Row, int Object, int Block, MemoryWriteKind Kind);

/// <summary>Per tracking candidate, from <see cref="AppearanceMemory.Score"/>: the embedding cells its mask covers,
/// how many of them read out as foreground, the readout's sum, the covered cells on the image border and the sum of
/// their likeness (mean of the k best cosines to the foreground memory alone).</summary>
internal readonly record struct MemoryScore(int Cells, int Foreground, float ReadoutSum, int EdgeCells, float LikenessSum = 0)
{
    /// <summary>Fraction of the mask's cells whose appearance favours the object's foreground memory (0 when empty).</summary>
    public float Fraction => Cells > 0 ? (float)Foreground / Cells : 0f;
    /// <summary>Mean likeness of the mask's cells: how much they look like the object itself, whatever the background
    /// memory holds (0 when empty).</summary>
    public float Likeness => Cells > 0 ? LikenessSum / Cells : 0f;
}

/// <summary>
/// Foreground/background appearance memory of every tracked object, kept on the GPU (XMem's top-k readout on SAM's own
/// 64x64x256 image embedding; no second network). Each object owns <see cref="FgBlocks"/> foreground and
/// <see cref="BgBlocks"/> background blocks of up to <see cref="Cap"/> L2-normalised embedding columns ("keys"):
/// block 0 of each is the prompted frame (its mask cells / every other cell), the rest a ring of recently accepted
/// frames (mask cells / a ring of cells around the mask). Per frame one batched GEMM gives every key's dot product with
/// every cell, <c>memory_readout</c> turns it into one 64x64 readout map per object (mean of the k best foreground
/// cosines minus the same over background, and the foreground mean alone), and <c>memory_score</c> reduces each
/// candidate mask to a few numbers.
/// The host reads those numbers and, only for a lost object it searches for, its 64x64 map — never the embedding.
/// </summary>
internal sealed class AppearanceMemory : IDisposable
{
    public const int Side = 64, Cells = Side * Side, Channels = 256, ScoreStride = 5;
    private static readonly KernelLayout WriteLayout = new(5, Marshal.SizeOf<WritePush>(), [3, 4]);
    private static readonly KernelLayout ReadoutLayout = new(5, 4 * sizeof(int), [3, 4]);
    private static readonly KernelLayout ScoreLayout = new(5, 2 * sizeof(int), [3]);

    [StructLayout(LayoutKind.Sequential)]
    private struct WritePush { public int Cap, Blocks, ValidW, ValidH; public float Ring; }

    [StructLayout(LayoutKind.Sequential)]
    private struct ScorePush { public int ValidW, ValidH; }

    [StructLayout(LayoutKind.Sequential)]
    private struct ReadoutPush { public int Cap, FgBlocks, BgBlocks, K; }

    private readonly GpuContext _ctx;
    private readonly FrameBuffers _buffers;
    private readonly Gemm _gemm;
    private readonly DataType _type;
    private GpuTensor? _keys;
    private GpuBuffer? _counts;
    private int _capacity;

    /// <param name="type">Storage type of the keys: the embedding's (one storage type per GEMM).</param>
    public AppearanceMemory(GpuContext ctx, FrameBuffers buffers, DataType type, int cap = 64, int fgBlocks = 4, int bgBlocks = 4, int k = 16,
                            float ring = 0.5f)
    {
        if (cap < 1 || fgBlocks < 1 || bgBlocks < 1 || k < 1 || k > 32 || ring < 0)
            throw new ArgumentOutOfRangeException(nameof(cap), $"Memory of {fgBlocks}+{bgBlocks} blocks of {cap} keys, top-{k} (1..32), ring {ring}: out of range.");
        _ctx = ctx;
        _buffers = buffers;
        _gemm = new Gemm(ctx);
        _type = type;
        (Cap, FgBlocks, BgBlocks, K, Ring) = (cap, fgBlocks, bgBlocks, k, ring);
    }

    public int Cap { get; }
    public int FgBlocks { get; }
    public int BgBlocks { get; }
    public int K { get; }
    public float Ring { get; }
    public int Blocks => FgBlocks + BgBlocks;
    /// <summary>Key slots per object.</summary>
    public int Slots => Blocks * Cap;

    /// <summary>The keys [objects, Slots, 256] and per-block counts [objects, Blocks] (int32), for tests.</summary>
    public (GpuTensor Keys, GpuBuffer Counts) State => (_keys ?? throw new InvalidOperationException("No object has memory yet."), _counts!);

    private int GroupSize => (int)Math.Min(64u, _ctx.Info.MaxComputeWorkGroupInvocations);

    /// <summary>Makes room for <paramref name="objects"/> objects; new objects start with empty memory. Old buffers
    /// retire with <paramref name="cs"/>.</summary>
    public void EnsureObjects(CommandStream cs, int objects)
    {
        if (objects <= _capacity) return;
        int capacity = Math.Max(objects, Math.Max(4, _capacity * 2));
        var keys = _ctx.CreateTensor([capacity, Slots, Channels], _type, "memory.keys");
        var counts = _ctx.CreateBuffer((ulong)capacity * (ulong)Blocks * 4, BufferKind.Device, "memory.counts");
        cs.Fill(counts, 0);
        if (_keys is not null && _counts is not null)
        {
            cs.Copy(_keys.Buffer, 0, keys.Buffer, 0, _keys.Buffer.Size);
            cs.Copy(_counts, 0, counts, 0, _counts.Size);
            _buffers.Retire([_keys, _counts], [cs]);
        }
        (_keys, _counts, _capacity) = (keys, counts, capacity);
    }

    /// <summary>Records the writes (one workgroup each) from rows of <paramref name="chosen"/> and the frame's
    /// <paramref name="embedding"/> of a <paramref name="width"/>×<paramref name="height"/> image.</summary>
    public void Write(CommandStream cs, GpuTensor chosen, GpuTensor embedding, IReadOnlyList<MemoryWrite> writes, int width, int height)
    {
        const string name = "memory_write";
        if (writes.Count == 0) return;
        CheckEmbedding(name, embedding);
        foreach (var w in writes)
        {
            if (w.Object < 0 || w.Object >= _capacity || w.Block < 0 || w.Block >= Blocks)
                throw new ShapeException($"{name}: object {w.Object} block {w.Block} is outside {_capacity} objects of {Blocks} blocks.");
            if (w.Kind != MemoryWriteKind.Clear && (w.Row < 0 || chosen.Length < (long)(w.Row + 1) * FramePipeline.Plane))
                throw new ShapeException($"{name}: row {w.Row} is outside chosen {chosen.ShapeText}.");
        }
        var (vw, vh) = ImageEmbedding.ValidCells(width, height);
        var kernel = _ctx.Kernel(_type == DataType.F16 ? "memory_write_f16" : "memory_write", WriteLayout, GroupSize);
        // The workgroups of one dispatch run in any order, so two writes to the same block (a clear after a write, a
        // block written twice) go to separate dispatches, in the order given: the last one wins, as on the CPU.
        var wave = new List<MemoryWrite>();
        var blocks = new HashSet<(int, int)>();
        foreach (var w in writes)
        {
            if (!blocks.Add((w.Object, w.Block)))
            {
                Dispatch(wave);
                wave.Clear();
                blocks.Clear();
                blocks.Add((w.Object, w.Block));
            }
            wave.Add(w);
        }
        Dispatch(wave);

        void Dispatch(List<MemoryWrite> batch)
        {
            var list = Indices(cs, batch.SelectMany(w => new[] { Math.Max(0, w.Row), w.Object, w.Block, (int)w.Kind }), "memory.writes");
            cs.Dispatch(kernel, ((uint)batch.Count, 1u, 1u), new WritePush { Cap = Cap, Blocks = Blocks, ValidW = vw, ValidH = vh, Ring = Ring },
                        chosen.Buffer, embedding.Buffer, list, _keys!.Buffer, _counts!);
        }
    }

    /// <summary>Records the readout of objects 0..<paramref name="objects"/>-1 on <paramref name="embedding"/>: two
    /// tensors [objects, 64·64] rented for the stream, the readout (positive where a cell looks more like the object
    /// than like its background) and the likeness (the foreground cosine alone).</summary>
    public (GpuTensor Readout, GpuTensor Likeness) Readout(CommandStream cs, GpuTensor embedding, int objects)
    {
        const string name = "memory_readout";
        CheckEmbedding(name, embedding);
        if (objects <= 0 || objects > _capacity) throw new ShapeException($"{name}: {objects} objects, memory for {_capacity}.");
        var sims = _buffers.RentTensor(cs, [objects, Slots, Cells], _type, "memory.sims");
        _gemm.Record(cs, Slots, Cells, Channels, new StridedView(_keys!, 0, Slots * Channels, Channels, 1),
                     new StridedView(embedding, 0, 0, Cells, 1), new StridedView(sims, 0, Slots * Cells, Cells, 1), batch: objects);
        var readout = _buffers.RentTensor(cs, [objects, Cells], DataType.F32, "memory.readout");
        var likeness = _buffers.RentTensor(cs, [objects, Cells], DataType.F32, "memory.likeness");
        int wg = GroupSize;
        var kernel = _ctx.Kernel(_type == DataType.F16 ? "memory_readout_f16" : "memory_readout", ReadoutLayout, wg);
        cs.Dispatch(kernel, ((uint)((Cells + wg - 1) / wg), (uint)objects, 1u), new ReadoutPush { Cap = Cap, FgBlocks = FgBlocks, BgBlocks = BgBlocks, K = K },
                    sims.Buffer, embedding.Buffer, _counts!, readout.Buffer, likeness.Buffer);
        return (readout, likeness);
    }

    /// <summary>Records the per-candidate reduction of rows of <paramref name="chosen"/> against their objects'
    /// readout and likeness maps: fp32 [candidates, <see cref="ScoreStride"/>] rented for the stream (<see cref="Harvest"/>).</summary>
    public GpuTensor Score(CommandStream cs, GpuTensor chosen, (GpuTensor Readout, GpuTensor Likeness) maps, IReadOnlyList<(int Row, int Object)> candidates,
                           int width, int height)
    {
        const string name = "memory_score";
        if (candidates.Count == 0) throw new ShapeException($"{name}: no candidates.");
        var (readout, likeness) = maps;
        int objects = (int)(readout.Length / Cells);
        if (likeness.Length != readout.Length) throw new ShapeException($"{name}: likeness {likeness.ShapeText} does not match readout {readout.ShapeText}.");
        foreach (var (row, obj) in candidates)
            if (row < 0 || chosen.Length < (long)(row + 1) * FramePipeline.Plane || obj < 0 || obj >= objects)
                throw new ShapeException($"{name}: candidate row {row} / object {obj} outside chosen {chosen.ShapeText} / readout {readout.ShapeText}.");
        var list = Indices(cs, candidates.SelectMany(c => new[] { c.Row, c.Object }), "memory.candidates");
        var scores = _buffers.RentTensor(cs, [candidates.Count, ScoreStride], DataType.F32, "memory.scores");
        var (vw, vh) = ImageEmbedding.ValidCells(width, height);
        var kernel = _ctx.Kernel("memory_score", ScoreLayout, GroupSize);
        cs.Dispatch(kernel, ((uint)candidates.Count, 1u, 1u), new ScorePush { ValidW = vw, ValidH = vh },
                    chosen.Buffer, readout.Buffer, list, scores.Buffer, likeness.Buffer);
        return scores;
    }

    /// <summary>Decodes <see cref="Score"/>'s output as read back.</summary>
    public static MemoryScore[] Harvest(ReadOnlySpan<float> scores, int count)
    {
        var list = new MemoryScore[count];
        for (int i = 0; i < count; i++)
            list[i] = new MemoryScore((int)scores[i * ScoreStride], (int)scores[i * ScoreStride + 1], scores[i * ScoreStride + 2], (int)scores[i * ScoreStride + 3],
                                      scores[i * ScoreStride + 4]);
        return list;
    }


    private GpuBuffer Indices(CommandStream cs, IEnumerable<int> values, string name)
    {
        var data = values.ToArray();
        var buffer = _buffers.Rent(cs, (ulong)data.Length * 4, BufferKind.Device, name);
        cs.Write(buffer, MemoryMarshal.AsBytes(data.AsSpan()));
        return buffer;
    }

    private void CheckEmbedding(string name, GpuTensor embedding)
    {
        Conv2d.CheckLength(name, "embedding", embedding, (long)Channels * Cells, "[1x256x64x64]");
        if (embedding.Type != _type) throw new ShapeException($"{name}: the embedding is {embedding.Type} but the memory stores {_type}.");
        if (_keys is null) throw new InvalidOperationException($"{name}: no object has memory yet (EnsureObjects).");
    }

    public void Dispose()
    {
        _keys?.Dispose();
        _counts?.Dispose();
        _keys = null;
        _counts = null;
        _capacity = 0;
    }
}
