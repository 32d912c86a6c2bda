using System.Diagnostics;
using System.Runtime.InteropServices;
using SamRealtime.Kernels;
using SamRealtime.Vulkan;

namespace SamRealtime.Model;

/// <summary>How <see cref="AutomaticMaskGenerator.Generate"/> returns each mask: the RLE always, and with
/// <see cref="BinaryMask"/> the decoded image-size mask too (official output_mode "binary_mask").</summary>
public enum MaskOutputMode { BinaryMask, Rle }

/// <summary>
/// The parameters of segment-anything's SamAutomaticMaskGenerator, with its names, meanings and defaults.
/// Exactly one of <see cref="PointsPerSide"/> and <see cref="PointGrids"/> is set.
/// </summary>
public sealed record AutomaticMaskGeneratorOptions
{
    /// <summary>Points sampled along one side of the image (and of each crop); the grid is n².</summary>
    public int? PointsPerSide { get; init; } = 32;
    /// <summary>Explicit grids normalised to [0,1]², one per crop layer (exclusive with <see cref="PointsPerSide"/>).</summary>
    public IReadOnlyList<(double X, double Y)[]>? PointGrids { get; init; }
    /// <summary>Points decoded together; null: as many as the device's memory allows
    /// (<see cref="AutomaticMaskGenerator.DevicePointsPerBatch"/>).</summary>
    public int? PointsPerBatch { get; init; }
    /// <summary>Keep masks whose predicted IoU is above this (0 disables the filter).</summary>
    public float PredIouThresh { get; init; } = 0.88f;
    /// <summary>Keep masks whose stability score is at least this (0 disables the filter).</summary>
    public float StabilityScoreThresh { get; init; } = 0.95f;
    /// <summary>The logit offset of the two thresholds the stability score compares.</summary>
    public float StabilityScoreOffset { get; init; } = 1.0f;
    /// <summary>Box IoU above which NMS removes the lower-scoring of two masks of one crop.</summary>
    public float BoxNmsThresh { get; init; } = 0.7f;
    /// <summary>Layers of crops: layer i cuts the image into 2^i × 2^i overlapping crops, each segmented again.</summary>
    public int CropNLayers { get; init; }
    /// <summary>Box IoU above which NMS between crops removes a duplicate (masks of smaller crops win).</summary>
    public float CropNmsThresh { get; init; } = 0.7f;
    /// <summary>Overlap of neighbouring crops of the first layer, as a fraction of the image's shorter side.</summary>
    public double CropOverlapRatio { get; init; } = 512.0 / 1500;
    /// <summary>Layer i samples points_per_side / factor^i points per side.</summary>
    public int CropNPointsDownscaleFactor { get; init; } = 1;
    /// <summary>When &gt; 0, holes and islands smaller than this many pixels are removed from the kept masks.</summary>
    public int MinMaskRegionArea { get; init; }
    public MaskOutputMode OutputMode { get; init; } = MaskOutputMode.BinaryMask;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first parameter out of range.</summary>
    public void Validate()
    {
        if ((PointsPerSide is null) == (PointGrids is null))
            throw new ArgumentException("Exactly one of points_per_side and point_grids must be given.");
        if (PointsPerSide is { } n && n is < 1 or > 1024) throw new ArgumentException($"points_per_side {n} must be in 1..1024.");
        if (PointGrids is { } grids)
        {
            if (grids.Count != CropNLayers + 1) throw new ArgumentException($"point_grids has {grids.Count} grids; crop_n_layers {CropNLayers} needs {CropNLayers + 1}.");
            foreach (var g in grids)
            {
                if (g.Length == 0) throw new ArgumentException("point_grids holds an empty grid.");
                foreach (var (x, y) in g)
                    if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1)) throw new ArgumentException($"point_grids point ({x}, {y}) is outside [0,1]².");
            }
        }
        if (PointsPerBatch is { } b && b < 1) throw new ArgumentException($"points_per_batch {b} must be positive.");
        Unit(PredIouThresh, "pred_iou_thresh", allowAboveOne: true);
        Unit(StabilityScoreThresh, "stability_score_thresh");
        if (!float.IsFinite(StabilityScoreOffset) || StabilityScoreOffset < 0) throw new ArgumentException($"stability_score_offset {StabilityScoreOffset} must be finite and not negative.");
        Unit(BoxNmsThresh, "box_nms_thresh");
        Unit(CropNmsThresh, "crop_nms_thresh");
        if (CropNLayers is < 0 or > 4) throw new ArgumentException($"crop_n_layers {CropNLayers} must be in 0..4.");
        if (!(CropOverlapRatio >= 0 && CropOverlapRatio < 1)) throw new ArgumentException($"crop_overlap_ratio {CropOverlapRatio} must be in [0, 1).");
        if (CropNPointsDownscaleFactor < 1) throw new ArgumentException($"crop_n_points_downscale_factor {CropNPointsDownscaleFactor} must be at least 1.");
        if (PointsPerSide is { } side && CropNLayers > 0 && (int)(side / Math.Pow(CropNPointsDownscaleFactor, CropNLayers)) < 1)
            throw new ArgumentException($"points_per_side {side} / crop_n_points_downscale_factor^{CropNLayers} leaves no points on the last crop layer.");
        if (MinMaskRegionArea < 0) throw new ArgumentException($"min_mask_region_area {MinMaskRegionArea} must not be negative.");
    }

    private static void Unit(float v, string name, bool allowAboveOne = false)
    {
        if (!float.IsFinite(v) || v < 0 || (!allowAboveOne && v > 1)) throw new ArgumentException($"{name} {v} must be in [0, 1].");
    }
}

/// <summary>One mask of <see cref="AutomaticMaskGenerator.Generate"/>, with the official record's fields.</summary>
/// <param name="Segmentation">Row-major 0/255, image size; null in <see cref="MaskOutputMode.Rle"/> mode.</param>
/// <param name="Box">Box of the mask in image pixels (corners inclusive); <see cref="PixelBox.Xywh"/> is the official bbox.</param>
/// <param name="PointCoords">The grid point that prompted it, in image pixels.</param>
/// <param name="CropBox">The crop it was predicted in (x0, y0, x1, y1, ends exclusive).</param>
public sealed record GeneratedMask(byte[]? Segmentation, MaskRle Rle, long Area, PixelBox Box, float PredictedIou,
                                   (float X, float Y) PointCoords, float StabilityScore, (int X0, int Y0, int X1, int Y1) CropBox)
{
    public (int X, int Y, int W, int H) CropBoxXywh => (CropBox.X0, CropBox.Y0, CropBox.X1 - CropBox.X0, CropBox.Y1 - CropBox.Y0);
}

/// <summary>Where the time of the last <see cref="AutomaticMaskGenerator.Generate"/> went and how many masks each
/// stage let through. Masks are counted per grid point × 3 (the multimask outputs).</summary>
public sealed record MaskGeneratorStats(
    TimeSpan Encoder, TimeSpan Decoder, TimeSpan Filter, TimeSpan Nms, TimeSpan Upsample, TimeSpan Postprocess,
    int Crops, int Points, int PointsPerBatch, int Batches, int Candidates, int AfterFilter, int AfterNms, int Kept)
{
    public TimeSpan Total => Encoder + Decoder + Filter + Nms + Upsample + Postprocess;
}

/// <summary>
/// Segment everything (SAM's automatic mask generator): a grid of single-point prompts over the image (and over crops
/// of it), three masks per point, filtered by predicted IoU and stability score, deduplicated by box NMS.
/// <para>The decoder runs over the grid in batches that share the image embedding; per batch, a reduction kernel
/// (<see cref="MaskStats"/>) measures every candidate's 256×256 logits over the crop's valid region (areas above
/// ±offset for the stability score, area and box above 0), and only those integers come back. The IoU and stability
/// filters run on the CPU on those numbers, and only the survivors' logits are read and upsampled to the crop, where
/// the official definitions decide (stability, box, crop edge) before NMS on the exact boxes, as officially; only the
/// NMS winners' masks are read back. What can differ from the official generator is only a borderline mask whose
/// low-resolution stability fails the pre-filter while its full-resolution one would pass.</para>
/// </summary>
public sealed class AutomaticMaskGenerator
{
    private const int LowRes = 256, Plane = LowRes * LowRes, MasksPerPoint = 3;
    private readonly SamModel _model;

    public AutomaticMaskGeneratorOptions Options { get; }
    /// <summary>The batch size in use: the option, or <see cref="DevicePointsPerBatch"/>.</summary>
    public int PointsPerBatch { get; }
    public MaskGeneratorStats? LastStats { get; private set; }

    public AutomaticMaskGenerator(SamModel model, AutomaticMaskGeneratorOptions? options = null)
    {
        Options = options ?? new AutomaticMaskGeneratorOptions();
        Options.Validate();
        _model = model;
        PointsPerBatch = Options.PointsPerBatch ?? DevicePointsPerBatch(model);
    }

    /// <summary>
    /// The default batch: as many single-point prompts as fit in half of the device's local memory at the
    /// decoder's scratch cost per prompt (<see cref="MaskDecoder.BytesPerPrompt"/>), and whose largest tensor fits the
    /// device's storage-buffer range; at least 1, at most 256.
    /// </summary>
    public static int DevicePointsPerBatch(SamModel model)
    {
        var info = model.Context.Info;
        long perPrompt = model.Decoder.BytesPerPrompt(tokenCount: 7);
        long byMemory = (long)(info.DeviceLocalBytes / 2) / perPrompt;
        long byRange = (long)info.MaxStorageBufferRange / model.Decoder.LargestTensorBytesPerPrompt;
        return (int)Math.Clamp(Math.Min(byMemory, byRange), 1, 256);
    }

    /// <summary>Generates masks for an 8-bit image, which becomes the model's current image. Masks come in the order
    /// the official generator returns them (by NMS score within each crop, the whole image's first).</summary>
    public IReadOnlyList<GeneratedMask> Generate(ReadOnlySpan<byte> pixels, int width, int height, int strideBytes,
                                                 PixelFormat format = PixelFormat.Rgba8)
    {
        int bpp = format is PixelFormat.Rgb8 or PixelFormat.Bgr8 ? 3 : 4;
        if (width <= 0 || height <= 0) throw new ArgumentException($"Image size {width}x{height} is empty.");
        if (strideBytes < width * bpp) throw new ArgumentException($"Row stride {strideBytes} is less than {width}x{bpp} bytes.");
        if (pixels.Length < (long)strideBytes * (height - 1) + width * bpp)
            throw new ArgumentException($"Pixel buffer of {pixels.Length} bytes is too small for {width}x{height} with stride {strideBytes}.");
        var o = Options;
        var crops = MaskPostprocess.CropBoxes(width, height, o.CropNLayers, o.CropOverlapRatio);
        var grids = o.PointGrids?.ToArray() ?? MaskPostprocess.LayerGrids(o.PointsPerSide!.Value, o.CropNLayers, o.CropNPointsDownscaleFactor);
        foreach (var c in crops)
            if (c.X1 - c.X0 < 1 || c.Y1 - c.Y0 < 1) throw new ArgumentException($"Image {width}x{height} is too small for {o.CropNLayers} crop layers.");

        var t = new Timer();
        var perCrop = new List<Candidate>[crops.Length];
        int candidates = 0, afterFilter = 0, afterNms = 0, points = 0, batches = 0;
        // The whole image goes last so that it stays the model's current image for later predictions; the results
        // are gathered in the official order (whole image first) all the same.
        foreach (int ci in Enumerable.Range(1, crops.Length - 1).Append(0))
        {
            var crop = crops[ci];
            var sw = Stopwatch.StartNew();
            int cw = crop.X1 - crop.X0, ch = crop.Y1 - crop.Y0;
            int offset = crop.Y0 * strideBytes + crop.X0 * bpp;
            _model.SetImage(pixels.Slice(offset, strideBytes * (ch - 1) + cw * bpp), cw, ch, strideBytes, format);
            t.Encoder += sw.Elapsed;
            var grid = grids[crop.Layer];
            points += grid.Length;
            var found = ProcessCrop(crop, grid, width, height, t, ref batches, ref candidates, ref afterFilter);
            afterNms += found.AfterNms;
            perCrop[ci] = found.Kept;
        }
        var kept = perCrop.SelectMany(c => c).ToList();

        var post = Stopwatch.StartNew();
        if (crops.Length > 1)
        {
            // Between crops, prefer masks from smaller crops.
            var scores = kept.Select(c => 1f / ((c.Crop.X1 - c.Crop.X0) * (float)(c.Crop.Y1 - c.Crop.Y0))).ToArray();
            kept = MaskPostprocess.Nms(kept.Select(c => c.Box).ToArray(), scores, o.CropNmsThresh).Select(i => kept[i]).ToList();
        }
        if (o.MinMaskRegionArea > 0) kept = RemoveSmallRegions(kept, width, height);
        var result = kept.Select(c =>
        {
            var rle = MaskRle.Encode(c.Mask, width, height);
            return new GeneratedMask(o.OutputMode == MaskOutputMode.BinaryMask ? c.Mask : null, rle, rle.Area, c.Box, c.Iou,
                                     c.Point, c.Stability, c.Crop);
        }).ToArray();
        t.Postprocess += post.Elapsed;
        LastStats = new MaskGeneratorStats(t.Encoder, t.Decoder, t.Filter, t.Nms, t.Upsample, t.Postprocess, crops.Length, points,
                                           PointsPerBatch, batches, candidates, afterFilter, afterNms, result.Length);
        return result;
    }

    private sealed class Timer
    {
        public TimeSpan Encoder, Decoder, Filter, Nms, Upsample, Postprocess;
    }

    /// <summary>A mask on its way through the stages: first with low-resolution numbers and logits, then with the
    /// image-size mask and the official numbers.</summary>
    private sealed class Candidate
    {
        public required (float X, float Y) Point;
        public required float Iou;
        public required float Stability;
        public required PixelBox Box;
        public required (int X0, int Y0, int X1, int Y1) Crop;
        public float[]? Logits;
        public byte[] Mask = [];
    }

    private (List<Candidate> Kept, int AfterNms) ProcessCrop((int X0, int Y0, int X1, int Y1, int Layer) crop, (double X, double Y)[] grid,
                                                             int width, int height, Timer t, ref int batches, ref int candidates, ref int afterFilter)
    {
        var o = Options;
        var dec = _model.Decoder;
        var ctx = _model.Context;
        int cw = crop.X1 - crop.X0, ch = crop.Y1 - crop.Y0;
        var cropBox = (crop.X0, crop.Y0, crop.X1, crop.Y1);
        var (rh, rw) = Prompt.ResizedSize(ch, cw);
        // The image occupies the top-left rh×rw of the 1024 frame: its share of the 256×256 logits, partial cells in.
        var (validH, validW) = LowResRegion(cw, ch);

        // Even batches: the decoder keeps its scratch per shape, so a short last batch would allocate a second set;
        // it is padded with repeats of its last point instead.
        int n = grid.Length;
        int nBatches = (n + PointsPerBatch - 1) / PointsPerBatch;
        int batch = (n + nBatches - 1) / nBatches;
        var survivors = new List<Candidate>();
        using var stats = ctx.CreateBuffer(MaskStats.StatsBytes(batch * MasksPerPoint), BufferKind.Readback, "amg.stats");
        var raw = new int[batch * MasksPerPoint * MaskStats.Fields];
        for (int start = 0; start < n; start += batch)
        {
            var sw = Stopwatch.StartNew();
            var pts = new (float X, float Y)[batch];
            for (int i = 0; i < batch; i++)
            {
                var g = grid[Math.Min(start + i, n - 1)];
                pts[i] = ((float)(g.X * cw), (float)(g.Y * ch));
            }
            var sparse = pts.Select(p => Prompt.Point(p.X, p.Y).SparsePoints(ch, cw)).ToArray();
            using var tokens = ctx.Upload(dec.Tokens(sparse), [batch, sparse[0].Length + 5, 256], dec.Type, "amg.tokens");
            MaskDecoder.Outputs outputs;
            using (var cs = ctx.BeginCommands())
            {
                outputs = dec.Record(cs, _model.Embedding, tokens, batch, sparse[0].Length + 5, null, _model.CurrentImage?.DecoderSide);
                _model.Kernels.MaskStats.Record(cs, outputs.MaskLogits, stats, batch * MasksPerPoint, validH, validW, LowRes, Plane,
                                                0f, o.StabilityScoreOffset, group: MasksPerPoint, groupStride: 4, groupOffset: 1);
                cs.Submit();
            }
            stats.Read(MemoryMarshal.AsBytes(raw.AsSpan()));
            var iou = outputs.Iou.Read();
            t.Decoder += sw.Elapsed;
            batches++;

            sw.Restart();
            var planeStats = MaskStats.Decode(raw, batch * MasksPerPoint);
            int real = Math.Min(batch, n - start);
            candidates += real * MasksPerPoint;
            var passed = new List<(Candidate C, int Plane)>();
            for (int b = 0; b < real; b++)
            for (int m = 0; m < MasksPerPoint; m++)
            {
                float score = iou[b * 4 + 1 + m];
                var s = planeStats[b * MasksPerPoint + m];
                if (o.PredIouThresh > 0 && !(score > o.PredIouThresh)) continue;
                if (o.StabilityScoreThresh > 0 && !(s.Stability >= o.StabilityScoreThresh)) continue;
                if (s.Area == 0) continue;   // no box: the official code keeps it with box (0,0,0,0) but it has no pixels to give
                var box = LowResBox(s, cw, ch);
                if (MaskPostprocess.NearCropEdge(box.Offset(crop.X0, crop.Y0), cropBox, width, height)) continue;
                passed.Add((new Candidate
                {
                    Point = (pts[b].X + crop.X0, pts[b].Y + crop.Y0), Iou = score, Stability = s.Stability, Box = box, Crop = cropBox,
                }, b * 4 + 1 + m));
            }
            ReadPlanes(outputs.MaskLogits, passed);
            survivors.AddRange(passed.Select(p => p.C));
            t.Filter += sw.Elapsed;
        }
        afterFilter += survivors.Count;

        // The official order: stability, box and crop-edge test on the upsampled masks, then NMS on those boxes. A
        // low-resolution NMS would let a mask that fails at full resolution suppress one that passes, so every
        // survivor is measured upsampled first (numbers only), and only the NMS winners' masks are read back.
        var up = Stopwatch.StartNew();
        var exact = Upsample(survivors, crop, rh, rw, width, height, readMasks: false);
        t.Upsample += up.Elapsed;

        var nmsTime = Stopwatch.StartNew();
        var keep = MaskPostprocess.Nms(exact.Select(c => c.Box).ToArray(), exact.Select(c => c.Iou).ToArray(), o.BoxNmsThresh);
        var chosen = keep.Select(i => exact[i]).ToList();
        t.Nms += nmsTime.Elapsed;

        up.Restart();
        var result = Upsample(chosen, crop, rh, rw, width, height, readMasks: true);
        t.Upsample += up.Elapsed;
        return (result, chosen.Count);
    }

    /// <summary>The part of the 256×256 logits that covers a width×height image: the resized image's top-left
    /// share of the 1024 frame, partial cells included.</summary>
    internal static (int Height, int Width) LowResRegion(int width, int height)
    {
        var (rh, rw) = Prompt.ResizedSize(height, width);
        return ((rh + 3) / 4, (rw + 3) / 4);
    }

    /// <summary>A low-resolution box in image pixels: the image pixels its cells cover (a cell is 4 pixels of the
    /// 1024 frame). The upsampled mask's box lies within a few pixels of it; it serves the crop-edge test and NMS.</summary>
    internal static PixelBox LowResBox(PlaneStats s, int width, int height)
    {
        var (rh, rw) = Prompt.ResizedSize(height, width);
        double sx = (double)width / rw, sy = (double)height / rh;
        return new PixelBox((int)Math.Floor(4 * s.X0 * sx), (int)Math.Floor(4 * s.Y0 * sy),
                            Math.Min(width - 1, (int)Math.Ceiling(4 * (s.X1 + 1) * sx) - 1),
                            Math.Min(height - 1, (int)Math.Ceiling(4 * (s.Y1 + 1) * sy) - 1));
    }

    /// <summary>Upsamples the chosen masks' logits to the crop as SAM's postprocess_masks does (256 → 1024 bilinear, the
    /// resized image's region, bilinear to the crop size), measures them with the official definitions on the GPU and
    /// reads back 8-bit masks (<paramref name="readMasks"/>; else only the numbers, and the logits are kept for a later
    /// pass). Masks that fail the stability or crop-edge test at full resolution are dropped.</summary>
    private List<Candidate> Upsample(List<Candidate> chosen, (int X0, int Y0, int X1, int Y1, int Layer) crop, int rh, int rw, int width, int height,
                                     bool readMasks)
    {
        var o = Options;
        var ctx = _model.Context;
        var k = _model.Kernels;
        int cw = crop.X1 - crop.X0, ch = crop.Y1 - crop.Y0, pixels = cw * ch;
        var cropBox = (crop.X0, crop.Y0, crop.X1, crop.Y1);
        var result = new List<Candidate>();
        if (chosen.Count == 0) return result;
        // Chunks bounded like the decoder's batches: the 1024² intermediate and the crop-size planes per mask.
        long perMask = 4L * (1024 * 1024 + pixels) + pixels / 4 + 4;
        int chunk = (int)Math.Clamp((long)(ctx.Info.DeviceLocalBytes / 8) / perMask, 1, Math.Min(chosen.Count, 64));
        chunk = Math.Min(chunk, (int)Math.Max(1, (long)ctx.Info.MaxStorageBufferRange / (4L * Math.Max(1024 * 1024, pixels))));
        int words = MaskStats.PackedPlaneBytes(pixels);
        var raw = new int[chunk * MaskStats.Fields];
        var bytes = new byte[words];
        for (int start = 0; start < chosen.Count; start += chunk)
        {
            // Tensors of the chunk's exact size: the kernels check planes against the tensor (only the last is shorter).
            int count = Math.Min(chunk, chosen.Count - start);
            var data = new float[count * Plane];
            for (int i = 0; i < count; i++) chosen[start + i].Logits!.CopyTo(data, i * Plane);
            using var src = ctx.Upload(data, [count, LowRes, LowRes], DataType.F32, "amg.lowres");
            using var mid = ctx.CreateTensor([count, 1024, 1024], DataType.F32, "amg.mid");
            using var dst = ctx.CreateTensor([count, ch, cw], DataType.F32, "amg.crop");
            using var packed = ctx.CreateBuffer((ulong)count * (ulong)words, BufferKind.Readback, "amg.masks");
            using var stats = ctx.CreateBuffer(MaskStats.StatsBytes(count), BufferKind.Readback, "amg.upstats");
            using (var cs = ctx.BeginCommands())
            {
                k.Resize.Record(cs, src, mid, count, LowRes, LowRes, LowRes, LowRes, 1024, 1024);
                k.Resize.Record(cs, mid, dst, count, 1024, 1024, rh, rw, ch, cw);
                k.MaskStats.Record(cs, dst, stats, count, ch, cw, cw, pixels, 0f, o.StabilityScoreOffset);
                if (readMasks) k.MaskStats.Binarize(cs, dst, packed, count, pixels);
                cs.Submit();
            }
            stats.Read(MemoryMarshal.AsBytes(raw.AsSpan(0, count * MaskStats.Fields)));
            var planeStats = MaskStats.Decode(raw, count);
            for (int i = 0; i < count; i++)
            {
                var c = chosen[start + i];
                if (readMasks) c.Logits = null;
                var s = planeStats[i];
                if (s.Area == 0) continue;
                if (o.StabilityScoreThresh > 0 && !(s.Stability >= o.StabilityScoreThresh)) continue;
                var box = new PixelBox(s.X0, s.Y0, s.X1, s.Y1).Offset(crop.X0, crop.Y0);
                if (MaskPostprocess.NearCropEdge(box, cropBox, width, height)) continue;
                c.Box = box;
                c.Stability = s.Stability;
                result.Add(c);
                if (!readMasks) continue;
                packed.Read(bytes, (ulong)i * (ulong)words);
                var mask = new byte[width * height];
                for (int y = 0; y < ch; y++) bytes.AsSpan(y * cw, cw).CopyTo(mask.AsSpan((crop.Y0 + y) * width + crop.X0));
                c.Mask = mask;
            }
        }
        return result;
    }

    /// <summary>postprocess_small_regions: fill small holes, remove small islands, then NMS again preferring masks
    /// that did not change.</summary>
    private List<Candidate> RemoveSmallRegions(List<Candidate> masks, int width, int height)
    {
        int area = Options.MinMaskRegionArea;
        var edited = new byte[masks.Count][];
        var boxes = new PixelBox[masks.Count];
        var scores = new float[masks.Count];
        for (int i = 0; i < masks.Count; i++)
        {
            var m = (byte[])masks[i].Mask.Clone();
            bool changed = MaskPostprocess.RemoveSmallRegions(m, width, height, area, holes: true);
            changed |= MaskPostprocess.RemoveSmallRegions(m, width, height, area, holes: false);
            edited[i] = m;
            boxes[i] = MaskPostprocess.Box(m, width, height);
            scores[i] = changed ? 0 : 1;
        }
        var keep = MaskPostprocess.Nms(boxes, scores, Math.Max(Options.BoxNmsThresh, Options.CropNmsThresh));
        return keep.Select(i =>
        {
            var c = masks[i];
            if (scores[i] == 0)
            {
                c.Mask = edited[i];
                c.Box = boxes[i];
            }
            return c;
        }).ToList();
    }

    /// <summary>Reads the planes of the masks that passed the filters in one copy (the decoder's scratch is reused
    /// by the next batch), as fp32.</summary>
    private void ReadPlanes(GpuTensor logits, List<(Candidate C, int Plane)> passed)
    {
        if (passed.Count == 0) return;
        int elem = logits.ElementSize;
        ulong planeBytes = (ulong)Plane * (ulong)elem;
        using var host = _model.Context.CreateBuffer((ulong)passed.Count * planeBytes, BufferKind.Readback, "amg.planes");
        using (var cs = _model.Context.BeginCommands())
        {
            for (int i = 0; i < passed.Count; i++) cs.Copy(logits.Buffer, (ulong)passed[i].Plane * planeBytes, host, (ulong)i * planeBytes, planeBytes);
            cs.Submit();
        }
        var bytes = new byte[planeBytes];
        for (int i = 0; i < passed.Count; i++)
        {
            host.Read(bytes, (ulong)i * planeBytes);
            var plane = new float[Plane];
            if (logits.Type == DataType.F32) MemoryMarshal.Cast<byte, float>(bytes).CopyTo(plane);
            else
            {
                var half = MemoryMarshal.Cast<byte, Half>(bytes);
                for (int j = 0; j < Plane; j++) plane[j] = (float)half[j];
            }
            passed[i].C.Logits = plane;
        }
    }
}
