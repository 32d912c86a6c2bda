using System.Buffers.Binary;
using System.Text;

namespace SamRealtime.Weights;

internal enum WireType
{
    Varint = 0,
    Fixed64 = 1,
    LengthDelimited = 2,
    StartGroup = 3,
    EndGroup = 4,
    Fixed32 = 5,
}

/// <summary>Where in the message tree a reader is; turned into a string only for error messages.</summary>
internal sealed class ProtoPath(ProtoPath? parent, string name, int index = -1)
{
    public ProtoPath? Parent { get; } = parent;

    public override string ToString()
    {
        var parts = new List<string>();
        for (var p = this; p is not null; p = p.Parent)
            parts.Add(p._index >= 0 ? $"{p._name}[{p._index}]" : p._name);
        parts.Reverse();
        return string.Join('.', parts);
    }

    private readonly string _name = name;
    private readonly int _index = index;
}

/// <summary>
/// A forward-only reader of protobuf wire format over a window of one buffer. Every length is checked against
/// the bytes left in the enclosing message before anything is sliced or allocated, varints are limited to
/// 10 bytes, and message nesting is limited to <see cref="MaxDepth"/>, so garbage input ends in an
/// <see cref="OnnxFormatException"/> rather than a crash, a hang or a huge allocation.
/// </summary>
internal struct ProtoReader
{
    public const int MaxDepth = 48;

    private readonly ReadOnlyMemory<byte> _buffer; // the whole file
    private readonly int _end;                      // exclusive end of this message in _buffer
    private int _pos;
    private int _fieldStart;                        // offset of the tag of the field being read, for errors

    public ProtoReader(ReadOnlyMemory<byte> buffer, string source, ProtoPath path)
        : this(buffer, 0, buffer.Length, source, path, 0)
    {
    }

    private ProtoReader(ReadOnlyMemory<byte> buffer, int start, int end, string source, ProtoPath path, int depth)
    {
        _buffer = buffer;
        _pos = start;
        _fieldStart = start;
        _end = end;
        Source = source;
        Path = path;
        Depth = depth;
    }

    public string Source { get; }
    public ProtoPath Path { get; }
    public int Depth { get; }
    public readonly bool HasMore => _pos < _end;
    public readonly int Position => _pos;
    public readonly int Remaining => _end - _pos;

    /// <summary>Offset where the current field's tag started.</summary>
    public readonly int FieldStart => _fieldStart;

    public readonly OnnxFormatException Error(string message, long? offset = null) =>
        new(Source, message, offset ?? _fieldStart, Path.ToString());

    public (int Field, WireType Wire) ReadTag()
    {
        _fieldStart = _pos;
        var key = ReadVarint();
        var field = key >> 3;
        var wire = (WireType)(int)(key & 7);
        if (field == 0 || field > 536_870_911)
            throw Error($"invalid protobuf field number {field}");
        if (wire is WireType.StartGroup or WireType.EndGroup)
            throw Error($"protobuf groups (wire type {(int)wire}) are not used by ONNX; field {field}");
        if ((int)wire > 5)
            throw Error($"invalid protobuf wire type {(int)wire} for field {field}");
        return ((int)field, wire);
    }

    public ulong ReadVarint()
    {
        var span = _buffer.Span;
        ulong result = 0;
        for (var i = 0; i < 10; i++)
        {
            if (_pos >= _end)
                throw Error("truncated varint (message ends inside it)", _pos);
            var b = span[_pos++];
            if (i == 9 && b > 1)
                throw Error("malformed varint (more than 64 bits)", _pos - 1);
            result |= (ulong)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0) return result;
        }
        throw Error("malformed varint (longer than 10 bytes)", _pos);
    }

    public long ReadInt64() => unchecked((long)ReadVarint());

    public int ReadInt32() => unchecked((int)ReadVarint());

    public float ReadFloat()
    {
        Need(4);
        var v = BinaryPrimitives.ReadSingleLittleEndian(_buffer.Span.Slice(_pos, 4));
        _pos += 4;
        return v;
    }

    public double ReadDouble()
    {
        Need(8);
        var v = BinaryPrimitives.ReadDoubleLittleEndian(_buffer.Span.Slice(_pos, 8));
        _pos += 8;
        return v;
    }

    public ulong ReadFixed64()
    {
        Need(8);
        var v = BinaryPrimitives.ReadUInt64LittleEndian(_buffer.Span.Slice(_pos, 8));
        _pos += 8;
        return v;
    }

    /// <summary>Reads a length-delimited payload without copying (a slice of the file buffer).</summary>
    public ReadOnlyMemory<byte> ReadBytes()
    {
        var (start, length) = ReadLengthPrefix();
        return _buffer.Slice(start, length);
    }

    public string ReadString()
    {
        var (start, length) = ReadLengthPrefix();
        return length == 0 ? "" : Encoding.UTF8.GetString(_buffer.Span.Slice(start, length));
    }

    /// <summary>Reads an embedded message and returns a reader bounded to it.</summary>
    public ProtoReader ReadMessage(string name, int index = -1)
    {
        var (start, length) = ReadLengthPrefix();
        if (Depth + 1 > MaxDepth)
            throw Error($"messages nested deeper than {MaxDepth} levels");
        return new ProtoReader(_buffer, start, start + length, Source, new ProtoPath(Path, name, index), Depth + 1);
    }

    public void Skip(WireType wire)
    {
        switch (wire)
        {
            case WireType.Varint: ReadVarint(); break;
            case WireType.Fixed64: Need(8); _pos += 8; break;
            case WireType.Fixed32: Need(4); _pos += 4; break;
            case WireType.LengthDelimited: ReadLengthPrefix(); break;
            default: throw Error($"cannot skip wire type {(int)wire}");
        }
    }

    /// <summary>Requires a given wire type for a known field.</summary>
    public readonly void Expect(WireType actual, WireType expected, string fieldName)
    {
        if (actual != expected)
            throw Error($"field '{fieldName}' has wire type {(int)actual}, expected {(int)expected}");
    }

    // ---- repeated scalar fields: packed (length-delimited) or one element per tag ----

    public void ReadRepeatedInt64(WireType wire, List<long> into, string fieldName, int maxCount = int.MaxValue)
    {
        if (wire == WireType.Varint)
        {
            into.Add(ReadInt64());
        }
        else
        {
            Expect(wire, WireType.LengthDelimited, fieldName);
            var (start, length) = ReadLengthPrefix();
            var sub = new ProtoReader(_buffer, start, start + length, Source, Path, Depth);
            while (sub.HasMore && into.Count <= maxCount) into.Add(sub.ReadInt64());
        }
        if (into.Count > maxCount)
            throw Error($"field '{fieldName}' has more than {maxCount} elements");
    }

    public void ReadRepeatedInt32(WireType wire, List<int> into, string fieldName)
    {
        if (wire == WireType.Varint) { into.Add(ReadInt32()); return; }
        Expect(wire, WireType.LengthDelimited, fieldName);
        var (start, length) = ReadLengthPrefix();
        var sub = new ProtoReader(_buffer, start, start + length, Source, Path, Depth);
        while (sub.HasMore) into.Add(sub.ReadInt32());
    }

    public void ReadRepeatedUInt64(WireType wire, List<ulong> into, string fieldName)
    {
        if (wire == WireType.Varint) { into.Add(ReadVarint()); return; }
        Expect(wire, WireType.LengthDelimited, fieldName);
        var (start, length) = ReadLengthPrefix();
        var sub = new ProtoReader(_buffer, start, start + length, Source, Path, Depth);
        while (sub.HasMore) into.Add(sub.ReadVarint());
    }

    public void ReadRepeatedFloat(WireType wire, List<float> into, string fieldName)
    {
        if (wire == WireType.Fixed32) { into.Add(ReadFloat()); return; }
        Expect(wire, WireType.LengthDelimited, fieldName);
        var (start, length) = ReadLengthPrefix();
        if (length % 4 != 0)
            throw Error($"packed float field '{fieldName}' has {length} bytes, not a multiple of 4");
        var span = _buffer.Span.Slice(start, length);
        into.EnsureCapacity(into.Count + length / 4);
        for (var i = 0; i < length; i += 4)
            into.Add(BinaryPrimitives.ReadSingleLittleEndian(span.Slice(i, 4)));
    }

    public void ReadRepeatedDouble(WireType wire, List<double> into, string fieldName)
    {
        if (wire == WireType.Fixed64) { into.Add(ReadDouble()); return; }
        Expect(wire, WireType.LengthDelimited, fieldName);
        var (start, length) = ReadLengthPrefix();
        if (length % 8 != 0)
            throw Error($"packed double field '{fieldName}' has {length} bytes, not a multiple of 8");
        var span = _buffer.Span.Slice(start, length);
        into.EnsureCapacity(into.Count + length / 8);
        for (var i = 0; i < length; i += 8)
            into.Add(BinaryPrimitives.ReadDoubleLittleEndian(span.Slice(i, 8)));
    }

    private (int Start, int Length) ReadLengthPrefix()
    {
        var lengthAt = _pos;
        var len = ReadVarint();
        if (len > (ulong)(_end - _pos))
            throw Error($"length {len} runs past the end of the enclosing message ({_end - _pos} bytes left)", lengthAt);
        var start = _pos;
        _pos += (int)len;
        return (start, (int)len);
    }

    private readonly void Need(int bytes)
    {
        if (_end - _pos < bytes)
            throw Error($"truncated fixed-width value ({bytes} bytes needed, {_end - _pos} left)", _pos);
    }
}
