using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SamRealtime.Capture;
using SamRealtime.Model;
using SamRealtime.Vulkan;

namespace SamRealtime.Cli;

/// <summary>
/// Encoder and decoder times for our engine and for ONNX Runtime on the same files and the same input, in one run,
/// alternating the two run by run. Medians after a warm-up (the first dispatch of every pipeline includes llvmpipe's
/// JIT), with the load average, dispatch counts and pipeline counts.
/// </summary>
internal static class ModelBench
{
    public static JsonObject Run(string modelDir, string imagePath, int runs, GpuOptions options, int ortThreads)
    {
        var loadBefore = LoadAverage();
        var img = SegmentCommand.LoadImage(imagePath);
        var prompt = Prompt.Point(img.Width * 500f / 1800, img.Height * 375f / 1200);
        using var sam = SegmentCommand.LoadModel(modelDir, options.Device, options.Fp16Storage);

        // Warm-up (llvmpipe JITs each pipeline on its first dispatch), then one profiled pass for the kernel table
        // and the input/embedding ONNX Runtime is fed with.
        sam.SetImage(img.Pixels, img.Width, img.Height, img.Stride);
        sam.Predict(prompt);
        sam.Profile = true;
        sam.SetImage(img.Pixels, img.Width, img.Height, img.Stride);
        sam.Predict(prompt);
        sam.Profile = false;
        var encoderKernels = sam.LastEncoderKernels;
        var decoderKernels = sam.LastDecoderKernels;
        var input = sam.ReadPreprocessedInput();
        var embedding = sam.Embedding.Read();

        var so = new SessionOptions { IntraOpNumThreads = ortThreads, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var encS = new InferenceSession(Path.Combine(modelDir, "encoder.onnx"), so);
        using var decS = new InferenceSession(Path.Combine(modelDir, "sam.onnx"), so);
        var encIn = new[] { NamedOnnxValue.CreateFromTensor(encS.InputMetadata.Keys.First(), new DenseTensor<float>(input, [1, 3, 1024, 1024])) };
        var pts = prompt.SparsePoints(img.Height, img.Width);
        var coords = new DenseTensor<float>([1, pts.Length, 2]);
        var labels = new DenseTensor<float>([1, pts.Length]);
        for (int i = 0; i < pts.Length; i++) { coords[0, i, 0] = pts[i].X; coords[0, i, 1] = pts[i].Y; labels[0, i] = (float)pts[i].Label; }
        var decIn = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("image_embeddings", new DenseTensor<float>(embedding, [1, 256, 64, 64])),
            NamedOnnxValue.CreateFromTensor("point_coords", coords),
            NamedOnnxValue.CreateFromTensor("point_labels", labels),
            NamedOnnxValue.CreateFromTensor("mask_input", new DenseTensor<float>(new float[65536], [1, 1, 256, 256])),
            NamedOnnxValue.CreateFromTensor("has_mask_input", new DenseTensor<float>(new[] { 0f }, [1])),
            NamedOnnxValue.CreateFromTensor("orig_im_size", new DenseTensor<float>(new[] { (float)img.Height, img.Width }, [2])),
        };
        using (encS.Run(encIn)) { }
        using (decS.Run(decIn)) { }

        // ABAB: each run times ours then ONNX Runtime back to back, so a load change on a shared machine hits both
        // sides of a ratio alike; medians over the runs.
        var enc = new List<double>();
        var dec = new List<double>();
        var ortEnc = new List<double>();
        var ortDec = new List<double>();
        // CPU time of this process (all threads: lavapipe's and ONNX Runtime's) per step, which, unlike wall time,
        // hardly moves when other processes share the cores: the measure to compare builds on a loaded machine.
        // ONNX Runtime's threads spin while they wait, so its CPU time overstates its work.
        var encCpu = new List<double>();
        var decCpu = new List<double>();
        var ortEncCpu = new List<double>();
        var ortDecCpu = new List<double>();
        using var self = Process.GetCurrentProcess();
        double Cpu() { self.Refresh(); return self.TotalProcessorTime.TotalMilliseconds; }
        for (int i = 0; i < runs; i++)
        {
            double c0 = Cpu();
            sam.SetImage(img.Pixels, img.Width, img.Height, img.Stride);
            enc.Add(sam.LastEncoderTime.TotalMilliseconds);
            double c1 = Cpu();
            sam.Predict(prompt);
            dec.Add(sam.LastDecoderTime.TotalMilliseconds);
            double c2 = Cpu();
            var sw = Stopwatch.StartNew();
            using (encS.Run(encIn)) { }
            ortEnc.Add(sw.Elapsed.TotalMilliseconds);
            double c3 = Cpu();
            sw.Restart();
            using (decS.Run(decIn)) { }
            ortDec.Add(sw.Elapsed.TotalMilliseconds);
            double c4 = Cpu();
            encCpu.Add(c1 - c0);
            decCpu.Add(c2 - c1);
            ortEncCpu.Add(c3 - c2);
            ortDecCpu.Add(c4 - c3);
        }

        var ours = new JsonObject
        {
            ["device"] = sam.Context.Info.Name,
            ["storage"] = sam.Context.Fp16Storage ? "fp16" : "fp32",
            ["encoder_ms"] = Median(enc),
            ["decoder_ms"] = Median(dec),
            ["encoder_runs_ms"] = Runs(enc),
            ["decoder_runs_ms"] = Runs(dec),
            ["encoder_cpu_ms"] = Median(encCpu),
            ["decoder_cpu_ms"] = Median(decCpu),
            ["encoder_gpu_ms"] = Math.Round(encoderKernels.Sum(t => t.Milliseconds), 2),
            ["decoder_gpu_ms"] = Math.Round(decoderKernels.Sum(t => t.Milliseconds), 2),
            ["encoder_dispatches"] = sam.LastEncoderDispatches,
            ["decoder_dispatches"] = sam.LastDecoderDispatches,
            ["pipelines"] = sam.Context.PipelineCount,
            ["encoder_kernels"] = ByKernel(encoderKernels),
            ["decoder_kernels"] = ByKernel(decoderKernels),
        };
        var ort = new JsonObject
        {
            ["threads"] = ortThreads,
            ["encoder_ms"] = Median(ortEnc),
            ["decoder_ms"] = Median(ortDec),
            ["encoder_runs_ms"] = Runs(ortEnc),
            ["decoder_runs_ms"] = Runs(ortDec),
            ["encoder_cpu_ms"] = Median(ortEncCpu),
            ["decoder_cpu_ms"] = Median(ortDecCpu),
        };
        return new JsonObject
        {
            ["image"] = Path.GetFileName(imagePath),
            ["runs"] = runs,
            ["order"] = "ABAB",
            ["load_average_before"] = loadBefore,
            ["load_average_after"] = LoadAverage(),
            ["samrealtime"] = ours,
            ["onnxruntime_cpu"] = ort,
            ["encoder_speedup_vs_ort"] = Math.Round(Median(ortEnc) / Median(enc), 3),
            ["decoder_speedup_vs_ort"] = Math.Round(Median(ortDec) / Median(dec), 3),
        };
    }

    /// <summary>The 1-minute load average (Linux /proc/loadavg), or null elsewhere: timings on a shared machine
    /// mean little without it.</summary>
    internal static double? LoadAverage()
    {
        try
        {
            var first = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            return double.Parse(first, System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { return null; }
    }

    private static JsonArray Runs(List<double> v) => new(v.Select(x => (JsonNode)Math.Round(x, 1)).ToArray());

    private static double Median(List<double> v)
    {
        var s = v.Order().ToArray();
        return Math.Round(s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2, 2);
    }

    private static JsonArray ByKernel(IReadOnlyList<KernelTiming> timings) =>
        new(timings.GroupBy(t => t.Label).OrderByDescending(g => g.Sum(t => t.Milliseconds))
            .Select(g => (JsonNode)new JsonObject
            {
                ["kernel"] = g.Key,
                ["dispatches"] = g.Count(),
                ["ms"] = Math.Round(g.Sum(t => t.Milliseconds), 2),
            }).ToArray());
}
