using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SamRealtime.Capture;
using SamRealtime.Model;
using SamRealtime.Vulkan;
using SamRealtime.Weights;

namespace SamRealtime.Cli;

internal static class SegmentCommand
{
    public static Command Create()
    {
        var cmd = new Command("segment", "Segment images from points and/or a box (one mask per image)");
        var models = new ModelOptions();
        var images = new Option<string[]>("--image")
        {
            Description = "Input image, or a folder of images; repeat for several (then --out and --overlay are folders)",
            Required = true, AllowMultipleArgumentsPerToken = false,
        };
        var points = new Option<string[]>("--point") { Description = "X,Y[,LABEL] in image pixels; LABEL 1 positive (default), 0 negative", AllowMultipleArgumentsPerToken = false };
        var box = new Option<string?>("--box") { Description = "X0,Y0,X1,Y1 in image pixels" };
        var multimask = new Option<bool>("--multimask") { Description = "Write the three candidate masks too" };
        var outPath = new Option<string>("--out") { Description = "Mask PNG (8-bit, 255 = object); a folder for several images", Required = true };
        var overlay = new Option<string?>("--overlay") { Description = "Overlay of the mask on the image (PNG or JPEG); a folder for several images" };
        var json = new Option<string?>("--json") { Description = "JSON with scores, areas and timings" };
        foreach (var o in new Option[] { images, points, box, multimask, outPath, overlay, json }) cmd.Options.Add(o);
        models.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(() =>
        {
            // Everything a user can get wrong is checked before the model loads: inputs, prompt, outputs.
            var inputs = ImageInputs(r.GetValue(images)!);
            bool several = inputs.Count > 1 || Directory.Exists(r.GetValue(images)![0]);
            var jobs = inputs.Select(path =>
            {
                var img = LoadImage(path);
                return (Path: path, Prompt: ParsePrompt(r.GetValue(points) ?? [], r.GetValue(box), img.Width, img.Height));
            }).ToList();
            bool multi = r.GetValue(multimask);
            var outputs = jobs.Select(j => Targets(j.Path, several, r.GetValue(outPath)!, r.GetValue(overlay), multi)).ToList();
            var jsonPath = r.GetValue(json) is { } jp ? Outputs.Json(jp, "--json") : null;
            var modelDir = models.Directory(r);

            var sinceStart = () => (DateTime.Now - System.Diagnostics.Process.GetCurrentProcess().StartTime).TotalMilliseconds;
            double tLoad = sinceStart();
            using var sam = LoadModel(modelDir, r.GetValue(models.Device), r.GetValue(models.Fp16));
            double tLoaded = sinceStart();
            var results = new JsonArray();
            for (int n = 0; n < jobs.Count; n++)
            {
                var (path, prompt) = jobs[n];
                var (mask, candidates, overlayFile) = outputs[n];
                var img = LoadImage(path);
                sam.SetImage(img.Pixels, img.Width, img.Height, img.Stride);
                var pred = sam.Predict(prompt, multi);
                double tPredicted = sinceStart();
                ImageIO.SaveMask(mask, pred.BestMask, img.Width, img.Height);
                for (int i = 0; i < candidates.Length; i++) ImageIO.SaveMask(candidates[i], pred.Masks[i], img.Width, img.Height);
                if (overlayFile is not null)
                    Overlay.Save(overlayFile, img, [pred.BestMask], prompt.Points.Select(p => (p.X, p.Y, p.Label == PointLabel.Positive)).ToList(), prompt.Box);
                results.Add(new JsonObject
                {
                    ["image"] = path,
                    ["mask"] = mask,
                    ["width"] = img.Width,
                    ["height"] = img.Height,
                    ["device"] = sam.Context.Info.Name,
                    ["best"] = pred.Best,
                    ["scores"] = new JsonArray(pred.Scores.Select(s => (JsonNode)Math.Round(s, 5)).ToArray()),
                    ["areas"] = new JsonArray(pred.Masks.Select(m => (JsonNode)m.Count(v => v != 0)).ToArray()),
                    ["encoder_ms"] = Math.Round(sam.LastEncoderTime.TotalMilliseconds, 2),
                    ["decoder_ms"] = Math.Round(sam.LastDecoderTime.TotalMilliseconds, 2),
                    // Load phases belong to the first image; later images show only their own encoder/decoder/write.
                    ["phases_ms"] = Phases(tLoad, tLoaded, tPredicted, sinceStart(), sam, n == 0),
                });
                Console.WriteLine($"mask {mask}: score {pred.BestScore:F3}, area {pred.BestMask.Count(v => v != 0)} px, " +
                                  $"encoder {sam.LastEncoderTime.TotalMilliseconds:F0} ms, decoder {sam.LastDecoderTime.TotalMilliseconds:F0} ms on {sam.Context.Info.Name}");
            }
            if (jsonPath is not null)
            {
                JsonNode doc = several ? new JsonObject { ["images"] = results } : results[0]!.DeepClone();
                AtomicFile.WriteAllText(jsonPath, doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
            return 0;
        }));
        return cmd;
    }

    /// <summary>A one-shot run's time from process start, by phase (ms): runtime start and image read, Vulkan context,
    /// ONNX parsing, weight upload, encoder (incl. preprocessing and the creation of its pipelines, which on llvmpipe
    /// includes their JIT), decoder with postprocessing, and writing the outputs (mask and overlay files).</summary>
    private static JsonObject Phases(double tLoad, double tLoaded, double tPredicted, double tWritten, SamModel sam, bool first)
    {
        var l = sam.LoadTimes;
        double parse = l.Parse.TotalMilliseconds, upload = l.Upload.TotalMilliseconds;
        double encoder = sam.LastEncoderTime.TotalMilliseconds, decoder = sam.LastDecoderTime.TotalMilliseconds;
        var phases = first
            ? new (string, double)[]
            {
                ("start", tLoad), ("context", tLoaded - tLoad - parse - upload), ("parse", parse), ("upload", upload),
                ("encoder", encoder), ("decoder", decoder), ("write", tWritten - tPredicted), ("total", tWritten),
            }
            : [("encoder", encoder), ("decoder", decoder), ("write", tWritten - tPredicted)];
        var o = new JsonObject();
        foreach (var (name, ms) in phases) o[name] = Math.Round(ms, 1);
        o["pipelines_created"] = sam.Context.PipelineCount;
        return o;
    }

    /// <summary>The image files named by the --image values: files as given, folders expanded to the images in them
    /// (sorted by name).</summary>
    private static List<string> ImageInputs(string[] values)
    {
        var files = new List<string>();
        foreach (var v in values)
        {
            if (Directory.Exists(v))
            {
                var found = Directory.EnumerateFiles(v).Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                                     .Order(StringComparer.Ordinal).ToList();
                if (found.Count == 0) throw new UsageException($"--image {v}: the folder has no {string.Join("/", ImageExtensions)} image");
                files.AddRange(found);
            }
            else if (File.Exists(v)) files.Add(v);
            else throw new UsageException($"image not found: {v}");
        }
        var clash = files.GroupBy(f => Path.GetFileNameWithoutExtension(f)).FirstOrDefault(g => g.Count() > 1);
        if (files.Count > 1 && clash is not null)
            throw new UsageException($"--image: {string.Join(" and ", clash)} would write the same mask name {clash.Key}.png");
        return files;
    }

    private static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"];

    /// <summary>Where one image's outputs go, checked: with one image --out/--overlay are the files; with several they
    /// are folders getting &lt;image name&gt;.png.</summary>
    private static (string Mask, string[] Candidates, string? Overlay) Targets(string image, bool several, string outArg, string? overlayArg, bool multimask)
    {
        var stem = Path.GetFileNameWithoutExtension(image);
        var mask = several ? Path.Combine(Outputs.Directory(outArg, "--out"), stem + ".png") : outArg;
        Outputs.Mask(mask, "--out");
        var candidates = multimask ? Enumerable.Range(1, 3).Select(i => Outputs.Mask(Path.ChangeExtension(mask, null) + $"-{i}.png", "--out")).ToArray() : [];
        string? overlay = overlayArg is null ? null
            : several ? Outputs.Image(Path.Combine(Outputs.Directory(overlayArg, "--overlay"), stem + ".png"), "--overlay")
            : Outputs.Image(overlayArg, "--overlay");
        return (mask, candidates, overlay);
    }

    /// <summary>Reads an image the model accepts (decodable, within <see cref="Limits.MaxImageSide"/>).</summary>
    internal static RgbaImage LoadImage(string path)
    {
        RgbaImage img;
        try { img = ImageIO.LoadRgba(path); }
        catch (FileNotFoundException) { throw new UsageException($"image not found: {path}"); }
        catch (InvalidDataException e) { throw new UsageException(e.Message); }
        try { Limits.CheckImageSize(img.Width, img.Height); }
        catch (ArgumentException e) { throw new UsageException($"{path}: {e.Message}"); }
        return img;
    }

    /// <summary>Loads the model from a directory already found by <see cref="ModelOptions"/>.</summary>
    internal static SamModel LoadModel(string dir, string? device, bool fp16)
    {
        try { return SamModel.Load(dir, new GpuOptions { Device = device, Fp16Storage = fp16 }); }
        catch (Exception e) when (e is OnnxFormatException or ModelFormatException) { throw new UsageException(e.Message); }
    }

    internal static Prompt ParsePrompt(string[] points, string? box, int width, int height)
    {
        Limits.CheckPointCount(points.Length);
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
