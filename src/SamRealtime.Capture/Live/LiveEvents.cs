using System.Globalization;

namespace SamRealtime.Capture.Live;

/// <summary>Something the user did: the window's mouse callback and key loop and a script all produce these, so a
/// script exercises the same path as a person.</summary>
public abstract record LiveEvent;

/// <summary>A click in image pixels (not window pixels): positive adds to the current object, negative removes.</summary>
public sealed record ClickEvent(float X, float Y, bool Positive) : LiveEvent;

/// <summary>A key as typed: 'n', 'c', 's', 'q', ' ', digits, or <see cref="Escape"/>.</summary>
public sealed record KeyEvent(char Key) : LiveEvent
{
    public const char Escape = '\u001b';
}

/// <summary>One line of a script: the event is injected when frame <paramref name="Frame"/> is on screen.</summary>
public sealed record ScriptEvent(int Frame, LiveEvent Event, int Line);

/// <summary>A script line that cannot be read; the message names the file and line.</summary>
public sealed class LiveScriptException(string message) : FormatException(message);

/// <summary>
/// Timed events for a headless run, one per line: <c>frame K click X Y [+|-]</c> (image pixels, positive by
/// default) or <c>frame K key C</c> (C one of n c s q 1-9, or space / esc). Blank lines and <c>#</c> comments are
/// skipped; frames must not go backwards.
/// </summary>
public static class LiveScript
{
    public static IReadOnlyList<ScriptEvent> Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"script not found: {path}", path);
        return Parse(File.ReadAllLines(path), path);
    }

    public static IReadOnlyList<ScriptEvent> Parse(IReadOnlyList<string> lines, string name)
    {
        var events = new List<ScriptEvent>();
        for (int i = 0; i < lines.Count; i++)
        {
            var text = lines[i];
            int hash = text.IndexOf('#');
            if (hash >= 0) text = text[..hash];
            var t = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (t.Length == 0) continue;
            int line = i + 1;
            LiveScriptException Bad(string why) => new($"{name} line {line}: {why}: '{lines[i].Trim()}'");
            if (t.Length < 3 || t[0] != "frame") throw Bad("expected 'frame K click X Y [+|-]' or 'frame K key C'");
            if (!int.TryParse(t[1], NumberStyles.None, CultureInfo.InvariantCulture, out int frame)) throw Bad($"frame '{t[1]}' is not a frame index");
            if (events.Count > 0 && frame < events[^1].Frame) throw Bad($"frame {frame} comes after frame {events[^1].Frame}");
            LiveEvent e;
            switch (t[2])
            {
                case "click":
                    if (t.Length is not (5 or 6)) throw Bad("expected 'click X Y [+|-]'");
                    if (!TryCoord(t[3], out float x) || !TryCoord(t[4], out float y)) throw Bad("X and Y must be non-negative numbers (image pixels)");
                    string sign = t.Length == 6 ? t[5] : "+";
                    if (sign is not ("+" or "-")) throw Bad($"'{sign}' is not + or -");
                    e = new ClickEvent(x, y, sign == "+");
                    break;
                case "key":
                    if (t.Length != 4) throw Bad("expected 'key C'");
                    e = new KeyEvent(KeyOf(t[3]) ?? throw Bad($"unknown key '{t[3]}' (keys: n c s q 1-9 space esc)"));
                    break;
                default:
                    throw Bad($"unknown event '{t[2]}' (click or key)");
            }
            events.Add(new ScriptEvent(frame, e, line));
        }
        return events;
    }

    private static bool TryCoord(string s, out float v) =>
        float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out v) && float.IsFinite(v) && v >= 0;

    private static char? KeyOf(string s) => s.ToLowerInvariant() switch
    {
        "space" => ' ',
        "esc" or "escape" => KeyEvent.Escape,
        { Length: 1 } k when LiveSession.IsKnownKey(k[0]) => k[0],
        _ => null,
    };
}

/// <summary>
/// Feeds a script's events to the live loop as frames come on screen. The stream must not run ahead of the script:
/// <see cref="MayAdvance"/> holds it on frame K until every event for frame K has been posted, which keeps a
/// headless run deterministic however long the encoder takes. Events for frames the stream never reaches are posted
/// once it has ended, on its last frame.
/// </summary>
public sealed class ScriptPlayer(IReadOnlyList<ScriptEvent> events)
{
    private int _next;

    /// <summary>True once every event has been posted.</summary>
    public bool Done => Volatile.Read(ref _next) >= events.Count;

    /// <summary>Posts the events due with <paramref name="shownFrame"/> on screen (all of them once the stream has
    /// ended); returns the late ones, i.e. for frames past the end, so the caller can say so.</summary>
    public IReadOnlyList<ScriptEvent> Pump(int? shownFrame, bool streamEnded, Action<LiveEvent> post)
    {
        var late = new List<ScriptEvent>();
        if (shownFrame is null) return late;
        while (_next < events.Count && (events[_next].Frame <= shownFrame || streamEnded))
        {
            var e = events[_next];
            if (e.Frame > shownFrame) late.Add(e);
            post(e.Event);
            Volatile.Write(ref _next, _next + 1);
        }
        return late;
    }

    /// <summary>Whether the stream may go past <paramref name="shownFrame"/>: no event for it is still unposted.</summary>
    public bool MayAdvance(int shownFrame)
    {
        int next = Volatile.Read(ref _next);
        return next >= events.Count || events[next].Frame > shownFrame;
    }
}
