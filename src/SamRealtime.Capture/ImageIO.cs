using OpenCvSharp;

namespace SamRealtime.Capture;

/// <summary>An 8-bit RGBA image in CPU memory, rows packed (stride = 4·width).</summary>
public sealed record RgbaImage(byte[] Pixels, int Width, int Height)
{
    public int Stride => Width * 4;
}

/// <summary>Image files in and out through OpenCV; errors name the file.</summary>
public static class ImageIO
{
    public static RgbaImage LoadRgba(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Image not found: {path}", path);
        using var bgr = Cv2.ImRead(path, ImreadModes.Color);
        if (bgr.Empty()) throw new InvalidDataException($"Cannot decode image '{path}' (not an image OpenCV can read).");
        using var rgba = new Mat();
        Cv2.CvtColor(bgr, rgba, ColorConversionCodes.BGR2RGBA);
        var bytes = new byte[rgba.Rows * rgba.Cols * 4];
        // Mat rows may be padded; copy row by row through the indexer-free GetArray path.
        rgba.GetArray(out OpenCvSharp.Vec4b[] pixels);
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(pixels.AsSpan()).CopyTo(bytes);
        return new RgbaImage(bytes, rgba.Cols, rgba.Rows);
    }

    /// <summary>Writes an 8-bit single-channel mask (0/255) as PNG.</summary>
    public static void SaveMask(string path, byte[] mask, int width, int height)
    {
        if (mask.Length != width * height) throw new ArgumentException($"Mask has {mask.Length} bytes, expected {width}x{height}.");
        using var m = Mat.FromPixelData(height, width, MatType.CV_8UC1, mask);
        if (!Cv2.ImWrite(path, m)) throw new IOException($"Cannot write '{path}'.");
    }
}
