using System.Runtime.InteropServices;
using System.Text;
using SamRealtime.Vulkan;

namespace SamRealtime.Native;

/// <summary>The negative return codes of samrt.h.</summary>
internal enum ErrorCode
{
    InvalidArgument = -1,
    InvalidHandle = -2,
    NoImage = -3,
    Model = -4,
    Vulkan = -5,
    BufferTooSmall = -6,
    OutOfMemory = -7,
    Internal = -99,
}

/// <summary>A failure detected by the ABI layer itself, with the code it maps to.</summary>
internal sealed class SamrtException(ErrorCode code, string message) : Exception(message)
{
    public ErrorCode Code { get; } = code;

    public static SamrtException Arg(string message) => new(ErrorCode.InvalidArgument, message);
}

/// <summary>
/// samrt_last_error's storage: one native UTF-8 string per thread, freed when the thread's next call replaces or
/// clears it, so the pointer C got stays valid exactly as long as the header promises.
/// </summary>
internal static unsafe class LastError
{
    [ThreadStatic] private static byte* _message;

    // Returned while there is no error: C callers may print samrt_last_error() unconditionally.
    private static readonly byte* Empty = (byte*)NativeMemory.AllocZeroed(1);

    public static byte* Current => _message != null ? _message : Empty;

    public static void Clear()
    {
        if (_message == null) return;
        NativeMemory.Free(_message);
        _message = null;
    }

    public static void Set(string text)
    {
        Clear();
        int n = Encoding.UTF8.GetByteCount(text);
        var p = (byte*)NativeMemory.Alloc((nuint)n + 1);
        Encoding.UTF8.GetBytes(text, new Span<byte>(p, n));
        p[n] = 0;
        _message = p;
    }

    /// <summary>Records <paramref name="e"/> as this thread's error and returns its code. Never throws: it runs in
    /// the catch of every export, where an exception would cross into C and end the process.</summary>
    public static int Fail(string function, Exception e)
    {
        var code = e switch
        {
            SamrtException s => s.Code,
            VulkanException => ErrorCode.Vulkan,
            OutOfMemoryException or InsufficientMemoryException => ErrorCode.OutOfMemory,
            ArgumentException => ErrorCode.InvalidArgument,
            // Only model loading reads files; ModelFormatException and OnnxFormatException are FormatExceptions.
            IOException or UnauthorizedAccessException or FormatException => ErrorCode.Model,
            _ => ErrorCode.Internal,
        };
        try
        {
            Set(code == ErrorCode.Internal ? $"{function}: {e.GetType().Name}: {e.Message}" : $"{function}: {e.Message}");
        }
        catch
        {
            // Out of memory for the message itself: the code still tells the caller what kind of failure it was.
        }
        return (int)code;
    }

    /// <summary>Copies <paramref name="text"/> into a caller's buffer as NUL-terminated UTF-8, cut at a character
    /// boundary; returns the full length in bytes.</summary>
    public static int CopyTo(string text, byte* buf, int size)
    {
        if (size < 0) throw SamrtException.Arg($"buf_size {size} is negative.");
        if (size > 0 && buf == null) throw SamrtException.Arg($"buf is NULL but buf_size is {size}.");
        var bytes = Encoding.UTF8.GetBytes(text);
        if (size == 0) return bytes.Length;
        int n = Math.Min(bytes.Length, size - 1);
        while (n > 0 && n < bytes.Length && (bytes[n] & 0xC0) == 0x80) n--;
        bytes.AsSpan(0, n).CopyTo(new Span<byte>(buf, n));
        buf[n] = 0;
        return bytes.Length;
    }
}
