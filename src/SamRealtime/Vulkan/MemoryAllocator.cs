using Silk.NET.Vulkan;

namespace SamRealtime.Vulkan;

/// <summary>A piece of a <see cref="MemoryBlock"/>.</summary>
internal readonly record struct Allocation(MemoryBlock Block, ulong Offset, ulong Size)
{
    public DeviceMemory Memory => Block.Memory;
    public unsafe byte* Mapped => Block.Mapped == null ? null : Block.Mapped + Offset;
}

/// <summary>One VkDeviceMemory carved up first-fit; freed ranges merge with their neighbours.</summary>
internal sealed unsafe class MemoryBlock
{
    public readonly DeviceMemory Memory;
    public readonly ulong Size;
    public readonly uint TypeIndex;
    public readonly byte* Mapped;
    private readonly List<(ulong Offset, ulong Size)> _free = new();
    public int LiveCount { get; private set; }

    public MemoryBlock(DeviceMemory memory, ulong size, uint typeIndex, byte* mapped)
    {
        Memory = memory;
        Size = size;
        TypeIndex = typeIndex;
        Mapped = mapped;
        _free.Add((0, size));
    }

    public bool TryAllocate(ulong size, ulong alignment, out ulong offset)
    {
        for (int i = 0; i < _free.Count; i++)
        {
            var (start, len) = _free[i];
            ulong aligned = (start + alignment - 1) / alignment * alignment;
            if (aligned + size > start + len) continue;
            _free.RemoveAt(i);
            if (aligned + size < start + len) _free.Insert(i, (aligned + size, start + len - aligned - size));
            if (aligned > start) _free.Insert(i, (start, aligned - start));
            offset = aligned;
            LiveCount++;
            return true;
        }
        offset = 0;
        return false;
    }

    public void Free(ulong offset, ulong size)
    {
        // The padding skipped for alignment at allocation time stays in the free list beside this range,
        // so merging neighbours recovers it.
        int i = 0;
        while (i < _free.Count && _free[i].Offset < offset) i++;
        _free.Insert(i, (offset, size));
        if (i + 1 < _free.Count && _free[i].Offset + _free[i].Size == _free[i + 1].Offset)
        {
            _free[i] = (_free[i].Offset, _free[i].Size + _free[i + 1].Size);
            _free.RemoveAt(i + 1);
        }
        if (i > 0 && _free[i - 1].Offset + _free[i - 1].Size == _free[i].Offset)
        {
            _free[i - 1] = (_free[i - 1].Offset, _free[i - 1].Size + _free[i].Size);
            _free.RemoveAt(i);
        }
        LiveCount--;
    }
}

/// <summary>
/// Sub-allocates buffers from a few large VkDeviceMemory blocks per memory type, because drivers limit the number
/// of allocations (maxMemoryAllocationCount can be 4096) and each one is slow. Blocks are never returned to the
/// driver before the context is disposed, except ones made for a single oversized request.
/// </summary>
internal sealed unsafe class MemoryAllocator : IDisposable
{
    private const ulong BlockSize = 64UL << 20;
    private readonly GpuContext _ctx;
    private readonly PhysicalDeviceMemoryProperties _props;
    private readonly List<MemoryBlock> _blocks = new();
    private readonly HashSet<GpuBuffer> _live = new();
    private readonly object _lock = new();

    public MemoryAllocator(GpuContext ctx)
    {
        _ctx = ctx;
        ctx.Vk.GetPhysicalDeviceMemoryProperties(ctx.PhysicalDevice, out _props);
    }

    public ulong BytesReserved
    {
        get { lock (_lock) return _blocks.Aggregate(0UL, (s, b) => s + b.Size); }
    }

    public bool IsHostVisible(uint typeIndex) =>
        (_props.MemoryTypes[(int)typeIndex].PropertyFlags & MemoryPropertyFlags.HostVisibleBit) != 0;

    public Allocation Allocate(MemoryRequirements req, MemoryPropertyFlags required, MemoryPropertyFlags preferred)
    {
        uint type = FindType(req.MemoryTypeBits, required | preferred) ?? FindType(req.MemoryTypeBits, required)
                    ?? throw new VulkanException($"No memory type with {required} for a buffer of {req.Size} bytes.");
        lock (_lock)
        {
            foreach (var b in _blocks)
                if (b.TypeIndex == type && b.TryAllocate(req.Size, req.Alignment, out var off))
                    return new Allocation(b, off, req.Size);
            var block = NewBlock(type, Math.Max(BlockSize, req.Size));
            _blocks.Add(block);
            if (!block.TryAllocate(req.Size, req.Alignment, out var o))
                throw new VulkanException("Internal: a new memory block could not hold its first allocation.");
            return new Allocation(block, o, req.Size);
        }
    }

    public void Free(Allocation a)
    {
        lock (_lock)
        {
            a.Block.Free(a.Offset, a.Size);
            if (a.Block.LiveCount == 0 && a.Block.Size > BlockSize)
            {
                _blocks.Remove(a.Block);
                _ctx.Vk.FreeMemory(_ctx.Device, a.Block.Memory, null);
            }
        }
    }

    internal void Track(GpuBuffer b) { lock (_lock) _live.Add(b); }
    internal void Untrack(GpuBuffer b) { lock (_lock) _live.Remove(b); }

    private uint? FindType(uint bits, MemoryPropertyFlags flags)
    {
        for (int i = 0; i < _props.MemoryTypeCount; i++)
            if ((bits & (1u << i)) != 0 && (_props.MemoryTypes[i].PropertyFlags & flags) == flags)
                return (uint)i;
        return null;
    }

    private MemoryBlock NewBlock(uint type, ulong size)
    {
        var info = new MemoryAllocateInfo
        {
            SType = StructureType.MemoryAllocateInfo,
            AllocationSize = size,
            MemoryTypeIndex = type,
        };
        DeviceMemory mem;
        var r = _ctx.Vk.AllocateMemory(_ctx.Device, &info, null, &mem);
        if (r is Result.ErrorOutOfDeviceMemory or Result.ErrorOutOfHostMemory)
            throw new VulkanException($"Out of GPU memory allocating a block of {size >> 20} MiB ({r}).", r);
        VulkanException.Check(r, "vkAllocateMemory");
        byte* mapped = null;
        if (IsHostVisible(type))
        {
            void* p;
            VulkanException.Check(_ctx.Vk.MapMemory(_ctx.Device, mem, 0, Vk.WholeSize, 0, &p), "vkMapMemory");
            mapped = (byte*)p;
        }
        return new MemoryBlock(mem, size, type, mapped);
    }

    public void Dispose()
    {
        GpuBuffer[] leftovers;
        lock (_lock) leftovers = _live.ToArray();
        // Buffers the caller forgot are released here so the device can be destroyed cleanly.
        foreach (var b in leftovers) b.Dispose();
        lock (_lock)
        {
            foreach (var b in _blocks) _ctx.Vk.FreeMemory(_ctx.Device, b.Memory, null);
            _blocks.Clear();
        }
    }
}
