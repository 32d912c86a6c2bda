using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace SamRealtime.Weights;

/// <summary>TensorProto.DataType (onnx.proto).</summary>
internal enum OnnxDataType
{
    Undefined = 0,
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    UInt16 = 4,
    Int16 = 5,
    Int32 = 6,
    Int64 = 7,
    String = 8,
    Bool = 9,
    Float16 = 10,
    Double = 11,
    UInt32 = 12,
    UInt64 = 13,
    Complex64 = 14,
    Complex128 = 15,
    BFloat16 = 16,
}

/// <summary>AttributeProto.AttributeType (onnx.proto).</summary>
internal enum OnnxAttributeType
{
    Undefined = 0,
    Float = 1,
    Int = 2,
    String = 3,
    Tensor = 4,
    Graph = 5,
    Floats = 6,
    Ints = 7,
    Strings = 8,
    Tensors = 9,
    Graphs = 10,
    SparseTensor = 11,
    SparseTensors = 12,
    TypeProto = 13,
    TypeProtos = 14,
}

/// <summary>One entry of ModelProto.opset_import.</summary>
internal sealed record OnnxOpsetImport(string Domain, long Version);

/// <summary>One dimension of a value's shape: a fixed size, a symbolic name, or neither (unknown).</summary>
internal readonly record struct OnnxDimension(long? Value, string? Param)
{
    public override string ToString() => Value?.ToString() ?? Param ?? "?";
}

/// <summary>A graph input, output or value_info entry. <see cref="Shape"/> is null when the type has no shape.</summary>
internal sealed record OnnxValueInfo(string Name, OnnxDataType ElementType, IReadOnlyList<OnnxDimension>? Shape)
{
    /// <summary>True when the value is a tensor whose every dimension is a fixed number equal to <paramref name="dims"/>.</summary>
    public bool HasShape(params long[] dims) =>
        Shape is { } s && s.Count == dims.Length && s.Select((d, i) => d.Value == dims[i]).All(x => x);

    public override string ToString() =>
        $"{Name}: {ElementType}[{(Shape is null ? "?" : string.Join(", ", Shape))}]";
}

/// <summary>
/// A tensor from an initializer, a Constant node or a tensor attribute. Data stays in the file buffer until one
/// of the <c>To…Array</c> methods converts it.
/// </summary>
internal sealed class OnnxTensor
{
    private readonly long[] _dims;
    private readonly ReadOnlyMemory<byte> _raw;
    private readonly float[]? _floats;
    private readonly int[]? _int32s;
    private readonly long[]? _int64s;
    private readonly double[]? _doubles;
    private readonly ulong[]? _uint64s;
    private readonly int _stringCount;

    internal OnnxTensor(string name, OnnxDataType dataType, long[] dims, ReadOnlyMemory<byte> raw, bool hasRaw,
        float[]? floats, int[]? int32s, long[]? int64s, double[]? doubles, ulong[]? uint64s, int stringCount,
        string source)
    {
        Name = name;
        DataType = dataType;
        _dims = dims;
        _raw = raw;
        HasRawData = hasRaw;
        _floats = floats;
        _int32s = int32s;
        _int64s = int64s;
        _doubles = doubles;
        _uint64s = uint64s;
        _stringCount = stringCount;
        Source = source;
        ElementCount = CountElements(dims);
    }

    /// <summary>A float tensor built in memory (tests, graph modification).</summary>
    public static OnnxTensor FromFloats(string name, IReadOnlyList<long> dims, float[] data)
    {
        var d = dims.ToArray();
        var count = CountElements(d);
        if (count != data.Length)
            throw new ArgumentException($"tensor '{name}': shape [{string.Join(", ", d)}] has {count} elements, data has {data.Length}");
        return new OnnxTensor(name, OnnxDataType.Float, d, default, false, data, null, null, null, null, 0, "(memory)");
    }

    /// <summary>An int64 tensor built in memory.</summary>
    public static OnnxTensor FromInt64s(string name, IReadOnlyList<long> dims, long[] data)
    {
        var d = dims.ToArray();
        var count = CountElements(d);
        if (count != data.Length)
            throw new ArgumentException($"tensor '{name}': shape [{string.Join(", ", d)}] has {count} elements, data has {data.Length}");
        return new OnnxTensor(name, OnnxDataType.Int64, d, default, false, null, null, data, null, null, 0, "(memory)");
    }

    public string Name { get; }
    public OnnxDataType DataType { get; }

    /// <summary>The file the tensor came from, for error messages.</summary>
    public string Source { get; }

    public IReadOnlyList<long> Dims => _dims;
    public int Rank => _dims.Length;

    /// <summary>Product of the dimensions (1 for a scalar). -1 if it overflows.</summary>
    public long ElementCount { get; }

    public bool HasRawData { get; }

    public bool IsFloatingPoint => DataType is OnnxDataType.Float or OnnxDataType.Float16 or OnnxDataType.BFloat16 or OnnxDataType.Double;

    /// <summary>The dimensions as int (throws <see cref="OnnxFormatException"/> if one does not fit).</summary>
    public int[] GetShape()
    {
        var s = new int[_dims.Length];
        for (var i = 0; i < s.Length; i++)
        {
            if (_dims[i] is < 0 or > int.MaxValue)
                throw new OnnxFormatException(Source, $"tensor '{Name}' dimension {i} = {_dims[i]} does not fit in int");
            s[i] = (int)_dims[i];
        }
        return s;
    }

    public string ShapeString => "[" + string.Join(", ", _dims) + "]";

    public override string ToString() => $"{Name}: {DataType}{ShapeString}";

    /// <summary>
    /// The elements converted to float (float16/bfloat16/double/integers/bool are converted; strings are not).
    /// </summary>
    public float[] ToFloatArray()
    {
        var n = CheckedCount();
        if (_floats is not null) return (float[])_floats.Clone();
        var result = new float[n];
        if (HasRawData)
        {
            var raw = _raw.Span;
            switch (DataType)
            {
                case OnnxDataType.Float:
                    if (BitConverter.IsLittleEndian) MemoryMarshal.Cast<byte, float>(raw).CopyTo(result);
                    else for (var i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadSingleLittleEndian(raw[(4 * i)..]);
                    break;
                case OnnxDataType.Float16:
                    for (var i = 0; i < n; i++) result[i] = (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(raw[(2 * i)..]));
                    break;
                case OnnxDataType.BFloat16:
                    for (var i = 0; i < n; i++) result[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(raw[(2 * i)..]) << 16);
                    break;
                case OnnxDataType.Double:
                    for (var i = 0; i < n; i++) result[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(raw[(8 * i)..]);
                    break;
                case OnnxDataType.Int64:
                    for (var i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadInt64LittleEndian(raw[(8 * i)..]);
                    break;
                case OnnxDataType.UInt64:
                    for (var i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadUInt64LittleEndian(raw[(8 * i)..]);
                    break;
                case OnnxDataType.Int32:
                    for (var i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadInt32LittleEndian(raw[(4 * i)..]);
                    break;
                case OnnxDataType.UInt32:
                    for (var i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadUInt32LittleEndian(raw[(4 * i)..]);
                    break;
                case OnnxDataType.Int16:
                    for (var i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadInt16LittleEndian(raw[(2 * i)..]);
                    break;
                case OnnxDataType.UInt16:
                    for (var i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadUInt16LittleEndian(raw[(2 * i)..]);
                    break;
                case OnnxDataType.Int8:
                    for (var i = 0; i < n; i++) result[i] = (sbyte)raw[i];
                    break;
                case OnnxDataType.UInt8:
                case OnnxDataType.Bool:
                    for (var i = 0; i < n; i++) result[i] = raw[i];
                    break;
                default:
                    throw NotConvertible("float");
            }
            return result;
        }
        switch (DataType)
        {
            case OnnxDataType.Float16 when _int32s is not null:
                for (var i = 0; i < n; i++) result[i] = (float)BitConverter.UInt16BitsToHalf(unchecked((ushort)_int32s[i]));
                return result;
            case OnnxDataType.BFloat16 when _int32s is not null:
                for (var i = 0; i < n; i++) result[i] = BitConverter.Int32BitsToSingle((_int32s[i] & 0xFFFF) << 16);
                return result;
            case OnnxDataType.Int32 or OnnxDataType.Int16 or OnnxDataType.UInt16 or OnnxDataType.Int8
                or OnnxDataType.UInt8 or OnnxDataType.Bool when _int32s is not null:
                for (var i = 0; i < n; i++) result[i] = _int32s[i];
                return result;
            case OnnxDataType.Int64 when _int64s is not null:
                for (var i = 0; i < n; i++) result[i] = _int64s[i];
                return result;
            case OnnxDataType.Double when _doubles is not null:
                for (var i = 0; i < n; i++) result[i] = (float)_doubles[i];
                return result;
            case OnnxDataType.UInt32 or OnnxDataType.UInt64 when _uint64s is not null:
                for (var i = 0; i < n; i++) result[i] = _uint64s[i];
                return result;
        }
        if (n == 0) return result;
        throw NotConvertible("float");
    }

    /// <summary>The elements as int64 (integer and bool types only; floats are not silently truncated).</summary>
    public long[] ToInt64Array()
    {
        var n = CheckedCount();
        if (_int64s is not null) return (long[])_int64s.Clone();
        var result = new long[n];
        if (HasRawData)
        {
            var raw = _raw.Span;
            switch (DataType)
            {
                case OnnxDataType.Int64:
                    for (var i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadInt64LittleEndian(raw[(8 * i)..]);
                    return result;
                case OnnxDataType.Int32:
                    for (var i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadInt32LittleEndian(raw[(4 * i)..]);
                    return result;
                case OnnxDataType.UInt32:
                    for (var i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadUInt32LittleEndian(raw[(4 * i)..]);
                    return result;
                case OnnxDataType.Int16:
                    for (var i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadInt16LittleEndian(raw[(2 * i)..]);
                    return result;
                case OnnxDataType.UInt16:
                    for (var i = 0; i < n; i++) result[i] = BinaryPrimitives.ReadUInt16LittleEndian(raw[(2 * i)..]);
                    return result;
                case OnnxDataType.Int8:
                    for (var i = 0; i < n; i++) result[i] = (sbyte)raw[i];
                    return result;
                case OnnxDataType.UInt8 or OnnxDataType.Bool:
                    for (var i = 0; i < n; i++) result[i] = raw[i];
                    return result;
                case OnnxDataType.UInt64:
                    for (var i = 0; i < n; i++) result[i] = unchecked((long)BinaryPrimitives.ReadUInt64LittleEndian(raw[(8 * i)..]));
                    return result;
                default:
                    throw NotConvertible("int64");
            }
        }
        if (_int32s is not null && DataType is OnnxDataType.Int32 or OnnxDataType.Int16 or OnnxDataType.UInt16
                or OnnxDataType.Int8 or OnnxDataType.UInt8 or OnnxDataType.Bool)
        {
            for (var i = 0; i < n; i++) result[i] = _int32s[i];
            return result;
        }
        if (_uint64s is not null && DataType is OnnxDataType.UInt32 or OnnxDataType.UInt64)
        {
            for (var i = 0; i < n; i++) result[i] = unchecked((long)_uint64s[i]);
            return result;
        }
        if (n == 0) return result;
        throw NotConvertible("int64");
    }

    /// <summary>Bytes per element in raw_data, or 0 for types that have no fixed-width raw form.</summary>
    internal static int ElementSize(OnnxDataType t) => t switch
    {
        OnnxDataType.Float or OnnxDataType.Int32 or OnnxDataType.UInt32 => 4,
        OnnxDataType.Double or OnnxDataType.Int64 or OnnxDataType.UInt64 or OnnxDataType.Complex64 => 8,
        OnnxDataType.Complex128 => 16,
        OnnxDataType.Float16 or OnnxDataType.BFloat16 or OnnxDataType.Int16 or OnnxDataType.UInt16 => 2,
        OnnxDataType.Int8 or OnnxDataType.UInt8 or OnnxDataType.Bool => 1,
        _ => 0,
    };

    internal static long CountElements(long[] dims)
    {
        long n = 1;
        foreach (var d in dims)
        {
            if (d < 0) return -1;
            if (d != 0 && n > long.MaxValue / d) return -1;
            n *= d;
        }
        return n;
    }

    private int CheckedCount()
    {
        if (ElementCount is < 0 or > int.MaxValue)
            throw new OnnxFormatException(Source, $"tensor '{Name}' shape {ShapeString} is too large to convert");
        return (int)ElementCount;
    }

    private OnnxFormatException NotConvertible(string to) =>
        new(Source, $"tensor '{Name}' of type {DataType} cannot be converted to {to}");
}

/// <summary>One attribute of a node. Only the member matching <see cref="Type"/> is meaningful.</summary>
internal sealed class OnnxAttribute
{
    internal OnnxAttribute(string name, OnnxAttributeType type)
    {
        Name = name;
        Type = type;
    }

    public string Name { get; }
    public OnnxAttributeType Type { get; internal set; }
    public float Float { get; internal set; }
    public long Int { get; internal set; }
    public byte[] Bytes { get; internal set; } = [];
    public string String => System.Text.Encoding.UTF8.GetString(Bytes);
    public OnnxTensor? Tensor { get; internal set; }
    public OnnxGraph? Graph { get; internal set; }
    public IReadOnlyList<float> Floats { get; internal set; } = [];
    public IReadOnlyList<long> Ints { get; internal set; } = [];
    public IReadOnlyList<string> Strings { get; internal set; } = [];
    public IReadOnlyList<OnnxTensor> Tensors { get; internal set; } = [];
    public IReadOnlyList<OnnxGraph> Graphs { get; internal set; } = [];

    public override string ToString() => Type switch
    {
        OnnxAttributeType.Float => $"{Name}={Float}",
        OnnxAttributeType.Int => $"{Name}={Int}",
        OnnxAttributeType.String => $"{Name}=\"{String}\"",
        OnnxAttributeType.Tensor => $"{Name}=<{Tensor}>",
        OnnxAttributeType.Graph => $"{Name}=<graph {Graph?.Name}>",
        OnnxAttributeType.Floats => $"{Name}=[{string.Join(", ", Floats)}]",
        OnnxAttributeType.Ints => $"{Name}=[{string.Join(", ", Ints)}]",
        OnnxAttributeType.Strings => $"{Name}=[{string.Join(", ", Strings)}]",
        _ => $"{Name}:{Type}",
    };
}

/// <summary>One NodeProto. <see cref="Index"/> is its position in the graph's node list.</summary>
internal sealed class OnnxNode
{
    internal OnnxNode(int index, string name, string opType, string domain, IReadOnlyList<string> inputs,
        IReadOnlyList<string> outputs, IReadOnlyList<OnnxAttribute> attributes)
    {
        Index = index;
        Name = name;
        OpType = opType;
        Domain = domain;
        Inputs = inputs;
        Outputs = outputs;
        Attributes = attributes;
    }

    public int Index { get; }
    public string Name { get; }
    public string OpType { get; }
    public string Domain { get; }

    /// <summary>Input value names; an empty string is an omitted optional input.</summary>
    public IReadOnlyList<string> Inputs { get; }

    public IReadOnlyList<string> Outputs { get; }
    public IReadOnlyList<OnnxAttribute> Attributes { get; }

    public OnnxAttribute? Attribute(string name)
    {
        foreach (var a in Attributes)
            if (a.Name == name) return a;
        return null;
    }

    public long GetInt(string name, long defaultValue) => Attribute(name) is { Type: OnnxAttributeType.Int } a ? a.Int : defaultValue;
    public float GetFloat(string name, float defaultValue) => Attribute(name) is { Type: OnnxAttributeType.Float } a ? a.Float : defaultValue;
    public IReadOnlyList<long>? GetInts(string name) => Attribute(name) is { Type: OnnxAttributeType.Ints } a ? a.Ints : null;
    public string? GetString(string name) => Attribute(name) is { Type: OnnxAttributeType.String } a ? a.String : null;
    public OnnxTensor? GetTensor(string name) => Attribute(name) is { Type: OnnxAttributeType.Tensor } a ? a.Tensor : null;

    /// <summary>A short label for error messages: name and op type.</summary>
    public string Label => string.IsNullOrEmpty(Name) ? $"#{Index} ({OpType})" : $"'{Name}' ({OpType})";

    public override string ToString() =>
        $"{OpType} {Name} ({string.Join(", ", Inputs)}) -> ({string.Join(", ", Outputs)})";
}
