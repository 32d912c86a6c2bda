using Silk.NET.Vulkan;
using Semaphore = Silk.NET.Vulkan.Semaphore;
using SamRealtime.Kernels;
using SamRealtime.Model;
using SamRealtime.Tracking;
using SamRealtime.Vulkan;

namespace SamRealtime.Engine;

/// <summary>
/// Segment Anything as a pass of a host's Vulkan frame: the frame pipeline (encode every
/// <see cref="SamPassOptions.EncoderInterval"/> frames, one batched decode of all objects with the mask choice on the
/// GPU, rendering into the host's R8 mask image) recorded into the host's command buffer (<see cref="Record"/>) or
/// submitted on our queue with a timeline semaphore (<see cref="Submit"/>). With tracking, the video tracker's decisions
/// (<see cref="ObjectTrack"/>): each object's candidates (its moved box, or where a lost one may be) are judged on the
/// GPU in the same recording (<see cref="CandidateSelect"/>), so the mask image shows only what the tracker accepts,
/// and the host's copy of each object's state follows the verdicts once its frame slot comes round. Object logits
/// stay on the GPU from frame to frame.
/// <para>Synchronisation, as recorded: a memory barrier from all work earlier on the queue (earlier frames share our
/// buffers), then the image transitions of <see cref="FramePipeline.Encode(CommandStream, in HostImage, GpuTensor)"/>
/// and <see cref="FramePipeline.WriteMask"/>, whose scopes are wide on purpose: their cost is nothing next to the
/// encoder, and they hold whatever the host did before.</para>
/// </summary>
public sealed class SamPass : IDisposable
{
    private readonly SamModel _model;
    private readonly GpuContext _ctx;
    private readonly FramePipeline _pipeline;
    private readonly SamPassOptions _options;
    private readonly ObjectBatch _batch;
    private readonly AppearanceMemory _memory;
    private readonly CandidateSelect _select;
    private readonly GpuTensor _embedding;
    private readonly PassSlot[] _slots;
    private readonly PassObjects _objects = new();
    // Memory writes earned by the last harvested frame, recorded before the next encoder overwrites its embedding.
    private (long Frame, List<MemoryWrite> Writes) _pendingWrites = (-1, []);
    private long _frame, _lastEncoderFrame = long.MinValue;
    private bool _embeddingValid, _disposed;

    public SamPass(SamModel model, SamPassOptions? options = null)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        _options = options ?? new SamPassOptions();
        if (_options.FramesInFlight is < 1 or > 16) throw new ArgumentOutOfRangeException(nameof(options), "FramesInFlight must be 1..16.");
        if (_options.EncoderInterval < 1) throw new ArgumentOutOfRangeException(nameof(options), "EncoderInterval must be at least 1.");
        _ctx = model.Context;
        _pipeline = model.Pipeline;
        _batch = new ObjectBatch(_ctx, _pipeline);
        _memory = new AppearanceMemory(_ctx, _pipeline.Buffers, model.StorageType);
        _select = new CandidateSelect(_ctx, _pipeline.Buffers);
        _embedding = _ctx.CreateTensor([1, 256, 64, 64], model.StorageType, "pass.embedding");
        _slots = Enumerable.Range(0, _options.FramesInFlight).Select(_ => new PassSlot()).ToArray();
    }

    public SamPassOptions Options => _options;

    /// <summary>Frames recorded so far.</summary>
    public long FrameCount => _frame;

    /// <summary>Whether the last recorded frame ran the encoder.</summary>
    public bool LastFrameRanEncoder { get; private set; }

    /// <summary>The objects with their state from the last completed frame (see <see cref="Record"/>).</summary>
    public IReadOnlyList<PassObject> Objects =>
        _objects.Select(o => new PassObject(o.Id, o.Prompt, o.State, o.Score, o.Box, o.Frame)).ToArray();

    /// <summary>Adds an object from a prompt in the source image's pixels; returns its id (its label, 1..255).</summary>
    public int AddObject(Prompt prompt) => _objects.Add(prompt, _options).Id;

    /// <summary>Replaces an object's prompt (a correction click); it applies from the next recorded frame.</summary>
    public void UpdateObject(int id, Prompt prompt) => _objects.Update(id, prompt);

    public void RemoveObject(int id) => _objects.Remove(id);

    public void ClearObjects() => _objects.Clear();

    /// <summary>
    /// Records the pass into <paramref name="commands"/>, a primary command buffer the host has begun, outside any
    /// render pass, to be submitted on the queue family this context was created for. Before this call the host must
    /// have waited for the submission that used <paramref name="frameSlot"/> last (its results become
    /// <see cref="Objects"/> now).
    /// </summary>
    public void Record(CommandBuffer commands, in HostImage source, in HostImage mask, int frameSlot)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (commands.Handle == 0) throw new ArgumentException("The host command buffer is null.", nameof(commands));
        var slot = TakeSlot(frameSlot);
        Prepare(source, mask);
        slot.Stream = _ctx.RecordInto(commands);
        RecordFrame(slot.Stream, slot, source, mask);
        slot.Stream.Finish();
    }

    /// <summary>
    /// Records and submits the pass on our queue (the host's queue when the context adopted it) without waiting:
    /// waits for <paramref name="wait"/> (binary when <paramref name="waitValue"/> is 0, else timeline), and signals
    /// the timeline semaphore <paramref name="signal"/> with <paramref name="signalValue"/> on completion. The host
    /// waits on that value before sampling the mask. A slot whose earlier submission is still running is waited for.
    /// </summary>
    public void Submit(in HostImage source, in HostImage mask, int frameSlot, Semaphore? wait, ulong waitValue,
                       Semaphore signal, ulong signalValue)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_ctx.TimelineSemaphores)
            throw new VulkanException("Submit signals a timeline semaphore, but the device was not created with the timelineSemaphore feature " +
                                      "(declare HostFeatures.TimelineSemaphore when adopting, after enabling it).", Result.ErrorFeatureNotPresent);
        if (signal.Handle == 0) throw new ArgumentException("The timeline semaphore to signal is null.", nameof(signal));
        if (signalValue == 0) throw new ArgumentException("A timeline signal value must be greater than 0.", nameof(signalValue));
        WaitForOurs(frameSlot);
        var slot = TakeSlot(frameSlot);
        Prepare(source, mask);
        slot.Stream = _ctx.BeginCommands();
        RecordFrame(slot.Stream, slot, source, mask);
        slot.Stream.SubmitNoWait(wait, waitValue, PipelineStageFlags.AllCommandsBit, signal, signalValue);
    }

    /// <summary>Applies the tracking rules to <paramref name="frameSlot"/>'s frame now rather than at the slot's next
    /// <see cref="Record"/>/<see cref="Submit"/>, so <see cref="Objects"/> describes the frame the host has just waited
    /// for (its mask image was rendered before the rules ran). One of our own submissions is waited for here.</summary>
    public void Complete(int frameSlot)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        WaitForOurs(frameSlot);
        TakeSlot(frameSlot);
    }

    /// <summary>Our own submissions carry a fence, so a busy slot of ours can be waited for.</summary>
    private void WaitForOurs(int slot)
    {
        if (slot >= 0 && slot < _slots.Length && _slots[slot].Stream is { } busy && !busy.IsComplete) busy.WaitForCompletion();
    }

    /// <summary>Applies the results of the slot's previous frame (the host guarantees it completed) and frees what
    /// its recording held.</summary>
    private PassSlot TakeSlot(int frameSlot)
    {
        if (frameSlot < 0 || frameSlot >= _slots.Length)
            throw new ArgumentOutOfRangeException(nameof(frameSlot), $"Frame slot {frameSlot} is outside 0..{_slots.Length - 1} (FramesInFlight {_slots.Length}).");
        var slot = _slots[frameSlot];
        if (slot.Results is { } results)
        {
            var outcomes = results.Harvest();
            _pendingWrites = (slot.Frame, []);
            for (int i = 0; i < slot.Objects.Length; i++) Apply(slot, i, outcomes[i]);
        }
        slot.Results = null;
        slot.Stream?.Dispose();
        slot.Stream = null;
        return slot;
    }

    /// <summary>The verdict on object <paramref name="index"/> of a completed frame, taken into its state
    /// (<see cref="ObjectTrack"/>). Its memory learns from the frame only while the embedding is still that frame's
    /// (the next recording, one frame in flight); with more in flight an object is judged without memory.</summary>
    private void Apply(PassSlot slot, int index, ObjectOutcome? outcome)
    {
        var recorded = slot.Objects[index];
        var e = _objects.FirstOrDefault(o => o.Id == recorded.Id);
        // Gone, re-prompted since, or already updated by a later frame.
        if (e is null || e.Version != recorded.Version || e.Frame > slot.Frame) return;
        // No outcome: a lost object whose search boxes all lay outside the frame.
        var (chosen, ok) = outcome is null ? (-1, false) : _options.TrackObjects ? e.Track.Decide(outcome) : (0, outcome.Verdict.Accepted);
        Candidate? c = chosen >= 0 ? outcome!.Candidates[chosen] : null;
        e.Frame = slot.Frame;
        e.Score = c?.Score ?? 0;
        e.Box = ok ? c!.Value.Box : null;
        e.State = ok ? PassObjectState.Tracked : PassObjectState.Lost;
        if (!_options.TrackObjects) return;
        e.Track.Update(c, ok, slot.Width, slot.Height);
        e.Track.Readout = e.Track.State == TrackState.Lost ? outcome?.Map ?? e.Track.Readout : null;
        if (ok && slot.Frame == _frame - 1)
            _pendingWrites.Writes.AddRange(e.Track.MemoryWrites(c!.Value, outcome!.First + chosen, e.MemorySlot, _memory, slot.Width, slot.Height));
        if (ok) e.UserPrompt = false;
    }

    /// <summary>Everything that can be refused is checked before the first command goes into the host's buffer.</summary>
    private void Prepare(in HostImage source, in HostImage mask)
    {
        HostImage.CheckPair(source, mask);
        foreach (var o in _objects)
        {
            try { o.Prompt.Validate(source.Width, source.Height); }
            catch (ArgumentException e) { throw new ArgumentException($"Object {o.Id}: {e.Message}", e); }
        }
    }

    private void RecordFrame(CommandStream cs, PassSlot slot, HostImage source, HostImage mask)
    {
        int w = source.Width, h = source.Height, n = _objects.Count;
        var all = PipelineStageFlags.AllCommandsBit;
        // Earlier frames on this queue use the same buffers.
        cs.Barrier();
        if (_pendingWrites.Frame == _frame - 1 && _pendingWrites.Writes.Count > 0)
        {
            // Last frame's rows and embedding, before this frame's decoder and encoder replace them.
            _memory.EnsureObjects(cs, _objects.Max(o => o.MemorySlot) + 1);
            _memory.Write(cs, _batch.Chosen, _embedding, _pendingWrites.Writes, w, h);
        }
        _pendingWrites.Writes.Clear();

        bool encode = n > 0 && (!_embeddingValid || _frame - _lastEncoderFrame >= _options.EncoderInterval);
        if (encode)
        {
            _pipeline.Encode(cs, source, _embedding);
            _embeddingValid = true;
            _lastEncoderFrame = _frame;
        }
        else if (source.Layout != source.FinalLayout)
        {
            // The host asked for a layout change; it happens even when the image is not read.
            cs.ImageBarrier(source.Image, source.Layout, source.FinalLayout, all, AccessFlags.MemoryWriteBit,
                            all, AccessFlags.MemoryReadBit | AccessFlags.MemoryWriteBit);
        }
        LastFrameRanEncoder = encode;

        GpuBuffer packed;
        // Each object's candidates, consecutive rows; without tracking, its prompt as the host set it.
        var rows = _objects.SelectMany((e, i) => _options.TrackObjects ? e.Track.Candidates(i, e.UserPrompt ? e.Prompt : null, e.Row, w, h)
                                                 : [new CandidatePrompt(e.Prompt, -1, new(i, Criteria.ScoreOnly(i, _options.MinScore)))]).ToList();
        int k = rows.Count;
        if (k > 0)
        {
            _batch.Decode(cs, _embedding, rows.Select((c, r) => c.Input(r, w, h)).ToArray(), k, [], _slots.Where(s => s.Stream is not null && s != slot).Select(s => s.Stream!).ToArray());
            // A lost object's map is where the next frame looks for it (ObjectTrack.SearchBox).
            var searched = Enumerable.Range(0, n).Where(i => _objects[i].Track.Searched && !_objects[i].UserPrompt).ToArray();
            bool memory = _options.TrackObjects && _objects.Any(o => o.Track.HasMemory);
            slot.Results = TrackingFrame.Record(cs, _pipeline, _batch, _select, memory ? _memory : null, _embedding, rows.Select(c => c.Row).ToArray(), n,
                                                i => _objects[i].MemorySlot, searched, w, h);
            packed = _batch.Render(cs, _options.Labels ? rows.Select(c => _objects[c.Row.Object].Id).ToArray() : null, slot.Results.Gate, w, h);
            slot.Objects = _objects.Select(o => (o.Id, o.Version, o.UserPrompt)).ToArray();
            slot.Frame = _frame;
            slot.Width = w;
            slot.Height = h;
            // A tracked object's single row is its dense prompt on the next recorded frame.
            for (int i = 0; i < n; i++) _objects[i].Row = -1;
            for (int r = 0; r < k; r++) if (rows.Count(c => c.Row.Object == rows[r].Row.Object) == 1) _objects[rows[r].Row.Object].Row = r;
        }
        else
        {
            packed = _pipeline.Buffers.Rent(cs, MaskOutput.PackedBytes((long)w * h), BufferKind.Device, "pass.mask");
            cs.Fill(packed, 0);
        }

        FramePipeline.WriteMask(cs, packed, mask);
        _frame++;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        // Recordings in the host's command buffers may still run; freeing their resources needs the queue idle.
        _ctx.WaitIdle();
        foreach (var s in _slots) s.Stream?.Dispose();
        _batch.Dispose();
        _memory.Dispose();
        _embedding.Dispose();
    }
}
