namespace SamRealtime.Vulkan;

/// <summary>
/// The one allocator of per-frame GPU buffers, by lifetime: a buffer is rented for one command stream and comes back
/// when that stream is disposed — after its work completed (our own submissions wait on their fence; a recording
/// into a host's command buffer is disposed when its frame slot comes round again, which the host has waited for).
/// Frames of the same size reuse the same buffers; a size that stops being asked for is freed after a few frames.
/// Replaces the name-keyed caches and the hand-made "retired" lists the front ends used to keep.
/// </summary>
internal sealed class FrameBuffers(GpuContext ctx) : IDisposable
{
    private readonly Dictionary<(ulong Size, BufferKind Kind), List<(GpuBuffer Buffer, long Returned)>> _free = new();
    // Counts the streams that rented: one frame's encoder alone returns over a hundred buffers, so idleness measured
    // in returns would free most of them before the next frame asks for them again (and a CPU driver pays for every
    // new allocation in page faults).
    private long _clock;
    private CommandStream? _lastStream;
    private bool _disposed;
    // Free buffers not rented again by this many streams are dropped: sizes that keep changing do not accumulate.
    private const int MaxIdleStreams = 8;

    /// <summary>A buffer of exactly <paramref name="bytes"/> that stays valid until <paramref name="cs"/> is disposed.</summary>
    public GpuBuffer Rent(CommandStream cs, ulong bytes, BufferKind kind, string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        GpuBuffer buffer;
        lock (_free)
        {
            if (!ReferenceEquals(cs, _lastStream)) { _lastStream = cs; _clock++; }
            if (_free.TryGetValue((bytes, kind), out var list) && list.Count > 0)
            {
                buffer = list[^1].Buffer;
                list.RemoveAt(list.Count - 1);
            }
            else buffer = ctx.CreateBuffer(bytes, kind, name);
        }
        cs.Transient(new Return(this, buffer));
        return buffer;
    }

    /// <summary>A tensor view of a rented buffer (the tensor owns nothing; the buffer goes back with the stream).</summary>
    public GpuTensor RentTensor(CommandStream cs, int[] shape, DataType type, string name)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        var buffer = Rent(cs, (ulong)(n * (type == DataType.F16 ? 2 : 4)), BufferKind.Device, name);
        return GpuTensor.View(buffer, shape, type);
    }

    /// <summary>Frees <paramref name="items"/> (longer-lived buffers being replaced) once every stream in
    /// <paramref name="users"/> has been disposed: recordings still in flight keep what they were recorded with.</summary>
    public void Retire(IReadOnlyList<IDisposable> items, IReadOnlyList<CommandStream> users)
    {
        if (users.Count == 0) { foreach (var d in items) d.Dispose(); return; }
        var shared = new Shared(items, users.Count);
        foreach (var u in users) u.Transient(new Release(shared));
    }

    private sealed class Shared(IReadOnlyList<IDisposable> items, int references)
    {
        public int References = references;
        public readonly IReadOnlyList<IDisposable> Items = items;
    }

    private sealed class Release(Shared shared) : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            if (--shared.References == 0) foreach (var d in shared.Items) d.Dispose();
        }
    }

    private void Give(GpuBuffer buffer)
    {
        lock (_free)
        {
            if (_disposed) { buffer.Dispose(); return; }
            long now = _clock;
            var key = (buffer.Size, buffer.Kind);
            if (!_free.TryGetValue(key, out var list)) _free[key] = list = new();
            list.Add((buffer, now));
            foreach (var l in _free.Values)
                for (int i = l.Count - 1; i >= 0; i--)
                    if (now - l[i].Returned > MaxIdleStreams) { l[i].Buffer.Dispose(); l.RemoveAt(i); }
        }
    }

    private sealed class Return(FrameBuffers owner, GpuBuffer buffer) : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            owner.Give(buffer);
        }
    }

    /// <summary>Frees the free buffers; rented ones are freed when their streams return them.</summary>
    public void Dispose()
    {
        lock (_free)
        {
            _disposed = true;
            foreach (var l in _free.Values) foreach (var (b, _) in l) b.Dispose();
            _free.Clear();
        }
    }
}
