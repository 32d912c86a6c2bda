using SamRealtime.Model;
using SamRealtime.Vulkan;

namespace SamRealtime.Tracking;

/// <summary>A candidate row of a frame: the object it is for, what it must satisfy, and how it was found
/// (<see cref="Candidate.Searched"/>, <see cref="Candidate.FromMap"/>).</summary>
internal readonly record struct CandidateRow(int Object, Criteria Criteria, bool Searched = false, bool FromMap = false);

/// <summary>A candidate to decode: its prompt, the previous frame's row it takes as its dense prompt (-1: none) and its row's criteria.</summary>
internal readonly record struct CandidatePrompt(Prompt Prompt, int DenseRow, CandidateRow Row)
{
    /// <summary>The decoder's input for this candidate written to <paramref name="row"/> of a frame.</summary>
    public DecodeInput Input(int row, int width, int height) => new(Prompt.SparsePoints(height, width), row, Prompt.MaskLogits, DenseRow);
}

/// <summary>One object's outcome on a frame: its candidates (rows First.. of the frame), the GPU's verdict and, for a
/// lost object that was searched for, its memory's readout map (64x64), where the next frame looks.</summary>
internal sealed record ObjectOutcome(Candidate[] Candidates, int First, Verdict Verdict, float[]? Map);

/// <summary>
/// A frame's tracking decision for every object, recorded by both front ends after the object batch's decode: each
/// candidate row reduced to its statistics, scored by the appearance memory, judged on the GPU
/// (<see cref="CandidateSelect"/>), and only what the host's state needs read back — 32 bytes of statistics and
/// 20 of memory score per candidate, 16 bytes of verdict per object, and a lost object's readout map. The gate it
/// leaves on the GPU renders exactly the accepted masks.
/// </summary>
internal sealed class TrackingFrame
{
    private readonly ReadBack _results;
    private readonly CandidateRow[] _rows;
    private readonly int[] _searched;
    private readonly int _objects, _width, _height;

    /// <summary>Per row: 1 where the row is an accepted mask (fp32 [rows], rented for the stream).</summary>
    public GpuTensor Gate { get; }

    private TrackingFrame(ReadBack results, GpuTensor gate, CandidateRow[] rows, int[] searched, int objects, int width, int height) =>
        (_results, Gate, _rows, _searched, _objects, _width, _height) = (results, gate, rows, searched, objects, width, height);

    /// <summary>Records the decision on rows 0..rows.Count-1 of <paramref name="batch"/>'s frame, decoded on
    /// <paramref name="embedding"/>. An object's rows are consecutive. With <paramref name="memory"/> every row is scored by
    /// its object's memory (object i's memory is <paramref name="memorySlot"/>(i)) and the maps of
    /// <paramref name="searched"/> come back.</summary>
    public static TrackingFrame Record(CommandStream cs, FramePipeline pipeline, ObjectBatch batch, CandidateSelect select, AppearanceMemory? memory,
                                       GpuTensor embedding, IReadOnlyList<CandidateRow> rows, int objects, Func<int, int> memorySlot,
                                       IReadOnlyList<int> searched, int width, int height)
    {
        int k = rows.Count;
        var stats = batch.Stats(cs, width, height, k);
        GpuTensor? scores = null;
        GpuBuffer maps = stats.Buffer;
        const ulong map = AppearanceMemory.Cells * 4;
        if (memory is not null)
        {
            int slots = Enumerable.Range(0, objects).Max(memorySlot) + 1;
            memory.EnsureObjects(cs, slots);
            var readout = memory.Readout(cs, embedding, slots);
            scores = memory.Score(cs, batch.Chosen, readout, rows.Select((c, r) => (r, memorySlot(c.Object))).ToArray(), width, height);
            maps = pipeline.Buffers.Rent(cs, Math.Max(1, (ulong)searched.Count) * map, BufferKind.Device, "track.maps");
            for (int j = 0; j < searched.Count; j++) cs.Copy(readout.Readout.Buffer, (ulong)memorySlot(searched[j]) * map, maps, (ulong)j * map, map);
        }
        else searched = [];
        var (gate, verdicts) = select.Record(cs, stats, batch.Scores, scores, rows.Select(c => c.Criteria).ToArray(), objects, width, height);
        var results = pipeline.ReadResults(cs, [.. batch.StatsParts(stats, k), (verdicts.Buffer, (ulong)objects * CandidateSelect.VerdictStride * 4),
                                                (scores?.Buffer ?? stats.Buffer, scores is null ? 0 : (ulong)k * AppearanceMemory.ScoreStride * 4),
                                                (maps, (ulong)searched.Count * map)]);
        return new TrackingFrame(results, gate, rows.ToArray(), searched.ToArray(), objects, width, height);
    }

    /// <summary>Every object's outcome, once the frame's work has completed (null: the object had no rows).</summary>
    public ObjectOutcome?[] Harvest()
    {
        int k = _rows.Length;
        var stats = ObjectBatch.Harvest(_results.Floats(0), _results.Floats(1), k, _width, _height);
        var verdicts = CandidateSelect.Harvest(_results.Floats(2), _objects);
        var memory = _results.Part(3).Length > 0 ? AppearanceMemory.Harvest(_results.Floats(3), k) : new MemoryScore[k];
        var maps = _results.Floats(4);
        var outcomes = new ObjectOutcome?[_objects];
        foreach (var group in Enumerable.Range(0, k).GroupBy(r => _rows[r].Object))
        {
            var candidates = group.Select(r => new Candidate(_rows[r].Criteria.UserPrompt, stats[r].Score, stats[r].Box, stats[r].Area, memory[r],
                                                             _rows[r].Searched, _rows[r].FromMap)).ToArray();
            int m = Array.IndexOf(_searched, group.Key);
            outcomes[group.Key] = new ObjectOutcome(candidates, group.First(), verdicts[group.Key],
                                                    m >= 0 ? maps.AsSpan(m * AppearanceMemory.Cells, AppearanceMemory.Cells).ToArray() : null);
        }
        return outcomes;
    }
}
