using System.Runtime.InteropServices;

namespace SamRealtime.Vulkan;

internal enum DataType { F32, F16 }

/// <summary>
/// A dense row-major tensor on the GPU. The host API is always fp32; <see cref="DataType.F16"/> tensors are
/// converted on the way in and out.
/// </summary>
internal sealed class GpuTensor : IDisposable
{
    public GpuBuffer Buffer { get; }
    public int[] Shape { get; }
    public DataType Type { get; }
    public long Length { get; }
    public string? Name => Buffer.Name;
    public int ElementSize => Type == DataType.F16 ? 2 : 4;

    internal GpuTensor(GpuContext ctx, ReadOnlySpan<int> shape, DataType type, string? name)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d <= 0) throw new ShapeException($"Tensor '{name}' has a non-positive dimension in [{string.Join(",", shape.ToArray())}].");
            n *= d;
        }
        Shape = shape.ToArray();
        Type = type;
        Length = n;
        Buffer = ctx.CreateBuffer((ulong)(n * (type == DataType.F16 ? 2 : 4)), BufferKind.Device, name);
    }

    private readonly bool _ownsBuffer = true;

    private GpuTensor(GpuBuffer buffer, int[] shape, DataType type, long length)
    {
        Buffer = buffer;
        Shape = shape;
        Type = type;
        Length = length;
        _ownsBuffer = false;
    }

    /// <summary>A tensor over a buffer someone else owns (disposing the tensor leaves the buffer alone).</summary>
    internal static GpuTensor View(GpuBuffer buffer, int[] shape, DataType type)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d <= 0) throw new ShapeException($"Tensor view of '{buffer.Name}' has a non-positive dimension in [{string.Join(",", shape)}].");
            n *= d;
        }
        if ((ulong)(n * (type == DataType.F16 ? 2 : 4)) > buffer.Size)
            throw new ShapeException($"Tensor view [{string.Join("x", shape)}] {type} does not fit buffer '{buffer.Name}' of {buffer.Size} bytes.");
        return new GpuTensor(buffer, shape.ToArray(), type, n);
    }

    public int Rank => Shape.Length;

    /// <summary>The texel format of this tensor's storage type, four-wide (vec4) or one-wide.</summary>
    public static Silk.NET.Vulkan.Format TexelFormat(DataType type, bool fourWide) => (type, fourWide) switch
    {
        (DataType.F32, true) => Silk.NET.Vulkan.Format.R32G32B32A32Sfloat,
        (DataType.F32, false) => Silk.NET.Vulkan.Format.R32Sfloat,
        (_, true) => Silk.NET.Vulkan.Format.R16G16B16A16Sfloat,
        _ => Silk.NET.Vulkan.Format.R16Sfloat,
    };

    /// <summary>Whether a shader can read this tensor's buffer as uniform texels of its storage type (the device
    /// supports the format and the buffer fits its texel-buffer limits; <see cref="GpuBuffer.TexelView"/>).</summary>
    public bool HasTexelView(bool fourWide) => Buffer.TexelView(TexelFormat(Type, fourWide)) is not null;
    public int Dim(int i) => Shape[i < 0 ? Shape.Length + i : i];
    public string ShapeText => "[" + string.Join("x", Shape) + "]";

    public void Write(ReadOnlySpan<float> data)
    {
        if (data.Length != Length)
            throw new ShapeException($"Tensor '{Name}' {ShapeText} holds {Length} values; {data.Length} were given.");
        if (Type == DataType.F32)
        {
            Buffer.Write(MemoryMarshal.AsBytes(data));
            return;
        }
        var half = new Half[data.Length];
        for (int i = 0; i < data.Length; i++) half[i] = (Half)data[i];
        Buffer.Write(MemoryMarshal.AsBytes(half.AsSpan()));
    }

    public float[] Read()
    {
        var result = new float[Length];
        if (Type == DataType.F32)
        {
            Buffer.Read(MemoryMarshal.AsBytes(result.AsSpan()));
            return result;
        }
        var half = new Half[Length];
        Buffer.Read(MemoryMarshal.AsBytes(half.AsSpan()));
        for (int i = 0; i < half.Length; i++) result[i] = (float)half[i];
        return result;
    }

    public void Dispose()
    {
        if (_ownsBuffer) Buffer.Dispose();
    }
}
