using System.Collections.Concurrent;
using System.Diagnostics;
using OpenCvSharp;

namespace SamRealtime.Capture.Live;

public sealed record LiveRunnerOptions
{
    /// <summary>Frames to read from the source at most; then the last one stays on screen.</summary>
    public int? MaxFrames { get; init; }
    /// <summary>How long after a click the stream waits before it shows a new frame, so that further clicks refine
    /// the same frame with the decoder only instead of waiting for an encoder pass.</summary>
    public TimeSpan Hold { get; init; } = TimeSpan.FromSeconds(1.5);
    /// <summary>Asked before the stream goes past the frame on screen (a script holds it until its events are in).</summary>
    public Func<int, bool>? MayAdvance { get; init; }
}

/// <summary>What the window should show now: the rendered frame (owned by the receiver) and its frame index.</summary>
public sealed record LiveView(Mat Image, int? FrameIndex, double Scale);

/// <summary>
/// Drives a <see cref="LiveSession"/> from a frame source on a worker thread, so the window stays responsive while
/// the encoder runs (seconds on a CPU Vulkan driver). Events posted from any thread are applied in order on the
/// worker, always to the frame on screen; a new frame is read only when no event is waiting, the user is not
/// prompting (hold after a click, pause) and the script, if any, has posted its events for the frame on screen.
/// Video files are played at most at their frame rate and never skip frames, so a script's frame numbers are exact.
/// </summary>
public sealed class LiveRunner : IDisposable
{
    private readonly LiveSession _session;
    private readonly IFrameSource _source;
    private readonly LiveRunnerOptions _options;
    private readonly ConcurrentQueue<LiveEvent> _events = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Thread _thread;
    private readonly CancellationTokenSource _stop = new();
    private LiveView? _view;
    private volatile string? _busy;
    private long _busySince;
    private volatile bool _streamEnded, _finished, _idle;
    private volatile int _shownIndex = -1;
    private int _framesRead;
    private long _lastClick, _lastFrameStart;
    private bool _disposed;

    public LiveRunner(LiveSession session, IFrameSource source, LiveRunnerOptions? options = null)
    {
        _session = session;
        _source = source;
        _options = options ?? new LiveRunnerOptions();
        _thread = new Thread(Loop) { IsBackground = true, Name = "samrt live worker" };
    }

    /// <summary>The worker's failure, if it stopped on one (rethrown by the caller).</summary>
    public Exception? Error { get; private set; }
    /// <summary>The worker has stopped: the user quit, or it failed.</summary>
    public bool Finished => _finished;
    public bool StreamEnded => _streamEnded;
    /// <summary>No event is waiting and the worker is not running the model.</summary>
    public bool Idle => _idle && _events.IsEmpty;
    public int? ShownIndex => _shownIndex < 0 ? null : _shownIndex;

    /// <summary>What the worker is doing now (e.g. encoding a frame) and for how long, for the window's status line.</summary>
    public string? BusyText => _busy is { } b ? $"{b} {Stopwatch.GetElapsedTime(Interlocked.Read(ref _busySince)).TotalSeconds:F1} s" : null;

    public void Start() => _thread.Start();

    /// <summary>Queues an event; it applies to whatever frame is on screen when the worker takes it.</summary>
    public void Post(LiveEvent e)
    {
        _events.Enqueue(e);
        _wake.Release();
    }

    /// <summary>The newest rendered view since the last call, or null.</summary>
    public LiveView? TakeView() => Interlocked.Exchange(ref _view, null);

    private void Loop()
    {
        try
        {
            Publish();
            while (!_stop.IsCancellationRequested)
            {
                _idle = false;
                // Events first, in order, on the frame on screen: during an encoder pass they waited here.
                bool quit = false;
                while (!quit && _events.TryDequeue(out var e))
                {
                    if (e is ClickEvent) _lastClick = Stopwatch.GetTimestamp();
                    quit = !Run($"applying {Describe(e)}", () => _session.Apply(e));
                    Publish();
                }
                if (quit) break;
                if (_session.HasPendingFrame)
                {
                    if (Prompting()) { Wait(); continue; }
                    Run($"decoding frame", () => { _session.EndFrame(); return true; });
                    _shownIndex = _session.ShownIndex ?? -1;
                    Publish();
                    continue;
                }
                if (_streamEnded || Prompting() || (_session.ShownIndex is int shown && _options.MayAdvance?.Invoke(shown) == false))
                {
                    Wait();
                    continue;
                }
                // The script's events for the frame on screen were posted before MayAdvance said yes: apply them first.
                if (!_events.IsEmpty) continue;
                if (!ReadNext()) continue;
            }
        }
        catch (Exception e)
        {
            Error = e;
        }
        finally
        {
            _busy = null;
            try { Publish(); }
            catch (Exception e) { Error ??= e; }
            _finished = true;
        }
    }

    private bool ReadNext()
    {
        if (_options.MaxFrames is int max && _framesRead >= max)
        {
            EndOfStream($"stopped after {max} frame(s) (--max-frames)");
            return false;
        }
        // A file played as a camera: not faster than its frame rate (a GPU would otherwise race through it).
        if (_source.Fps > 0 && _lastFrameStart != 0)
        {
            TimeSpan Left() => TimeSpan.FromSeconds(1 / _source.Fps) - Stopwatch.GetElapsedTime(_lastFrameStart);
            for (var wait = Left(); wait > TimeSpan.Zero; wait = Left())
                if (_wake.Wait(wait) && !_events.IsEmpty) return false;
        }
        _lastFrameStart = Stopwatch.GetTimestamp();
        var sw = Stopwatch.StartNew();
        Frame? frame = null;
        Run("reading a frame", () => _source.TryRead(out frame));
        var capture = sw.Elapsed;
        if (frame is null)
        {
            EndOfStream("end of stream");
            return false;
        }
        _framesRead++;
        Run($"encoding frame {frame.Index}", () => { _session.BeginFrame(frame, capture); return true; });
        return true;
    }

    private void EndOfStream(string why)
    {
        _streamEnded = true;
        _session.Notice = why + "; q quits";
        _session.Log?.Invoke(why);
        Publish();
    }

    private bool Prompting() =>
        _session.Paused || (_lastClick != 0 && Stopwatch.GetElapsedTime(_lastClick) < _options.Hold);

    private void Wait()
    {
        _idle = true;
        _wake.Wait(TimeSpan.FromMilliseconds(50));
    }

    private T Run<T>(string what, Func<T> work)
    {
        Interlocked.Exchange(ref _busySince, Stopwatch.GetTimestamp());
        _busy = what + "...";
        try { return work(); }
        finally { _busy = null; }
    }

    private void Publish()
    {
        var img = _session.Render();
        var old = Interlocked.Exchange(ref _view, new LiveView(img, _session.ShownIndex, _session.DisplayScale));
        old?.Image.Dispose();
    }

    private static string Describe(LiveEvent e) => e switch
    {
        ClickEvent c => $"click ({c.X:F0},{c.Y:F0})",
        KeyEvent k => $"key '{(k.Key == ' ' ? "space" : k.Key == KeyEvent.Escape ? "esc" : k.Key.ToString())}'",
        _ => "event",
    };

    /// <summary>Stops the worker after the model pass it is in (a GPU pass cannot be cut short).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stop.Cancel();
        _wake.Release();
        if (_thread.IsAlive) _thread.Join();
        _view?.Image.Dispose();
        _stop.Dispose();
        _wake.Dispose();
    }
}
