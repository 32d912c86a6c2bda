using SamRealtime.Capture;

namespace SamRealtime.Cli;

/// <summary>
/// Output paths checked before any GPU work: the right kind of file, parent directories created, the place writable
/// (tried with a real file), videos opened once. The writes themselves go through <see cref="AtomicFile"/> and
/// <see cref="VideoFileWriter"/>, so a failed or interrupted run leaves nothing half-written under a final name.
/// </summary>
internal static class Outputs
{
    /// <summary>A mask file: PNG only.</summary>
    public static string Mask(string path, string option) => Check(path, option, ImageIO.CheckMaskPath);

    /// <summary>An image for people to look at: PNG or JPEG.</summary>
    public static string Image(string path, string option) => Check(path, option, ImageIO.CheckImagePath);

    /// <summary>A JSON file (any name).</summary>
    public static string Json(string path, string option) => Check(path, option, _ => { });

    /// <summary>A video whose writer opens (.mp4 or .avi).</summary>
    public static string Video(string path, string option)
    {
        Check(path, option, p => VideoFileWriter.FourCC(p));
        try { VideoFileWriter.Probe(path); }
        catch (IOException e) { throw new UsageException($"{option} {e.Message}"); }
        return path;
    }

    /// <summary>A directory for many outputs: created, and checked to take a file.</summary>
    public static string Directory(string path, string option)
    {
        if (File.Exists(path)) throw new UsageException($"{option} {path} is a file, not a directory");
        Create(path, option);
        Writable(path, option);
        return path;
    }

    private static string Check(string path, string option, Action<string> kind)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new UsageException($"{option} is empty");
        try { kind(path); }
        catch (ArgumentException e) { throw new UsageException($"{option} {e.Message}"); }
        if (System.IO.Directory.Exists(path)) throw new UsageException($"{option} {path} is a directory");
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Create(dir, option);
        Writable(dir, option);
        return path;
    }

    private static void Create(string dir, string option)
    {
        try { System.IO.Directory.CreateDirectory(dir); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{option}: cannot create directory {dir}: {e.Message}");
        }
    }

    private static void Writable(string dir, string option)
    {
        var probe = Path.Combine(dir, $".samrt-write-test.{Environment.ProcessId}");
        try
        {
            using (File.Create(probe, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{option}: cannot write in {dir}: {e.Message}");
        }
    }
}
