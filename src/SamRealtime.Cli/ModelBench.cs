using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SamRealtime.Capture;
using SamRealtime.Model;
using SamRealtime.Vulkan;

namespace SamRealtime.Cli;

/// <summary>
/// Encoder and decoder times for our engine and for ONNX Runtime on the same files and the same input, in one run.
/// Medians after a warm-up (the first dispatch of every pipeline includes llvmpipe's JIT).
/// </summary>
internal static class ModelBench
{
    public static JsonObject Run(string modelDir, string imagePath, int runs, GpuOptions options, int ortThreads)
    {
        var img = SegmentCommand.LoadImage(imagePath);
        var prompt = Prompt.Point(img.Width * 500f / 1800, img.Height * 375f / 1200);
        using var sam = SegmentCommand.LoadModel(modelDir, options.Device, options.Fp16Storage);

        sam.SetImage(img.Pixels, img.Width, img.Height, img.Stride);
        sam.Predict(prompt);
        var enc = new List<double>();
        var dec = new List<double>();
        for (int i = 0; i < runs; i++)
        {
            sam.SetImage(img.Pixels, img.Width, img.Height, img.Stride);
            enc.Add(sam.LastEncoderTime.TotalMilliseconds);
            sam.Predict(prompt);
            dec.Add(sam.LastDecoderTime.TotalMilliseconds);
        }
        sam.Profile = true;
        sam.SetImage(img.Pixels, img.Width, img.Height, img.Stride);
        sam.Predict(prompt);
        var input = sam.PreprocessedInput.Read();
        var embedding = sam.Embedding.Read();

        var ours = new JsonObject
        {
            ["device"] = sam.Context.Info.Name,
            ["storage"] = sam.Context.Fp16Storage ? "fp16" : "fp32",
            ["encoder_ms"] = Median(enc),
            ["decoder_ms"] = Median(dec),
            ["encoder_gpu_ms"] = Math.Round(sam.LastEncoderKernels.Sum(t => t.Milliseconds), 2),
            ["decoder_gpu_ms"] = Math.Round(sam.LastDecoderKernels.Sum(t => t.Milliseconds), 2),
            ["encoder_kernels"] = ByKernel(sam.LastEncoderKernels),
            ["decoder_kernels"] = ByKernel(sam.LastDecoderKernels),
        };

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
        var ortEnc = new List<double>();
        var ortDec = new List<double>();
        for (int i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            using (encS.Run(encIn)) { }
            ortEnc.Add(sw.Elapsed.TotalMilliseconds);
            sw.Restart();
            using (decS.Run(decIn)) { }
            ortDec.Add(sw.Elapsed.TotalMilliseconds);
        }
        var ort = new JsonObject
        {
            ["threads"] = ortThreads,
            ["encoder_ms"] = Median(ortEnc),
            ["decoder_ms"] = Median(ortDec),
        };
        return new JsonObject
        {
            ["image"] = Path.GetFileName(imagePath),
            ["runs"] = runs,
            ["samrealtime"] = ours,
            ["onnxruntime_cpu"] = ort,
            ["encoder_speedup_vs_ort"] = Math.Round(Median(ortEnc) / Median(enc), 3),
            ["decoder_speedup_vs_ort"] = Math.Round(Median(ortDec) / Median(dec), 3),
        };
    }

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
