using SamRealtime.Vulkan;
using SamRealtime.Weights;

namespace SamRealtime.Model;

/// <summary>Uploads weight tensors once and owns them (and the model's scratch tensors) on the GPU.</summary>
internal sealed class GpuWeights(GpuContext ctx, DataType type) : IDisposable
{
    private readonly List<GpuTensor> _owned = new();
    private readonly Dictionary<string, GpuTensor> _scratch = new();
    public DataType Type { get; } = type;

    /// <summary>Bytes of all scratch tensors made so far.</summary>
    public long ScratchBytes { get; private set; }

    public GpuTensor Upload(WeightTensor w) => Own(ctx.Upload(w.Data, w.Shape, Type, w.Name));

    public GpuTensor Upload(float[] data, int[] shape, string name) => Own(ctx.Upload(data, shape, Type, name));

    /// <summary>Uploads in fp32 whatever the model's storage type: small tables whose rounding would show.</summary>
    public GpuTensor UploadF32(float[] data, int[] shape, string name) => Own(ctx.Upload(data, shape, DataType.F32, name));

    /// <summary>A scratch tensor reused by every layer that asks for the same name and shape. Reuse is safe because
    /// the command stream puts a barrier before any dispatch that touches a buffer with pending work.</summary>
    public GpuTensor Scratch(string name, params int[] shape)
    {
        var key = name + ":" + string.Join("x", shape);
        if (!_scratch.TryGetValue(key, out var t))
        {
            t = Own(ctx.CreateTensor(shape, Type, name));
            _scratch[key] = t;
            ScratchBytes += t.Length * t.ElementSize;
        }
        return t;
    }

    private GpuTensor Own(GpuTensor t)
    {
        _owned.Add(t);
        return t;
    }

    public void Dispose()
    {
        foreach (var t in _owned) t.Dispose();
        _owned.Clear();
        _scratch.Clear();
        ScratchBytes = 0;
    }
}
