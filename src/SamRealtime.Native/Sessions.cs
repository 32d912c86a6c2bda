using SamRealtime.Engine;
using SamRealtime.Model;
using SamRealtime.Tracking;

namespace SamRealtime.Native;

/// <summary>A samrt_ctx: the model on its own device. <see cref="Gate"/> serializes calls on it (and on its
/// trackers), so a caller that breaks the one-thread-at-a-time rule gets slow calls, not a corrupted context.</summary>
internal sealed class Session(SamModel model) : NativeObject
{
    public const string Name = "samrt_ctx";
    public override string CName => Name;

    public readonly object Gate = new();

    private SamModel? _model = model;

    /// <summary>The model; call under <see cref="Gate"/>.</summary>
    public SamModel Model => _model ?? throw new SamrtException(ErrorCode.InvalidHandle, "the samrt_ctx was destroyed.");

    public bool IsDestroyed => _model is null;

    /// <summary>Passes made on this context, freed with it: their GPU memory is on its device, and must be gone
    /// before the model and context are disposed.</summary>
    public List<PassSession> Passes { get; } = new();

    public void Destroy()
    {
        lock (Gate)
        {
            foreach (var p in Passes) p.Free();
            Passes.Clear();
            _model?.Dispose();
            _model = null;
        }
    }
}

/// <summary>A samrt_pass: a <see cref="SamPass"/> on a context adopted from the host. Its handle outlives the pass
/// when the context is destroyed first, so that later calls fail with a message instead of using freed memory.</summary>
internal sealed class PassSession(Session owner, SamPass pass) : NativeObject
{
    public const string Name = "samrt_pass";
    public override string CName => Name;

    public Session Owner { get; } = owner;

    private SamPass? _pass = pass;

    /// <summary>The pass; call under the owner's <see cref="Session.Gate"/>.</summary>
    public SamPass Pass => _pass ?? throw new SamrtException(ErrorCode.InvalidHandle, "the samrt_ctx of this samrt_pass was destroyed.");

    /// <summary>Frees the pass's GPU memory (waits for the queue); call under the owner's gate.</summary>
    public void Free()
    {
        // Detached first: a pass whose Dispose failed (device lost) is not disposed again by its context.
        var pass = _pass;
        _pass = null;
        pass?.Dispose();
    }
}

/// <summary>A samrt_tracker. It keeps the prompts the tracker will use on the next frame, to check them against
/// that frame's size before tracking: a prompt outside the frame would otherwise fail every later frame.</summary>
internal sealed class TrackerSession(Session owner) : NativeObject
{
    public const string Name = "samrt_tracker";
    public override string CName => Name;

    public Session Owner { get; } = owner;
    public VideoTracker Tracker { get; } = new(owner.Model);
}
