using OpenCvSharp;

namespace SamRealtime.Capture;

/// <summary>
/// Writes a file under a temporary name beside its target and renames it over the target when complete, so a failed
/// or interrupted run never leaves a half-written file under the final name. The temporary name keeps the extension
/// because OpenCV picks the encoder from it.
/// </summary>
public static class AtomicFile
{
    public static string TemporaryPath(string path)
    {
        var full = Path.GetFullPath(path);
        return Path.Combine(Path.GetDirectoryName(full)!,
                            $".{Path.GetFileNameWithoutExtension(full)}.{Environment.ProcessId}.partial{Path.GetExtension(full)}");
    }

    /// <summary>Calls <paramref name="write"/> with the temporary path, then moves that file over <paramref name="path"/>.</summary>
    public static void Write(string path, Action<string> write)
    {
        var tmp = TemporaryPath(path);
        try
        {
            write(tmp);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    public static void WriteAllText(string path, string text) => Write(path, tmp => File.WriteAllText(tmp, text));
}

/// <summary>
/// A video file written through OpenCV's bundled FFmpeg: <c>.mp4</c> as MPEG-4 Part 2 under the tag FFmpeg's mp4 muxer
/// expects (lower-case 'mp4v'; OpenCvSharp's FourCC.MP4V is upper-case and makes FFmpeg warn and substitute it), or
/// <c>.avi</c> as Motion JPEG. Frames go to a temporary file that <see cref="Dispose"/> renames over the target, so the
/// target is either absent or a finished, playable video, also after an interrupted run that disposes the writer.
/// </summary>
public sealed class VideoFileWriter : IDisposable
{
    public static readonly IReadOnlyList<string> Extensions = [".mp4", ".avi"];

    private readonly string _path, _tmp;
    private readonly double _fps;
    private VideoWriter? _writer;

    public VideoFileWriter(string path, double fps)
    {
        FourCC(path);
        _path = path;
        _tmp = AtomicFile.TemporaryPath(path);
        _fps = fps > 0 ? fps : 25;
    }

    public int FramesWritten { get; private set; }

    /// <summary>The codec for a file name; throws <see cref="ArgumentException"/> naming the accepted extensions.</summary>
    public static int FourCC(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".mp4" => VideoWriter.FourCC('m', 'p', '4', 'v'),
        ".avi" => VideoWriter.FourCC('M', 'J', 'P', 'G'),
        _ => throw new ArgumentException($"{path}: a video must end in {string.Join(" or ", Extensions)}."),
    };

    /// <summary>Opens and discards a tiny video of this kind beside <paramref name="path"/>: the run that follows
    /// can write it. Throws <see cref="IOException"/> when OpenCV cannot open the writer there.</summary>
    public static void Probe(string path)
    {
        int fourcc = FourCC(path);
        var tmp = AtomicFile.TemporaryPath(path);
        try
        {
            using var w = new VideoWriter(tmp, fourcc, 25, new Size(64, 64));
            if (!w.IsOpened()) throw new IOException($"{path}: OpenCV cannot open a video writer there.");
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Appends an 8-bit BGR frame; the first frame fixes the size.</summary>
    public void Write(Mat bgr)
    {
        if (_writer is null)
        {
            _writer = new VideoWriter(_tmp, FourCC(_path), _fps, bgr.Size());
            if (!_writer.IsOpened()) throw new IOException($"{_path}: OpenCV cannot open a video writer.");
        }
        _writer.Write(bgr);
        FramesWritten++;
    }

    /// <summary>Finishes the file and moves it to its final name (nothing is left when no frame was written).</summary>
    public void Dispose()
    {
        if (_writer is null) return;
        _writer.Dispose();
        _writer = null;
        if (FramesWritten > 0) File.Move(_tmp, _path, overwrite: true);
        else if (File.Exists(_tmp)) File.Delete(_tmp);
    }
}
