namespace SamRealtime.Weights;

/// <summary>
/// A well-formed ONNX file whose graph does not have the structure or the weight shapes a typed weight set expects.
/// The message names the file, the first mismatch (expected against found) and the graph node where it was found.
/// </summary>
public sealed class ModelFormatException : FormatException
{
    public ModelFormatException(string sourcePath, string message, string? nodeName = null, Exception? inner = null)
        : base($"{sourcePath}: {message}", inner)
    {
        SourcePath = sourcePath;
        NodeName = nodeName;
    }

    /// <summary>The model file.</summary>
    public string SourcePath { get; }

    /// <summary>The graph node at which the mismatch was found, when there is one.</summary>
    public string? NodeName { get; }
}
