using System.Buffers.Binary;
using SamRealtime.Weights;
using Xunit;

namespace SamRealtime.Tests.Weights;

/// <summary>Hand-built models: every supported encoding, and the errors for malformed or unsupported input.</summary>
public sealed class OnnxModelFormatTests
{
    internal const string Source = "handmade.onnx";

    /// <summary>A small model using every tensor encoding and attribute kind the reader supports.</summary>
    internal static byte[] SampleModel()
    {
        var fp16 = new byte[6];
        BinaryPrimitives.WriteUInt16LittleEndian(fp16.AsSpan(0), BitConverter.HalfToUInt16Bits((Half)1.5f));
        BinaryPrimitives.WriteUInt16LittleEndian(fp16.AsSpan(2), BitConverter.HalfToUInt16Bits((Half)(-2f)));
        BinaryPrimitives.WriteUInt16LittleEndian(fp16.AsSpan(4), BitConverter.HalfToUInt16Bits((Half)0.25f));
        var i32raw = new byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(i32raw.AsSpan(0), -7);
        BinaryPrimitives.WriteInt32LittleEndian(i32raw.AsSpan(4), 9);

        var inits = new[]
        {
            Onnx.RawFloatTensor("w_raw", [2, 3], [1, 2, 3, 4, 5, 6]),
            Onnx.Tensor("w_packed", 1, [2], t => t.PackedFloats(4, [0.5f, -0.5f])),
            Onnx.Tensor("w_unpacked", 1, [3], t => t.Float(4, 1f).Float(4, 2f).Float(4, 3f)),
            Onnx.Tensor("h_raw", 10, [3], t => t.Bytes(9, fp16)),
            Onnx.Tensor("h_int32", 10, [2], t => t.PackedVarints(5,
                [BitConverter.HalfToUInt16Bits((Half)3f), BitConverter.HalfToUInt16Bits((Half)(-0.5f))])),
            Onnx.Tensor("i64_packed", 7, [3], t => t.PackedVarints(7, [1, -2, 3_000_000_000])),
            Onnx.Tensor("i64_unpacked", 7, [2], t => t.Varint(7, 4).Varint(7, -5)),
            Onnx.Tensor("i32_raw", 6, [2], t => t.Bytes(9, i32raw)),
            Onnx.Tensor("i32_data", 6, [2], t => t.Varint(5, -3).Varint(5, 11)),
            Onnx.Tensor("d_packed", 11, [2], t => t.PackedDoubles(10, [0.125, -8.0])),
            Onnx.Tensor("d_unpacked", 11, [1], t => t.Double(10, 2.5)),
            Onnx.Tensor("bf16", 16, [1], t => t.Varint(5, BitConverter.SingleToInt32Bits(-1.75f) >>> 16)),
            Onnx.Tensor("scalar", 1, [], t => t.PackedFloats(4, [42f])),
        };
        var nodes = new[]
        {
            Onnx.Node("Constant", "c0", [], ["c0_out"],
                Onnx.Attribute("value", 4, a => a.Message(5, Onnx.RawFloatTensor("c0_t", [2, 2], [9, 8, 7, 6])))),
            Onnx.Node("Conv", "conv", ["x", "w_raw", ""], ["y"],
                Onnx.Attribute("strides", 7, a => a.PackedVarints(8, [2, 2])),          // packed ints
                Onnx.Attribute("pads", 7, a => a.Varint(8, 1).Varint(8, 1).Varint(8, 0).Varint(8, 0)), // unpacked ints
                Onnx.Attribute("group", 2, a => a.Varint(3, 1)),
                Onnx.Attribute("alpha", 1, a => a.Float(2, 0.75f)),
                Onnx.Attribute("mode", 3, a => a.Bytes(4, "linear"u8)),
                Onnx.Attribute("scales", 6, a => a.PackedFloats(7, [1f, 2f])),
                Onnx.Attribute("names", 8, a => a.Bytes(9, "a"u8).Bytes(9, "b"u8))),
            Onnx.Node("Relu", "", ["y"], ["z"]),
        };
        var graph = Onnx.Graph("g", nodes, inits,
            [Onnx.ValueInfo("x", 1, -1, 3, 8, 8)], [Onnx.ValueInfo("z", 1, -1, 2, 4, 4)]);
        graph.Varint(99, 12345);            // unknown varint field: skipped
        graph.Bytes(98, [1, 2, 3]);          // unknown length-delimited field: skipped
        return Onnx.Model(graph);
    }

    [Fact]
    public void Reads_every_supported_encoding()
    {
        var m = OnnxModel.Parse(SampleModel(), Source);
        Assert.Equal(8, m.IrVersion);
        Assert.Equal("handmade", m.ProducerName);
        Assert.Equal(17, m.DefaultOpset);
        var g = m.Graph;
        Assert.Equal("g", g.Name);

        var x = Assert.Single(g.Inputs);
        Assert.Equal("x", x.Name);
        Assert.Equal("N", x.Shape![0].Param);
        Assert.Null(x.Shape[0].Value);
        Assert.Equal(8, x.Shape[3].Value);

        float[] F(string name) => g.InitializersByName[name].ToFloatArray();
        Assert.Equal([1f, 2, 3, 4, 5, 6], F("w_raw"));
        Assert.Equal([2, 3], g.InitializersByName["w_raw"].GetShape());
        Assert.Equal([0.5f, -0.5f], F("w_packed"));
        Assert.Equal([1f, 2, 3], F("w_unpacked"));
        Assert.Equal([1.5f, -2f, 0.25f], F("h_raw"));
        Assert.Equal([3f, -0.5f], F("h_int32"));
        Assert.Equal([1L, -2, 3_000_000_000], g.InitializersByName["i64_packed"].ToInt64Array());
        Assert.Equal([4L, -5], g.InitializersByName["i64_unpacked"].ToInt64Array());
        Assert.Equal([-7f, 9f], F("i32_raw"));
        Assert.Equal([-3L, 11], g.InitializersByName["i32_data"].ToInt64Array());
        Assert.Equal([0.125f, -8f], F("d_packed"));
        Assert.Equal([2.5f], F("d_unpacked"));
        Assert.Equal([-1.75f], F("bf16"));
        Assert.Equal([42f], F("scalar"));
        Assert.Equal(0, g.InitializersByName["scalar"].Rank);
        Assert.Equal(1, g.InitializersByName["scalar"].ElementCount);

        var c = g.GetConstant("c0_out");
        Assert.NotNull(c);
        Assert.Equal([9f, 8, 7, 6], c!.ToFloatArray());
        Assert.Same(g.InitializersByName["w_raw"], g.GetConstant("w_raw"));
        Assert.Null(g.GetConstant("y"));

        var conv = g.Nodes[1];
        Assert.Equal("Conv", conv.OpType);
        Assert.Equal(["x", "w_raw", ""], conv.Inputs);
        Assert.Equal([2L, 2], conv.GetInts("strides"));
        Assert.Equal([1L, 1, 0, 0], conv.GetInts("pads"));
        Assert.Equal(1, conv.GetInt("group", 0));
        Assert.Equal(0.75f, conv.GetFloat("alpha", 0));
        Assert.Equal("linear", conv.GetString("mode"));
        Assert.Equal([1f, 2f], conv.Attribute("scales")!.Floats);
        Assert.Equal(["a", "b"], conv.Attribute("names")!.Strings);
        Assert.Same(conv, g.Producer("y"));
        Assert.Same(g.Nodes[2], Assert.Single(g.Consumers("y")));
        Assert.Equal("", g.Nodes[2].Name);

        Assert.Equal(6 + 2 + 3 + 3 + 2 + 2 + 1 + 1 + 1, m.InitializerParameterCount); // floating-point initializers
        Assert.Equal(4, m.ConstantParameterCount);
    }

    [Fact]
    public void External_data_is_rejected_clearly()
    {
        var ext = Onnx.Tensor("big", 1, [1000], t => t
            .Message(13, new ProtoWriter().String(1, "location").String(2, "weights.bin"))
            .Varint(14, 1));
        var bytes = Onnx.Model(Onnx.Graph("g", [], [ext], [], []));
        var ex = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(bytes, Source));
        Assert.Contains("external data not supported", ex.Message);
        Assert.Contains("'big'", ex.Message);
        Assert.Contains(Source, ex.Message);
    }

    [Fact]
    public void Data_length_must_match_dims_and_no_huge_allocation_happens()
    {
        // Claims 10^12 elements with 4 bytes of data: rejected before anything is allocated for it.
        var lie = Onnx.Tensor("liar", 1, [1_000_000, 1_000_000], t => t.Bytes(9, new byte[4]));
        var ex = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(Onnx.Model(Onnx.Graph("g", [], [lie], [], [])), Source));
        Assert.Contains("'liar'", ex.Message);
        Assert.Contains("1000000000000 elements", ex.Message);

        var odd = Onnx.Tensor("odd", 1, [2], t => t.Bytes(9, new byte[7]));
        ex = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(Onnx.Model(Onnx.Graph("g", [], [odd], [], [])), Source));
        Assert.Contains("not a multiple of 4", ex.Message);

        var overflow = Onnx.Tensor("overflow", 1, [long.MaxValue / 2, 4], t => t.Bytes(9, new byte[4]));
        ex = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(Onnx.Model(Onnx.Graph("g", [], [overflow], [], [])), Source));
        Assert.Contains("overflows", ex.Message);

        var negative = Onnx.Tensor("neg", 1, [-1], t => t.Bytes(9, new byte[4]));
        ex = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(Onnx.Model(Onnx.Graph("g", [], [negative], [], [])), Source));
        Assert.Contains("negative dimension", ex.Message);

        var wrongField = Onnx.Tensor("wrong", 7, [1], t => t.PackedFloats(4, [1f]));
        ex = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(Onnx.Model(Onnx.Graph("g", [], [wrongField], [], [])), Source));
        Assert.Contains("float_data", ex.Message);
    }

    [Fact]
    public void Strings_are_not_converted_to_floats()
    {
        var s = Onnx.Tensor("s", 8, [1], t => t.Bytes(6, "hello"u8));
        var m = OnnxModel.Parse(Onnx.Model(Onnx.Graph("g", [], [s], [], [])), Source);
        var ex = Assert.Throws<OnnxFormatException>(() => m.Graph.Initializers[0].ToFloatArray());
        Assert.Contains("cannot be converted", ex.Message);
    }

    [Fact]
    public void Truncation_reports_file_offset_and_field_path()
    {
        var bytes = SampleModel();
        var ex = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(bytes.AsMemory(0, bytes.Length - 30), Source));
        Assert.Contains(Source, ex.Message);
        Assert.NotNull(ex.Offset);
        Assert.Contains("byte offset", ex.Message);
        Assert.StartsWith("ModelProto", ex.FieldPath);
    }

    [Fact]
    public void Every_prefix_of_a_model_fails_cleanly_or_parses()
    {
        var bytes = SampleModel();
        for (var n = 0; n < bytes.Length; n++)
        {
            try
            {
                OnnxModel.Parse(bytes.AsMemory(0, n), Source);
            }
            catch (OnnxFormatException)
            {
                // expected for almost every prefix
            }
        }
    }

    [Fact]
    public void Malformed_varints_and_lengths_are_named()
    {
        // 11-byte varint.
        var ex = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(
            new byte[] { 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 }, Source));
        Assert.Contains("varint", ex.Message);
        Assert.Equal(10, ex.Offset);

        // Graph length past the end.
        ex = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(new byte[] { 0x3A, 0xE8, 0x07, 0x00 }, Source));
        Assert.Contains("length 1000 runs past the end", ex.Message);
        Assert.Equal(1, ex.Offset);

        // Groups and bad wire types.
        ex = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(new byte[] { 0x0B }, Source));
        Assert.Contains("groups", ex.Message);
        ex = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(new byte[] { 0x0E }, Source));
        Assert.Contains("wire type", ex.Message);

        // Field 0, wrong wire type for a known field, empty file, no graph.
        Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(new byte[] { 0x00, 0x00 }, Source));
        ex = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(new byte[] { 0x3D, 0, 0, 0, 0 }, Source));
        Assert.Contains("'graph'", ex.Message);
        ex = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(Array.Empty<byte>(), Source));
        Assert.Contains("empty", ex.Message);
        ex = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(new byte[] { 0x08, 0x07 }, Source));
        Assert.Contains("no graph", ex.Message);
    }

    [Fact]
    public void Deep_nesting_is_refused_without_stack_overflow()
    {
        // graph { node { attribute { g: graph { node { attribute { g: ... } } } } } } a thousand levels deep.
        var g = Onnx.Graph("leaf", [], [], [], []);
        for (var i = 0; i < 1000; i++)
        {
            var attr = new ProtoWriter().String(1, "body").Varint(20, 5).Message(6, g);
            var node = new ProtoWriter().String(4, "Loop").Message(5, attr);
            g = new ProtoWriter().Message(1, node);
        }
        var ex = Assert.Throws<OnnxFormatException>(() => OnnxModel.Parse(Onnx.Model(g), Source));
        Assert.Contains("nested deeper", ex.Message);
    }

    [Fact]
    public void Moderate_nesting_of_subgraphs_is_read()
    {
        var inner = Onnx.Graph("body", [Onnx.Node("Identity", "id", ["a"], ["b"])], [], [], []);
        var loop = Onnx.Node("Loop", "loop", ["n", "", "v"], ["out"], Onnx.Attribute("body", 5, a => a.Message(6, inner)));
        var m = OnnxModel.Parse(Onnx.Model(Onnx.Graph("g", [loop], [], [], [])), Source);
        var body = m.Graph.Nodes[0].Attribute("body")!.Graph!;
        Assert.Equal("Identity", body.Nodes[0].OpType);
    }

    [Fact]
    public void Random_garbage_gives_format_errors()
    {
        var rng = new Random(1234);
        for (var i = 0; i < 2000; i++)
        {
            var junk = new byte[rng.Next(1, 300)];
            rng.NextBytes(junk);
            try
            {
                OnnxModel.Parse(junk, Source);
            }
            catch (OnnxFormatException)
            {
            }
        }
    }
}
