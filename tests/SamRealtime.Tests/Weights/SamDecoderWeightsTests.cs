using SamRealtime.Weights;
using Xunit;

namespace SamRealtime.Tests.Weights;

public sealed class SamDecoderWeightsTests
{
    private static readonly Lazy<OnnxModel> Model = new(() => OnnxModel.Load(ModelFiles.Decoder));
    private static readonly Lazy<SamDecoderWeights> Weights = new(() => SamDecoderWeights.FromModel(Model.Value));

    [Fact]
    public void Maps_every_weight_of_the_real_decoder()
    {
        var w = Weights.Value;
        Assert.Equal(4_064_816, w.ParameterCount);
        Assert.Equal(Model.Value.InitializerParameterCount, w.ParameterCount);
        Assert.Equal(w.Tensors().Count(), w.Tensors().Select(t => t.Name).Distinct().Count());
        Assert.All(w.Tensors(), t => Assert.All(t.Data, v => Assert.True(float.IsFinite(v), t.Name)));
    }

    [Fact]
    public void Layout_matches_sam_prompt_encoder_and_mask_decoder()
    {
        var w = Weights.Value;
        var p = w.PromptEncoder;
        Assert.Equal([2, 128], p.PositionalGaussian.Shape);
        Assert.Equal(4, p.PointEmbeddings.Count);
        Assert.All(p.PointEmbeddings.Append(p.NotAPointEmbedding).Append(p.NoMaskEmbedding), e => Assert.Equal([256], e.Shape));
        Assert.Equal([4, 1, 2, 2], p.MaskDownscaling.Conv1.Weight.Shape);
        Assert.Equal(2, p.MaskDownscaling.Conv1.Stride);
        Assert.Equal([16, 4, 2, 2], p.MaskDownscaling.Conv2.Weight.Shape);
        Assert.Equal([256, 16, 1, 1], p.MaskDownscaling.Conv3.Weight.Shape);
        Assert.Equal(1e-6f, p.MaskDownscaling.Norm1.Epsilon, 1e-10f);

        var d = w.MaskDecoder;
        Assert.Equal([256], d.IouToken.Shape);
        Assert.Equal([4, 256], d.MaskTokens.Shape);
        Assert.Equal(2, d.Layers.Count);
        Assert.True(d.Layers[0].SkipFirstLayerPe);
        Assert.False(d.Layers[1].SkipFirstLayerPe);
        foreach (var l in d.Layers)
        {
            Assert.Equal(256, l.SelfAttention.InternalDim);
            Assert.Equal(32, l.SelfAttention.HeadDim);
            Assert.Equal(128, l.CrossTokenToImage.InternalDim);
            Assert.Equal(16, l.CrossImageToToken.HeadDim);
            Assert.Equal([128, 256], l.CrossTokenToImage.Q.Weight.Shape);   // [out, in]
            Assert.Equal([256, 128], l.CrossTokenToImage.Out.Weight.Shape);
            Assert.Equal(OnnxLinearForm.MatMulInOut, l.SelfAttention.Q.StoredAs);
            Assert.Equal([2048, 256], l.MlpLin1.Weight.Shape);
            Assert.Equal([256, 2048], l.MlpLin2.Weight.Shape);
            Assert.Equal(1e-5f, l.Norm1.Epsilon, 1e-9f);
        }
        Assert.Equal(8, d.FinalAttention.Heads);
        Assert.Equal(0.25f, d.FinalAttention.Scale);
        Assert.Equal([256, 64, 2, 2], d.Upscaling.ConvT1.Weight.Shape);
        Assert.Equal([64, 32, 2, 2], d.Upscaling.ConvT2.Weight.Shape);
        Assert.Equal(64, d.Upscaling.Norm.Channels);
        Assert.Equal(4, d.Hypernetworks.Count);
        Assert.All(d.Hypernetworks, h => Assert.Equal([256, 256, 32], h.Layers.Select(l => l.OutFeatures)));
        Assert.All(d.Hypernetworks.SelectMany(h => h.Layers), l => Assert.Equal(OnnxLinearForm.GemmOutIn, l.StoredAs));
        Assert.Equal([256, 256, 4], d.IouHead.Layers.Select(l => l.OutFeatures));
    }

    [Fact]
    public void Graph_constants_match_the_official_export()
    {
        var g = Model.Value.Graph;
        // Dense PE grid: cell centres mapped to [-1, 1], (x, y) order: grid[y, x] = (2(x+0.5)/64 - 1, 2(y+0.5)/64 - 1).
        var grid = g.ConstantNodes().Select(c => c.Tensor).Single(t => t.Dims.SequenceEqual([64L, 64, 2])).ToFloatArray();
        for (var y = 0; y < 64; y += 7)
            for (var x = 0; x < 64; x += 5)
            {
                Assert.Equal(2 * (x + 0.5f) / 64 - 1, grid[(y * 64 + x) * 2], 1e-6f);
                Assert.Equal(2 * (y + 0.5f) / 64 - 1, grid[(y * 64 + x) * 2 + 1], 1e-6f);
            }
        // Single-mask selection: argmax(iou + (num_points - 2.5) * [1000, 0, 0, 0]).
        var sub = g.Nodes.Single(n => n.OpType == "ArgMax");
        Assert.Equal(1, sub.GetInt("axis", 0));
        Assert.Contains(g.Nodes, n => n.OpType == "Sub" && g.GetConstant(n.Inputs[1]) is { } c && c.ToFloatArray()[0] == 2.5f);
        // Upsampling to 1024 and to the original size: bilinear, half-pixel (align_corners=False), no antialias.
        Assert.All(g.Nodes.Where(n => n.OpType == "Resize"), r =>
        {
            Assert.Equal("linear", r.GetString("mode"));
            Assert.Equal("half_pixel", r.GetString("coordinate_transformation_mode"));
            Assert.Equal(0, r.GetInt("antialias", 0));
        });
    }

    [Fact]
    public void Wrong_initializer_shape_names_file_weight_and_node()
    {
        var model = Model.Value;
        var modified = model.WithGraph(model.Graph.WithInitializer(
            OnnxTensor.FromFloats("mask_decoder.iou_prediction_head.layers.2.weight", [5, 256], new float[5 * 256])));
        var ex = Assert.Throws<ModelFormatException>(() => SamDecoderWeights.FromModel(modified));
        Assert.Contains(ModelFiles.Decoder, ex.Message);
        Assert.Contains("mask_decoder.iou_prediction_head.layers.2.weight", ex.Message);
        Assert.Contains("expected shape [4, 256]", ex.Message);
        Assert.Contains("found [5, 256]", ex.Message);
        Assert.Equal("/iou_prediction_head/layers.2/Gemm", ex.NodeName);
    }

    [Fact]
    public void Wrong_transformer_weight_shape_is_reported_with_the_matmul_layout()
    {
        var model = Model.Value;
        var node = model.Graph.Nodes.Single(n => n.Name == "/transformer/layers.1/cross_attn_image_to_token/v_proj/MatMul");
        var modified = model.WithGraph(model.Graph.WithInitializer(OnnxTensor.FromFloats(node.Inputs[1], [256, 64], new float[256 * 64])));
        var ex = Assert.Throws<ModelFormatException>(() => SamDecoderWeights.FromModel(modified));
        Assert.Contains("mask_decoder.transformer.layers.1.cross_attn_image_to_token.v_proj.weight", ex.Message);
        Assert.Contains("expected shape [256, 128] (MatMul B [in, out]", ex.Message);
        Assert.Contains("found [256, 64]", ex.Message);
    }

    [Fact]
    public void Missing_sam_inputs_are_reported()
    {
        var model = Model.Value;
        var g = model.Graph;
        var renamed = new OnnxGraph(g.Name, g.Source, g.Nodes, g.Initializers,
            g.Inputs.Select(i => i.Name == "mask_input" ? i with { Name = "mask" } : i).ToList(), g.Outputs, g.ValueInfo);
        var ex = Assert.Throws<ModelFormatException>(() => SamDecoderWeights.FromModel(model.WithGraph(renamed)));
        Assert.Contains("'mask_input'", ex.Message);
    }

    [Fact]
    public void Encoder_file_is_not_a_decoder_and_vice_versa()
    {
        Assert.Throws<ModelFormatException>(() => SamDecoderWeights.Load(ModelFiles.Encoder));
        Assert.Throws<ModelFormatException>(() => TinyVitWeights.Load(ModelFiles.Decoder));
    }
}
