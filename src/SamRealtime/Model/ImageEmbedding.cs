using SamRealtime.Vulkan;

namespace SamRealtime.Model;

/// <summary>
/// One encoded image: SAM's [1,256,64,64] embedding on the GPU and the size of the image it came from. Several can be
/// alive at once (a live view keeps the shown frame's while the next is encoded; a tracker can keep a few), and any of
/// them can be decoded with <see cref="SamModel.Predict(ImageEmbedding, IReadOnlyList{Prompt}, bool)"/> or made the
/// model's current image with <see cref="SamModel.SetImage(ImageEmbedding)"/>. Dispose frees the GPU memory.
/// </summary>
public sealed class ImageEmbedding : IDisposable
{
    internal GpuTensor Tensor { get; }
    internal SamModel Owner { get; }

    /// <summary>Width of the source image in pixels.</summary>
    public int Width { get; internal set; }

    /// <summary>Height of the source image in pixels.</summary>
    public int Height { get; internal set; }

    public bool IsDisposed { get; private set; }

    // The decoder's prompt-independent start on this embedding's values (MaskDecoder.RecordImageSide): its tensors
    // are kept when the values are rewritten (a frame encoded into the model's own embedding after another), so a
    // stream of frames through SetImage allocates them once; only their contents go stale.
    private DecoderImageSide? _side;
    private bool _sideCurrent;

    /// <summary>The decoder's start computed from the current values, or null.</summary>
    internal DecoderImageSide? DecoderSide => _sideCurrent ? _side : null;

    /// <summary>Tensors to record the decoder's start into (<paramref name="create"/>d the first time); call
    /// <see cref="DecoderSideReady"/> once the stream that wrote them has completed.</summary>
    internal DecoderImageSide DecoderSideTensors(Func<DecoderImageSide> create)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        _sideCurrent = false;
        return _side ??= create();
    }

    internal void DecoderSideReady() => _sideCurrent = _side is not null;

    /// <summary>Called before the embedding's values are rewritten (a new frame encoded into it).</summary>
    internal void ValuesChanging() => _sideCurrent = false;

    /// <summary>The 64x64 grid's cells that hold image rather than padding for a <paramref name="width"/>x<paramref name="height"/>
    /// frame: SAM resizes the frame to 1024 on its long side and each cell covers 16x16 pixels of that.</summary>
    public static (int Width, int Height) ValidCells(int width, int height)
    {
        var (rh, rw) = Prompt.ResizedSize(height, width);
        return ((rw + 15) / 16, (rh + 15) / 16);
    }

    internal ImageEmbedding(SamModel owner, GpuTensor tensor, int width, int height)
    {
        Owner = owner;
        Tensor = tensor;
        Width = width;
        Height = height;
    }

    /// <summary>The embedding values [256, 64, 64] read back to the host (4 MB of fp32: for tests and tools, not per frame).</summary>
    public float[] Read()
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        return Tensor.Read();
    }

    internal void CheckUsable(SamModel model)
    {
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        if (!ReferenceEquals(model, Owner)) throw new ArgumentException("This image embedding was made by another SamModel.");
    }

    public void Dispose()
    {
        if (IsDisposed) return;
        IsDisposed = true;
        _side?.Dispose();
        Tensor.Dispose();
    }
}
