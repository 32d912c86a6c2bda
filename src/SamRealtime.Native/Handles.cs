using System.Runtime.InteropServices;

namespace SamRealtime.Native;

/// <summary>
/// The opaque pointers given to C are GCHandles of our objects. C can hand back anything, so a pointer is checked
/// against the handles this library issued before GCHandle.FromIntPtr touches it. Destroying an object clears its
/// handle's target but never frees the handle: its value is then never issued again, so a destroyed pointer is
/// recognised for what it is instead of silently naming a newer object (the cost is one handle slot per object ever
/// destroyed).
/// </summary>
internal static class Handles
{
    private static readonly HashSet<nint> Issued = new();

    public static nint Add(object target)
    {
        var p = GCHandle.ToIntPtr(GCHandle.Alloc(target));
        lock (Issued) Issued.Add(p);
        return p;
    }

    /// <param name="what">The C type, for messages (samrt_ctx, samrt_tracker).</param>
    public static T Get<T>(nint p, string what) where T : class
    {
        lock (Issued) return Check<T>(p, what);
    }

    /// <summary>Detaches the object from its handle (later calls with it fail) and returns it; null when p is NULL.</summary>
    public static T? Release<T>(nint p, string what) where T : class
    {
        if (p == 0) return null;
        lock (Issued)
        {
            var target = Check<T>(p, what);
            var h = GCHandle.FromIntPtr(p);
            h.Target = null;
            return target;
        }
    }

    private static T Check<T>(nint p, string what) where T : class
    {
        if (p == 0) throw new SamrtException(ErrorCode.InvalidHandle, $"{what} is NULL.");
        if (!Issued.Contains(p)) throw new SamrtException(ErrorCode.InvalidHandle, $"0x{p:x} is not a {what} from this library.");
        return GCHandle.FromIntPtr(p).Target switch
        {
            T t => t,
            null => throw new SamrtException(ErrorCode.InvalidHandle, $"the {what} was destroyed."),
            var other => throw new SamrtException(ErrorCode.InvalidHandle, $"0x{p:x} is a {(other as NativeObject)?.CName}, not a {what}."),
        };
    }
}

/// <summary>What a handle points at; <see cref="CName"/> names its C type in messages.</summary>
internal abstract class NativeObject
{
    public abstract string CName { get; }
}

/// <summary>C's conventions where they differ from the library's.</summary>
internal static class CConvention
{
    /// <summary>The library's boxes have exclusive ends (as Prompt.Box); samrt.h states inclusive pixels, -1 for none.</summary>
    public static (int X0, int Y0, int X1, int Y1) Box((int X0, int Y0, int X1, int Y1)? box) =>
        box is { } b ? (b.X0, b.Y0, b.X1 - 1, b.Y1 - 1) : (-1, -1, -1, -1);
}
