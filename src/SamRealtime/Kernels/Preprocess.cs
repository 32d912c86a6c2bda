using System.Runtime.InteropServices;
using SamRealtime.Vulkan;

namespace SamRealtime.Kernels;

/// <summary>Byte order of one pixel in a frame.</summary>
public enum PixelFormat { Rgba8, Bgra8, Rgb8, Bgr8 }

/// <summary>
/// SAM's image preprocessing on the GPU, from raw 8-bit pixels (shaders/preprocess.comp): longest side resized to
/// <c>size</c> with PIL's bilinear filter (antialiased when shrinking) including PIL's uint8 rounding, so the result
/// equals the official PIL-based pipeline; then (v − mean)/std in RGB order and zero padding bottom/right to a
/// [1, 3, size, size] tensor (fp32 or fp16), or to [size·size, 4], channels last with a zero fourth channel (what the
/// encoder's stem conv reads as vec4 texels).
/// Owns small coefficient tables per frame geometry, kept until disposed.
/// </summary>
internal sealed class Preprocess : IDisposable
{
    private const int PrecisionBits = 22;   // PIL's fixed-point precision for 8-bit resampling (32 - 8 - 2)
    private readonly GpuContext _ctx;
    private static readonly KernelLayout Layout = new(3, Marshal.SizeOf<Push>(), [2]);
    private readonly Dictionary<(int W, int H, int Size), Table> _tables = new();

    private sealed record Table(GpuBuffer Buffer, int XOffset, int Kx, int YOffset, int Ky);

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public int StrideBytes, Bpp, Aligned4;
        public int ROff, GOff, BOff;
        public int NewW, NewH, Size;
        public int XTab, Kx, YTab, Ky;
        public float MeanR, MeanG, MeanB, StdR, StdG, StdB;
    }

    public static readonly float[] Mean = [123.675f, 116.28f, 103.53f];
    public static readonly float[] Std = [58.395f, 57.12f, 57.375f];

    public Preprocess(GpuContext ctx) => _ctx = ctx;

    /// <summary>The frame size after resizing its longest side to <paramref name="size"/>, exactly as the official
    /// ResizeLongestSide.get_preprocess_shape computes it (scale in double, then int(x + 0.5)).</summary>
    public static (int Height, int Width) ResizedSize(int height, int width, int size = 1024)
    {
        if (height <= 0 || width <= 0 || size <= 0)
            throw new ShapeException($"preprocess: frame {width}x{height} and size {size} must be positive.");
        double scale = size * 1.0 / Math.Max(height, width);
        return ((int)(height * scale + 0.5), (int)(width * scale + 0.5));
    }

    public void Record(CommandStream cs, GpuBuffer pixels, PixelFormat format, int width, int height, int strideBytes,
                       GpuTensor output, int size = 1024)
    {
        const string name = "preprocess";
        if (width <= 0 || height <= 0 || size <= 0)
            throw new ShapeException($"{name}: frame {width}x{height} and size {size} must be positive.");
        var (bpp, r, g, b) = format switch
        {
            PixelFormat.Rgba8 => (4, 0, 1, 2),
            PixelFormat.Bgra8 => (4, 2, 1, 0),
            PixelFormat.Rgb8 => (3, 0, 1, 2),
            PixelFormat.Bgr8 => (3, 2, 1, 0),
            _ => throw new ShapeException($"{name}: unknown pixel format {format}."),
        };
        if (strideBytes < width * bpp)
            throw new ShapeException($"{name}: row stride {strideBytes} bytes is less than {width} pixels x {bpp} bytes ({format}).");
        long need = (long)(height - 1) * strideBytes + (long)width * bpp;
        if (need > (long)pixels.Size)
            throw new ShapeException($"{name}: a {width}x{height} {format} frame with stride {strideBytes} needs {need} bytes; buffer '{pixels.Name}' has {pixels.Size}.");
        if (need > int.MaxValue)
            throw new ShapeException($"{name}: frame of {need} bytes is too large to address with 32-bit offsets.");
        // [1, 3, size, size]: RGB planes; [size·size, 4]: channels last with a zero fourth channel.
        bool rgb0 = output.Rank == 2;
        if (rgb0 ? !output.Shape.SequenceEqual(new[] { size * size, 4 }) : !output.Shape.SequenceEqual(new[] { 1, 3, size, size }))
            throw new ShapeException($"{name}: output is {output.ShapeText}, expected [1x3x{size}x{size}] or [{size * size}x4].");

        var (newH, newW) = ResizedSize(height, width, size);
        var table = GetTable(width, height, size, newW, newH);
        var push = new Push
        {
            StrideBytes = strideBytes, Bpp = bpp, Aligned4 = bpp == 4 && strideBytes % 4 == 0 ? 1 : 0,
            ROff = r, GOff = g, BOff = b,
            NewW = newW, NewH = newH, Size = size,
            XTab = table.XOffset, Kx = table.Kx, YTab = table.YOffset, Ky = table.Ky,
            MeanR = Mean[0], MeanG = Mean[1], MeanB = Mean[2], StdR = Std[0], StdG = Std[1], StdB = Std[2],
        };
        var (wx, wy) = Resize.WorkGroup(_ctx);
        var kernel = _ctx.Kernel(output.Type == DataType.F16 ? "preprocess_f16" : "preprocess", Layout, wx, wy, rgb0 ? 1 : 0);
        cs.Dispatch(kernel, ((uint)((size + wx - 1) / wx), (uint)((size + wy - 1) / wy), 1u), push,
                    pixels, table.Buffer, output.Buffer);
    }

    /// <summary>An RGB0 channels-last image [size·size, 4] as RGB planes [3, size, size] (what ONNX Runtime's encoder
    /// is fed; tools and tests).</summary>
    public static float[] Rgb0ToPlanes(ReadOnlySpan<float> rgb0)
    {
        int plane = rgb0.Length / 4;
        var planes = new float[3 * plane];
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < plane; i++) planes[c * plane + i] = rgb0[4 * i + c];
        return planes;
    }

    private Table GetTable(int width, int height, int size, int newW, int newH)
    {
        lock (_tables)
        {
            if (_tables.TryGetValue((width, height, size), out var t)) return t;
            var (kx, xs) = Coefficients(width, newW);
            var (ky, ys) = Coefficients(height, newH);
            var all = new int[xs.Length + ys.Length];
            xs.CopyTo(all, 0);
            ys.CopyTo(all, xs.Length);
            var buffer = _ctx.CreateBuffer((ulong)all.Length * 4, BufferKind.Device, $"preprocess-coeffs-{width}x{height}");
            buffer.Write(MemoryMarshal.AsBytes(all.AsSpan()));
            t = new Table(buffer, 0, kx, xs.Length, ky);
            _tables[(width, height, size)] = t;
            return t;
        }
    }

    /// <summary>PIL's precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter (support 1), in the same
    /// double arithmetic so the fixed-point coefficients are bit-identical. Per output index: first input index,
    /// tap count, then ksize coefficients.</summary>
    internal static (int KSize, int[] Table) Coefficients(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize;
        double filterscale = Math.Max(scale, 1.0);
        double support = 1.0 * filterscale;
        int ksize = (int)Math.Ceiling(support) * 2 + 1;
        var table = new int[outSize * (2 + ksize)];
        var k = new double[ksize];
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = (xx + 0.5) * scale;
            double ww = 0.0, ss = 1.0 / filterscale;
            int xmin = (int)(center - support + 0.5);
            if (xmin < 0) xmin = 0;
            int xmax = (int)(center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            for (int x = 0; x < xmax; x++)
            {
                double w = Triangle((x + xmin - center + 0.5) * ss);
                k[x] = w;
                ww += w;
            }
            int e = xx * (2 + ksize);
            table[e] = xmin;
            table[e + 1] = xmax;
            for (int x = 0; x < xmax; x++)
            {
                double v = ww != 0.0 ? k[x] / ww : k[x];
                table[e + 2 + x] = v < 0 ? (int)(-0.5 + v * (1 << PrecisionBits)) : (int)(0.5 + v * (1 << PrecisionBits));
            }
        }
        return (ksize, table);
    }

    private static double Triangle(double x)
    {
        if (x < 0.0) x = -x;
        return x < 1.0 ? 1.0 - x : 0.0;
    }

    public void Dispose()
    {
        lock (_tables)
        {
            foreach (var t in _tables.Values) t.Buffer.Dispose();
            _tables.Clear();
        }
    }
}
