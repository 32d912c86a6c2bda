using System.Text;

namespace SamRealtime.Model;

/// <summary>
/// COCO's run-length encoding of a binary mask: runs over the pixels in column-major (Fortran) order, starting with
/// a run of zeros (0 when the first pixel is set), as SAM's mask_to_rle_pytorch and pycocotools produce.
/// </summary>
public sealed record MaskRle(int Height, int Width, int[] Counts)
{
    /// <summary>Encodes a row-major mask (non-zero = object).</summary>
    public static MaskRle Encode(ReadOnlySpan<byte> mask, int width, int height)
    {
        if (width <= 0 || height <= 0 || mask.Length != (long)width * height)
            throw new ArgumentException($"Mask of {mask.Length} bytes is not {width}x{height}.");
        var counts = new List<int>();
        bool current = false;
        int run = 0;
        for (int x = 0; x < width; x++)
        for (int y = 0; y < height; y++)
        {
            bool v = mask[y * width + x] != 0;
            if (v != current)
            {
                counts.Add(run);
                run = 0;
                current = v;
            }
            run++;
        }
        counts.Add(run);
        return new MaskRle(height, width, counts.ToArray());
    }

    /// <summary>Pixels set: the sum of the odd runs.</summary>
    public long Area
    {
        get
        {
            long a = 0;
            for (int i = 1; i < Counts.Length; i += 2) a += Counts[i];
            return a;
        }
    }

    /// <summary>The row-major mask, 255 = object.</summary>
    public byte[] Decode()
    {
        long total = 0;
        foreach (var c in Counts)
        {
            if (c < 0) throw new InvalidDataException($"RLE has a negative run {c}.");
            total += c;
        }
        if (total != (long)Width * Height) throw new InvalidDataException($"RLE runs cover {total} pixels, not {Width}x{Height}.");
        var mask = new byte[Width * Height];
        int k = 0;
        for (int i = 0; i < Counts.Length; i++)
        {
            for (int j = 0; j < Counts[i]; j++, k++)
                if ((i & 1) == 1) mask[k % Height * Width + k / Height] = 255;
        }
        return mask;
    }

    /// <summary>
    /// pycocotools' compressed counts string (rleToString): each run, minus the run two before it from the fourth on,
    /// as little-endian groups of 5 bits in characters from '0' (48), bit 0x20 meaning "more groups follow" and the
    /// last group's 0x10 the sign.
    /// </summary>
    public string ToCocoString()
    {
        var s = new StringBuilder();
        for (int i = 0; i < Counts.Length; i++)
        {
            long x = Counts[i];
            if (i > 2) x -= Counts[i - 2];
            bool more = true;
            while (more)
            {
                int c = (int)(x & 0x1f);
                x >>= 5;
                more = (c & 0x10) != 0 ? x != -1 : x != 0;
                if (more) c |= 0x20;
                s.Append((char)(c + 48));
            }
        }
        return s.ToString();
    }

    /// <summary>Parses a pycocotools compressed counts string (rleFrString).</summary>
    public static MaskRle FromCocoString(string counts, int height, int width)
    {
        var result = new List<int>();
        int p = 0;
        while (p < counts.Length)
        {
            long x = 0;
            int k = 0;
            bool more = true;
            while (more)
            {
                if (p >= counts.Length) throw new InvalidDataException("COCO RLE string ends inside a number.");
                int c = counts[p] - 48;
                if (c is < 0 or > 63) throw new InvalidDataException($"COCO RLE string has '{counts[p]}' at {p}.");
                x |= (long)(c & 0x1f) << (5 * k);
                more = (c & 0x20) != 0;
                p++;
                k++;
                if (!more && (c & 0x10) != 0) x |= -1L << (5 * k);
            }
            if (result.Count > 2) x += result[^2];
            if (x is < 0 or > int.MaxValue) throw new InvalidDataException($"COCO RLE run {x} is out of range.");
            result.Add((int)x);
        }
        var rle = new MaskRle(height, width, result.ToArray());
        if (result.Sum(c => (long)c) != (long)width * height) throw new InvalidDataException($"COCO RLE runs do not cover {width}x{height}.");
        return rle;
    }
}
