using Silk.NET.Vulkan;
using Semaphore = Silk.NET.Vulkan.Semaphore;
using SamRealtime.Kernels;
using SamRealtime.Model;
using SamRealtime.Vulkan;

namespace SamRealtime.Engine;

/// <summary>
/// A host image handed to <see cref="SamPass"/>. <paramref name="Layout"/> is the layout the image is in when the
/// recorded commands execute; the pass leaves it in <paramref name="FinalLayout"/>.
/// </summary>
public readonly record struct HostImage(Image Image, Format Format, int Width, int Height, ImageLayout Layout, ImageLayout FinalLayout)
{
    public HostImage(Image image, Format format, int width, int height, ImageLayout layout)
        : this(image, format, width, height, layout, layout) { }
}

public sealed record SamPassOptions
{
    /// <summary>How many recordings may be in flight; the host passes a frame slot in [0, FramesInFlight) and must
    /// have waited for the previous use of that slot (the usual per-frame resource rule of engines).</summary>
    public int FramesInFlight { get; init; } = 2;

    /// <summary>Run the image encoder on every N-th frame only; in between, the decoder runs on the last embedding.
    /// The encoder is ~95% of the pass, so N divides the average cost almost by N, at the price of masks that lag
    /// the image by up to N-1 frames when things move.</summary>
    public int EncoderInterval { get; init; } = 1;

    /// <summary>Write each object's id (1..255) instead of 255 into the mask image.</summary>
    public bool Labels { get; init; }

    /// <summary>Move each object's prompt with it: from the last completed frame of the object, its mask box
    /// (+<see cref="BoxMargin"/>) and low-res logits become the prompt. Off: the prompts stay as the host set them.</summary>
    public bool TrackObjects { get; init; }

    /// <summary>Objects whose predicted IoU is below this are left out of the mask (decided on the GPU, same frame)
    /// and reported as lost.</summary>
    public float MinScore { get; init; } = 0.5f;

    public float BoxMargin { get; init; } = 0.15f;
}

public enum PassObjectState { Pending, Tracked, Lost }

/// <summary>An object of the pass as of the last completed frame.</summary>
/// <param name="Box">Bounding box of its mask in image pixels (x0, y0, x1, y1), null when empty.</param>
public sealed record PassObject(int Id, Prompt Prompt, PassObjectState State, float Score, (int X0, int Y0, int X1, int Y1)? Box, long Frame);

/// <summary>
/// Segment Anything as a pass of a host's Vulkan frame. <see cref="Record"/> records into the host's command buffer:
/// copy of the host image, preprocessing, the encoder (every <see cref="SamPassOptions.EncoderInterval"/> frames),
/// one batched decoder pass for all objects, mask choice, upscaling, overlap resolution and the copy into the host's
/// R8 mask image; <see cref="Submit"/> does the same on our queue and signals a timeline semaphore.
/// <para>Synchronisation, as recorded: (1) a memory barrier from all compute/transfer work earlier on the queue
/// (earlier frames share our scratch buffers); (2) source image: <c>Layout → TRANSFER_SRC_OPTIMAL</c> after
/// ALL_COMMANDS / MEMORY_WRITE, copied, then <c>→ FinalLayout</c> before ALL_COMMANDS / MEMORY_READ|WRITE;
/// (3) mask image: <c>UNDEFINED → TRANSFER_DST_OPTIMAL</c> after ALL_COMMANDS (contents discarded), written by a
/// copy, then <c>→ FinalLayout</c> with TRANSFER_WRITE made visible to ALL_COMMANDS / MEMORY_READ. The scopes are
/// wide on purpose: their cost is nothing next to the encoder, and they hold whatever the host did before.</para>
/// </summary>
public sealed unsafe class SamPass : IDisposable
{
    private const int LowRes = 256, Plane = LowRes * LowRes;

    private readonly SamModel _model;
    private readonly GpuContext _ctx;
    private readonly KernelSet _k;
    private readonly MaskOutput _out;
    private readonly SamPassOptions _options;
    private readonly GpuTensor _input, _embedding;
    private readonly Slot[] _slots;
    private readonly List<ObjectEntry> _objects = new();
    private int _nextId = 1;
    private long _frame;
    private bool _embeddingValid;
    private long _lastEncoderFrame = long.MinValue;
    // Frame-size buffers, rebuilt when the host's image size changes.
    private int _width, _height, _capacity;
    private GpuBuffer? _pixels, _packed;
    private GpuTensor? _chosen, _scores, _mid, _full, _labels;
    private bool _disposed;
    // Object ids in _labels as last uploaded (null: the tensor is new).
    private int[]? _uploadedIds;

    private sealed class ObjectEntry(int id, Prompt prompt)
    {
        public int Id = id;
        public Prompt Prompt = prompt;
        public PassObjectState State = PassObjectState.Pending;
        public float Score;
        public (int, int, int, int)? Box;
        public long Frame = -1;
    }

    /// <summary>What one recording left behind: its command stream (descriptor sets, staging) and where its results
    /// will be, to be read once the host's submission has completed.</summary>
    private sealed class Slot : IDisposable
    {
        public CommandStream? Stream;
        public GpuBuffer? Readback;
        public int[] Ids = [];
        public long Frame;
        public int Width, Height;
        public bool Pending;

        public void Dispose()
        {
            Stream?.Dispose();
            Stream = null;
            Readback?.Dispose();
            Readback = null;
        }
    }

    /// <summary>Buffers several recordings share: freed when the last of them releases its reference.</summary>
    private sealed class Retired(List<IDisposable> items, int references)
    {
        private int _references = references;
        private readonly List<IDisposable> _items = items;

        public IDisposable Reference() => new Release(this);

        private sealed class Release(Retired owner) : IDisposable
        {
            private bool _done;

            public void Dispose()
            {
                if (_done) return;
                _done = true;
                if (--owner._references == 0) foreach (var d in owner._items) d.Dispose();
            }
        }
    }

    public SamPass(SamModel model, SamPassOptions? options = null)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        _options = options ?? new SamPassOptions();
        if (_options.FramesInFlight is < 1 or > 16) throw new ArgumentOutOfRangeException(nameof(options), "FramesInFlight must be 1..16.");
        if (_options.EncoderInterval < 1) throw new ArgumentOutOfRangeException(nameof(options), "EncoderInterval must be at least 1.");
        _ctx = model.Context;
        _k = model.Kernels;
        _out = new MaskOutput(_ctx);
        _input = _ctx.CreateTensor([1, 3, 1024, 1024], model.StorageType, "pass.input");
        _embedding = _ctx.CreateTensor([1, 256, 64, 64], model.StorageType, "pass.embedding");
        _slots = Enumerable.Range(0, _options.FramesInFlight).Select(_ => new Slot()).ToArray();
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
        var e = new ObjectEntry(_nextId++, prompt);
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
        e.State = PassObjectState.Pending;
    }

    public void RemoveObject(int id) => _objects.Remove(Find(id));

    public void ClearObjects() => _objects.Clear();

    private ObjectEntry Find(int id) =>
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
        var cs = _ctx.RecordInto(commands);
        slot.Stream = cs;
        RecordFrame(cs, slot, source, mask);
        cs.Finish();
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
        // Our own submissions carry a fence, so a busy slot can be waited for here (Dispose waits).
        if (frameSlot >= 0 && frameSlot < _slots.Length && _slots[frameSlot].Stream is { } busy && !busy.IsComplete)
            busy.Dispose();
        var slot = TakeSlot(frameSlot);
        Prepare(source, mask);
        var cs = _ctx.BeginCommands();
        slot.Stream = cs;
        RecordFrame(cs, slot, source, mask);
        cs.SubmitNoWait(wait, waitValue, PipelineStageFlags.AllCommandsBit, signal, signalValue);
    }

    /// <summary>Reads the results of the slot's previous frame (the host guarantees it completed) and frees what
    /// its recording held.</summary>
    private Slot TakeSlot(int frameSlot)
    {
        if (frameSlot < 0 || frameSlot >= _slots.Length)
            throw new ArgumentOutOfRangeException(nameof(frameSlot), $"Frame slot {frameSlot} is outside 0..{_slots.Length - 1} (FramesInFlight {_slots.Length}).");
        var slot = _slots[frameSlot];
        if (slot.Pending) Harvest(slot);
        slot.Stream?.Dispose();
        slot.Stream = null;
        return slot;
    }

    private static bool IsColour8(Format f) =>
        f is Format.R8G8B8A8Unorm or Format.R8G8B8A8Srgb or Format.B8G8R8A8Unorm or Format.B8G8R8A8Srgb;

    private static void CheckImages(in HostImage source, in HostImage mask)
    {
        if (source.Image.Handle == 0) throw new ArgumentException("The source image is null.");
        if (mask.Image.Handle == 0) throw new ArgumentException("The mask image is null.");
        if (!IsColour8(source.Format))
            throw new ArgumentException($"Source image format {source.Format} is not supported; use R8G8B8A8 or B8G8R8A8 (UNORM or SRGB).");
        if (mask.Format != Format.R8Unorm)
            throw new ArgumentException($"Mask image format {mask.Format} is not supported; use R8_UNORM.");
        Limits.CheckImageSize(source.Width, source.Height);
        if (mask.Width != source.Width || mask.Height != source.Height)
            throw new ArgumentException($"Mask image is {mask.Width}x{mask.Height}; it must match the source's {source.Width}x{source.Height}.");
        if (source.Layout == ImageLayout.Undefined || source.FinalLayout == ImageLayout.Undefined || mask.FinalLayout == ImageLayout.Undefined)
            throw new ArgumentException("Image layouts must be stated (Undefined would discard the source / leave the mask unusable).");
    }

    private void EnsureFrameBuffers(int width, int height, int objects)
    {
        // Kernels check exact tensor lengths, so the per-object tensors follow the object count (it rarely changes).
        int capacity = Math.Max(objects, 1);
        if (width == _width && height == _height && capacity == _capacity && _pixels is not null) return;
        // Recordings in flight (even recorded and not yet submitted) still use the old buffers and descriptor sets, so
        // the old buffers are handed to every slot that holds a recording and freed when the last of them is reused.
        var old = new IDisposable?[] { _pixels, _packed, _chosen, _scores, _mid, _full, _labels }.OfType<IDisposable>().ToList();
        var busy = _slots.Where(s => s.Stream is not null).ToArray();
        if (busy.Length == 0) foreach (var d in old) d.Dispose();
        else
        {
            var retired = new Retired(old, busy.Length);
            foreach (var s in busy) s.Stream!.Transient(retired.Reference());
        }
        _capacity = capacity;
        _uploadedIds = null;
        _width = width;
        _height = height;
        _pixels = _ctx.CreateBuffer((ulong)width * (ulong)height * 4, BufferKind.Device, "pass.pixels");
        _packed = _ctx.CreateBuffer(MaskOutput.PackedBytes((long)width * height), BufferKind.Device, "pass.mask");
        _chosen = _ctx.CreateTensor([_capacity, LowRes, LowRes], DataType.F32, "pass.chosen");
        _scores = _ctx.CreateTensor([_capacity], DataType.F32, "pass.scores");
        _labels = _ctx.CreateTensor([_capacity], DataType.F32, "pass.labels");
        _mid = _ctx.CreateTensor([_capacity, 1024, 1024], DataType.F32, "pass.mid");
        _full = _ctx.CreateTensor([_capacity, height, width], DataType.F32, "pass.full");
    }

    /// <summary>Everything that can be refused is checked, and every buffer made, before the first command goes
    /// into the host's buffer.</summary>
    private void Prepare(in HostImage source, in HostImage mask)
    {
        CheckImages(source, mask);
        foreach (var o in _objects)
        {
            try { o.Prompt.Validate(source.Width, source.Height); }
            catch (ArgumentException e) { throw new ArgumentException($"Object {o.Id}: {e.Message}", e); }
        }
        EnsureFrameBuffers(source.Width, source.Height, _objects.Count);
    }

    private void RecordFrame(CommandStream cs, Slot slot, HostImage source, HostImage mask)
    {
        int w = source.Width, h = source.Height, n = _objects.Count;
        var all = PipelineStageFlags.AllCommandsBit;
        // Earlier frames on this queue use the same scratch buffers.
        cs.Barrier();

        bool encode = n > 0 && (!_embeddingValid || _frame - _lastEncoderFrame >= _options.EncoderInterval);
        if (encode)
        {
            cs.ImageBarrier(source.Image, source.Layout, ImageLayout.TransferSrcOptimal, all, AccessFlags.MemoryWriteBit,
                            PipelineStageFlags.TransferBit, AccessFlags.TransferReadBit);
            cs.CopyImageToBuffer(source.Image, (uint)w, (uint)h, _pixels!);
            cs.ImageBarrier(source.Image, ImageLayout.TransferSrcOptimal, source.FinalLayout, PipelineStageFlags.TransferBit, 0,
                            all, AccessFlags.MemoryReadBit | AccessFlags.MemoryWriteBit);
            var format = source.Format is Format.B8G8R8A8Unorm or Format.B8G8R8A8Srgb ? PixelFormat.Bgra8 : PixelFormat.Rgba8;
            // sRGB-encoded bytes are what SAM was trained on; a copy keeps them encoded whatever the view format says.
            _k.Preprocess.Record(cs, _pixels!, format, w, h, w * 4, _input);
            _model.Encoder.Record(cs, _input, _embedding);
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

        if (n > 0)
        {
            var (rh, rw) = Prompt.ResizedSize(h, w);
            // One decoder pass per group of prompts with the same token count and dense-prompt presence; ordering the
            // objects by group makes each group's rows of the chosen logits contiguous.
            var ordered = _objects.Select(o => (o, sparse: o.Prompt.SparsePoints(h, w)))
                                  .OrderBy(x => x.sparse.Length).ThenBy(x => x.o.Prompt.MaskLogits is not null).ToArray();
            var entries = ordered.Select(x => x.o).ToArray();
            var groups = ordered.Select((x, i) => (x.o, i, x.sparse))
                                .GroupBy(x => (x.sparse.Length, x.o.Prompt.MaskLogits is not null));
            var decoder = _model.Decoder;
            var type = _model.StorageType;
            foreach (var g in groups)
            {
                var items = g.ToArray();
                int batch = items.Length, T = 5 + g.Key.Length;
                // Consecutive slots per group: the select kernel writes rows firstObject.. of the chosen logits.
                var tokens = Transient(cs, decoder.Tokens(items.Select(x => x.sparse).ToArray()), [batch, T, 256], type, "pass.tokens");
                GpuTensor? dense = g.Key.Item2
                    ? Transient(cs, items.SelectMany(x => x.o.Prompt.MaskLogits!).ToArray(), [batch, 1, LowRes, LowRes], type, "pass.maskin")
                    : null;
                var outputs = decoder.Record(cs, _embedding, tokens, batch, T, dense);
                _out.Select(cs, outputs.MaskLogits, outputs.Iou, _chosen!, _scores!, batch, Plane, g.Key.Length, items[0].i);
            }
            _k.Resize.Record(cs, _chosen!, _mid!, n, LowRes, LowRes, LowRes, LowRes, 1024, 1024);
            _k.Resize.Record(cs, _mid!, _full!, n, 1024, 1024, rh, rw, h, w);
            // The labels only change with the objects or their order, not per frame.
            var ids = entries.Select(e => e.Id).ToArray();
            if (_uploadedIds is null || !_uploadedIds.AsSpan().SequenceEqual(ids))
            {
                cs.Upload(_labels!, ids.Select(id => (float)id).ToArray());
                _uploadedIds = ids;
            }
            _out.Label(cs, _full!, _labels!, _scores!, _packed!, n, (long)w * h, !_options.Labels, _options.MinScore);

            // Results for the CPU side (states, boxes, tracking), read when this slot comes round again.
            ulong bytes = (ulong)n * Plane * 4;
            if (slot.Readback is null || slot.Readback.Size < bytes + (ulong)n * 4)
            {
                slot.Readback?.Dispose();
                slot.Readback = _ctx.CreateBuffer((ulong)_capacity * (Plane * 4 + 4), BufferKind.Readback, "pass.readback");
            }
            cs.Copy(_chosen!.Buffer, 0, slot.Readback, 0, bytes);
            cs.Copy(_scores!.Buffer, 0, slot.Readback, bytes, (ulong)n * 4);
            slot.Ids = ids;
            slot.Frame = _frame;
            slot.Width = w;
            slot.Height = h;
            slot.Pending = true;
        }
        else cs.Fill(_packed!, 0);

        cs.ImageBarrier(mask.Image, ImageLayout.Undefined, ImageLayout.TransferDstOptimal, all, 0,
                        PipelineStageFlags.TransferBit, AccessFlags.TransferWriteBit);
        cs.CopyBufferToImage(_packed!, mask.Image, (uint)w, (uint)h);
        cs.ImageBarrier(mask.Image, ImageLayout.TransferDstOptimal, mask.FinalLayout, PipelineStageFlags.TransferBit,
                        AccessFlags.TransferWriteBit, all, AccessFlags.MemoryReadBit);
        _frame++;
    }

    private GpuTensor Transient(CommandStream cs, float[] data, int[] shape, DataType type, string name)
    {
        var t = cs.Transient(_ctx.CreateTensor(shape, type, name));
        cs.Upload(t, data);
        return t;
    }

    /// <summary>Reads a completed slot's results into the objects: score, state, box, and with tracking the prompt
    /// for the next frame.</summary>
    private void Harvest(Slot slot)
    {
        slot.Pending = false;
        if (slot.Readback is null) return;
        int n = slot.Ids.Length;
        var data = new float[n * (Plane + 1)];
        slot.Readback.Read(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()));
        var (rh, rw) = Prompt.ResizedSize(slot.Height, slot.Width);
        double sx = (double)slot.Width / rw, sy = (double)slot.Height / rh;
        for (int i = 0; i < n; i++)
        {
            var e = _objects.FirstOrDefault(o => o.Id == slot.Ids[i]);
            if (e is null || e.Frame > slot.Frame) continue;
            var logits = data.AsSpan(i * Plane, Plane);
            float score = data[n * Plane + i];
            int x0 = int.MaxValue, y0 = int.MaxValue, x1 = -1, y1 = -1;
            // Low-res cells cover 4x4 pixels of the 1024 frame; only the part inside the resized image counts.
            for (int y = 0; y < LowRes && y * 4 < rh; y++)
                for (int x = 0; x < LowRes && x * 4 < rw; x++)
                    if (logits[y * LowRes + x] > 0)
                    {
                        if (x < x0) x0 = x;
                        if (x > x1) x1 = x;
                        if (y < y0) y0 = y;
                        if (y > y1) y1 = y;
                    }
            e.Frame = slot.Frame;
            e.Score = score;
            e.Box = x1 < 0 ? null
                : ((int)Math.Floor(x0 * 4 * sx), (int)Math.Floor(y0 * 4 * sy),
                   Math.Min(slot.Width, (int)Math.Ceiling((x1 + 1) * 4 * sx)), Math.Min(slot.Height, (int)Math.Ceiling((y1 + 1) * 4 * sy)));
            bool ok = score >= _options.MinScore && e.Box is not null;
            e.State = ok ? PassObjectState.Tracked : PassObjectState.Lost;
            if (_options.TrackObjects && ok && e.Box is var (bx0, by0, bx1, by1))
            {
                float mx = (bx1 - bx0) * _options.BoxMargin, my = (by1 - by0) * _options.BoxMargin;
                e.Prompt = new Prompt
                {
                    Box = (Math.Max(0, bx0 - mx), Math.Max(0, by0 - my), Math.Min(slot.Width, bx1 + mx), Math.Min(slot.Height, by1 + my)),
                    MaskLogits = logits.ToArray(),
                };
            }
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        // Recordings in the host's command buffers may still run; freeing their resources needs the queue idle.
        _ctx.WaitIdle();
        foreach (var s in _slots) s.Dispose();
        _pixels?.Dispose(); _packed?.Dispose(); _chosen?.Dispose(); _scores?.Dispose();
        _mid?.Dispose(); _full?.Dispose(); _labels?.Dispose();
        _input.Dispose();
        _embedding.Dispose();
    }
}
