using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OpenCvSharp;
using SamRealtime.Capture;

namespace SamRealtime.Cli;

/// <summary>
/// <c>samrt bench oneshot</c>: what a user waits for when one command segments one image. Each run starts fresh
/// processes, in turn: <c>samrt segment</c> with Mesa's shader cache as it is (warm after the first run), the same
/// program done with ONNX Runtime on the CPU (<c>samrt bench ort-oneshot</c>: the same files, image and point), and
/// <c>samrt segment</c> with an empty shader cache of its own (every pipeline JIT-compiled, as on a new machine).
/// Wall times from process start to exit, medians, and the phases of the last segment runs.
/// </summary>
internal static class OneShotBench
{
    public static Command Create()
    {
        var cmd = new Command("oneshot", "Time a one-shot `samrt segment` in fresh processes (shader cache warm and empty) against the same one-shot program on ONNX Runtime; prints JSON");
        var models = new ModelOptions();
        var image = new Option<string?>("--image") { Description = "Image (default: the truck example); the point is its centre" };
        var runs = new Option<int>("--runs") { Description = "Runs of each (median reported)", DefaultValueFactory = _ => 3 };
        cmd.Options.Add(image);
        cmd.Options.Add(runs);
        models.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(() =>
        {
            var modelDir = models.Directory(r);
            var path = r.GetValue(image) ?? Path.Combine(AppContext.BaseDirectory, "data", "truck.jpg");
            var img = SegmentCommand.LoadImage(path);
            string point = $"{img.Width / 2},{img.Height / 2}";
            int n = Math.Max(1, r.GetValue(runs));
            var dir = Directory.CreateTempSubdirectory("samrt-oneshot-");
            try
            {
                var warm = new List<double>();
                var ort = new List<double>();
                var cold = new List<double>();
                JsonNode? warmPhases = null, coldPhases = null;
                string[] Segment(string json) => ["segment", "--image", path, "--point", point, "--model", modelDir,
                                                  "--out", Path.Combine(dir.FullName, "mask.png"), "--json", json];
                // One run first fills the shader cache the warm runs use (a user's second call, not their first).
                Run(Segment(Path.Combine(dir.FullName, "fill.json")), null);
                for (int i = 0; i < n; i++)
                {
                    var json = Path.Combine(dir.FullName, "warm.json");
                    warm.Add(Run(Segment(json), null));
                    warmPhases = JsonNode.Parse(File.ReadAllText(json))?["phases_ms"]?.DeepClone();
                    ort.Add(Run(["bench", "ort-oneshot", "--image", path, "--point", point, "--model", modelDir,
                                 "--out", Path.Combine(dir.FullName, "ort.png")], null));
                    var cache = Directory.CreateDirectory(Path.Combine(dir.FullName, $"cache{i}"));
                    json = Path.Combine(dir.FullName, "cold.json");
                    cold.Add(Run(Segment(json), cache.FullName));
                    coldPhases = JsonNode.Parse(File.ReadAllText(json))?["phases_ms"]?.DeepClone();
                }
                double w = Median(warm), o = Median(ort), c = Median(cold);
                var result = new JsonObject
                {
                    ["image"] = Path.GetFileName(path),
                    ["point"] = point,
                    ["runs"] = n,
                    ["order"] = "segment (cache warm), ONNX Runtime, segment (cache empty), per run",
                    ["load_average_before"] = ModelBench.LoadAverage(),
                    ["segment_warm_cache_ms"] = Math.Round(w, 1),
                    ["onnxruntime_oneshot_ms"] = Math.Round(o, 1),
                    ["segment_empty_cache_ms"] = Math.Round(c, 1),
                    ["warm_vs_ort"] = Math.Round(w / o, 2),
                    ["empty_vs_ort"] = Math.Round(c / o, 2),
                    ["runs_ms"] = new JsonObject
                    {
                        ["segment_warm_cache"] = new JsonArray(warm.Select(x => (JsonNode)Math.Round(x, 1)).ToArray()),
                        ["onnxruntime"] = new JsonArray(ort.Select(x => (JsonNode)Math.Round(x, 1)).ToArray()),
                        ["segment_empty_cache"] = new JsonArray(cold.Select(x => (JsonNode)Math.Round(x, 1)).ToArray()),
                    },
                    ["phases_warm_cache_ms"] = warmPhases,
                    ["phases_empty_cache_ms"] = coldPhases,
                    ["load_average_after"] = ModelBench.LoadAverage(),
                };
                Console.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
            finally { dir.Delete(recursive: true); }
            return 0;
        }));
        return cmd;
    }

    /// <summary>Runs samrt itself in a fresh process and returns its wall time (ms); a failure is this command's.
    /// <paramref name="shaderCache"/>: a folder for Mesa's shader cache (empty: every pipeline is compiled again).</summary>
    private static double Run(string[] args, string? shaderCache)
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell how samrt was started");
        var psi = new ProcessStartInfo(self) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // Started as `dotnet samrt.dll`, the child needs the dll; as the tool's own launcher, nothing more.
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") psi.ArgumentList.Add(typeof(OneShotBench).Assembly.Location);
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (shaderCache is not null) psi.Environment["MESA_SHADER_CACHE_DIR"] = shaderCache;
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start samrt");
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        double ms = sw.Elapsed.TotalMilliseconds;
        if (p.ExitCode != 0) throw new UsageException($"samrt {string.Join(' ', args.Take(2))} failed ({p.ExitCode}): {stderr.Result.Trim()}");
        return ms;
    }

    private static double Median(List<double> v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    /// <summary><c>samrt bench ort-oneshot</c>: the rival's one-shot program, as a user would write it with ONNX
    /// Runtime: read the image, resize its long side to 1024 and normalise on the CPU (OpenCV, area filter when
    /// shrinking), encoder.onnx, sam.onnx with one positive point, threshold, write the PNG.</summary>
    public static Command CreateOrt()
    {
        var cmd = new Command("ort-oneshot", "One image through ONNX Runtime alone (the rival of a one-shot samrt segment)") { Hidden = true };
        var models = new ModelOptions();
        var image = new Option<string>("--image") { Required = true };
        var point = new Option<string>("--point") { Required = true };
        var output = new Option<string>("--out") { Required = true };
        foreach (var o in new Option[] { image, point, output }) cmd.Options.Add(o);
        models.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(() =>
        {
            var modelDir = models.Directory(r);
            var xy = r.GetValue(point)!.Split(',').Select(float.Parse).ToArray();
            if (xy.Length != 2) throw new UsageException("--point must be X,Y");
            using var bgr = Cv2.ImRead(r.GetValue(image)!, ImreadModes.Color);
            if (bgr.Empty()) throw new UsageException($"cannot read {r.GetValue(image)}");
            int h = bgr.Rows, w = bgr.Cols;
            double scale = 1024.0 / Math.Max(h, w);
            int rh = (int)(h * scale + 0.5), rw = (int)(w * scale + 0.5);
            using var resized = new Mat();
            Cv2.Resize(bgr, resized, new Size(rw, rh), 0, 0, scale < 1 ? InterpolationFlags.Area : InterpolationFlags.Linear);
            var input = new DenseTensor<float>([1, 3, 1024, 1024]);
            float[] mean = [123.675f, 116.28f, 103.53f], std = [58.395f, 57.12f, 57.375f];
            resized.GetArray(out Vec3b[] pixels);
            for (int y = 0; y < rh; y++)
                for (int x = 0; x < rw; x++)
                {
                    var px = pixels[y * rw + x];
                    input[0, 0, y, x] = (px.Item2 - mean[0]) / std[0];
                    input[0, 1, y, x] = (px.Item1 - mean[1]) / std[1];
                    input[0, 2, y, x] = (px.Item0 - mean[2]) / std[2];
                }
            var so = new SessionOptions { IntraOpNumThreads = Environment.ProcessorCount };
            using var enc = new InferenceSession(Path.Combine(modelDir, "encoder.onnx"), so);
            using var dec = new InferenceSession(Path.Combine(modelDir, "sam.onnx"), so);
            using var encOut = enc.Run([NamedOnnxValue.CreateFromTensor(enc.InputMetadata.Keys.First(), input)]);
            var embedding = encOut.First().AsTensor<float>();
            var coords = new DenseTensor<float>(new[] { (float)(xy[0] * scale), (float)(xy[1] * scale), 0f, 0f }, [1, 2, 2]);
            var labels = new DenseTensor<float>(new[] { 1f, -1f }, [1, 2]);
            using var decOut = dec.Run([
                NamedOnnxValue.CreateFromTensor("image_embeddings", embedding),
                NamedOnnxValue.CreateFromTensor("point_coords", coords),
                NamedOnnxValue.CreateFromTensor("point_labels", labels),
                NamedOnnxValue.CreateFromTensor("mask_input", new DenseTensor<float>([1, 1, 256, 256])),
                NamedOnnxValue.CreateFromTensor("has_mask_input", new DenseTensor<float>(new[] { 0f }, [1])),
                NamedOnnxValue.CreateFromTensor("orig_im_size", new DenseTensor<float>(new[] { (float)h, w }, [2])),
            ]);
            var masks = decOut.First(v => v.Name == "masks").AsTensor<float>();
            var mask = new byte[h * w];
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) mask[y * w + x] = masks[0, 0, y, x] > 0 ? (byte)255 : (byte)0;
            using var m = Mat.FromPixelData(h, w, MatType.CV_8UC1, mask);
            Cv2.ImWrite(r.GetValue(output)!, m);
            return 0;
        }));
        return cmd;
    }
}
