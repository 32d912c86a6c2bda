using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using SamRealtime.Capture;
using SamRealtime.Model;

namespace SamRealtime.Cli;

/// <summary><c>samrt everything</c>: the automatic mask generator, with segment-anything's scripts/amg.py outputs.</summary>
internal static class EverythingCommand
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static Command Create()
    {
        var cmd = new Command("everything", "Segment everything: masks from a grid of point prompts, filtered and deduplicated "
                                            + "as SAM's automatic mask generator does");
        var models = new ModelOptions();
        var image = new Option<string>("--image") { Description = "Input image", Required = true };
        var outDir = new Option<string>("--out") { Description = "Directory for <i>.png (8-bit, 255 = object, largest first) and metadata.csv", Required = true };
        var json = new Option<string?>("--json") { Description = "COCO RLE annotations (pycocotools compressed counts) as JSON" };
        var overlay = new Option<string?>("--overlay") { Description = "PNG of the image with every mask in its own colour" };
        var d = new AutomaticMaskGeneratorOptions();
        var perSide = new Option<int>("--points-per-side") { Description = "Grid points per side", DefaultValueFactory = _ => d.PointsPerSide!.Value };
        var perBatch = new Option<int?>("--points-per-batch") { Description = "Points decoded together (default: from the device's memory)" };
        var iou = new Option<float>("--pred-iou-thresh") { Description = "Keep masks with predicted IoU above this", DefaultValueFactory = _ => d.PredIouThresh };
        var stab = new Option<float>("--stability-score-thresh") { Description = "Keep masks with stability score at least this", DefaultValueFactory = _ => d.StabilityScoreThresh };
        var stabOff = new Option<float>("--stability-score-offset") { Description = "Logit offset of the stability score", DefaultValueFactory = _ => d.StabilityScoreOffset };
        var nms = new Option<float>("--box-nms-thresh") { Description = "Box IoU that makes a mask a duplicate", DefaultValueFactory = _ => d.BoxNmsThresh };
        var layers = new Option<int>("--crop-n-layers") { Description = "Crop layers (0: the whole image only)", DefaultValueFactory = _ => d.CropNLayers };
        var cropNms = new Option<float>("--crop-nms-thresh") { Description = "Box IoU that makes masks of different crops duplicates", DefaultValueFactory = _ => d.CropNmsThresh };
        var overlap = new Option<double>("--crop-overlap-ratio") { Description = "Overlap of first-layer crops, fraction of the short side", DefaultValueFactory = _ => d.CropOverlapRatio };
        var downscale = new Option<int>("--crop-n-points-downscale-factor") { Description = "Points per side divided by this per crop layer", DefaultValueFactory = _ => d.CropNPointsDownscaleFactor };
        var minArea = new Option<int>("--min-mask-region-area") { Description = "Remove holes and islands smaller than this (pixels)", DefaultValueFactory = _ => d.MinMaskRegionArea };
        foreach (var o in new Option[] { image, outDir, json, overlay, perSide, perBatch, iou, stab, stabOff, nms, layers, cropNms, overlap, downscale, minArea })
            cmd.Options.Add(o);
        models.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(() =>
        {
            var options = new AutomaticMaskGeneratorOptions
            {
                PointsPerSide = r.GetValue(perSide), PointsPerBatch = r.GetValue(perBatch),
                PredIouThresh = r.GetValue(iou), StabilityScoreThresh = r.GetValue(stab), StabilityScoreOffset = r.GetValue(stabOff),
                BoxNmsThresh = r.GetValue(nms), CropNLayers = r.GetValue(layers), CropNmsThresh = r.GetValue(cropNms),
                CropOverlapRatio = r.GetValue(overlap), CropNPointsDownscaleFactor = r.GetValue(downscale),
                MinMaskRegionArea = r.GetValue(minArea), OutputMode = MaskOutputMode.Rle,
            };
            try { options.Validate(); }
            catch (ArgumentException e) { throw new UsageException(OptionName(e.Message)); }
            var img = SegmentCommand.LoadImage(r.GetValue(image)!);
            var dir = Outputs.Directory(r.GetValue(outDir)!, "--out");
            var jsonPath = r.GetValue(json) is { } jp ? Outputs.Json(jp, "--json") : null;
            var overlayPath = r.GetValue(overlay) is { } op ? Outputs.Image(op, "--overlay") : null;

            using var sam = models.Load(r);
            var generator = new AutomaticMaskGenerator(sam, options);
            var masks = generator.Generate(img.Pixels, img.Width, img.Height, img.Stride)
                                 .OrderByDescending(m => m.Area).ToList();
            var stats = generator.LastStats!;

            var decoded = masks.Select(m => m.Rle.Decode()).ToList();
            var csv = new StringBuilder("id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,predicted_iou,stability_score,"
                                        + "crop_box_x0,crop_box_y0,crop_box_w,crop_box_h");
            for (int i = 0; i < masks.Count; i++)
            {
                var m = masks[i];
                ImageIO.SaveMask(Path.Combine(dir, $"{i}.png"), decoded[i], img.Width, img.Height);
                var b = m.Box.Xywh;
                var c = m.CropBoxXywh;
                csv.Append('\n').AppendJoin(',', [
                    i.ToString(Inv), m.Area.ToString(Inv), b.X.ToString(Inv), b.Y.ToString(Inv), b.W.ToString(Inv), b.H.ToString(Inv),
                    Num(m.PointCoords.X), Num(m.PointCoords.Y), Num(m.PredictedIou), Num(m.StabilityScore),
                    c.X.ToString(Inv), c.Y.ToString(Inv), c.W.ToString(Inv), c.H.ToString(Inv)]);
            }
            AtomicFile.WriteAllText(Path.Combine(dir, "metadata.csv"), csv.ToString());
            if (jsonPath is not null) AtomicFile.WriteAllText(jsonPath, CocoJson(masks).ToJsonString(new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
            if (overlayPath is not null) Overlay.SaveMany(overlayPath, img, decoded);

            Console.WriteLine($"{masks.Count} masks in {dir} ({stats.Points} points in {stats.Batches} batches of {stats.PointsPerBatch}; "
                              + $"{stats.Candidates} candidates, {stats.AfterFilter} after IoU/stability filters, {stats.AfterNms} after NMS) on {sam.Context.Info.Name}: "
                              + $"encoder {Ms(stats.Encoder)}, decoder {Ms(stats.Decoder)}, filter {Ms(stats.Filter)}, NMS {Ms(stats.Nms)}, "
                              + $"upsample {Ms(stats.Upsample)}, postprocess {Ms(stats.Postprocess)} ms");
            return 0;
        }));
        return cmd;
    }

    /// <summary>The list amg.py writes with --convert-to-rle: one record per mask, segmentation as COCO RLE.</summary>
    internal static JsonArray CocoJson(IEnumerable<GeneratedMask> masks) =>
        new(masks.Select(m =>
        {
            var b = m.Box.Xywh;
            var c = m.CropBoxXywh;
            return (JsonNode)new JsonObject
            {
                ["segmentation"] = new JsonObject
                {
                    ["size"] = new JsonArray(m.Rle.Height, m.Rle.Width),
                    ["counts"] = m.Rle.ToCocoString(),
                },
                ["area"] = m.Area,
                ["bbox"] = new JsonArray(b.X, b.Y, b.W, b.H),
                ["predicted_iou"] = (double)m.PredictedIou,
                ["point_coords"] = new JsonArray(new JsonArray((double)m.PointCoords.X, (double)m.PointCoords.Y)),
                ["stability_score"] = (double)m.StabilityScore,
                ["crop_box"] = new JsonArray(c.X, c.Y, c.W, c.H),
            };
        }).ToArray());

    /// <summary>The option behind a validation message: options use amg.py's names with dashes.</summary>
    private static string OptionName(string message)
    {
        foreach (var n in new[] { "points_per_side", "points_per_batch", "pred_iou_thresh", "stability_score_thresh", "stability_score_offset",
                                  "box_nms_thresh", "crop_n_layers", "crop_nms_thresh", "crop_overlap_ratio", "crop_n_points_downscale_factor",
                                  "min_mask_region_area" })
            message = message.Replace(n, "--" + n.Replace('_', '-'));
        return message;
    }

    /// <summary>A float32 as Python prints its float64 value (what amg.py writes for a tensor's .item()).</summary>
    private static string Num(float v) => ((double)v).ToString("R", Inv);

    private static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("F0", Inv);
}
