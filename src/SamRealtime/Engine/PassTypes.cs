using Silk.NET.Vulkan;
using SamRealtime.Model;
using SamRealtime.Tracking;
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

    private static bool IsColour8(Format f) =>
        f is Format.R8G8B8A8Unorm or Format.R8G8B8A8Srgb or Format.B8G8R8A8Unorm or Format.B8G8R8A8Srgb;

    /// <summary>Refuses a source/mask pair the pass cannot use, naming the problem.</summary>
    internal static void CheckPair(in HostImage source, in HostImage mask)
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
}

/// <summary>Options of the engine pass. The tracking rules (<see cref="TrackerOptions.MinScore"/>, area change,
/// appearance memory, box margin) are the video tracker's, with the same defaults; <see cref="TrackerOptions.MinScore"/>
/// is also the floor below which an object is left out of the mask image without tracking. With tracking, the mask
/// image shows what the tracker accepts, decided on the GPU in the same recording.</summary>
public sealed record SamPassOptions : TrackerOptions
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

    /// <summary>Move each object's prompt with it, by the video tracker's rules: an accepted mask's box
    /// (+<see cref="TrackerOptions.BoxMargin"/>) and its logits (kept on the GPU) become the next prompt; a rejected one
    /// marks the object lost, and it is searched for where the tracker would look (its last box, its predicted box, its
    /// appearance memory's readout), one frame later when more than one frame is in flight. The pass has no optical
    /// flow: its frames stay on the GPU, so the box margin and the Kalman prediction carry moving objects.
    /// Off: the prompts stay as the host set them.</summary>
    public bool TrackObjects { get; init; }
}

public enum PassObjectState { Pending, Tracked, Lost }

/// <summary>An object of the pass as of the last completed frame.</summary>
/// <param name="Prompt">The prompt the next frame uses (with tracking, the box; its logits stay on the GPU).</param>
/// <param name="Box">Bounding box of its mask in image pixels (x0, y0, x1, y1), exclusive ends, null when empty.</param>
public sealed record PassObject(int Id, Prompt Prompt, PassObjectState State, float Score, (int X0, int Y0, int X1, int Y1)? Box, long Frame);

/// <summary>An object of the pass: its prompt, its tracking state and where its appearance memory lives.</summary>
internal sealed class PassEntry(int id, Prompt prompt, int memorySlot, TrackerOptions options)
{
    public readonly int Id = id, MemorySlot = memorySlot;
    public readonly ObjectTrack Track = new(options);
    /// <summary>The host's prompt; with tracking, used until a mask from it is accepted (<see cref="UserPrompt"/>).</summary>
    public Prompt Prompt = prompt;
    public bool UserPrompt = true;
    /// <summary>Its row in the last recorded frame when it had exactly one (a tracked object): the next dense prompt.</summary>
    public int Row = -1;
    public int Version;
    public PassObjectState State = PassObjectState.Pending;
    public float Score;
    public (int X0, int Y0, int X1, int Y1)? Box;
    public long Frame = -1;
}


/// <summary>The pass's objects in order: ids (the labels 1..255, reused after 255), memory slots, prompt versions.</summary>
internal sealed class PassObjects : List<PassEntry>
{
    private int _nextId = 1;

    public PassEntry Add(Prompt prompt, TrackerOptions options)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        Limits.CheckObjectCount(Count + 1);
        Limits.CheckPointCount(prompt.Points.Count);
        if (prompt.Points.Count == 0 && prompt.Box is null) throw new ArgumentException("Empty prompt: give at least one point or a box.");
        while (this.Any(o => o.Id == _nextId) || _nextId > 255) _nextId = _nextId > 255 ? 1 : _nextId + 1;
        int memorySlot = Enumerable.Range(0, Count + 1).First(i => this.All(o => o.MemorySlot != i));
        var e = new PassEntry(_nextId++, prompt, memorySlot, options);
        Add(e);
        return e;
    }

    /// <summary>A new prompt for an object: frames recorded with the old one no longer update it.</summary>
    public void Update(int id, Prompt prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        Limits.CheckPointCount(prompt.Points.Count);
        var e = Find(id);
        e.Prompt = prompt;
        e.UserPrompt = true;
        e.Version++;
        e.State = PassObjectState.Pending;
    }

    public void Remove(int id) => Remove(Find(id));

    private PassEntry Find(int id) =>
        this.FirstOrDefault(o => o.Id == id) ?? throw new ArgumentException($"No object with id {id} in this pass.");
}

/// <summary>One recording of <see cref="SamPass"/> in flight: its stream (descriptor sets, rented buffers) and its results for the host.</summary>
internal sealed class PassSlot
{
    public CommandStream? Stream;
    public TrackingFrame? Results;
    public (int Id, int Version, bool UserPrompt)[] Objects = [];
    public long Frame;
    public int Width, Height;
}
