using System.Diagnostics;
using OpenCvSharp;
using SamRealtime.Capture;
using SamRealtime.Engine;
using SamRealtime.Model;
using SamRealtime.Vulkan;

namespace SamRealtime.Samples.RenderPass;

public static class Sample
{
    /// <summary>Renders, segments and composites <see cref="SampleOptions.Frames"/> frames; returns the exit code
    /// (1 when the validation layer reported anything).</summary>
    public static int Run(SampleOptions o, TextWriter log)
    {
        using var video = VideoSource.OpenFile(o.Video);
        if (!video.TryRead(out var frame)) throw new UsageException($"{o.Video} has no frames.");
        int vw = frame.Image.Width, vh = frame.Image.Height;
        // Height follows the video's aspect; even, as video encoders want.
        int width = o.Width, height = Math.Max(2, (int)Math.Round((double)o.Width * vh / vw / 2) * 2);
        float scale = (float)width / vw;
        if (o.Box is { } ob && (ob.X0 < 0 || ob.Y0 < 0 || ob.X1 > vw || ob.Y1 > vh))
            throw new UsageException($"--box {ob} is outside the {vw}x{vh} video.");
        if (o.Point is { } op && (op.X < 0 || op.Y < 0 || op.X >= vw || op.Y >= vh))
            throw new UsageException($"--point {op} is outside the {vw}x{vh} video.");
        var box = o.Box ?? (o.Point is null ? SampleOptions.DefaultBox : null);
        (float X0, float Y0, float X1, float Y1)? scaledBox = box is { } b ? (b.X0 * scale, b.Y0 * scale, b.X1 * scale, b.Y1 * scale) : null;
        (float X, float Y)? scaledPoint = o.Point is { } p ? (p.X * scale, p.Y * scale) : null;

        Directory.CreateDirectory(o.Out);
        using var renderer = new Renderer(new RendererOptions
        {
            Width = width, Height = height, VideoWidth = vw, VideoHeight = vh, Validation = o.Validation ? true : null,
        });
        log.WriteLine($"{renderer.DeviceName}: {vw}x{vh} video rendered at {width}x{height}, validation {(renderer.ValidationEnabled ? "on" : "off")}");

        // Either SAM on the renderer's device, or (--static-mask) a fixed ellipse in the prompt's region.
        using var sam = o.StaticMask ? null : new SamMaskStage(renderer, o.Model, new SamPassOptions { TrackObjects = true, EncoderInterval = o.EncoderInterval });
        var region = scaledBox ?? (scaledPoint!.Value.X - 20, scaledPoint.Value.Y - 20, scaledPoint.Value.X + 20, scaledPoint.Value.Y + 20);
        using var fixedMask = o.StaticMask ? new StaticMaskStage(renderer, StaticMaskStage.Ellipse(width, height, region)) : null;
        IMaskStage stage = (IMaskStage?)sam ?? fixedMask!;
        sam?.Pass.AddObject(scaledBox is { } sb ? new Prompt { Box = sb } : Prompt.Point(scaledPoint!.Value.X, scaledPoint.Value.Y));

        double fps = video.Fps > 0 ? video.Fps : 10;
        using (var mp4 = o.Mp4 ? new VideoFileWriter(Path.Combine(o.Out, "render.mp4"), fps) : null)
        {
            var wall = Stopwatch.StartNew();
            void Write(RenderedFrame f)
            {
                var path = Path.Combine(o.Out, $"frame-{f.Index:D5}.png");
                ImageIO.SaveRgba(path, new RgbaImage(f.Composite, f.Width, f.Height));
                if (mp4 is not null)
                {
                    using var rgba = Mat.FromPixelData(f.Height, f.Width, MatType.CV_8UC4, f.Composite);
                    using var bgr = new Mat();
                    Cv2.CvtColor(rgba, bgr, ColorConversionCodes.RGBA2BGR);
                    mp4.Write(bgr);
                }
                var t = f.Times is { } ft ? $"scene {ft.SceneMs:F1} ms, mask {ft.MaskMs:F1} ms, composite {ft.CompositeMs:F1} ms (GPU)" : "no timestamps";
                // The pass learns about a frame's object when its slot comes round again, so this is the latest it knows.
                var obj = sam?.Pass.Objects[0] is { Frame: >= 0 } po ? $"; object at frame {po.Frame}: {po.State}, score {po.Score:F2}, box {po.Box}" : "";
                log.WriteLine($"frame {f.Index,3}: {t}; {wall.Elapsed.TotalSeconds:F1} s since start -> {path}{obj}");
            }

            for (int i = 0; i < o.Frames; i++)
            {
                if (i > 0 && !video.TryRead(out frame)) break;
                if (renderer.Submit(frame.Image, i / fps, stage) is { } done) Write(done);
            }
            foreach (var done in renderer.Drain()) Write(done);
        }
        if (o.Mp4) log.WriteLine($"wrote {Path.Combine(o.Out, "render.mp4")}");
        return ReportValidation(renderer.TakeValidationMessages(), log);
    }

    private static int ReportValidation(IReadOnlyList<ValidationMessage> messages, TextWriter log)
    {
        foreach (var m in messages) log.WriteLine($"[vulkan {m.Severity}] {m.Text}");
        if (messages.Count == 0) return 0;
        log.WriteLine($"{messages.Count} validation message(s).");
        return 1;
    }
}
