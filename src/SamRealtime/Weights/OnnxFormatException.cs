namespace SamRealtime.Weights;

/// <summary>
/// The bytes of an ONNX file are not a well-formed ModelProto (truncated, corrupt, or using a feature this
/// reader does not support, such as external data). The message names the file and, where known, the byte
/// offset and the protobuf field path where parsing stopped.
/// </summary>
public sealed class OnnxFormatException : FormatException
{
    public OnnxFormatException(string sourcePath, string message, long? offset = null, string? fieldPath = null)
        : base(Compose(sourcePath, message, offset, fieldPath))
    {
        SourcePath = sourcePath;
        Offset = offset;
        FieldPath = fieldPath;
    }

    /// <summary>The file (or in-memory source name) being parsed.</summary>
    public string SourcePath { get; }

    /// <summary>Absolute byte offset in the file where the problem was found, when known.</summary>
    public long? Offset { get; }

    /// <summary>Protobuf path of the message being parsed, e.g. <c>ModelProto.graph.node[12].attribute[0]</c>.</summary>
    public string? FieldPath { get; }

    private static string Compose(string source, string message, long? offset, string? fieldPath)
    {
        var s = $"{source}: {message}";
        if (offset is { } o) s += $" at byte offset {o}";
        if (!string.IsNullOrEmpty(fieldPath)) s += $" (in {fieldPath})";
        return s;
    }
}
