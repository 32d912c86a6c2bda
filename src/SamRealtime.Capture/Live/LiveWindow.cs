using OpenCvSharp;

namespace SamRealtime.Capture.Live;

/// <summary>
/// The thin OpenCV HighGUI shell of a live session: one window, its mouse callback and the key loop. It turns
/// clicks (window pixels) into <see cref="ClickEvent"/>s in image pixels and keys into <see cref="KeyEvent"/>s; all
/// logic is in <see cref="LiveSession"/>. Use it from one thread: HighGUI's callbacks run inside <see cref="WaitKey"/>.
/// </summary>
public sealed class LiveWindow : IDisposable
{
    private readonly Action<LiveEvent> _post;
    // Native code keeps a pointer to this delegate: it must live as long as the window.
    private readonly MouseCallback _onMouse;
    private bool _closed;

    public string Title { get; }
    /// <summary>Display pixels per image pixel of the image shown now (set by whoever shows it).</summary>
    public double Scale { get; set; } = 1;

    public LiveWindow(string title, Action<LiveEvent> post)
    {
        Title = title;
        _post = post;
        // Autosize: the window is exactly the image we draw, so a mouse position divided by our scale is an image pixel.
        Cv2.NamedWindow(title, WindowFlags.AutoSize);
        _onMouse = OnMouse;
        Cv2.SetMouseCallback(title, _onMouse, IntPtr.Zero);
    }

    private void OnMouse(MouseEventTypes e, int x, int y, MouseEventFlags flags, IntPtr userData)
    {
        if (e is not (MouseEventTypes.LButtonDown or MouseEventTypes.RButtonDown)) return;
        var (ix, iy) = ToImage(x, y, Scale);
        _post(new ClickEvent(ix, iy, e == MouseEventTypes.LButtonDown));
    }

    /// <summary>The image pixel under window pixel (x, y) when the image is shown at <paramref name="scale"/>.</summary>
    public static (float X, float Y) ToImage(int x, int y, double scale) =>
        ((float)Math.Max(0, (x + 0.5) / scale - 0.5), (float)Math.Max(0, (y + 0.5) / scale - 0.5));

    /// <summary>Shows <paramref name="image"/>, with <paramref name="status"/> written over its bottom when given.</summary>
    public void Show(Mat image, string? status = null)
    {
        if (status is null)
        {
            Cv2.ImShow(Title, image);
            return;
        }
        using var copy = image.Clone();
        int y = Math.Max(0, copy.Rows - 52);
        using (var band = new Mat(copy, new Rect(0, y, copy.Cols, Math.Min(22, copy.Rows - y))))
            band.ConvertTo(band, -1, 0.35, 0);
        Cv2.PutText(copy, status, new Point(8, y + 16), HersheyFonts.HersheySimplex, 0.5, new Scalar(0, 220, 255), 1, LineTypes.AntiAlias);
        Cv2.ImShow(Title, copy);
    }

    /// <summary>Runs HighGUI's event loop for up to <paramref name="ms"/> ms (mouse callbacks fire in here) and posts
    /// the key typed, if any. Returns false once the user has closed the window.</summary>
    public bool Pump(int ms)
    {
        int code = Cv2.WaitKey(ms);
        if (KeyOf(code) is { } key) _post(new KeyEvent(key));
        // Closing the window destroys it and its properties then read -1. (WND_PROP_VISIBLE would be the obvious
        // one, but the GTK backend does not implement it: it reads -1 on an open window.)
        try { _closed |= Cv2.GetWindowProperty(Title, WindowPropertyFlags.AutoSize) < 0; }
        catch (OpenCVException) { _closed = true; }
        return !_closed;
    }

    /// <summary>The image's rectangle on the screen (where synthetic clicks must land).</summary>
    public Rect ImageRect => Cv2.GetWindowImageRect(Title);

    /// <summary>The session key for a HighGUI key code, or null for keys the session does not use.</summary>
    public static char? KeyOf(int code)
    {
        if (code < 0) return null;
        char c = char.ToLowerInvariant((char)(code & 0xFF));
        return LiveSession.IsKnownKey(c) ? c : null;
    }

    public void Dispose()
    {
        if (!_closed)
        {
            try { Cv2.DestroyWindow(Title); } catch (OpenCVException) { /* already gone */ }
        }
        Cv2.WaitKey(1);
    }
}
