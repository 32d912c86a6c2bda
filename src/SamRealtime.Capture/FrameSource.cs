using OpenCvSharp;

namespace SamRealtime.Capture;

/// <summary>One frame: packed RGBA8 pixels, its index in the stream and its presentation time.</summary>
public sealed record Frame(RgbaImage Image, int Index, TimeSpan Timestamp);

/// <summary>A camera, video file or image folder could not be opened or read.</summary>
public sealed class CaptureException(string message) : IOException(message);

/// <summary>
/// A sequence of frames. <see cref="TryRead"/> returns false at the end of the stream (also when a file ends early:
/// a truncated video is a clean end, not an error); opening something that is not there or not decodable throws
/// <see cref="CaptureException"/> naming it.
/// </summary>
public interface IFrameSource : IDisposable
{
    string Name { get; }
    /// <summary>Frames per second the source reports (0 when unknown).</summary>
    double Fps { get; }
    bool TryRead(out Frame frame);
}

/// <summary>A video file or camera through OpenCV's VideoCapture (FFmpeg for files, V4L2 for cameras).</summary>
public sealed class VideoSource : IFrameSource
{
    private readonly VideoCapture _capture;
    private readonly Mat _bgr = new();
    private readonly bool _isCamera;
    private int _index;
    private readonly DateTime _start = DateTime.UtcNow;

    public string Name { get; }
    public double Fps { get; }

    /// <summary>The frame count the container states (an estimate for some formats); null for a camera or when unknown.</summary>
    public int? FrameCount { get; }

    private VideoSource(VideoCapture capture, string name, bool isCamera)
    {
        _capture = capture;
        Name = name;
        _isCamera = isCamera;
        double fps = capture.Get(VideoCaptureProperties.Fps);
        Fps = double.IsFinite(fps) && fps > 0 && fps < 1000 ? fps : 0;
        double count = isCamera ? 0 : capture.Get(VideoCaptureProperties.FrameCount);
        FrameCount = double.IsFinite(count) && count >= 1 && count < int.MaxValue ? (int)count : null;
    }

    public static VideoSource OpenFile(string path)
    {
        if (!File.Exists(path)) throw new CaptureException($"Video not found: {path}");
        var cap = new VideoCapture(path, VideoCaptureAPIs.FFMPEG);
        if (!cap.IsOpened())
        {
            cap.Dispose();
            throw new CaptureException($"Cannot decode video '{path}' (not a video FFmpeg can read).");
        }
        return new VideoSource(cap, path, isCamera: false);
    }

    /// <summary>A camera by index (0, 1, …) or by V4L2 device path (/dev/video0).</summary>
    public static VideoSource OpenCamera(string camera)
    {
        VideoCapture cap;
        if (int.TryParse(camera, out int index))
        {
            if (OperatingSystem.IsLinux() && !File.Exists($"/dev/video{index}"))
                throw new CaptureException($"Camera {index} not found (/dev/video{index} does not exist).");
            cap = new VideoCapture(index, OperatingSystem.IsLinux() ? VideoCaptureAPIs.V4L2 : VideoCaptureAPIs.ANY);
        }
        else
        {
            if (!File.Exists(camera)) throw new CaptureException($"Camera not found: {camera} does not exist.");
            cap = new VideoCapture(camera, VideoCaptureAPIs.V4L2);
        }
        if (!cap.IsOpened())
        {
            cap.Dispose();
            throw new CaptureException($"Camera {camera} could not be opened (busy, no permission, or not a capture device).");
        }
        return new VideoSource(cap, $"camera {camera}", isCamera: true);
    }

    public bool TryRead(out Frame frame)
    {
        frame = null!;
        // A decode error mid-file and the end of the file both read as an empty frame: the stream ends cleanly.
        if (!_capture.Read(_bgr) || _bgr.Empty()) return false;
        var ts = _isCamera ? DateTime.UtcNow - _start : TimeSpan.FromMilliseconds(_capture.Get(VideoCaptureProperties.PosMsec));
        if (!_isCamera && Fps > 0 && ts == TimeSpan.Zero && _index > 0) ts = TimeSpan.FromSeconds(_index / Fps);
        frame = new Frame(ImageIO.ToRgba(_bgr), _index++, ts);
        return true;
    }

    public void Dispose()
    {
        _bgr.Dispose();
        _capture.Dispose();
    }
}

/// <summary>The images of a folder in name order, as a stream at a nominal frame rate.</summary>
public sealed class ImageFolderSource : IFrameSource
{
    private static readonly string[] Extensions = [".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"];
    private readonly string[] _files;
    private int _index;

    public string Name { get; }
    public double Fps { get; }

    public ImageFolderSource(string dir, double fps = 25)
    {
        if (!Directory.Exists(dir)) throw new CaptureException($"Image folder not found: {dir}");
        _files = Directory.GetFiles(dir).Where(f => Extensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                          .Order(StringComparer.Ordinal).ToArray();
        if (_files.Length == 0) throw new CaptureException($"Image folder {dir} has no images ({string.Join(", ", Extensions)}).");
        Name = dir;
        Fps = fps;
    }

    public int Count => _files.Length;

    public bool TryRead(out Frame frame)
    {
        frame = null!;
        if (_index >= _files.Length) return false;
        RgbaImage image;
        try { image = ImageIO.LoadRgba(_files[_index]); }
        catch (InvalidDataException e) { throw new CaptureException(e.Message); }
        frame = new Frame(image, _index, TimeSpan.FromSeconds(_index / Fps));
        _index++;
        return true;
    }

    public void Dispose() { }
}
