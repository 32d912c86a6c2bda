using System.Runtime.InteropServices;
using System.Text;

namespace SamRealtime.Tests.Live;

/// <summary>
/// A minimal X client for tests: real input through the XTEST extension (as a person's mouse and keyboard would
/// produce it, so it goes through the X server, GTK and HighGUI's callbacks) and the window manager's close request.
/// Only libX11 and libXtst, which GTK already pulls in.
/// </summary>
internal sealed partial class X11 : IDisposable
{
    private const string LibX11 = "libX11.so.6";
    private const string LibXtst = "libXtst.so.6";
    private readonly IntPtr _display;

    public X11(string display)
    {
        _display = XOpenDisplay(display);
        if (_display == IntPtr.Zero) throw new InvalidOperationException($"cannot open X display {display}");
        if (!XTestQueryExtension(_display, out _, out _, out _, out _))
            throw new InvalidOperationException($"X display {display} has no XTEST extension");
    }

    /// <summary>Moves the pointer to screen pixel (x, y) and clicks button 1 (left) or 3 (right).</summary>
    public void Click(int x, int y, int button)
    {
        XTestFakeMotionEvent(_display, -1, x, y, 0);
        XSync(_display, false);
        XTestFakeButtonEvent(_display, (uint)button, true, 0);
        XTestFakeButtonEvent(_display, (uint)button, false, 0);
        XSync(_display, false);
    }

    /// <summary>Presses and releases the key with this X keysym name ("q", "Escape", "space").</summary>
    public void Key(string keysym)
    {
        uint code = XKeysymToKeycode(_display, XStringToKeysym(keysym));
        if (code == 0) throw new InvalidOperationException($"no keycode for keysym {keysym}");
        XTestFakeKeyEvent(_display, code, true, 0);
        XTestFakeKeyEvent(_display, code, false, 0);
        XSync(_display, false);
    }

    /// <summary>Asks the top-level window titled <paramref name="title"/> to close, as a window manager does when its
    /// close button is clicked (WM_DELETE_WINDOW). False when there is no such window.</summary>
    public bool RequestClose(string title)
    {
        var window = Find(XDefaultRootWindow(_display), title);
        if (window == 0) return false;
        var ev = new XClientMessageEvent
        {
            Type = 33, // ClientMessage
            Window = window,
            MessageType = XInternAtom(_display, "WM_PROTOCOLS", false),
            Format = 32,
        };
        unsafe { ev.Data[0] = (long)XInternAtom(_display, "WM_DELETE_WINDOW", false); ev.Data[1] = 0; }
        XSendEvent(_display, window, false, 0, ref ev);
        XSync(_display, false);
        return true;
    }

    private ulong Find(ulong window, string title)
    {
        if (XFetchName(_display, window, out var name) != 0 && name != IntPtr.Zero)
        {
            string? n = Marshal.PtrToStringUTF8(name);
            XFree(name);
            if (n == title) return window;
        }
        if (XQueryTree(_display, window, out _, out _, out var children, out uint count) == 0) return 0;
        try
        {
            for (int i = 0; i < count; i++)
            {
                var child = (ulong)Marshal.ReadInt64(children, i * 8);
                var found = Find(child, title);
                if (found != 0) return found;
            }
        }
        finally { if (children != IntPtr.Zero) XFree(children); }
        return 0;
    }

    public void Dispose() => XCloseDisplay(_display);

    [StructLayout(LayoutKind.Explicit, Size = 192)]
    private unsafe struct XClientMessageEvent
    {
        [FieldOffset(0)] public int Type;
        [FieldOffset(8)] public ulong Serial;
        [FieldOffset(16)] public int SendEvent;
        [FieldOffset(24)] public IntPtr Display;
        [FieldOffset(32)] public ulong Window;
        [FieldOffset(40)] public ulong MessageType;
        [FieldOffset(48)] public int Format;
        [FieldOffset(56)] public fixed long Data[5];
    }

    [LibraryImport(LibX11, StringMarshalling = StringMarshalling.Utf8)] private static partial IntPtr XOpenDisplay(string name);
    [LibraryImport(LibX11)] private static partial int XCloseDisplay(IntPtr display);
    [LibraryImport(LibX11)] private static partial ulong XDefaultRootWindow(IntPtr display);
    [LibraryImport(LibX11)] private static partial int XSync(IntPtr display, [MarshalAs(UnmanagedType.Bool)] bool discard);
    [LibraryImport(LibX11)] private static partial int XFree(IntPtr data);
    [LibraryImport(LibX11)] private static partial int XFetchName(IntPtr display, ulong window, out IntPtr name);
    [LibraryImport(LibX11)] private static partial int XQueryTree(IntPtr display, ulong window, out ulong root, out ulong parent, out IntPtr children, out uint count);
    [LibraryImport(LibX11, StringMarshalling = StringMarshalling.Utf8)] private static partial ulong XInternAtom(IntPtr display, string name, [MarshalAs(UnmanagedType.Bool)] bool onlyIfExists);
    [LibraryImport(LibX11)] private static partial int XSendEvent(IntPtr display, ulong window, [MarshalAs(UnmanagedType.Bool)] bool propagate, long mask, ref XClientMessageEvent ev);
    [LibraryImport(LibX11, StringMarshalling = StringMarshalling.Utf8)] private static partial ulong XStringToKeysym(string name);
    [LibraryImport(LibX11)] private static partial byte XKeysymToKeycode(IntPtr display, ulong keysym);
    [LibraryImport(LibXtst)] [return: MarshalAs(UnmanagedType.Bool)] private static partial bool XTestQueryExtension(IntPtr display, out int eventBase, out int errorBase, out int major, out int minor);
    [LibraryImport(LibXtst)] private static partial int XTestFakeMotionEvent(IntPtr display, int screen, int x, int y, ulong delay);
    [LibraryImport(LibXtst)] private static partial int XTestFakeButtonEvent(IntPtr display, uint button, [MarshalAs(UnmanagedType.Bool)] bool press, ulong delay);
    [LibraryImport(LibXtst)] private static partial int XTestFakeKeyEvent(IntPtr display, uint keycode, [MarshalAs(UnmanagedType.Bool)] bool press, ulong delay);
}
