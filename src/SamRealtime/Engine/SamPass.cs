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
/// submitted on our queue with a timeline semaphore (<see cref="Submit"/>), plus the video tracker's rules applied to
/// each object's GPU statistics once its frame slot comes round. Object logits stay on the GPU from frame to frame.
/// <para>Synchronisation, as recorded: (1) a memory barrier from all compute/transfer work earlier on the queue
/// (earlier frames share our buffers); (2) source image: <c>Layout → TRANSFER_SRC_OPTIMAL</c> after
/// ALL_COMMANDS / MEMORY_WRITE, copied, then <c>→ FinalLayout</c> before ALL_COMMANDS / MEMORY_READ|WRITE;
/// (3) mask image: <c>UNDEFINED → TRANSFER_DST_OPTIMAL</c> after ALL_COMMANDS (contents discarded), written by a
/// copy, then <c>→ FinalLayout</c> with TRANSFER_WRITE made visible to ALL_COMMANDS / MEMORY_READ. The scopes are
/// wide on purpose: their cost is nothing next to the encoder, and they hold whatever the host did before.</para>
/// </summary>
public sealed class SamPass : IDisposable
{
    private readonly SamModel _model;
    private readonly GpuContext _ctx;
    private readonly FramePipeline _pipeline;
    private readonly SamPassOptions _options;
    private readonly TrackingRules _rules;
    private readonly ObjectBatch _batch;
    private readonly AppearanceMemory _memory;
    private readonly GpuTensor _embedding;
    private readonly PassSlot[] _slots;
    private readonly List<PassEntry> _objects = new();
    // Memory writes earned by the last harvested frame, recorded before the next encoder overwrites its embedding.
    private (long Frame, List<MemoryWrite> Writes) _pendingWrites = (-1, []);
    private int[] _rowIds = [];
    private int _nextId = 1;
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
        _rules = new TrackingRules(_options);
        _batch = new ObjectBatch(_ctx, _pipeline);
        _memory = new AppearanceMemory(_ctx, _pipeline.Buffers, model.StorageType);
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
    public int AddObject(Prompt prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        Limits.CheckObjectCount(_objects.Count + 1);
        Limits.CheckPointCount(prompt.Points.Count);
        if (prompt.Points.Count == 0 && prompt.Box is null) throw new ArgumentException("Empty prompt: give at least one point or a box.");
        while (_objects.Any(o => o.Id == _nextId) || _nextId > 255) _nextId = _nextId > 255 ? 1 : _nextId + 1;
        int memorySlot = Enumerable.Range(0, _objects.Count + 1).First(i => _objects.All(o => o.MemorySlot != i));
        var e = new PassEntry(_nextId++, prompt, memorySlot, _options);
        _objects.Add(e);
        return e.Id;
    }

    /// <summary>Replaces an object's prompt (a correction click); it applies from the next recorded frame.</summary>
    public void UpdateObject(int id, Prompt prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        Limits.CheckPointCount(prompt.Points.Count);
        var e = Find(id);
        e.Prompt = prompt;
        e.UserPrompt = true;
        e.Dense = false;
        e.Version++;
        e.State = PassObjectState.Pending;
    }

    public void RemoveObject(int id) => _objects.Remove(Find(id));

    public void ClearObjects() => _objects.Clear();

    private PassEntry Find(int id) =>
        _objects.FirstOrDefault(o => o.Id == id) ?? throw new ArgumentException($"No object with id {id} in this pass.");

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
            var stats = ObjectBatch.Harvest(results, slot.Objects.Length, slot.Width, slot.Height);
            var memory = slot.Memory is { } m ? AppearanceMemory.Harvest(m.Floats(0), stats.Length) : new MemoryScore[stats.Length];
            _pendingWrites = (slot.Frame, []);
            for (int i = 0; i < stats.Length; i++) Apply(slot, i, stats[i], memory[i]);
        }
        slot.Results = slot.Memory = null;
        slot.Stream?.Dispose();
        slot.Stream = null;
        return slot;
    }

    /// <summary>The tracking decisions (<see cref="ObjectTrack"/>) on one object's statistics from a completed frame
    /// (row <paramref name="row"/> of it). Its memory learns from it only while the embedding is still that frame's
    /// (the next recording, one frame in flight); with more in flight an object is judged without memory.</summary>
    private void Apply(PassSlot slot, int row, ObjectStats s, MemoryScore memory)
    {
        var recorded = slot.Objects[row];
        var e = _objects.FirstOrDefault(o => o.Id == recorded.Id);
        // Gone, re-prompted since, or already updated by a later frame.
        if (e is null || e.Version != recorded.Version || e.Frame > slot.Frame) return;
        e.Frame = slot.Frame;
        e.Score = s.Score;
        e.Box = s.Box;
        var c = new Candidate(recorded.UserPrompt, s.Score, s.Box, s.Area, memory);
        bool ok = !_options.TrackObjects ? s.Box is not null && s.Score >= _options.MinScore : e.Track.Decide([c], slot.Width, slot.Height).Accepted;
        e.State = ok ? PassObjectState.Tracked : PassObjectState.Lost;
        if (!_options.TrackObjects) return;
        e.Track.Update(c, ok, slot.Width, slot.Height);
        if (ok && slot.Frame == _frame - 1) _pendingWrites.Writes.AddRange(e.Track.MemoryWrites(c, row, e.MemorySlot, _memory, slot.Width, slot.Height));
        // Accepted: its box and (on the GPU) its logits; lost: searched for at its last accepted box.
        if (ok) e.LastAccepted = s.Box;
        if (e.LastAccepted is not { } b) return;
        e.Prompt = new Prompt { Box = _rules.Enlarge(b.X0, b.Y0, b.X1, b.Y1, slot.Width, slot.Height) };
        e.Dense = ok;
        e.UserPrompt = false;
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
        var ids = _objects.Select(o => o.Id).ToArray();
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
            var pixels = _pipeline.Buffers.Rent(cs, (ulong)w * (ulong)h * 4, BufferKind.Device, "pass.pixels");
            cs.ImageBarrier(source.Image, source.Layout, ImageLayout.TransferSrcOptimal, all, AccessFlags.MemoryWriteBit,
                            PipelineStageFlags.TransferBit, AccessFlags.TransferReadBit);
            cs.CopyImageToBuffer(source.Image, (uint)w, (uint)h, pixels);
            cs.ImageBarrier(source.Image, ImageLayout.TransferSrcOptimal, source.FinalLayout, PipelineStageFlags.TransferBit, 0,
                            all, AccessFlags.MemoryReadBit | AccessFlags.MemoryWriteBit);
            var format = source.Format is Format.B8G8R8A8Unorm or Format.B8G8R8A8Srgb ? PixelFormat.Bgra8 : PixelFormat.Rgba8;
            // sRGB-encoded bytes are what SAM was trained on; a copy keeps them encoded whatever the view format says.
            _pipeline.Encode(cs, pixels, w, h, w * 4, format, _embedding);
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
        if (n > 0)
        {
            // Object i writes row i; a tracked object's dense prompt is its row of the previous recorded frame.
            var inputs = _objects.Select((o, i) => new DecodeInput(o.Prompt.SparsePoints(h, w), i, o.Prompt.MaskLogits,
                                                                   o.Dense ? Array.IndexOf(_rowIds, o.Id) : -1)).ToArray();
            _batch.Decode(cs, _embedding, inputs, n, [], _slots.Where(s => s.Stream is not null && s != slot).Select(s => s.Stream!).ToArray());
            _rowIds = ids;
            packed = _batch.Render(cs, _options.Labels ? ids : null, w, h, _options.MinScore);
            slot.Results = _batch.Stats(cs, _embedding, w, h);
            if (_options.TrackObjects && _objects.Any(o => o.Track.HasMemory))
            {
                _memory.EnsureObjects(cs, _objects.Max(o => o.MemorySlot) + 1);
                var readout = _memory.Readout(cs, _embedding, _objects.Max(o => o.MemorySlot) + 1);
                var scores = _memory.Score(cs, _batch.Chosen, readout, _objects.Select((o, i) => (i, o.MemorySlot)).ToArray(), w, h);
                slot.Memory = _pipeline.ReadResults(cs, (scores.Buffer, (ulong)n * AppearanceMemory.ScoreStride * 4));
            }
            slot.Objects = _objects.Select(o => (o.Id, o.Version, o.UserPrompt)).ToArray();
            slot.Frame = _frame;
            slot.Width = w;
            slot.Height = h;
        }
        else
        {
            packed = _pipeline.Buffers.Rent(cs, MaskOutput.PackedBytes((long)w * h), BufferKind.Device, "pass.mask");
            cs.Fill(packed, 0);
        }

        cs.ImageBarrier(mask.Image, ImageLayout.Undefined, ImageLayout.TransferDstOptimal, all, 0,
                        PipelineStageFlags.TransferBit, AccessFlags.TransferWriteBit);
        cs.CopyBufferToImage(packed, mask.Image, (uint)w, (uint)h);
        cs.ImageBarrier(mask.Image, ImageLayout.TransferDstOptimal, mask.FinalLayout, PipelineStageFlags.TransferBit,
                        AccessFlags.TransferWriteBit, all, AccessFlags.MemoryReadBit);
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
