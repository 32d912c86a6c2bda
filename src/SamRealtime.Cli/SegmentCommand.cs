using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SamRealtime.Capture;
using SamRealtime.Model;
using SamRealtime.Vulkan;
using SamRealtime.Weights;

namespace SamRealtime.Cli;

/// <summary>A user error: printed as one line, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

internal static class SegmentCommand
{
    public static Command Create()
    {
        var cmd = new Command("segment", "Segment one image from points and/or a box");
        var model = new Option<string>("--model") { Description = "Model directory (encoder.onnx + sam.onnx)", Required = true };
        var image = new Option<string>("--image") { Description = "Input image", Required = true };
        var points = new Option<string[]>("--point") { Description = "X,Y[,LABEL] in image pixels; LABEL 1 positive (default), 0 negative", AllowMultipleArgumentsPerToken = false };
        var box = new Option<string?>("--box") { Description = "X0,Y0,X1,Y1 in image pixels" };
        var multimask = new Option<bool>("--multimask") { Description = "Write the three candidate masks too" };
        var outPath = new Option<string>("--out") { Description = "Mask PNG (8-bit, 255 = object)", Required = true };
        var overlay = new Option<string?>("--overlay") { Description = "Overlay PNG of the mask on the image" };
        var json = new Option<string?>("--json") { Description = "JSON with scores, areas and timings" };
        var device = new Option<string?>("--device") { Description = "Vulkan device index or name substring" };
        var fp16 = new Option<bool>("--fp16") { Description = "Store weights and activations as fp16" };
        foreach (var o in new Option[] { model, image, points, box, multimask, outPath, overlay, json, device, fp16 }) cmd.Options.Add(o);
        cmd.SetAction(r => Cli.Run(() =>
        {
            var sinceStart = () => (DateTime.Now - System.Diagnostics.Process.GetCurrentProcess().StartTime).TotalMilliseconds;
            var img = LoadImage(r.GetValue(image)!);
            var prompt = ParsePrompt(r.GetValue(points) ?? [], r.GetValue(box), img.Width, img.Height);
            double tLoad = sinceStart();
            using var sam = LoadModel(r.GetValue(model)!, r.GetValue(device), r.GetValue(fp16));
            double tLoaded = sinceStart();
            sam.SetImage(img.Pixels, img.Width, img.Height, img.Stride);
            bool multi = r.GetValue(multimask);
            var pred = sam.Predict(prompt, multi);
            double tPredicted = sinceStart();
            var outFile = r.GetValue(outPath)!;
            ImageIO.SaveMask(outFile, pred.BestMask, img.Width, img.Height);
            if (multi)
                for (int i = 0; i < pred.Masks.Length; i++)
                    ImageIO.SaveMask(Path.ChangeExtension(outFile, null) + $"-{i + 1}.png", pred.Masks[i], img.Width, img.Height);
            if (r.GetValue(overlay) is { } ov)
                Overlay.Save(ov, img, [pred.BestMask], prompt.Points.Select(p => (p.X, p.Y, p.Label == PointLabel.Positive)).ToList(), prompt.Box);
            var result = new JsonObject
            {
                ["image"] = r.GetValue(image),
                ["width"] = img.Width,
                ["height"] = img.Height,
                ["device"] = sam.Context.Info.Name,
                ["best"] = pred.Best,
                ["scores"] = new JsonArray(pred.Scores.Select(s => (JsonNode)Math.Round(s, 5)).ToArray()),
                ["areas"] = new JsonArray(pred.Masks.Select(m => (JsonNode)m.Count(v => v != 0)).ToArray()),
                ["encoder_ms"] = Math.Round(sam.LastEncoderTime.TotalMilliseconds, 2),
                ["decoder_ms"] = Math.Round(sam.LastDecoderTime.TotalMilliseconds, 2),
            };
            result["phases_ms"] = Phases(tLoad, tLoaded, tPredicted, sinceStart(), sam);
            if (r.GetValue(json) is { } jp) File.WriteAllText(jp, result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"mask {outFile}: score {pred.BestScore:F3}, area {pred.BestMask.Count(v => v != 0)} px, " +
                              $"encoder {sam.LastEncoderTime.TotalMilliseconds:F0} ms, decoder {sam.LastDecoderTime.TotalMilliseconds:F0} ms on {sam.Context.Info.Name}");
            return 0;
        }));
        return cmd;
    }

    /// <summary>A one-shot run's time from process start, by phase (ms): runtime start and image read, Vulkan context,
    /// ONNX parsing, weight upload, encoder (incl. preprocessing and the creation of its pipelines, which on llvmpipe
    /// includes their JIT), decoder with postprocessing, and writing the outputs (mask and overlay files).</summary>
    private static JsonObject Phases(double tLoad, double tLoaded, double tPredicted, double tWritten, SamModel sam)
    {
        var l = sam.LoadTimes;
        double parse = l.Parse.TotalMilliseconds, upload = l.Upload.TotalMilliseconds;
        double encoder = sam.LastEncoderTime.TotalMilliseconds, decoder = sam.LastDecoderTime.TotalMilliseconds;
        var phases = new (string, double)[]
        {
            ("start", tLoad), ("context", tLoaded - tLoad - parse - upload), ("parse", parse), ("upload", upload), ("encoder", encoder), ("decoder", decoder), ("write", tWritten - tPredicted), ("total", tWritten),
        };
        var o = new JsonObject();
        foreach (var (name, ms) in phases) o[name] = Math.Round(ms, 1);
        o["pipelines_created"] = sam.Context.PipelineCount;
        return o;
    }

    internal static RgbaImage LoadImage(string path)
    {
        try { return ImageIO.LoadRgba(path); }
        catch (FileNotFoundException) { throw new UsageException($"image not found: {path}"); }
        catch (InvalidDataException e) { throw new UsageException(e.Message); }
    }

    internal static SamModel LoadModel(string dir, string? device, bool fp16)
    {
        if (!Directory.Exists(dir)) throw new UsageException($"model directory not found: {dir} (run models/fetch.sh)");
        foreach (var f in new[] { "encoder.onnx", "sam.onnx" })
            if (!File.Exists(Path.Combine(dir, f))) throw new UsageException($"model file missing: {Path.Combine(dir, f)} (run models/fetch.sh)");
        try { return SamModel.Load(dir, new GpuOptions { Device = device, Fp16Storage = fp16 }); }
        catch (Exception e) when (e is OnnxFormatException or ModelFormatException) { throw new UsageException(e.Message); }
    }

    internal static Prompt ParsePrompt(string[] points, string? box, int width, int height)
    {
        var list = new List<PromptPoint>();
        foreach (var p in points)
        {
            var v = Floats(p, "--point");
            if (v.Length is not (2 or 3)) throw new UsageException($"--point {p}: expected X,Y or X,Y,LABEL");
            int label = v.Length == 3 ? (int)v[2] : 1;
            if (label is not (0 or 1) || (v.Length == 3 && v[2] != label)) throw new UsageException($"--point {p}: LABEL must be 1 (positive) or 0 (negative)");
            if (v[0] < 0 || v[1] < 0 || v[0] >= width || v[1] >= height)
                throw new UsageException($"--point {p} is outside the {width}x{height} image");
            list.Add(new PromptPoint(v[0], v[1], label == 1 ? PointLabel.Positive : PointLabel.Negative));
        }
        (float, float, float, float)? b = null;
        if (box is not null)
        {
            var v = Floats(box, "--box");
            if (v.Length != 4) throw new UsageException($"--box {box}: expected X0,Y0,X1,Y1");
            if (!(v[0] < v[2] && v[1] < v[3])) throw new UsageException($"--box {box} is empty (need X0 < X1 and Y0 < Y1)");
            if (v[0] < 0 || v[1] < 0 || v[2] > width || v[3] > height) throw new UsageException($"--box {box} is outside the {width}x{height} image");
            b = (v[0], v[1], v[2], v[3]);
        }
        if (list.Count == 0 && b is null) throw new UsageException("empty prompt: give at least one --point or a --box");
        return new Prompt { Points = list, Box = b };
    }

    private static float[] Floats(string s, string what)
    {
        var parts = s.Split(',');
        var result = new float[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!float.TryParse(parts[i].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out result[i]) || !float.IsFinite(result[i]))
                throw new UsageException($"{what} {s}: '{parts[i]}' is not a number");
        return result;
    }
}

internal static class Cli
{
    /// <summary>Runs a command body: user errors and environment problems become one line on stderr and exit code 2.</summary>
    public static int Run(Func<int> body)
    {
        try { return body(); }
        catch (UsageException e) { Console.Error.WriteLine($"samrt: {e.Message}"); return 2; }
        catch (VulkanException e) { Console.Error.WriteLine($"samrt: {e.Message}"); return 2; }
        catch (ArgumentException e) { Console.Error.WriteLine($"samrt: {e.Message}"); return 2; }
        catch (IOException e) { Console.Error.WriteLine($"samrt: {e.Message}"); return 2; }
        catch (UnauthorizedAccessException e) { Console.Error.WriteLine($"samrt: {e.Message}"); return 2; }
    }
}
