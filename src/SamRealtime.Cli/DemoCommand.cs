using System.CommandLine;
using SamRealtime.Capture;
using SamRealtime.Model;
using SamRealtime.Tracking;

namespace SamRealtime.Cli;

/// <summary>The README's demo: segment the truck's window from the official notebook's click and write an overlay.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var cmd = new Command("demo", "Segment a real image with a default prompt and write an overlay PNG");
        var models = new ModelOptions();
        var image = new Option<string?>("--image") { Description = "Image (default: SAM's truck example, shipped in samples/data)" };
        var outDir = new Option<string>("--out") { Description = "Output directory", DefaultValueFactory = _ => "out" };
        var video = new Option<string>("--video") { Description = "Video for the tracking part (Debian opencv-doc's vtest.avi)",
                                                    DefaultValueFactory = _ => "/usr/share/doc/opencv-doc/examples/data/vtest.avi" };
        var frames = new Option<int>("--frames") { Description = "Frames to track (each costs one encoder pass)", DefaultValueFactory = _ => 12 };
        foreach (var o in new Option[] { image, outDir, video, frames }) cmd.Options.Add(o);
        models.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(() =>
        {
            var path = r.GetValue(image) ?? Path.Combine(AppContext.BaseDirectory, "data", "truck.jpg");
            var img = SegmentCommand.LoadImage(path);
            var dir = Outputs.Directory(r.GetValue(outDir)!, "--out");
            using var sam = models.Load(r);
            sam.SetImage(img.Pixels, img.Width, img.Height, img.Stride);
            // The official notebook's prompt: the window at (500, 375) — scaled when another image is given.
            var prompt = r.GetValue(image) is null ? Prompt.Point(500, 375) : Prompt.Point(img.Width / 2f, img.Height / 2f);
            var pred = sam.Predict(prompt);
            var stem = Path.GetFileNameWithoutExtension(path);
            var maskPath = Path.Combine(dir, stem + "-mask.png");
            var overlayPath = Path.Combine(dir, stem + "-overlay.png");
            ImageIO.SaveMask(maskPath, pred.BestMask, img.Width, img.Height);
            Overlay.Save(overlayPath, img, [pred.BestMask], prompt.Points.Select(p => (p.X, p.Y, true)).ToList());
            int area = pred.BestMask.Count(v => v != 0);
            Console.WriteLine($"{Path.GetFileName(path)} {img.Width}x{img.Height}, click ({prompt.Points[0].X}, {prompt.Points[0].Y}): " +
                              $"score {pred.BestScore:F3}, {area} px; encoder {sam.LastEncoderTime.TotalMilliseconds:F0} ms, " +
                              $"decoder {sam.LastDecoderTime.TotalMilliseconds:F0} ms on {sam.Context.Info.Name}");
            Console.WriteLine($"wrote {overlayPath} and {maskPath}");
            Track(sam, r.GetValue(video)!, dir, Math.Max(1, r.GetValue(frames)));
            return 0;
        }));
        return cmd;
    }

    /// <summary>Tracks the man walking at the top of vtest.avi from a box on its first frame and writes an overlay video.</summary>
    private static void Track(SamModel sam, string videoPath, string dir, int frames)
    {
        VideoSource src;
        try { src = VideoSource.OpenFile(videoPath); }
        catch (CaptureException e) { throw new UsageException(e.Message + " (./build.sh setup installs opencv-doc)"); }
        using (src)
        {
            using var motion = new OpticalFlowMotion();
            using var tracker = new VideoTracker(sam, motion: motion);
            var box = (498f, 155f, 532f, 235f);
            tracker.AddObject(new Prompt { Box = box });
            var outPath = Path.Combine(dir, "vtest-track.mp4");
            using (var writer = new VideoFileWriter(outPath, src.Fps > 0 ? src.Fps : 10))
            {
                for (int i = 0; i < frames && src.TryRead(out var f); i++)
                {
                    var r = tracker.Track(f.Image.Pixels, f.Image.Width, f.Image.Height, f.Image.Stride)[0];
                    var where = r.Box is { } b ? $"box ({b.X0},{b.Y0})-({b.X1},{b.Y1}), {r.Mask.Count(v => v != 0)} px" : "lost";
                    Console.WriteLine($"vtest frame {f.Index,3}: {(r.State == TrackState.Tracked ? "tracked" : "LOST")}, score {r.Score:F2}, {where}, " +
                                      $"encoder {sam.LastEncoderTime.TotalMilliseconds:F0} ms, decoder {sam.LastDecoderTime.TotalMilliseconds:F0} ms");
                    using var mat = Overlay.Render(f.Image, [r.Mask], box: i == 0 ? box : null);
                    if (i == 0) ImageIO.SaveBgr(Path.Combine(dir, $"vtest-{f.Index:D5}.png"), mat);
                    writer.Write(mat);
                }
            }
            Console.WriteLine($"wrote {outPath} (first frame with the prompt box: {Path.Combine(dir, "vtest-00000.png")})");
        }
    }
}
