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
        return ToRgba(bgr);
    }

    /// <summary>Converts an 8-bit BGR Mat (OpenCV's native order) to packed RGBA.</summary>
    public static RgbaImage ToRgba(Mat bgr)
    {
        using var rgba = new Mat();
        Cv2.CvtColor(bgr, rgba, ColorConversionCodes.BGR2RGBA);
        var bytes = new byte[rgba.Rows * rgba.Cols * 4];
        // GetArray copies the pixels whatever the Mat's row padding.
        rgba.GetArray(out OpenCvSharp.Vec4b[] pixels);
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(pixels.AsSpan()).CopyTo(bytes);
        return new RgbaImage(bytes, rgba.Cols, rgba.Rows);
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="path"/> names a PNG: a mask must stay
    /// exactly 0/255, and JPEG's lossy compression would smear its edges into grey levels.</summary>
    public static void CheckMaskPath(string path)
    {
        var ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext is ".jpg" or ".jpeg")
            throw new ArgumentException($"{path}: masks are written as PNG; JPEG is lossy and would turn the 0/255 mask into grey levels.");
        if (ext != ".png") throw new ArgumentException($"{path}: a mask must end in .png.");
    }

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="path"/> names a PNG or JPEG file.</summary>
    public static void CheckImagePath(string path)
    {
        if (Path.GetExtension(path).ToLowerInvariant() is not (".png" or ".jpg" or ".jpeg"))
            throw new ArgumentException($"{path}: an image must end in .png, .jpg or .jpeg.");
    }

    /// <summary>Writes an RGBA image (PNG or JPEG by extension).</summary>
    public static void SaveRgba(string path, RgbaImage image)
    {
        CheckImagePath(path);
        using var rgba = Mat.FromPixelData(image.Height, image.Width, MatType.CV_8UC4, image.Pixels);
        using var bgr = new Mat();
        Cv2.CvtColor(rgba, bgr, ColorConversionCodes.RGBA2BGR);
        Write(path, bgr);
    }

    /// <summary>Writes an 8-bit single-channel mask (0/255) as PNG.</summary>
    public static void SaveMask(string path, byte[] mask, int width, int height)
    {
        CheckMaskPath(path);
        if (mask.Length != width * height) throw new ArgumentException($"Mask has {mask.Length} bytes, expected {width}x{height}.");
        using var m = Mat.FromPixelData(height, width, MatType.CV_8UC1, mask);
        Write(path, m);
    }

    /// <summary>Writes an 8-bit BGR Mat (OpenCV's order, e.g. an <see cref="Overlay.Render"/>) as PNG or JPEG.</summary>
    public static void SaveBgr(string path, Mat bgr)
    {
        CheckImagePath(path);
        Write(path, bgr);
    }

    /// <summary>Encodes <paramref name="image"/> by the extension of <paramref name="path"/>, under a temporary name first.</summary>
    internal static void Write(string path, Mat image) =>
        AtomicFile.Write(path, tmp =>
        {
            if (!Cv2.ImWrite(tmp, image)) throw new IOException($"Cannot write '{path}'.");
        });
}

/// <summary>Draws masks over an image for people to look at.</summary>
public static class Overlay
{
    /// <summary>Writes <paramref name="image"/> with each mask tinted in its own colour and outlined (PNG or JPEG).</summary>
    public static void Save(string path, RgbaImage image, IReadOnlyList<byte[]> masks, IReadOnlyList<(float X, float Y, bool Positive)>? points = null,
                            (float X0, float Y0, float X1, float Y1)? box = null)
    {
        ImageIO.CheckImagePath(path);
        using var bgr = Render(image, masks, points, box);
        ImageIO.Write(path, bgr);
    }

    /// <summary>The overlay as an 8-bit BGR Mat (a video frame); the caller disposes it.</summary>
    public static Mat Render(RgbaImage image, IReadOnlyList<byte[]> masks, IReadOnlyList<(float X, float Y, bool Positive)>? points = null,
                             (float X0, float Y0, float X1, float Y1)? box = null)
    {
        using var rgba = Mat.FromPixelData(image.Height, image.Width, MatType.CV_8UC4, image.Pixels);
        var bgr = new Mat();
        Cv2.CvtColor(rgba, bgr, ColorConversionCodes.RGBA2BGR);
        Scalar[] colours = [new(255, 144, 30), new(60, 200, 60), new(40, 40, 230), new(200, 60, 200), new(0, 200, 230)];
        for (int i = 0; i < masks.Count; i++)
        {
            using var m = Mat.FromPixelData(image.Height, image.Width, MatType.CV_8UC1, masks[i]);
            using var tint = new Mat(bgr.Size(), bgr.Type(), colours[i % colours.Length]);
            using var blended = new Mat();
            Cv2.AddWeighted(bgr, 0.45, tint, 0.55, 0, blended);
            blended.CopyTo(bgr, m);
            Cv2.FindContours(m, out var contours, out _, RetrievalModes.External, ContourApproximationModes.ApproxSimple);
            Cv2.DrawContours(bgr, contours, -1, colours[i % colours.Length], 2);
        }
        if (box is { } b) Cv2.Rectangle(bgr, new Point(b.X0, b.Y0), new Point(b.X1, b.Y1), new Scalar(0, 255, 0), 2);
        foreach (var p in points ?? [])
            Cv2.DrawMarker(bgr, new Point(p.X, p.Y), p.Positive ? new Scalar(0, 255, 0) : new Scalar(0, 0, 255), MarkerTypes.Star, 24, 2);
        return bgr;
    }

    /// <summary>Writes <paramref name="image"/> with many masks (e.g. segment everything), each in its own colour (hues
    /// a golden angle apart) and outlined in white; masks are painted in the order given, so later ones stay on top.</summary>
    public static void SaveMany(string path, RgbaImage image, IReadOnlyList<byte[]> masks)
    {
        using var rgba = Mat.FromPixelData(image.Height, image.Width, MatType.CV_8UC4, image.Pixels);
        using var bgr = new Mat();
        Cv2.CvtColor(rgba, bgr, ColorConversionCodes.RGBA2BGR);
        for (int i = 0; i < masks.Count; i++)
        {
            // OpenCV's 8-bit hue runs 0..179; the golden angle keeps neighbours in the list far apart in colour.
            using var hsv = new Mat(1, 1, MatType.CV_8UC3, new Scalar(i * 137.508 / 2 % 180, 200, 255));
            using var one = new Mat();
            Cv2.CvtColor(hsv, one, ColorConversionCodes.HSV2BGR);
            var c = one.Get<Vec3b>(0, 0);
            var colour = new Scalar(c.Item0, c.Item1, c.Item2);
            using var m = Mat.FromPixelData(image.Height, image.Width, MatType.CV_8UC1, masks[i]);
            using var tint = new Mat(bgr.Size(), bgr.Type(), colour);
            using var blended = new Mat();
            Cv2.AddWeighted(bgr, 0.4, tint, 0.6, 0, blended);
            blended.CopyTo(bgr, m);
            Cv2.FindContours(m, out var contours, out _, RetrievalModes.External, ContourApproximationModes.ApproxSimple);
            Cv2.DrawContours(bgr, contours, -1, new Scalar(255, 255, 255), 1);
        }
        if (!Cv2.ImWrite(path, bgr)) throw new IOException($"Cannot write '{path}'.");
    }
}
