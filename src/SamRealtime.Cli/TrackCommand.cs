using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using OpenCvSharp;
using SamRealtime.Capture;
using SamRealtime.Model;
using SamRealtime.Tracking;

namespace SamRealtime.Cli;

/// <summary><c>samrt track</c>: track objects prompted on frame K through a video or camera stream.</summary>
internal static class TrackCommand
{
    public static Command Create()
    {
        var cmd = new Command("track", "Track objects through a video from prompts on one frame");
        var model = new Option<string>("--model") { Description = "Model directory", Required = true };
        var video = new Option<string?>("--video") { Description = "Video file" };
        var camera = new Option<string?>("--camera") { Description = "Camera index or V4L2 device path" };
        var frameK = new Option<int>("--frame") { Description = "Frame the prompts apply to", DefaultValueFactory = _ => 0 };
        var points = new Option<string[]>("--point") { Description = "X,Y[,LABEL] for the current object" };
        var boxes = new Option<string[]>("--box") { Description = "X0,Y0,X1,Y1 for the current object" };
        var objects = new Option<string[]>("--object") { Description = "Start the prompts of object ID (the first object is 1)" };
        var outDir = new Option<string>("--out") { Description = "Output directory: <ID>/<frame>.png and track.json", Required = true };
        var overlay = new Option<string?>("--overlay") { Description = "Overlay video (.mp4)" };
        var maxFrames = new Option<int?>("--max-frames") { Description = "Stop after this many frames from K" };
        var motion = new Option<string>("--motion") { Description = "flow (optical flow moves the prompts) or none", DefaultValueFactory = _ => "flow" };
        foreach (var o in new Option[] { model, video, camera, frameK, points, boxes, objects, outDir, overlay, maxFrames, motion }) cmd.Options.Add(o);
        cmd.SetAction(r => Cli.Run(() =>
        {
            if ((r.GetValue(video) is null) == (r.GetValue(camera) is null))
                throw new UsageException("give exactly one of --video PATH or --camera N");
            int k = r.GetValue(frameK);
            if (k < 0) throw new UsageException("--frame must be >= 0");
            // --point/--box belong to the object named by the last --object before them: read the tokens in order.
            var groups = new List<(int Id, List<string> Points, List<string> Boxes)> { (1, new(), new()) };
            var tokens = r.Tokens.Select(t => t.Value).ToList();
            for (int i = 0; i + 1 < tokens.Count; i++)
            {
                switch (tokens[i])
                {
                    case "--object":
                        if (!int.TryParse(tokens[i + 1], out int id) || id <= 0) throw new UsageException($"--object {tokens[i + 1]}: ID must be a positive integer");
                        if (groups.Count == 1 && groups[0].Points.Count == 0 && groups[0].Boxes.Count == 0) groups.Clear();
                        if (groups.Any(g => g.Id == id)) throw new UsageException($"--object {id} is given twice");
                        groups.Add((id, new(), new()));
                        break;
                    case "--point": groups[^1].Points.Add(tokens[i + 1]); break;
                    case "--box": groups[^1].Boxes.Add(tokens[i + 1]); break;
                }
            }
            if (groups.Any(g => g.Points.Count == 0 && g.Boxes.Count == 0))
                throw new UsageException($"object {groups.First(g => g.Points.Count == 0 && g.Boxes.Count == 0).Id} has no --point or --box");
            if (groups.Any(g => g.Boxes.Count > 1)) throw new UsageException("one --box per object");
            bool flow = ParseMotion(r.GetValue(motion)!);

            using IFrameSource source = r.GetValue(video) is { } v ? OpenVideo(v) : OpenCamera(r.GetValue(camera)!);
            using var sam = SegmentCommand.LoadModel(r.GetValue(model)!, null, false);
            using var estimator = flow ? new OpticalFlowMotion() : null;
            using var tracker = new VideoTracker(sam, motion: estimator);
            var dir = r.GetValue(outDir)!;
            Directory.CreateDirectory(dir);
            VideoWriter? writer = null;
            var frames = new JsonArray();
            int? max = r.GetValue(maxFrames);
            int done = 0;
            var total = Stopwatch.StartNew();
            try
            {
                while (source.TryRead(out var frame))
                {
                    if (frame.Index < k) continue;
                    if (max is int m && done >= m) break;
                    var img = frame.Image;
                    if (frame.Index == k)
                        foreach (var g in groups)
                        {
                            var prompt = SegmentCommand.ParsePrompt(g.Points.ToArray(), g.Boxes.FirstOrDefault(), img.Width, img.Height);
                            tracker.AddObject(prompt, g.Id);
                            Directory.CreateDirectory(Path.Combine(dir, g.Id.ToString()));
                        }
                    var sw = Stopwatch.StartNew();
                    var counters = sam.Context.Counters;
                    var results = tracker.Track(img.Pixels, img.Width, img.Height, img.Stride);
                    double ms = sw.Elapsed.TotalMilliseconds;
                    var cost = sam.Context.Counters - counters;
                    var objs = new JsonArray();
                    foreach (var res in results)
                    {
                        ImageIO.SaveMask(Path.Combine(dir, res.Id.ToString(), $"{frame.Index:D5}.png"), res.Mask, img.Width, img.Height);
                        objs.Add(new JsonObject
                        {
                            ["id"] = res.Id, ["state"] = res.State == TrackState.Tracked ? "tracked" : "lost",
                            ["predicted_iou"] = Math.Round(res.Score, 4), ["similarity"] = Math.Round(res.Similarity, 4),
                            ["area"] = res.Mask.Count(b => b != 0),
                        });
                    }
                    frames.Add(new JsonObject
                    {
                        ["frame"] = frame.Index, ["time_s"] = Math.Round(frame.Timestamp.TotalSeconds, 3),
                        // The encoder and decoder share a submission, so the frame is timed as a whole.
                        ["total_ms"] = Math.Round(ms, 1), ["submits"] = cost.Submissions, ["readback_bytes"] = cost.BytesReadBack,
                        ["dispatches"] = cost.Dispatches, ["objects"] = objs,
                    });
                    if (r.GetValue(overlay) is { } ov)
                    {
                        string tmp = Path.Combine(dir, ".overlay.png");
                        Overlay.Save(tmp, img, results.Select(x => x.Mask).ToList());
                        using var mat = Cv2.ImRead(tmp);
                        File.Delete(tmp);
                        writer ??= new VideoWriter(ov, FourCC.MP4V, source.Fps > 0 ? source.Fps : 25, new Size(img.Width, img.Height));
                        writer.Write(mat);
                    }
                    done++;
                    var summary = string.Join(", ", results.Select(x => $"#{x.Id} {(x.State == TrackState.Tracked ? $"{x.Score:F2}" : "lost")}"));
                    Console.Error.Write($"\rframe {frame.Index,5} [{new string('#', Math.Min(30, done % 31)),-30}] {ms,6:F0} ms  {summary}   ");
                }
            }
            finally
            {
                writer?.Dispose();
                Console.Error.WriteLine();
            }
            if (done == 0) throw new UsageException($"the stream has no frame {k}");
            var json = new JsonObject
            {
                ["source"] = source.Name, ["device"] = sam.Context.Info.Name, ["first_frame"] = k, ["frames_processed"] = done,
                ["fps"] = Math.Round(done / total.Elapsed.TotalSeconds, 3), ["frames"] = frames,
            };
            File.WriteAllText(Path.Combine(dir, "track.json"), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine($"tracked {groups.Count} object(s) over {done} frames ({done / total.Elapsed.TotalSeconds:F2} fps); masks and track.json in {dir}");
            return 0;
        }));
        return cmd;
    }

    /// <summary>The --motion option of track and eval: true for optical flow.</summary>
    internal static bool ParseMotion(string value) => value switch
    {
        "flow" => true,
        "none" => false,
        _ => throw new UsageException($"--motion {value}: expected flow or none"),
    };

    private static VideoSource OpenVideo(string path)
    {
        try { return VideoSource.OpenFile(path); }
        catch (CaptureException e) { throw new UsageException(e.Message); }
    }

    private static VideoSource OpenCamera(string camera)
    {
        try { return VideoSource.OpenCamera(camera); }
        catch (CaptureException e) { throw new UsageException(e.Message); }
    }
}
