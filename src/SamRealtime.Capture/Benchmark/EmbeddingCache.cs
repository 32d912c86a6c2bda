using System.Runtime.InteropServices;
using System.Security.Cryptography;
using SamRealtime.Model;
using SamRealtime.Vulkan;

namespace SamRealtime.Capture.Benchmark;

/// <summary>
/// Image embeddings on disk for the evaluation: the encoder's output depends only on the frame's pixels and the model,
/// not on the tracker, so replaying the benchmark under other tracker settings (an ablation) needs the encoder once per
/// frame, ever. An entry is keyed by a SHA-256 of the model (encoder weights, storage type, device) and the frame's
/// size and pixels, and holds exactly the values the encoder wrote (fp16 storage is kept as fp16, fp32 as fp32), so a
/// hit sets the same embedding the encoder would compute for those bytes. Tests do not use it: they run the encoder.
/// </summary>
public sealed class EmbeddingCache
{
    private readonly string _dir;
    private readonly string _modelKey;

    public int Hits { get; private set; }
    public int Misses { get; private set; }

    /// <param name="dir">Folder of the entries (created when missing); keep it out of version control.</param>
    /// <param name="modelDir">The model directory <paramref name="model"/> was loaded from: its encoder file is hashed.</param>
    public EmbeddingCache(string dir, string modelDir, SamModel model)
    {
        _dir = dir;
        Directory.CreateDirectory(dir);
        using var sha = SHA256.Create();
        using (var f = File.OpenRead(Path.Combine(modelDir, "encoder.onnx"))) sha.ComputeHash(f);
        _modelKey = Convert.ToHexString(sha.Hash!) + "|" + model.EmbeddingType + "|" + model.Context.Info.Name;
    }

    /// <summary>Sets <paramref name="image"/> on <paramref name="model"/>: from the cache when this frame was encoded
    /// before, else with the encoder, storing the result.</summary>
    public void SetImage(SamModel model, RgbaImage image)
    {
        var path = PathOf(image);
        if (Load(model, path) is { } values)
        {
            model.SetEmbedding(values, image.Width, image.Height);
            return;
        }
        model.SetImage(image.Pixels, image.Width, image.Height, image.Stride);
        Store(model, path, model.Embedding.Read());
    }

    /// <summary><paramref name="image"/>'s embedding as a new <see cref="ImageEmbedding"/> the caller owns (a key
    /// frame that an encoder interval warps), from the cache or the encoder; the model's current image is kept.</summary>
    public ImageEmbedding Encode(SamModel model, RgbaImage image)
    {
        var path = PathOf(image);
        if (Load(model, path) is { } values) return model.CreateEmbedding(values, image.Width, image.Height);
        var e = model.Encode(image.Pixels, image.Width, image.Height, image.Stride);
        try { Store(model, path, e.Read()); }
        catch { e.Dispose(); throw; }
        return e;
    }

    private float[]? Load(SamModel model, string path)
    {
        bool half = model.EmbeddingType == DataType.F16;
        const long n = 256L * 64 * 64;
        if (!File.Exists(path) || new FileInfo(path).Length != n * (half ? 2 : 4)) return null;
        var bytes = File.ReadAllBytes(path);
        Hits++;
        return half ? Array.ConvertAll(MemoryMarshal.Cast<byte, Half>(bytes).ToArray(), h => (float)h)
                    : MemoryMarshal.Cast<byte, float>(bytes).ToArray();
    }

    private void Store(SamModel model, string path, float[] e)
    {
        bool half = model.EmbeddingType == DataType.F16;
        byte[] data = half ? MemoryMarshal.AsBytes(Array.ConvertAll(e, v => (Half)v).AsSpan()).ToArray()
                           : MemoryMarshal.AsBytes(e.AsSpan()).ToArray();
        // Written whole then renamed: an interrupted run leaves no truncated entry behind.
        var tmp = path + "." + Environment.ProcessId + ".tmp";
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(tmp, data);
        File.Move(tmp, path, overwrite: true);
        Misses++;
    }

    private string PathOf(RgbaImage image)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(System.Text.Encoding.UTF8.GetBytes($"{_modelKey}|{image.Width}x{image.Height}x{image.Stride}|"));
        sha.AppendData(image.Pixels);
        var key = Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
        return Path.Combine(_dir, key[..2], key + ".bin");
    }
}
