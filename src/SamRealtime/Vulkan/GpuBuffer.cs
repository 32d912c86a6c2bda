using Silk.NET.Vulkan;
using VkBuffer = Silk.NET.Vulkan.Buffer;

namespace SamRealtime.Vulkan;

internal enum BufferKind
{
    /// <summary>Device-local; the CPU reaches it through staging copies (or directly where memory is unified).</summary>
    Device,
    /// <summary>Host-visible, for staging uploads.</summary>
    Upload,
    /// <summary>Host-visible and preferably cached, for reading results back.</summary>
    Readback,
}

/// <summary>A VkBuffer bound to a sub-allocated range of device memory.</summary>
internal sealed unsafe class GpuBuffer : IDisposable
{
    private readonly GpuContext _ctx;
    internal VkBuffer Handle;
    private readonly Allocation _allocation;
    public ulong Size { get; }
    public BufferKind Kind { get; }
    public string? Name { get; }

    /// <summary>True when the CPU can write and read this buffer's memory directly.</summary>
    public bool IsMapped => _allocation.Mapped != null;

    internal GpuBuffer(GpuContext ctx, ulong size, BufferKind kind, string? name)
    {
        if (size == 0) throw new ArgumentOutOfRangeException(nameof(size), "A GPU buffer must have at least one byte.");
        _ctx = ctx;
        Size = size;
        Kind = kind;
        Name = name;
        var info = new BufferCreateInfo
        {
            SType = StructureType.BufferCreateInfo,
            // Rounded to 4 bytes so fp16 tensors of odd length can still be filled with vkCmdFillBuffer.
            Size = (size + 3) & ~3UL,
            Usage = BufferUsageFlags.StorageBufferBit | BufferUsageFlags.TransferSrcBit | BufferUsageFlags.TransferDstBit
                    | (kind == BufferKind.Device ? BufferUsageFlags.UniformTexelBufferBit : 0),
            SharingMode = SharingMode.Exclusive,
        };
        VkBuffer buffer;
        VulkanException.Check(ctx.Vk.CreateBuffer(ctx.Device, &info, null, &buffer), "vkCreateBuffer");
        Handle = buffer;
        try
        {
            ctx.Vk.GetBufferMemoryRequirements(ctx.Device, buffer, out var req);
            var (required, preferred) = kind switch
            {
                BufferKind.Device => (MemoryPropertyFlags.None, MemoryPropertyFlags.DeviceLocalBit),
                BufferKind.Upload => (MemoryPropertyFlags.HostVisibleBit | MemoryPropertyFlags.HostCoherentBit, MemoryPropertyFlags.None),
                _ => (MemoryPropertyFlags.HostVisibleBit | MemoryPropertyFlags.HostCoherentBit, MemoryPropertyFlags.HostCachedBit),
            };
            _allocation = ctx.Allocator.Allocate(req, required, preferred);
            VulkanException.Check(ctx.Vk.BindBufferMemory(ctx.Device, buffer, _allocation.Memory, _allocation.Offset), "vkBindBufferMemory");
        }
        catch
        {
            ctx.Vk.DestroyBuffer(ctx.Device, buffer, null);
            throw;
        }
        ctx.Allocator.Track(this);
    }

    private readonly Dictionary<Format, BufferView> _views = new();

    /// <summary>A view of the whole buffer (offset 0, so no offset alignment applies) as <paramref name="format"/>
    /// texels, created once and destroyed with the buffer; null when the buffer cannot be viewed so: not a device
    /// buffer, the format lacks uniform-texel support, or it holds less than one or more than the device's
    /// maxTexelBufferElements texels. Bytes past the last whole texel are not in the view.</summary>
    internal BufferView? TexelView(Format format)
    {
        // Locked: streams on several threads may record with the same weights.
        lock (_views)
        {
            ObjectDisposedException.ThrowIf(Handle.Handle == 0, this);
            if (_views.TryGetValue(format, out var cached)) return cached;
            return CreateTexelView(format);
        }
    }

    private BufferView? CreateTexelView(Format format)
    {
        var info = _ctx.Info;
        (ulong texel, bool supported) = format switch
        {
            Format.R32G32B32A32Sfloat => (16UL, info.UniformTexelRgba32F),
            Format.R16G16B16A16Sfloat => (8UL, info.UniformTexelRgba16F),
            Format.R32Sfloat => (4UL, info.UniformTexelR32F),
            Format.R16Sfloat => (2UL, info.UniformTexelR16F),
            _ => (0UL, false),
        };
        ulong texels = texel == 0 ? 0 : Size / texel;
        if (!supported || Kind != BufferKind.Device || texels == 0 || texels > info.MaxTexelBufferElements) return null;
        var create = new BufferViewCreateInfo
        {
            SType = StructureType.BufferViewCreateInfo,
            Buffer = Handle,
            Format = format,
            Offset = 0,
            Range = texels * texel,
        };
        BufferView view;
        VulkanException.Check(_ctx.Vk.CreateBufferView(_ctx.Device, &create, null, &view), "vkCreateBufferView");
        _views[format] = view;
        return view;
    }

    internal bool DirectAccess => IsMapped && !(_ctx.Options.ForceStaging && Kind == BufferKind.Device);

    /// <summary>Copies bytes in: directly when mapped, otherwise through a staging buffer and a queue submit.</summary>
    public void Write(ReadOnlySpan<byte> data, ulong offset = 0)
    {
        CheckRange(offset, (ulong)data.Length);
        if (DirectAccess)
        {
            data.CopyTo(new Span<byte>(_allocation.Mapped + offset, data.Length));
            return;
        }
        using var staging = new GpuBuffer(_ctx, (ulong)data.Length, BufferKind.Upload, "staging-upload");
        staging.Write(data);
        using var cs = _ctx.BeginCommands();
        cs.Copy(staging, 0, this, offset, (ulong)data.Length);
        cs.Submit();
    }

    /// <summary>Copies bytes out, waiting for nothing: the caller has submitted and waited for the writes.</summary>
    public void Read(Span<byte> data, ulong offset = 0)
    {
        CheckRange(offset, (ulong)data.Length);
        if (DirectAccess)
        {
            // Counted here only: a staged read below ends in this branch of the staging buffer.
            _ctx.CountReadBack(data.Length);
            new ReadOnlySpan<byte>(_allocation.Mapped + offset, data.Length).CopyTo(data);
            return;
        }
        using var staging = new GpuBuffer(_ctx, (ulong)data.Length, BufferKind.Readback, "staging-readback");
        using (var cs = _ctx.BeginCommands())
        {
            cs.Copy(this, offset, staging, 0, (ulong)data.Length);
            cs.Submit();
        }
        staging.Read(data);
    }

    private void CheckRange(ulong offset, ulong length)
    {
        ObjectDisposedException.ThrowIf(Handle.Handle == 0, this);
        if (offset + length > Size)
            throw new ArgumentOutOfRangeException(nameof(offset), $"Range {offset}+{length} is outside buffer '{Name}' of {Size} bytes.");
    }

    public void Dispose()
    {
        if (Handle.Handle == 0) return;
        lock (_views)
        {
            foreach (var v in _views.Values) _ctx.Vk.DestroyBufferView(_ctx.Device, v, null);
            _views.Clear();
        }
        _ctx.Vk.DestroyBuffer(_ctx.Device, Handle, null);
        Handle = default;
        _ctx.Allocator.Free(_allocation);
        _ctx.Allocator.Untrack(this);
    }
}
