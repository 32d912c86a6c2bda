namespace SamRealtime.Model;

/// <summary>A box in pixel indices, both corners inclusive (x1 is the last column), as SAM's batched_mask_to_box
/// returns; (0,0,0,0) for an empty mask.</summary>
public readonly record struct PixelBox(int X0, int Y0, int X1, int Y1)
{
    /// <summary>XYWH as SAM reports it (w = x1 - x0, so one pixel wide is 0).</summary>
    public (int X, int Y, int W, int H) Xywh => (X0, Y0, X1 - X0, Y1 - Y0);
    public PixelBox Offset(int dx, int dy) => new(X0 + dx, Y0 + dy, X1 + dx, Y1 + dy);
}

/// <summary>
/// The automatic mask generator's CPU-side steps with the definitions of segment-anything's utils/amg.py and
/// torchvision: point grids, crop boxes, box extraction, box IoU and NMS, the crop-edge test and small-region removal.
/// </summary>
public static class MaskPostprocess
{
    /// <summary>n×n points evenly spaced in [0,1]² (numpy linspace(1/2n, 1-1/2n, n)), x fastest.</summary>
    public static (double X, double Y)[] PointGrid(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), $"points per side {n} must be positive.");
        double offset = 1.0 / (2 * n);
        var side = new double[n];
        for (int i = 0; i < n; i++) side[i] = n == 1 ? offset : offset + i * ((1 - 2 * offset) / (n - 1));
        var points = new (double, double)[n * n];
        for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++)
            points[y * n + x] = (side[x], side[y]);
        return points;
    }

    /// <summary>The grid of each crop layer: layer i has int(n / factor^i) points per side.</summary>
    public static (double X, double Y)[][] LayerGrids(int pointsPerSide, int layers, int downscale) =>
        Enumerable.Range(0, layers + 1).Select(i => PointGrid((int)(pointsPerSide / Math.Pow(downscale, i)))).ToArray();

    /// <summary>The crop boxes (x0, y0, x1, y1, exclusive ends) and their layers: the whole image, then for layer i
    /// 2^i × 2^i overlapping crops (generate_crop_boxes; x outer, y inner).</summary>
    public static (int X0, int Y0, int X1, int Y1, int Layer)[] CropBoxes(int width, int height, int layers, double overlapRatio)
    {
        var boxes = new List<(int, int, int, int, int)> { (0, 0, width, height, 0) };
        int shortSide = Math.Min(width, height);
        for (int layer = 0; layer < layers; layer++)
        {
            int perSide = 1 << (layer + 1);
            int overlap = (int)(overlapRatio * shortSide * (2.0 / perSide));
            int cropW = (int)Math.Ceiling((double)(overlap * (perSide - 1) + width) / perSide);
            int cropH = (int)Math.Ceiling((double)(overlap * (perSide - 1) + height) / perSide);
            for (int i = 0; i < perSide; i++)
            for (int j = 0; j < perSide; j++)
            {
                int x0 = (cropW - overlap) * i, y0 = (cropH - overlap) * j;
                boxes.Add((x0, y0, Math.Min(x0 + cropW, width), Math.Min(y0 + cropH, height), layer + 1));
            }
        }
        return boxes.ToArray();
    }

    /// <summary>The box of a row-major mask (non-zero = object).</summary>
    public static PixelBox Box(ReadOnlySpan<byte> mask, int width, int height)
    {
        int x0 = width, y0 = height, x1 = -1, y1 = -1;
        for (int y = 0; y < height; y++)
        {
            var row = mask.Slice(y * width, width);
            int first = row.IndexOfAnyExcept((byte)0);
            if (first < 0) continue;
            int last = row.LastIndexOfAnyExcept((byte)0);
            x0 = Math.Min(x0, first);
            x1 = Math.Max(x1, last);
            y0 = Math.Min(y0, y);
            y1 = y;
        }
        return x1 < 0 ? default : new PixelBox(x0, y0, x1, y1);
    }

    /// <summary>torchvision's box IoU: areas are (x1 - x0)·(y1 - y0), corners as given.</summary>
    public static double BoxIou(PixelBox a, PixelBox b)
    {
        double areaA = (double)(a.X1 - a.X0) * (a.Y1 - a.Y0), areaB = (double)(b.X1 - b.X0) * (b.Y1 - b.Y0);
        double w = Math.Max(0, Math.Min(a.X1, b.X1) - Math.Max(a.X0, b.X0)), h = Math.Max(0, Math.Min(a.Y1, b.Y1) - Math.Max(a.Y0, b.Y0));
        double inter = w * h, union = areaA + areaB - inter;
        return union <= 0 ? 0 : inter / union;
    }

    /// <summary>Greedy non-maximum suppression (torchvision nms): in decreasing score (ties: lower index first), keep a
    /// box unless its IoU with a kept one is above <paramref name="threshold"/>. Returns kept indices in that order.</summary>
    public static int[] Nms(IReadOnlyList<PixelBox> boxes, IReadOnlyList<float> scores, double threshold)
    {
        var order = Enumerable.Range(0, boxes.Count).OrderByDescending(i => scores[i]).ThenBy(i => i).ToArray();
        var kept = new List<int>();
        foreach (int i in order)
        {
            bool suppressed = false;
            foreach (int k in kept)
                if (BoxIou(boxes[i], boxes[k]) > threshold) { suppressed = true; break; }
            if (!suppressed) kept.Add(i);
        }
        return kept.ToArray();
    }

    /// <summary>is_box_near_crop_edge: some side of the box (in image coordinates) is within <paramref name="atol"/>
    /// of a side of the crop that is not also a side of the image.</summary>
    public static bool NearCropEdge(PixelBox box, (int X0, int Y0, int X1, int Y1) crop, int width, int height, double atol = 20)
    {
        ReadOnlySpan<double> b = [box.X0, box.Y0, box.X1, box.Y1];
        ReadOnlySpan<double> c = [crop.X0, crop.Y0, crop.X1, crop.Y1];
        ReadOnlySpan<double> o = [0, 0, width, height];
        for (int i = 0; i < 4; i++)
            if (Math.Abs(b[i] - c[i]) <= atol && Math.Abs(b[i] - o[i]) > atol) return true;
        return false;
    }

    /// <summary>
    /// remove_small_regions: with <paramref name="holes"/>, fills background regions (8-connected) smaller than
    /// <paramref name="minArea"/>; otherwise removes object regions smaller than it, keeping the largest when all are.
    /// In "holes" mode every background region counts, the one around the object too (as officially: a mask that
    /// covers all but a small margin gets the margin filled). Returns whether the mask changed; edits it in place (0/255).
    /// </summary>
    public static bool RemoveSmallRegions(byte[] mask, int width, int height, int minArea, bool holes)
    {
        // Work on the pixels whose regions are measured: background pixels for holes, object pixels for islands.
        var work = new bool[mask.Length];
        for (int i = 0; i < mask.Length; i++) work[i] = (mask[i] != 0) != holes;
        var (labels, sizes) = Components8(work, width, height);
        int n = sizes.Length;
        var small = new bool[n];
        bool any = false;
        for (int l = 0; l < n; l++) any |= small[l] = sizes[l] < minArea;
        if (!any) return false;
        if (holes)
        {
            for (int i = 0; i < mask.Length; i++)
                if (labels[i] >= 0 && small[labels[i]]) mask[i] = 255;
        }
        else
        {
            var keep = new bool[n];
            bool keepAny = false;
            for (int l = 0; l < n; l++) keepAny |= keep[l] = !small[l];
            if (!keepAny) keep[Array.IndexOf(sizes, sizes.Max())] = true;
            for (int i = 0; i < mask.Length; i++) mask[i] = labels[i] >= 0 && keep[labels[i]] ? (byte)255 : (byte)0;
        }
        return true;
    }

    /// <summary>8-connected components of the set pixels: a label per pixel (-1 where unset) and each label's size.</summary>
    public static (int[] Labels, int[] Sizes) Components8(bool[] set, int width, int height)
    {
        var labels = new int[set.Length];
        Array.Fill(labels, -1);
        var sizes = new List<int>();
        var stack = new Stack<int>();
        for (int start = 0; start < set.Length; start++)
        {
            if (!set[start] || labels[start] >= 0) continue;
            int label = sizes.Count, size = 0;
            labels[start] = label;
            stack.Push(start);
            while (stack.Count > 0)
            {
                int i = stack.Pop();
                size++;
                int x = i % width, y = i / width;
                for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++)
                {
                    int nx = x + dx, ny = y + dy;
                    if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
                    int j = ny * width + nx;
                    if (set[j] && labels[j] < 0) { labels[j] = label; stack.Push(j); }
                }
            }
            sizes.Add(size);
        }
        return (labels, sizes.ToArray());
    }
}
