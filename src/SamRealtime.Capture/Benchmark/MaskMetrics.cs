namespace SamRealtime.Capture.Benchmark;

/// <summary>
/// The DAVIS video-segmentation measures on 0/non-zero masks of one frame. J is the region similarity (IoU). F is the
/// boundary F-measure: the share of the predicted contour within a tolerance of the true contour (precision) and of
/// the true contour within the tolerance of the predicted one (recall), combined as 2PR/(P+R). DAVIS sets the tolerance
/// to 0.008 of the image diagonal (8 pixels on a 768x576 frame), the default of <see cref="BoundaryTolerance"/>.
/// Empty masks follow DAVIS too: two empty masks agree perfectly (J = F = 1), one empty against a non-empty one is 0.
/// </summary>
public static class MaskMetrics
{
    public const double DavisBoundaryFraction = 0.008;

    /// <summary>Intersection over union; 1 when both masks are empty.</summary>
    public static double Jaccard(ReadOnlySpan<byte> mask, ReadOnlySpan<byte> truth)
    {
        CheckSizes(mask, truth);
        long inter = 0, union = 0;
        for (int i = 0; i < mask.Length; i++)
        {
            bool a = mask[i] != 0, b = truth[i] != 0;
            if (a && b) inter++;
            if (a || b) union++;
        }
        return union == 0 ? 1 : (double)inter / union;
    }

    /// <summary>The boundary tolerance in pixels for an image: <paramref name="fraction"/> of its diagonal, rounded up
    /// (DAVIS's rule).</summary>
    public static int BoundaryTolerance(int width, int height, double fraction = DavisBoundaryFraction) =>
        (int)Math.Ceiling(fraction * Math.Sqrt((double)width * width + (double)height * height));

    /// <summary>Boundary F-measure with a distance tolerance of <paramref name="tolerance"/> pixels (Euclidean).</summary>
    public static double BoundaryF(ReadOnlySpan<byte> mask, ReadOnlySpan<byte> truth, int width, int height, int tolerance)
    {
        CheckSizes(mask, truth);
        if (mask.Length != width * height) throw new ArgumentException($"Masks have {mask.Length} pixels, expected {width}x{height}.");
        var pred = Boundary(mask, width, height);
        var gt = Boundary(truth, width, height);
        int np = pred.Count(b => b), ng = gt.Count(b => b);
        if (np == 0 && ng == 0) return 1;
        if (np == 0 || ng == 0) return 0;
        double precision = (double)CountNear(pred, Dilate(gt, width, height, tolerance)) / np;
        double recall = (double)CountNear(gt, Dilate(pred, width, height, tolerance)) / ng;
        return precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
    }

    /// <summary>The contour: object pixels with a 4-neighbour outside the object. The image border is not a contour
    /// (an object cut by the frame edge has no edge there), as in DAVIS.</summary>
    public static bool[] Boundary(ReadOnlySpan<byte> mask, int width, int height)
    {
        var b = new bool[width * height];
        for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
        {
            int i = y * width + x;
            if (mask[i] == 0) continue;
            b[i] = (x > 0 && mask[i - 1] == 0) || (x < width - 1 && mask[i + 1] == 0)
                || (y > 0 && mask[i - width] == 0) || (y < height - 1 && mask[i + width] == 0);
        }
        return b;
    }

    /// <summary>Every pixel within <paramref name="radius"/> (Euclidean) of a set pixel.</summary>
    private static bool[] Dilate(bool[] set, int width, int height, int radius)
    {
        var disk = new List<(int Dx, int Dy)>();
        for (int dy = -radius; dy <= radius; dy++)
        for (int dx = -radius; dx <= radius; dx++)
            if (dx * dx + dy * dy <= radius * radius) disk.Add((dx, dy));
        var result = new bool[set.Length];
        for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
        {
            if (!set[y * width + x]) continue;
            foreach (var (dx, dy) in disk)
            {
                int nx = x + dx, ny = y + dy;
                if (nx >= 0 && ny >= 0 && nx < width && ny < height) result[ny * width + nx] = true;
            }
        }
        return result;
    }

    private static long CountNear(bool[] set, bool[] near)
    {
        long n = 0;
        for (int i = 0; i < set.Length; i++) if (set[i] && near[i]) n++;
        return n;
    }

    private static void CheckSizes(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"Masks differ in size: {a.Length} and {b.Length} pixels.");
    }
}
