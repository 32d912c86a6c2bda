using System.CommandLine;
using System.Globalization;
using System.Runtime.ExceptionServices;
using OpenCvSharp;
using SamRealtime.Capture;
using SamRealtime.Capture.Live;

namespace SamRealtime.Cli;

/// <summary><c>samrt live</c>: a window on a camera (or a video played as one) where clicks segment and track objects.</summary>
internal static class LiveCommand
{
    private const string Title = "samrt live";

    public static Command Create()
    {
        var cmd = new Command("live", "Click objects in a live camera (or video) window; they are segmented and tracked");
        var models = new ModelOptions();
        var camera = new Option<string?>("--camera") { Description = "Camera index or V4L2 device path (default 0)" };
        var video = new Option<string?>("--video") { Description = "Video file played as the camera" };
        var script = new Option<string?>("--script", "--events") { Description = "Timed events, one per line: 'frame K click X Y [+|-]' or 'frame K key C'" };
        var outDir = new Option<string>("--out") { Description = "Where 's' saves masks and overlays", DefaultValueFactory = _ => "live-out" };
        var maxFrames = new Option<int?>("--max-frames") { Description = "Read at most this many frames; the last one stays on screen" };
        var hold = new Option<double>("--hold") { Description = "Seconds the frame stays after a click, for more clicks on it", DefaultValueFactory = _ => 1.5 };
        var scale = new Option<double?>("--scale") { Description = "Display scale (default: fit 1280x800)" };
        foreach (var o in new Option[] { camera, video, script, outDir, maxFrames, hold, scale }) cmd.Options.Add(o);
        models.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(() =>
        {
            if (r.GetValue(video) is not null && r.GetValue(camera) is not null) throw new UsageException("give --camera or --video, not both");
            if (r.GetValue(maxFrames) is <= 0) throw new UsageException("--max-frames must be at least 1");
            if (r.GetValue(hold) is var h && (!double.IsFinite(h) || h < 0)) throw new UsageException("--hold must be a number of seconds >= 0");
            if (r.GetValue(scale) is double s && (!double.IsFinite(s) || s <= 0 || s > 8)) throw new UsageException("--scale must be in (0, 8]");
            IReadOnlyList<ScriptEvent>? events = null;
            if (r.GetValue(script) is { } sp)
            {
                try { events = LiveScript.Load(sp); }
                catch (Exception e) when (e is LiveScriptException or FileNotFoundException) { throw new UsageException(e.Message); }
            }
            using IFrameSource source = OpenSource(r.GetValue(video), r.GetValue(camera));
            // HighGUI (GTK) without a display aborts deep inside native code: say what to do instead.
            if (OperatingSystem.IsLinux() && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DISPLAY"))
                                          && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("WAYLAND_DISPLAY")))
                throw new UsageException("no display for the window (DISPLAY is not set); headless, run it under xvfb-run -a");
            // 's' writes here mid-session: a bad place is refused now, not after the model loaded and a click was made.
            var saveDir = Outputs.Directory(r.GetValue(outDir)!, "--out");
            var modelDir = models.Directory(r);
            Console.WriteLine($"loading the model from {modelDir}...");
            using var sam = models.Load(r);
            using var motion = new OpticalFlowMotion();
            var session = new LiveSession(sam, new LiveOptions { OutDir = saveDir, DisplayScale = r.GetValue(scale) }, motion)
            {
                Log = line => Console.WriteLine(line),
            };
            var player = events is null ? null : new ScriptPlayer(events);
            using var runner = new LiveRunner(session, source, new LiveRunnerOptions
            {
                MaxFrames = r.GetValue(maxFrames),
                Hold = TimeSpan.FromSeconds(r.GetValue(hold)),
                MayAdvance = player is null ? null : player.MayAdvance,
            });
            Console.WriteLine($"{source.Name} on {sam.Context.Info.Name}; {LiveSession.Help}");
            try { RunWindow(runner, player); }
            catch (OpenCVException e) { throw new UsageException($"the window failed: {e.Message}"); }
            finally { runner.Dispose(); }
            if (runner.Error is { } error) ExceptionDispatchInfo.Throw(error);
            return 0;
        }));
        return cmd;
    }

    private static void RunWindow(LiveRunner runner, ScriptPlayer? player)
    {
        bool quitAsked = false;
        void Post(LiveEvent e)
        {
            runner.Post(e);
            quitAsked |= e is KeyEvent { Key: 'q' or KeyEvent.Escape };
        }
        using (var window = new LiveWindow(Title, Post))
        {
            runner.Start();
            LiveView? view = null;
            Size shownSize = default;
            string? shownStatus = null;
            long reportRectBy = 0;
            try
            {
                while (!runner.Finished && !quitAsked)
                {
                    if (runner.TakeView() is { } v)
                    {
                        view?.Image.Dispose();
                        view = v;
                        shownStatus = null;
                        window.Scale = v.Scale;
                        window.Show(v.Image, runner.BusyText);
                        if (v.Image.Size() != shownSize && v.FrameIndex is not null) reportRectBy = Environment.TickCount64 + 2000;
                        shownSize = v.Image.Size();
                    }
                    else if (view is not null && runner.BusyText is var busy && busy != shownStatus)
                    {
                        // The busy line counts tenths of a second: it changes (and is redrawn) at most ten times a second.
                        window.Show(view.Image, busy);
                        shownStatus = busy;
                    }
                    if (!window.Pump(15))
                    {
                        Console.WriteLine("window closed");
                        Post(new KeyEvent('q'));
                        break;
                    }
                    if (reportRectBy != 0)
                    {
                        // Where the image is on the screen: what a synthetic click (or a curious user) needs. GTK
                        // resizes the window a few event loops after the image changed size: wait for it (a while).
                        var rect = window.ImageRect;
                        if (rect.Size == shownSize || Environment.TickCount64 > reportRectBy)
                        {
                            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                                $"window: image at ({rect.X},{rect.Y}) size {rect.Width}x{rect.Height}, scale {window.Scale:F4}"));
                            reportRectBy = 0;
                        }
                    }
                    if (player is not null)
                    {
                        foreach (var late in player.Pump(runner.ShownIndex, runner.StreamEnded, Post))
                            Console.WriteLine($"script line {late.Line}: frame {late.Frame} is past the end of the stream; applied on frame {runner.ShownIndex}");
                        // A script that does not quit ends with the stream, once its last event has been applied.
                        if (player.Done && runner.StreamEnded && runner.Idle) Post(new KeyEvent('q'));
                    }
                }
            }
            finally { view?.Image.Dispose(); }
        }
        // The window goes at once; the worker still applies what was queued before the quit (a last 's' saves),
        // after the model pass it may be in, which cannot be cut short.
        var waiting = System.Diagnostics.Stopwatch.StartNew();
        bool said = false;
        while (!runner.Finished)
        {
            if (!said && waiting.Elapsed > TimeSpan.FromSeconds(1))
            {
                Console.WriteLine($"finishing: {runner.BusyText ?? "applying the last events"}");
                said = true;
            }
            Thread.Sleep(20);
        }
    }

    private static VideoSource OpenSource(string? video, string? camera)
    {
        if (video is not null)
        {
            try { return VideoSource.OpenFile(video); }
            catch (CaptureException e) { throw new UsageException(e.Message); }
        }
        camera ??= "0";
        try { return VideoSource.OpenCamera(camera); }
        catch (CaptureException e) { throw new UsageException($"{e.Message} Give --video PATH to play a video file as the camera."); }
    }
}
