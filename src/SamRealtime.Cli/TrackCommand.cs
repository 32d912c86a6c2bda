using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using SamRealtime.Capture;
using SamRealtime.Model;
using SamRealtime.Tracking;
using SamRealtime.Vulkan;

namespace SamRealtime.Cli;

/// <summary><c>samrt track</c>: track objects prompted on frame K through a video or camera stream.</summary>
internal static class TrackCommand
{
    public static Command Create()
    {
        var cmd = new Command("track", "Track objects through a video from prompts on one frame");
        var models = new ModelOptions();
        var video = new Option<string?>("--video") { Description = "Video file" };
        var camera = new Option<string?>("--camera") { Description = "Camera index or V4L2 device path" };
        var frameK = new Option<int>("--frame") { Description = "Frame the prompts apply to", DefaultValueFactory = _ => 0 };
        var points = new Option<string[]>("--point") { Description = "X,Y[,LABEL] for the current object" };
        var boxes = new Option<string[]>("--box") { Description = "X0,Y0,X1,Y1 for the current object" };
        var objects = new Option<string[]>("--object") { Description = "Start the prompts of object ID (the first object is 1)" };
        var outDir = new Option<string>("--out") { Description = "Output directory: <ID>/<frame>.png and track.json", Required = true };
        var overlay = new Option<string?>("--overlay") { Description = "Overlay video (.mp4 or .avi)" };
        var maxFrames = new Option<int?>("--max-frames") { Description = "Stop after this many frames from K" };
        var motion = new Option<string>("--motion") { Description = "flow (optical flow moves the prompts) or none", DefaultValueFactory = _ => "flow" };
        var interval = EvalCommand.EncoderIntervalOption();
        foreach (var o in new Option[] { video, camera, frameK, points, boxes, objects, outDir, overlay, maxFrames, motion, interval }) cmd.Options.Add(o);
        models.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(() =>
        {
            if ((r.GetValue(video) is null) == (r.GetValue(camera) is null))
                throw new UsageException("give exactly one of --video PATH or --camera N");
            int k = r.GetValue(frameK);
            if (k < 0) throw new UsageException("--frame must be >= 0");
            int? max = r.GetValue(maxFrames);
            if (max is < 1) throw new UsageException("--max-frames must be at least 1");
            var groups = PromptGroups(r.Tokens.Select(t => t.Value).ToList());
            bool flow = ParseMotion(r.GetValue(motion)!);
            int encoderInterval = CheckInterval(r.GetValue(interval));
            var dir = Outputs.Directory(r.GetValue(outDir)!, "--out");
            var overlayPath = r.GetValue(overlay) is { } ov ? Outputs.Video(ov, "--overlay") : null;
            var modelDir = models.Directory(r);

            using var source = r.GetValue(video) is { } v ? OpenVideo(v) : OpenCamera(r.GetValue(camera)!);
            // Frame K is read before the model loads: the prompts are checked against its size first.
            Frame? first = null;
            while (source.TryRead(out var f))
                if (f.Index == k) { first = f; break; }
            if (first is null) throw new UsageException($"--frame {k} is past the end of {source.Name}");
            var prompts = groups.Select(g => (g.Id, Prompt: SegmentCommand.ParsePrompt(g.Points.ToArray(), g.Boxes.FirstOrDefault(),
                                                                                        first.Image.Width, first.Image.Height))).ToList();
            Limits.CheckObjectCount(prompts.Count);
            foreach (var (id, _) in prompts) Directory.CreateDirectory(Path.Combine(dir, id.ToString()));

            using var stop = new StopSignal();
            using var sam = SegmentCommand.LoadModel(modelDir, r.GetValue(models.Device), r.GetValue(models.Fp16));
            using var estimator = flow ? new OpticalFlowMotion() : null;
            using var tracker = new VideoTracker(sam, motion: estimator);
            using var keyFrames = encoderInterval > 1 ? new KeyFrameEncoder(sam, encoderInterval) : null;
            foreach (var (id, prompt) in prompts) tracker.AddObject(prompt, id);
            var log = new TrackLog(Path.Combine(dir, "track.json"), source.Name, sam.Context.Info.Name, k);
            int? total = max ?? (source.FrameCount is int n && n > k ? n - k : null);
            using (var writer = overlayPath is null ? null : new VideoFileWriter(overlayPath, source.Fps))
            {
                ProgressReporter.Run("track", "frames", total, progress =>
                {
                    for (var frame = first; frame is not null && !stop.Requested; frame = max is int m && log.Frames >= m ? null : Next(source))
                    {
                        var img = frame.Image;
                        var sw = Stopwatch.StartNew();
                        var counters = sam.Context.Counters;
                        IReadOnlyList<ObjectResult> results;
                        bool encoded = true;
                        if (keyFrames is null) results = tracker.Track(img.Pixels, img.Width, img.Height, img.Stride);
                        else
                        {
                            estimator?.AddFrame(img.Pixels, img.Width, img.Height, img.Stride);
                            encoded = keyFrames.SetFrame(img);
                            results = tracker.Update();
                        }
                        double ms = sw.Elapsed.TotalMilliseconds;
                        var cost = sam.Context.Counters - counters;
                        foreach (var res in results)
                            ImageIO.SaveMask(Path.Combine(dir, res.Id.ToString(), $"{frame.Index:D5}.png"), res.Mask, img.Width, img.Height);
                        if (writer is not null)
                        {
                            using var mat = Overlay.Render(img, results.Select(x => x.Mask).ToList());
                            writer.Write(mat);
                        }
                        log.Add(frame, cost, ms, results, encoded);
                        progress.Advance(string.Join(", ", results.Select(x => $"#{x.Id} {(x.State == TrackState.Tracked ? $"{x.Score:F2}" : "lost")}")));
                    }
                    return 0;
                });
            }
            log.Finish(interrupted: stop.Requested);
            Console.WriteLine($"tracked {groups.Count} object(s) over {log.Frames} frames ({log.Fps:F2} fps){(stop.Requested ? ", interrupted" : "")}; "
                              + $"masks and track.json in {dir}{(overlayPath is null ? "" : $", overlay {overlayPath}")}");
            return stop.Requested ? Cli.Interrupted : 0;
        }));
        return cmd;
    }

    internal static int CheckInterval(int n) =>
        n >= 1 ? n : throw new UsageException($"--encoder-interval must be at least 1 (got {n})");

    private static Frame? Next(IFrameSource source) => source.TryRead(out var f) ? f : null;

    /// <summary>--point/--box belong to the object named by the last --object before them: the tokens are read in order.</summary>
    private static List<(int Id, List<string> Points, List<string> Boxes)> PromptGroups(List<string> tokens)
    {
        var groups = new List<(int Id, List<string> Points, List<string> Boxes)> { (1, new(), new()) };
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
        if (groups.FirstOrDefault(g => g.Points.Count == 0 && g.Boxes.Count == 0) is { Points: not null } empty)
            throw new UsageException($"object {empty.Id} has no --point or --box");
        if (groups.FirstOrDefault(g => g.Boxes.Count > 1) is { Points: not null } twice)
            throw new UsageException($"object {twice.Id} has {twice.Boxes.Count} --box; one --box per object");
        return groups;
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

/// <summary>
/// track.json, rewritten (atomically) after every frame, so an interrupted or failed run leaves a valid document
/// describing every frame whose masks were written; <c>complete</c> says whether the run reached its end.
/// </summary>
internal sealed class TrackLog(string path, string source, string device, int firstFrame)
{
    private readonly JsonArray _frames = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public int Frames => _frames.Count;
    public double Fps => Frames / Math.Max(_clock.Elapsed.TotalSeconds, 1e-9);

    public void Add(Frame frame, GpuCounters cost, double totalMs, IReadOnlyList<ObjectResult> results, bool encoded)
    {
        _frames.Add(new JsonObject
        {
            ["frame"] = frame.Index, ["time_s"] = Math.Round(frame.Timestamp.TotalSeconds, 3),
            // The encoder and decoder share a submission, so the frame is timed as a whole.
            // False on the frames between two encoder runs (--encoder-interval), whose embedding was warped.
            ["encoded"] = encoded, ["submits"] = cost.Submissions, ["readback_bytes"] = cost.BytesReadBack, ["dispatches"] = cost.Dispatches,
            ["total_ms"] = Math.Round(totalMs, 1),
            ["objects"] = new JsonArray(results.Select(res => (JsonNode)new JsonObject
            {
                ["id"] = res.Id, ["state"] = res.State == TrackState.Tracked ? "tracked" : "lost",
                ["predicted_iou"] = Math.Round(res.Score, 4), ["similarity"] = Math.Round(res.Similarity, 4),
                ["area"] = res.Mask.Count(b => b != 0),
            }).ToArray()),
        });
        Write(complete: false, interrupted: false);
    }

    public void Finish(bool interrupted) => Write(complete: !interrupted, interrupted);

    private void Write(bool complete, bool interrupted)
    {
        var doc = new JsonObject
        {
            ["source"] = source, ["device"] = device, ["first_frame"] = firstFrame, ["frames_processed"] = Frames,
            ["fps"] = Math.Round(Fps, 3), ["complete"] = complete, ["interrupted"] = interrupted, ["frames"] = _frames,
        };
        AtomicFile.WriteAllText(path, doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        // The array belongs to this log across rewrites: detach it from the document it was serialised in.
        doc.Remove("frames");
    }
}
