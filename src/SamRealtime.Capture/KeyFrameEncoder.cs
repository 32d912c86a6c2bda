using OpenCvSharp;
using SamRealtime.Capture.Benchmark;
using SamRealtime.Model;

namespace SamRealtime.Capture;

/// <summary>
/// An encoder interval for video (Deep Feature Flow, Zhu et al., CVPR 2017): the encoder runs on every
/// <see cref="Interval"/>-th frame (a key frame) and the frames between reuse the key frame's embedding moved by the
/// dense optical flow from the frame back to the key frame (Farnebäck, at four pixels per embedding cell, averaged per
/// cell; <see cref="SamModel.SetWarpedImage"/> resamples on the GPU). The encoder is most of a tracked frame's cost, so
/// N = 2 or 4 buys nearly N times the frame rate, paid in accuracy where the scene changes more than a flow can say
/// (occlusion, new content, blur). <see cref="Interval"/> 1 encodes every frame.
/// </summary>
public sealed class KeyFrameEncoder : IDisposable
{
    private readonly SamModel _model;
    private readonly EmbeddingCache? _cache;
    private ImageEmbedding? _key;
    private Mat? _keyGray;
    private long _frames;

    /// <param name="cache">Embeddings of frames encoded before (the evaluation); null: the encoder runs on key frames.</param>
    public KeyFrameEncoder(SamModel model, int interval, EmbeddingCache? cache = null)
    {
        if (interval < 1) throw new ArgumentOutOfRangeException(nameof(interval), $"The encoder interval must be at least 1 (got {interval}).");
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        _cache = cache;
        Interval = interval;
    }

    public int Interval { get; }

    /// <summary>Makes <paramref name="image"/> the model's current image: encoded on a key frame (every
    /// <see cref="Interval"/>-th, and whenever the frame size changes), else warped from the last key frame. Returns
    /// whether it was a key frame.</summary>
    public bool SetFrame(RgbaImage image)
    {
        bool key = _key is null || _frames % Interval == 0 || _key.Width != image.Width || _key.Height != image.Height;
        _frames++;
        if (Interval == 1)
        {
            if (_cache is not null) _cache.SetImage(_model, image);
            else _model.SetImage(image.Pixels, image.Width, image.Height, image.Stride);
            return true;
        }
        var gray = FlowImage(image);
        if (key)
        {
            var e = _cache is not null ? _cache.Encode(_model, image) : _model.Encode(image.Pixels, image.Width, image.Height, image.Stride);
            _key?.Dispose();
            _keyGray?.Dispose();
            _key = e;
            _keyGray = gray;
            _model.SetImage(e);
            return true;
        }
        using (gray)
        {
            var (cw, ch) = ImageEmbedding.ValidCells(image.Width, image.Height);
            _model.SetWarpedImage(_key!, CellFlow(gray, _keyGray!, cw, ch));
        }
        return false;
    }

    /// <summary>The frame in grey at four pixels per embedding cell: the resolution the flow is measured at.</summary>
    internal static Mat FlowImage(RgbaImage image)
    {
        var (cw, ch) = ImageEmbedding.ValidCells(image.Width, image.Height);
        using var colour = Mat.FromPixelData(image.Height, image.Width, MatType.CV_8UC4, image.Pixels, image.Stride);
        using var gray = new Mat();
        Cv2.CvtColor(colour, gray, ColorConversionCodes.RGBA2GRAY);
        var small = new Mat();
        Cv2.Resize(gray, small, new Size(cw * 4, ch * 4), 0, 0, InterpolationFlags.Area);
        return small;
    }

    /// <summary>[64, 64, 2] per-cell offsets (in cells) from each cell of <paramref name="current"/> to where its
    /// content is on <paramref name="key"/>: the dense flow at 4 px per cell, averaged over each cell's 4x4 pixels;
    /// zero on padding cells.</summary>
    internal static float[] CellFlow(Mat current, Mat key, int validW, int validH)
    {
        using var flow = new Mat();
        Cv2.CalcOpticalFlowFarneback(current, key, flow, 0.5, 5, 21, 5, 7, 1.5, 0);
        using var cells = new Mat();
        Cv2.Resize(flow, cells, new Size(validW, validH), 0, 0, InterpolationFlags.Area);
        var result = new float[64 * 64 * 2];
        for (int y = 0; y < validH; y++)
        for (int x = 0; x < validW; x++)
        {
            var v = cells.At<Vec2f>(y, x);
            result[(y * 64 + x) * 2] = v.Item0 / 4;
            result[(y * 64 + x) * 2 + 1] = v.Item1 / 4;
        }
        return result;
    }

    public void Dispose()
    {
        _key?.Dispose();
        _keyGray?.Dispose();
        _key = null;
        _keyGray = null;
    }
}
