using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using SamRealtime.Capture;
using SamRealtime.Capture.Benchmark;
using SamRealtime.Engine;
using SamRealtime.Tracking;

namespace SamRealtime.Cli;

/// <summary><c>samrt eval</c>: the tracker on the synthetic sequences with exact ground truth, DAVIS J/F per sequence.</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var cmd = new Command("eval", "Score the tracker (DAVIS J, F, J&F, fps) on sequences with exact ground truth: "
                                      + "objects cut out of SAM's example photos moving over opencv-doc's videos");
        var models = new ModelOptions();
        var frames = new Option<int?>("--frames") { Description = "Frames per sequence (each costs one encoder pass; default: the sequence's length, 20 or 48)" };
        var sequences = new Option<string?>("--sequences")
        {
            Description = "Comma-separated sequences or parts: original (default: " + string.Join(",", TrackingSequence.All.Select(s => s.Name))
                          + "), tuning, heldout, hard (tuning and heldout), every; or names ("
                          + string.Join(",", TrackingSequence.Hard.Select(s => s.Name)) + ")",
        };
        var cacheDir = new Option<string>("--cache")
        {
            Description = "Folder of cached image embeddings (the encoder runs once per distinct frame and model; 4 MiB a frame); "
                          + "'none' encodes every frame", DefaultValueFactory = _ => ".cache/embeddings",
        };
        var interval = EncoderIntervalOption();
        var motion = new Option<string?>("--motion") { Description = "flow (optical flow moves the prompts) or none (default: flow for the tracker, none for the pass)" };
        var front = new Option<string>("--front")
        {
            Description = "tracker (VideoTracker on host frames) or pass (SamPass with tracking, recorded into a command buffer "
                          + "with GPU source and mask images, as an engine drives it; encodes every frame, no cache, no flow)",
            DefaultValueFactory = _ => "tracker",
        };
        var outDir = new Option<string?>("--out") { Description = "Directory for overlays: <sequence>/<frame>.png and <sequence>.mp4 "
                                                                  + "(tracker's mask blue, ground truth green)" };
        var json = new Option<string?>("--json") { Description = "JSON file with the scores per sequence and frame" };
        var images = new Option<string?>("--images") { Description = "Folder with truck.jpg, dogs.jpg, groceries.jpg, dog.jpg (default: shipped beside samrt)" };
        var set = new Option<string[]>("--set")
        {
            Description = "NAME=VALUE: one of the tracker's options (" + string.Join(", ", TrackerSettings.Names) + "), for ablations; repeatable",
            AllowMultipleArgumentsPerToken = false,
        };
        foreach (var o in new Option[] { frames, sequences, motion, front, interval, outDir, json, images, cacheDir, set }) cmd.Options.Add(o);
        models.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(() =>
        {
            int? frameCount = r.GetValue(frames);
            if (frameCount < 1) throw new UsageException("--frames must be at least 1");
            var seqs = r.GetValue(sequences) is { } list
                ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).SelectMany(Sequences).Distinct().ToList()
                : TrackingSequence.All.ToList();
            if (seqs.Count == 0) throw new UsageException("--sequences names no sequence");
            var frontKind = r.GetValue(front) switch
            {
                "tracker" => BenchmarkFront.Tracker,
                "pass" => BenchmarkFront.Pass,
                var other => throw new UsageException($"--front must be tracker or pass, not '{other}'"),
            };
            bool flow = TrackCommand.ParseMotion(r.GetValue(motion) ?? (frontKind == BenchmarkFront.Pass ? "none" : "flow"));
            if (flow && frontKind == BenchmarkFront.Pass)
                throw new UsageException("--front pass has no optical flow (its frames are on the GPU); give --motion none");
            int encoderInterval = TrackCommand.CheckInterval(r.GetValue(interval));
            var settings = r.GetValue(set) ?? [];
            TrackerOptions options = frontKind == BenchmarkFront.Pass ? TrackerSettings.Apply(new SamPassOptions(), settings) : TrackerSettings.Apply(new TrackerOptions(), settings);
            if (encoderInterval != 1 && frontKind == BenchmarkFront.Pass)
                throw new UsageException("--encoder-interval applies to the tracker front (the pass has SamPassOptions.EncoderInterval)");
            var imageDir = r.GetValue(images) ?? Path.Combine(AppContext.BaseDirectory, "data");
            foreach (var video in seqs.Select(s => s.Background).Distinct())
                if (!File.Exists(video)) throw new UsageException($"{video} not found (./build.sh setup installs opencv-doc)");
            var dir = r.GetValue(outDir) is { } od ? Outputs.Directory(od, "--out") : null;
            var jsonPath = r.GetValue(json) is { } jp ? Outputs.Json(jp, "--json") : null;
            var modelDir = models.Directory(r);
            using var sam = models.Load(r);
            // The pass encodes its source image itself.
            var cache = frontKind == BenchmarkFront.Tracker && r.GetValue(cacheDir) is { } cd && cd != "none" ? new EmbeddingCache(cd, modelDir, sam) : null;
            var needed = seqs.SelectMany(s => s.Sprites).Distinct();
            Dictionary<string, Sprite> sprites;
            try { sprites = BenchmarkSprites.Cut(sam, imageDir, needed); }
            catch (FileNotFoundException e) { throw new UsageException(e.Message + " (give --images DIR)"); }
            var results = ProgressReporter.Run("eval", "frames", seqs.Sum(s => frameCount ?? s.Length), progress => seqs.Select(seq =>
            {
                int n = frameCount ?? seq.Length;
                using var estimator = flow ? new OpticalFlowMotion() : null;
                string? seqDir = dir is null ? null : Path.Combine(dir, seq.Name);
                if (seqDir is not null) Directory.CreateDirectory(seqDir);
                using var writer = dir is null ? null : new VideoFileWriter(Path.Combine(dir, seq.Name + ".mp4"), 4);
                return TrackingBenchmark.Run(sam, seq, sprites, n, estimator, options, cache: cache, front: frontKind, encoderInterval: encoderInterval, onFrame: (frame, res) =>
                {
                    var state = !frame.Present ? (res.State == TrackState.Lost ? "absent, lost" : "absent, TRACKED")
                              : res.State == TrackState.Tracked ? $"score {res.Score:F2}" : "LOST";
                    progress.Advance($"{seq.Name} frame {frame.Index + 1}/{n}: {state}");
                    if (seqDir is null || writer is null) return;
                    using var mat = Overlay.Render(frame.Image, [res.Mask, frame.Truth]);
                    ImageIO.SaveBgr(Path.Combine(seqDir, $"{frame.Index:D5}.png"), mat);
                    writer.Write(mat);
                });
            }).ToList());
            PrintTable(results, flow, frontKind, encoderInterval);
            if (cache is not null) Console.WriteLine($"embedding cache: {cache.Hits} frames from the cache, {cache.Misses} encoded");
            if (jsonPath is not null)
            {
                var doc = new JsonObject
                {
                    ["device"] = sam.Context.Info.Name, ["front"] = frontKind.ToString().ToLowerInvariant(), ["motion"] = flow ? "optical flow" : "none",
                    ["encoder_interval"] = encoderInterval, ["settings"] = new JsonArray(settings.Select(x => (JsonNode)x).ToArray()),
                    ["boundary_tolerance_px"] = results[0].BoundaryTolerance,
                    ["convention"] = "means over all frames incl. the prompted first; on a frame without the object J=F=1 for an empty mask, else 0",
                    ["mean_jf"] = Math.Round(results.Average(s => s.JF), 4),
                    ["sequences"] = new JsonArray(results.Select(s => (JsonNode)new JsonObject
                    {
                        ["name"] = s.Name, ["set"] = TrackingSequence.Get(s.Name).Set.ToString(), ["description"] = s.Description,
                        ["j"] = Math.Round(s.J, 4), ["f"] = Math.Round(s.F, 4),
                        ["jf"] = Math.Round(s.JF, 4), ["fps"] = Math.Round(s.Fps, 3), ["update_ms"] = Number(s.UpdateMs, 1),
                        ["frames"] = new JsonArray(s.Frames.Select(f => (JsonNode)new JsonObject
                        {
                            ["frame"] = f.Frame, ["present"] = f.Present, ["state"] = f.State == TrackState.Tracked ? "tracked" : "lost",
                            ["j"] = Math.Round(f.J, 4), ["f"] = Math.Round(f.F, 4), ["predicted_iou"] = Math.Round(f.Score, 4),
                            ["similarity"] = Number(f.Similarity, 4), ["track_ms"] = Math.Round(f.TrackMs, 1),
                            ["update_ms"] = Number(f.UpdateMs, 1),
                        }).ToArray()),
                    }).ToArray()),
                };
                AtomicFile.WriteAllText(jsonPath, doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
            return 0;
        }));
        return cmd;
    }

    /// <summary>What the pass front does not report (NaN) is null in the JSON.</summary>
    private static JsonNode? Number(double value, int digits) => double.IsFinite(value) ? JsonValue.Create(Math.Round(value, digits)) : null;

    private static IEnumerable<TrackingSequence> Sequences(string name) => name switch
    {
        "original" => TrackingSequence.All,
        "tuning" => TrackingSequence.Hard.Where(s => s.Set == SequenceSet.Tuning),
        "heldout" => TrackingSequence.Hard.Where(s => s.Set == SequenceSet.HeldOut),
        "hard" => TrackingSequence.Hard,
        "every" => TrackingSequence.Every,
        _ => [Sequence(name)],
    };

    private static TrackingSequence Sequence(string name)
    {
        try { return TrackingSequence.Get(name); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
    }

    /// <summary>--encoder-interval, shared with <c>samrt track</c>.</summary>
    internal static Option<int> EncoderIntervalOption() => new("--encoder-interval")
    {
        Description = "Run the encoder on every N-th frame; the frames between reuse its embedding moved by the dense optical flow "
                      + "(feature warping): about N times the frame rate for some accuracy",
        DefaultValueFactory = _ => 1,
    };

    private static void PrintTable(IReadOnlyList<SequenceScore> results, bool flow, BenchmarkFront front, int encoderInterval)
    {
        Console.WriteLine($"tracking benchmark: front {front.ToString().ToLowerInvariant()}, motion {(flow ? "optical flow" : "none")}, "
                          + $"encoder every {(encoderInterval == 1 ? "frame" : $"{encoderInterval} frames")}, "
                          + $"F tolerance 0.008 of the diagonal; update = tracker time after the encoder, ms per frame");
        Console.WriteLine($"{"sequence",-13} {"set",-8} {"frames",6} {"J",6} {"F",6} {"J&F",6} {"fps",6} {"update",7}  frames absent / lost");
        foreach (var s in results)
        {
            string Frames(Func<FrameScore, bool> pick) =>
                s.Frames.Where(pick).Select(f => f.Frame.ToString()).DefaultIfEmpty("-").Aggregate((a, b) => a + "," + b);
            Console.WriteLine($"{s.Name,-13} {TrackingSequence.Get(s.Name).Set,-8} {s.Frames.Count,6} {s.J,6:F3} {s.F,6:F3} {s.JF,6:F3} {s.Fps,6:F3} "
                              + $"{s.UpdateMs,7:F0}  {Frames(f => !f.Present)} / {Frames(f => f.State == TrackState.Lost)}");
        }
        foreach (var part in results.GroupBy(s => TrackingSequence.Get(s.Name).Set))
            Console.WriteLine($"{"mean",-13} {part.Key,-8} {part.Sum(s => s.Frames.Count),6} {part.Average(s => s.J),6:F3} {part.Average(s => s.F),6:F3} "
                              + $"{part.Average(s => s.JF),6:F3} {part.Sum(s => s.Frames.Count) / part.Sum(s => s.Frames.Count / s.Fps),6:F3} "
                              + $"{part.Average(s => s.UpdateMs),7:F0}  min J&F {part.Min(s => s.JF):F3}");
    }
}

/// <summary>Tracker options set by name from the command line (<c>samrt eval --set MotionGate=0</c>): the public
/// numeric and boolean properties of <see cref="TrackerOptions"/>.</summary>
internal static class TrackerSettings
{
    private static readonly System.Reflection.PropertyInfo[] Properties = typeof(TrackerOptions).GetProperties()
        .Where(p => p.CanWrite && (p.PropertyType == typeof(float) || p.PropertyType == typeof(int) || p.PropertyType == typeof(bool))).ToArray();

    public static IEnumerable<string> Names => Properties.Select(p => p.Name);

    /// <summary>A copy of <paramref name="options"/> with each NAME=VALUE applied.</summary>
    public static T Apply<T>(T options, IEnumerable<string> settings) where T : TrackerOptions
    {
        var copy = options with { };
        foreach (var s in settings)
        {
            int eq = s.IndexOf('=');
            var name = eq > 0 ? s[..eq].Trim() : throw new UsageException($"--set '{s}': expected NAME=VALUE");
            var p = Properties.FirstOrDefault(x => x.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
                    ?? throw new UsageException($"--set: no tracker option '{name}' (options: {string.Join(", ", Names)})");
            var text = s[(eq + 1)..].Trim();
            object? value = p.PropertyType == typeof(float) ? float.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var f) && float.IsFinite(f) ? f : null
                          : p.PropertyType == typeof(int) ? int.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var i) ? i : null
                          : bool.TryParse(text, out var b) ? b : null;
            p.SetValue(copy, value ?? throw new UsageException($"--set {p.Name}: '{text}' is not a{(p.PropertyType == typeof(int) ? "n integer" : p.PropertyType == typeof(bool) ? " boolean" : " number")}"));
        }
        return copy;
    }
}
