using SamRealtime.Model;

namespace SamRealtime.Capture.Benchmark;

/// <summary>Where a sprite is drawn on one frame: its centre in frame pixels, a scale of its cut-out size and a
/// rotation in degrees (clockwise as seen).</summary>
public readonly record struct Placement(float X, float Y, float Scale = 1, float Angle = 0);

/// <summary>
/// An object cut out of a real photo with its mask: the pixels the mask covers are the object, exactly, so a frame
/// that draws it knows its ground truth to the pixel. Drawing samples the nearest cut-out pixel (no blending): the
/// object's visible pixels and the ground truth are then one and the same set.
/// </summary>
public sealed class Sprite
{
    public string Name { get; }
    public byte[] Rgba { get; }
    /// <summary>0/255 per pixel, Width×Height.</summary>
    public byte[] Mask { get; }
    public int Width { get; }
    public int Height { get; }

    public Sprite(string name, byte[] rgba, byte[] mask, int width, int height)
    {
        if (rgba.Length != width * height * 4 || mask.Length != width * height)
            throw new ArgumentException($"Sprite {name}: pixel or mask size does not match {width}x{height}.");
        Name = name;
        Rgba = rgba;
        Mask = mask;
        Width = width;
        Height = height;
    }

    /// <summary>Cuts the masked object out of <paramref name="image"/>, cropped to the mask and resized (nearest
    /// neighbour) so its longer side is <paramref name="longSide"/> pixels.</summary>
    public static Sprite Cut(string name, RgbaImage image, ReadOnlySpan<byte> mask, int longSide)
    {
        int x0 = image.Width, y0 = image.Height, x1 = -1, y1 = -1;
        for (int y = 0; y < image.Height; y++)
        for (int x = 0; x < image.Width; x++)
            if (mask[y * image.Width + x] != 0) { x0 = Math.Min(x0, x); x1 = Math.Max(x1, x); y0 = Math.Min(y0, y); y1 = Math.Max(y1, y); }
        if (x1 < 0) throw new ArgumentException($"Sprite {name}: the mask is empty.");
        int cw = x1 - x0 + 1, ch = y1 - y0 + 1;
        double scale = (double)longSide / Math.Max(cw, ch);
        int w = Math.Max(1, (int)Math.Round(cw * scale)), h = Math.Max(1, (int)Math.Round(ch * scale));
        var rgba = new byte[w * h * 4];
        var m = new byte[w * h];
        for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
        {
            int sx = Math.Min(x1, x0 + (int)((x + 0.5) / scale)), sy = Math.Min(y1, y0 + (int)((y + 0.5) / scale));
            int si = sy * image.Width + sx;
            if (mask[si] == 0) continue;
            m[y * w + x] = 255;
            Array.Copy(image.Pixels, si * 4, rgba, (y * w + x) * 4, 4);
        }
        return new Sprite(name, rgba, m, w, h);
    }

    /// <summary>Segments an object of a photo with SAM (our own model) from a prompt and cuts it out.</summary>
    public static Sprite Segment(SamModel model, string name, string imagePath, Prompt prompt, int longSide)
    {
        var image = ImageIO.LoadRgba(imagePath);
        model.SetImage(image.Pixels, image.Width, image.Height, image.Stride);
        return Cut(name, image, model.Predict(prompt).BestMask, longSide);
    }

    /// <summary>Draws the sprite into an RGBA frame and marks the pixels it covers in <paramref name="covered"/>
    /// (0/255, frame-sized); parts outside the frame are clipped.</summary>
    public void Draw(byte[] frame, byte[] covered, int width, int height, Placement p)
    {
        // Frame pixel centre → sprite coordinates: undo the rotation and scale about the placement's centre.
        double a = p.Angle * Math.PI / 180, cos = Math.Cos(a), sin = Math.Sin(a);
        double reach = 0.5 * Math.Sqrt((double)Width * Width + (double)Height * Height) * p.Scale + 1;
        int fx0 = Math.Max(0, (int)Math.Floor(p.X - reach)), fx1 = Math.Min(width - 1, (int)Math.Ceiling(p.X + reach));
        int fy0 = Math.Max(0, (int)Math.Floor(p.Y - reach)), fy1 = Math.Min(height - 1, (int)Math.Ceiling(p.Y + reach));
        for (int y = fy0; y <= fy1; y++)
        for (int x = fx0; x <= fx1; x++)
        {
            double dx = (x + 0.5 - p.X) / p.Scale, dy = (y + 0.5 - p.Y) / p.Scale;
            double sx = cos * dx + sin * dy + Width / 2.0, sy = -sin * dx + cos * dy + Height / 2.0;
            int ix = (int)Math.Floor(sx), iy = (int)Math.Floor(sy);
            if (ix < 0 || iy < 0 || ix >= Width || iy >= Height) continue;
            int si = iy * Width + ix;
            if (Mask[si] == 0) continue;
            int fi = y * width + x;
            Array.Copy(Rgba, si * 4, frame, fi * 4, 4);
            covered[fi] = 255;
        }
    }
}
