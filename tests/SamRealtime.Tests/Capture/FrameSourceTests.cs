using System.Diagnostics;
using SamRealtime.Capture;
using Xunit;

namespace SamRealtime.Tests.Capture;

/// <summary>Frame sources on real data: Debian opencv-doc's vtest.avi (installed by ./build.sh setup).</summary>
public sealed class FrameSourceTests
{
    private const string Vtest = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

    private static string RequireVideo()
    {
        if (!File.Exists(Vtest)) throw new FileNotFoundException($"{Vtest} missing: ./build.sh setup installs opencv-doc", Vtest);
        return Vtest;
    }

    [Fact]
    public void VideoFileYieldsIndexedTimestampedFrames()
    {
        using var src = VideoSource.OpenFile(RequireVideo());
        Assert.True(src.Fps > 0);
        var frames = new List<Frame>();
        while (frames.Count < 30 && src.TryRead(out var f)) frames.Add(f);
        Assert.Equal(30, frames.Count);
        Assert.Equal(Enumerable.Range(0, 30), frames.Select(f => f.Index));
        Assert.All(frames, f => Assert.Equal((768, 576), (f.Image.Width, f.Image.Height)));
        Assert.All(frames, f => Assert.Equal(f.Image.Width * f.Image.Height * 4, f.Image.Pixels.Length));
        Assert.True(frames[^1].Timestamp > frames[0].Timestamp);
        // Real content, not blank frames: consecutive frames of the walking people differ.
        Assert.NotEqual(frames[0].Image.Pixels, frames[29].Image.Pixels);
    }

    [Fact]
    public void TruncatedVideoEndsCleanlyWithoutHanging()
    {
        var bytes = File.ReadAllBytes(RequireVideo());
        var path = Path.Combine(Path.GetTempPath(), $"samrt-trunc-{Guid.NewGuid():N}.avi");
        File.WriteAllBytes(path, bytes.AsSpan(0, bytes.Length / 10).ToArray());
        try
        {
            var sw = Stopwatch.StartNew();
            int n = 0;
            try
            {
                using var src = VideoSource.OpenFile(path);
                while (src.TryRead(out _)) n++;
            }
            catch (CaptureException) { /* also acceptable: a clear error */ }
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), "reading a truncated file must not hang");
            Assert.True(n < 795, $"a tenth of the file cannot hold all 795 frames, read {n}");
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void BadSourcesGiveClearErrors()
    {
        Assert.Contains("not found", Assert.Throws<CaptureException>(() => VideoSource.OpenFile("/no/such/video.mp4")).Message);
        var text = Path.GetTempFileName();
        File.WriteAllText(text, "this is not a video");
        try { Assert.Contains("Cannot decode", Assert.Throws<CaptureException>(() => VideoSource.OpenFile(text)).Message); }
        finally { File.Delete(text); }
        Assert.Contains("Camera 97", Assert.Throws<CaptureException>(() => VideoSource.OpenCamera("97")).Message);
        Assert.Throws<CaptureException>(() => VideoSource.OpenCamera("/dev/no-such-camera"));
        Assert.Throws<CaptureException>(() => new ImageFolderSource("/no/such/folder"));
    }

    [Fact]
    public void ImageFolderIsReadInNameOrder()
    {
        var dir = Directory.CreateTempSubdirectory("samrt-frames").FullName;
        try
        {
            using (var src = VideoSource.OpenFile(RequireVideo()))
                for (int i = 0; i < 3 && src.TryRead(out var f); i++)
                    ImageIO.SaveRgba(Path.Combine(dir, $"{2 - i:D3}.png"), f.Image);
            File.WriteAllText(Path.Combine(dir, "notes.txt"), "ignored");
            using var folder = new ImageFolderSource(dir);
            Assert.Equal(3, folder.Count);
            var names = new List<int>();
            while (folder.TryRead(out var f)) names.Add(f.Index);
            Assert.Equal([0, 1, 2], names);
            File.WriteAllText(Path.Combine(dir, "003.png"), "broken");
            using var broken = new ImageFolderSource(dir);
            for (int i = 0; i < 3; i++) Assert.True(broken.TryRead(out _));
            Assert.Contains("003.png", Assert.Throws<CaptureException>(() => broken.TryRead(out _)).Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
