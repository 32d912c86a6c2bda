using System.Buffers.Binary;
using System.Text;

namespace SamRealtime.Tests.Weights;

/// <summary>A minimal protobuf wire-format writer for building ONNX models by hand in tests.</summary>
internal sealed class ProtoWriter
{
    private readonly List<byte> _bytes = [];

    public byte[] ToArray() => _bytes.ToArray();

    public int Length => _bytes.Count;

    public ProtoWriter Tag(int field, int wire) => RawVarint(((ulong)field << 3) | (uint)wire);

    public ProtoWriter RawVarint(ulong v)
    {
        while (v >= 0x80)
        {
            _bytes.Add((byte)(v | 0x80));
            v >>= 7;
        }
        _bytes.Add((byte)v);
        return this;
    }

    public ProtoWriter RawBytes(ReadOnlySpan<byte> b)
    {
        foreach (var x in b) _bytes.Add(x);
        return this;
    }

    public ProtoWriter Varint(int field, long v) => Tag(field, 0).RawVarint(unchecked((ulong)v));

    public ProtoWriter Float(int field, float v)
    {
        Tag(field, 5);
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(b, v);
        return RawBytes(b);
    }

    public ProtoWriter Double(int field, double v)
    {
        Tag(field, 1);
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteDoubleLittleEndian(b, v);
        return RawBytes(b);
    }

    public ProtoWriter Bytes(int field, ReadOnlySpan<byte> b) => Tag(field, 2).RawVarint((ulong)b.Length).RawBytes(b);

    public ProtoWriter String(int field, string s) => Bytes(field, Encoding.UTF8.GetBytes(s));

    public ProtoWriter Message(int field, ProtoWriter m) => Bytes(field, m.ToArray());

    public ProtoWriter PackedVarints(int field, IEnumerable<long> values)
    {
        var inner = new ProtoWriter();
        foreach (var v in values) inner.RawVarint(unchecked((ulong)v));
        return Bytes(field, inner.ToArray());
    }

    public ProtoWriter PackedFloats(int field, IEnumerable<float> values)
    {
        var inner = new List<byte>();
        Span<byte> b = stackalloc byte[4];
        foreach (var v in values)
        {
            BinaryPrimitives.WriteSingleLittleEndian(b, v);
            inner.AddRange(b.ToArray());
        }
        return Bytes(field, inner.ToArray());
    }

    public ProtoWriter PackedDoubles(int field, IEnumerable<double> values)
    {
        var inner = new List<byte>();
        Span<byte> b = stackalloc byte[8];
        foreach (var v in values)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(b, v);
            inner.AddRange(b.ToArray());
        }
        return Bytes(field, inner.ToArray());
    }
}

/// <summary>Builders for ONNX messages (field numbers from onnx.proto).</summary>
internal static class Onnx
{
    public static ProtoWriter Tensor(string name, int dataType, long[] dims, Action<ProtoWriter>? data = null)
    {
        var t = new ProtoWriter();
        foreach (var d in dims) t.Varint(1, d); // unpacked dims
        t.Varint(2, dataType).String(8, name);
        data?.Invoke(t);
        return t;
    }

    public static ProtoWriter RawFloatTensor(string name, long[] dims, float[] values)
    {
        var raw = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(4 * i), values[i]);
        return Tensor(name, 1, dims, t => t.Bytes(9, raw));
    }

    public static ProtoWriter Attribute(string name, int type, Action<ProtoWriter> value)
    {
        var a = new ProtoWriter().String(1, name).Varint(20, type);
        value(a);
        return a;
    }

    public static ProtoWriter Node(string opType, string name, string[] inputs, string[] outputs, params ProtoWriter[] attributes)
    {
        var n = new ProtoWriter();
        foreach (var i in inputs) n.String(1, i);
        foreach (var o in outputs) n.String(2, o);
        n.String(3, name).String(4, opType);
        foreach (var a in attributes) n.Message(5, a);
        return n;
    }

    /// <summary>ValueInfoProto with a tensor type; a dim is a number or, when negative, the symbolic name "N".</summary>
    public static ProtoWriter ValueInfo(string name, int elemType, params long[] dims)
    {
        var shape = new ProtoWriter();
        foreach (var d in dims)
            shape.Message(1, d >= 0 ? new ProtoWriter().Varint(1, d) : new ProtoWriter().String(2, "N"));
        var tensorType = new ProtoWriter().Varint(1, elemType).Message(2, shape);
        var type = new ProtoWriter().Message(1, tensorType);
        return new ProtoWriter().String(1, name).Message(2, type);
    }

    public static ProtoWriter Graph(string name, IEnumerable<ProtoWriter> nodes, IEnumerable<ProtoWriter> initializers,
        IEnumerable<ProtoWriter> inputs, IEnumerable<ProtoWriter> outputs)
    {
        var g = new ProtoWriter();
        foreach (var n in nodes) g.Message(1, n);
        g.String(2, name);
        foreach (var t in initializers) g.Message(5, t);
        foreach (var i in inputs) g.Message(11, i);
        foreach (var o in outputs) g.Message(12, o);
        return g;
    }

    public static byte[] Model(ProtoWriter graph, long opset = 17)
    {
        var m = new ProtoWriter().Varint(1, 8).String(2, "handmade").String(3, "1.0");
        m.Message(7, graph);
        m.Message(8, new ProtoWriter().String(1, "").Varint(2, opset));
        return m.ToArray();
    }
}
