namespace SamRealtime.Model;

/// <summary>Point labels as SAM uses them.</summary>
public enum PointLabel { Padding = -1, Negative = 0, Positive = 1, BoxTopLeft = 2, BoxBottomRight = 3 }

public readonly record struct PromptPoint(float X, float Y, PointLabel Label);

/// <summary>
/// One prompt in original-image pixel coordinates: points, an optional box (x0, y0, x1, y1), and optionally the
/// previous 256x256 low-res mask logits as a dense prompt.
/// </summary>
public sealed record Prompt
{
    public IReadOnlyList<PromptPoint> Points { get; init; } = [];
    public (float X0, float Y0, float X1, float Y1)? Box { get; init; }
    public float[]? MaskLogits { get; init; }

    public static Prompt Point(float x, float y, bool positive = true) =>
        new() { Points = [new PromptPoint(x, y, positive ? PointLabel.Positive : PointLabel.Negative)] };

    /// <summary>The sparse points exactly as the official predictor feeds sam.onnx: the points, then the box as two
    /// corner points, or one padding point at (0,0) with label -1 when there is no box. Coordinates are scaled to the
    /// resized 1024 frame.</summary>
    public PromptPoint[] SparsePoints(int origH, int origW, int size = 1024)
    {
        var (newH, newW) = ResizedSize(origH, origW, size);
        float sx = (float)newW / origW, sy = (float)newH / origH;
        var list = Points.Select(p => p with { X = p.X * sx, Y = p.Y * sy }).ToList();
        if (Box is { } b)
        {
            list.Add(new PromptPoint(b.X0 * sx, b.Y0 * sy, PointLabel.BoxTopLeft));
            list.Add(new PromptPoint(b.X1 * sx, b.Y1 * sy, PointLabel.BoxBottomRight));
        }
        else list.Add(new PromptPoint(0, 0, PointLabel.Padding));
        return list.ToArray();
    }

    /// <summary>SAM's ResizeLongestSide: the longest side becomes <paramref name="size"/>, the other int(side·scale + 0.5).</summary>
    public static (int Height, int Width) ResizedSize(int h, int w, int size = 1024)
    {
        double scale = (double)size / Math.Max(h, w);
        return ((int)(h * scale + 0.5), (int)(w * scale + 0.5));
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming what does not fit an origW x origH image.</summary>
    public void Validate(int origW, int origH)
    {
        Limits.CheckPointCount(Points.Count);
        if (Points.Count == 0 && Box is null)
            throw new ArgumentException("Empty prompt: give at least one point or a box.");
        foreach (var p in Points)
        {
            if (!float.IsFinite(p.X) || !float.IsFinite(p.Y) || p.X < 0 || p.Y < 0 || p.X >= origW || p.Y >= origH)
                throw new ArgumentException($"Point ({p.X}, {p.Y}) is outside the {origW}x{origH} image.");
            if (p.Label is not (PointLabel.Positive or PointLabel.Negative))
                throw new ArgumentException($"Point ({p.X}, {p.Y}) has label {p.Label}; points are positive or negative (boxes go in Box).");
        }
        if (Box is { } b)
        {
            if (!(b.X0 < b.X1 && b.Y0 < b.Y1) || b.X0 < 0 || b.Y0 < 0 || b.X1 > origW || b.Y1 > origH)
                throw new ArgumentException($"Box ({b.X0}, {b.Y0}, {b.X1}, {b.Y1}) is empty or outside the {origW}x{origH} image.");
        }
        if (MaskLogits is { } m && m.Length != 256 * 256)
            throw new ArgumentException($"Mask prompt must be 256x256 logits ({256 * 256} values), got {m.Length}.");
    }
}
