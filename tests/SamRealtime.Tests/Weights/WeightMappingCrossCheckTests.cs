using SamRealtime.Weights;
using Xunit;

namespace SamRealtime.Tests.Weights;

/// <summary>
/// The mapping walks the graph structurally and never looks at names. Here, in the test only, the exporter's
/// names (the non-anonymised initializer names, and the module scopes in node names for anonymised ones) are
/// used to check that every initializer landed in the weight with the matching PyTorch name, with equal data
/// (transposed for MatMul weights).
/// </summary>
public sealed class WeightMappingCrossCheckTests
{
    [Fact]
    public void Encoder_weights_land_where_the_exporter_names_say()
    {
        var model = OnnxModel.Load(ModelFiles.Encoder);
        var weights = TinyVitWeights.FromModel(model);
        var checkedCount = CrossCheck(model, weights.Tensors().ToList());
        Assert.Equal(model.Graph.Initializers.Count, checkedCount);

        // Attention biases: the Constant in each block's attn scope.
        var blocks = weights.Stages.SelectMany(s => s.Blocks.Select((b, i) => (s.Index, i, b))).ToList();
        Assert.Equal(10, blocks.Count);
        foreach (var (stage, i, b) in blocks)
        {
            var scope = $"/layers.{stage}/blocks.{i}/attn/";
            var add = model.Graph.Nodes.Single(n => n.Name == scope + "Add");
            var constant = add.Inputs.Select(model.Graph.GetConstant).Single(t => t is not null)!;
            Assert.Equal(constant.ToFloatArray(), b.Attention.AttentionBias.Data);
        }
    }

    [Fact]
    public void Decoder_weights_land_where_the_exporter_names_say()
    {
        var model = OnnxModel.Load(ModelFiles.Decoder);
        var weights = SamDecoderWeights.FromModel(model);
        var tensors = weights.Tensors().ToList();
        var checkedCount = CrossCheck(model, tensors);
        // Not checkable by name: the [1, 5, 256] token constant and the no-mask embedding (both anonymised, consumed
        // by unscoped nodes); checked by value instead.
        Assert.Equal(model.Graph.Initializers.Count - 2, checkedCount);
        var tokens = model.Graph.Initializers.Single(t => t.Dims.SequenceEqual([1L, 5, 256])).ToFloatArray();
        Assert.Equal(tokens[..256], weights.MaskDecoder.IouToken.Data);
        Assert.Equal(tokens[256..], weights.MaskDecoder.MaskTokens.Data);
        var noMask = model.Graph.Initializers.Single(t => t.Dims.SequenceEqual([1L, 256, 1, 1])).ToFloatArray();
        Assert.Equal(noMask, weights.PromptEncoder.NoMaskEmbedding.Data);
    }

    private static int CrossCheck(OnnxModel model, List<WeightTensor> tensors)
    {
        var g = model.Graph;
        var n = 0;
        foreach (var init in g.Initializers)
        {
            var reader = g.Consumers(init.Name)[0];
            string? expected;
            if (!init.Name.StartsWith("onnx::", StringComparison.Ordinal))
            {
                expected = init.Name.StartsWith("model.", StringComparison.Ordinal) ? init.Name["model.".Length..] : init.Name;
            }
            else
            {
                var scope = Scope(reader.Name);
                if (scope is null) continue;
                var index = reader.Inputs.ToList().IndexOf(init.Name);
                var kind = reader.OpType switch
                {
                    "Conv" or "MatMul" or "Gemm" or "ConvTranspose" => index == 1 ? "weight" : "bias",
                    "Mul" => "weight", // LayerNorm2d scale
                    "Add" => "bias",   // LayerNorm2d shift
                    _ => null,
                };
                if (kind is null) continue;
                expected = scope + "." + kind;
            }
            var matches = tensors.Where(t => t.Name == expected || t.Name.EndsWith("." + expected, StringComparison.Ordinal)).ToList();
            var mine = Assert.Single(matches);
            var data = init.ToFloatArray();
            if (reader.OpType == "MatMul" && init.Rank == 2 && init.Name.StartsWith("onnx::MatMul", StringComparison.Ordinal))
                data = Transpose(data, (int)init.Dims[0], (int)init.Dims[1]);
            Assert.True(data.AsSpan().SequenceEqual(mine.Data), $"{init.Name} -> {mine.Name}: data differs");
            n++;
        }
        return n;
    }

    /// <summary>'/patch_embed/seq/seq.0/c/Conv' → 'patch_embed.seq.0'; '/transformer/layers.0/mlp/lin1/MatMul' → 'transformer.layers.0.mlp.lin1'.</summary>
    private static string? Scope(string nodeName)
    {
        var parts = nodeName.Trim('/').Split('/').ToList();
        if (parts.Count < 2) return null;
        parts.RemoveAt(parts.Count - 1);
        parts.RemoveAll(p => p == "c");
        for (var i = parts.Count - 1; i > 0; i--)
            if (parts[i].StartsWith(parts[i - 1] + ".", StringComparison.Ordinal)) parts.RemoveAt(i - 1);
        return string.Join('.', parts);
    }

    private static float[] Transpose(float[] a, int rows, int cols)
    {
        var t = new float[a.Length];
        for (var r = 0; r < rows; r++)
            for (var c = 0; c < cols; c++)
                t[c * rows + r] = a[r * cols + c];
        return t;
    }
}
