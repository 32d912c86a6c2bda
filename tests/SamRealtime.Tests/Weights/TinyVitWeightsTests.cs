using SamRealtime.Weights;
using Xunit;

namespace SamRealtime.Tests.Weights;

public sealed class TinyVitWeightsTests
{
    private static readonly Lazy<OnnxModel> Model = new(() => OnnxModel.Load(ModelFiles.Encoder));
    private static readonly Lazy<TinyVitWeights> Weights = new(() => TinyVitWeights.FromModel(Model.Value));

    [Fact]
    public void Maps_every_weight_of_the_real_encoder()
    {
        var w = Weights.Value;
        // Every initializer (5,731,712) plus the stored [heads, N, N] attention biases (1,219,708).
        Assert.Equal(5_731_712 + 1_219_708, w.ParameterCount);
        Assert.Equal(Model.Value.InitializerParameterCount + Model.Value.ConstantParameterCount, w.ParameterCount);
        Assert.Equal(w.Tensors().Count(), w.Tensors().Select(t => t.Name).Distinct().Count());
    }

    [Fact]
    public void Layout_matches_mobilesam_tinyvit()
    {
        var w = Weights.Value;
        Assert.Equal([32, 3, 3, 3], w.PatchEmbed1.Weight.Shape);
        Assert.Equal(2, w.PatchEmbed1.Stride);
        Assert.Equal([64, 32, 3, 3], w.PatchEmbed2.Weight.Shape);

        Assert.Equal([64, 128, 160, 320], w.Stages.Select(s => s.Dim));
        Assert.Equal([256, 128, 64, 64], w.Stages.Select(s => s.Resolution));
        Assert.Equal([2, 0, 0, 0], w.Stages.Select(s => s.ConvBlocks.Count));
        Assert.Equal([0, 2, 6, 2], w.Stages.Select(s => s.Blocks.Count));
        Assert.Equal([2, 2, 1], w.Stages.Take(3).Select(s => s.Downsample!.Conv2.Stride));
        Assert.Null(w.Stages[3].Downsample);

        var mb = w.Stages[0].ConvBlocks[0];
        Assert.Equal([256, 64, 1, 1], mb.Conv1.Weight.Shape);
        Assert.Equal([256, 1, 3, 3], mb.Conv2.Weight.Shape);
        Assert.Equal(256, mb.Conv2.Groups);
        Assert.Equal([64, 256, 1, 1], mb.Conv3.Weight.Shape);
        Assert.All(w.Tensors(), t => Assert.All(t.Data, v => Assert.True(float.IsFinite(v), t.Name)));

        foreach (var s in w.Stages.Skip(1))
        {
            foreach (var b in s.Blocks)
            {
                var a = b.Attention;
                Assert.Equal(s.Heads, a.Heads);
                Assert.Equal(32, a.KeyDim);
                Assert.Equal(s.Window, a.Window);
                Assert.Equal(1f / MathF.Sqrt(32), a.Scale, 1e-6f);
                Assert.Equal([3 * s.Dim, s.Dim], a.Qkv.Weight.Shape);
                Assert.Equal(OnnxLinearForm.MatMulInOut, a.Qkv.StoredAs);
                Assert.Equal([s.Heads, s.Window * s.Window, s.Window * s.Window], a.AttentionBias.Shape);
                Assert.Equal([s.Heads, s.Window, s.Window], a.AttentionBiasTable.Shape);
                Assert.Equal(1e-5f, a.Norm.Epsilon, 1e-9f);
                Assert.Equal([s.Dim, 1, 3, 3], b.LocalConv.Weight.Shape);
                Assert.Equal([4 * s.Dim, s.Dim], b.Fc1.Weight.Shape);
                Assert.Equal([s.Dim, 4 * s.Dim], b.Fc2.Weight.Shape);

                // The table reproduces the stored bias: bias[h, i, j] = table[h, |ri - rj|, |ci - cj|].
                var n = s.Window * s.Window;
                for (var h = 0; h < a.Heads; h++)
                    for (var i = 0; i < n; i += 5)
                        for (var j = 0; j < n; j += 3)
                        {
                            var o = Math.Abs(i / s.Window - j / s.Window) * s.Window + Math.Abs(i % s.Window - j % s.Window);
                            Assert.Equal(a.AttentionBias.Data[(h * n + i) * n + j], a.AttentionBiasTable.Data[h * n + o]);
                        }
            }
        }

        Assert.Equal([256, 320, 1, 1], w.Neck.Conv1.Weight.Shape);
        Assert.Null(w.Neck.Conv1.Bias);
        Assert.Equal([256, 256, 3, 3], w.Neck.Conv2.Weight.Shape);
        Assert.Null(w.Neck.Conv2.Bias);
        Assert.Equal(1e-6f, w.Neck.Norm1.Epsilon, 1e-10f);
        Assert.Equal(256, w.Neck.Norm2.Channels);
    }

    [Fact]
    public void Wrong_initializer_shape_names_file_weight_and_node()
    {
        var model = Model.Value;
        // The qkv weight of layers.1.blocks.0, found here by its MatMul node name (the test may use names).
        var qkv = model.Graph.Nodes.Single(n => n.Name == "/layers.1/blocks.0/attn/qkv/MatMul");
        var original = model.Graph.InitializersByName[qkv.Inputs[1]];
        var modified = model.WithGraph(model.Graph.WithInitializer(OnnxTensor.FromFloats(original.Name, [128, 380], new float[128 * 380])));

        var ex = Assert.Throws<ModelFormatException>(() => TinyVitWeights.FromModel(modified));
        Assert.Contains(ModelFiles.Encoder, ex.Message);
        Assert.Contains("layers.1.blocks.0.attn.qkv.weight", ex.Message);
        Assert.Contains("expected shape [128, 384]", ex.Message);
        Assert.Contains("found [128, 380]", ex.Message);
        Assert.Contains("/layers.1/blocks.0/attn/qkv/MatMul", ex.Message);
        Assert.Equal("/layers.1/blocks.0/attn/qkv/MatMul", ex.NodeName);
    }

    [Fact]
    public void Wrong_config_is_reported_as_a_mismatch()
    {
        // Claim stage 2 has 4 heads: the key dim becomes 40 and the split no longer matches.
        var cfg = TinyVitConfig.MobileSam with { NumHeads = [2, 4, 4, 10] };
        var ex = Assert.Throws<ModelFormatException>(() => TinyVitWeights.FromModel(Model.Value, cfg));
        Assert.Contains("layers.2.blocks.0.attn", ex.Message);
    }

    [Fact]
    public void Replaced_activation_is_reported()
    {
        var model = Model.Value;
        // Turn the first GELU's Erf into Tanh: the GELU pattern (erf form) no longer matches.
        var nodes = model.Graph.Nodes.Select(n => n.Name == "/patch_embed/seq/seq.1/Erf"
            ? new OnnxNode(n.Index, n.Name, "Tanh", n.Domain, n.Inputs, n.Outputs, n.Attributes) : n).ToList();
        var ex = Assert.Throws<ModelFormatException>(() => TinyVitWeights.FromModel(model.WithGraph(model.Graph.WithNodes(nodes))));
        Assert.Contains("patch_embed.seq.1", ex.Message);
        Assert.Contains("Erf", ex.Message);
    }

    [Fact]
    public void Unmapped_initializer_is_reported()
    {
        var model = Model.Value;
        var extra = model.Graph.Initializers.Append(OnnxTensor.FromFloats("stray", [3], [1, 2, 3])).ToList();
        var g = new OnnxGraph(model.Graph.Name, model.Graph.Source, model.Graph.Nodes, extra, model.Graph.Inputs,
            model.Graph.Outputs, model.Graph.ValueInfo);
        var ex = Assert.Throws<ModelFormatException>(() => TinyVitWeights.FromModel(model.WithGraph(g)));
        Assert.Contains("'stray'", ex.Message);
        Assert.Contains("not mapped", ex.Message);
    }
}
