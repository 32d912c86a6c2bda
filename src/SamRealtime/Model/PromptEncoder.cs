using SamRealtime.Weights;

namespace SamRealtime.Model;

/// <summary>
/// The sparse half of SAM's prompt encoder, on the CPU: a handful of points is a few thousand flops, less than one
/// dispatch costs. Also computes the input-independent image positional encoding once.
/// </summary>
internal sealed class PromptEncoder(PromptEncoderWeights w)
{
    private const int Dim = 256;

    /// <summary>Random-Fourier positional encoding of a point already normalised to [-1, 1]².</summary>
    private void Encode(double cx, double cy, Span<float> dst)
    {
        var g = w.PositionalGaussian.Data; // [2, 128]
        for (int j = 0; j < Dim / 2; j++)
        {
            double p = 2 * Math.PI * (cx * g[j] + cy * g[Dim / 2 + j]);
            dst[j] = (float)Math.Sin(p);
            dst[Dim / 2 + j] = (float)Math.Cos(p);
        }
    }

    /// <summary>[points, 256] sparse embeddings for points in the 1024 frame.</summary>
    public float[] Sparse(IReadOnlyList<PromptPoint> points, int size = 1024)
    {
        var result = new float[points.Count * Dim];
        for (int i = 0; i < points.Count; i++)
        {
            var row = result.AsSpan(i * Dim, Dim);
            var p = points[i];
            if (p.Label == PointLabel.Padding)
            {
                w.NotAPointEmbedding.Data.CopyTo(row);
                continue;
            }
            Encode(((p.X + 0.5) / size) * 2 - 1, ((p.Y + 0.5) / size) * 2 - 1, row);
            var emb = w.PointEmbeddings[(int)p.Label].Data;
            for (int j = 0; j < Dim; j++) row[j] += emb[j];
        }
        return result;
    }

    /// <summary>Image PE as tokens [64·64, 256] (row-major over y, x), matching the flattened image embedding.</summary>
    public float[] ImagePositionalTokens(int side = 64)
    {
        var result = new float[side * side * Dim];
        for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++)
            Encode(2 * (x + 0.5) / side - 1, 2 * (y + 0.5) / side - 1, result.AsSpan((y * side + x) * Dim, Dim));
        return result;
    }
}
