using Silk.NET.Vulkan;

namespace SamRealtime.Vulkan;

/// <summary>
/// A 2D colour image (optimal tiling, one mip, device-local) on our own device, for code that plays the host of
/// <see cref="Engine.SamPass"/> without an engine of its own: the evaluation's pass front and the tests. It owns a
/// dedicated allocation (images never share the buffer allocator's blocks, so no buffer-image granularity question
/// arises) and is destroyed on <see cref="Dispose"/>, which the caller does only after the GPU is done with it.
/// </summary>
internal sealed unsafe class GpuImage : IDisposable
{
    private readonly GpuContext _ctx;
    private DeviceMemory _memory;

    public Image Handle { get; private set; }
    public Format Format { get; }
    public int Width { get; }
    public int Height { get; }

    public GpuImage(GpuContext ctx, int width, int height, Format format, ImageUsageFlags usage)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"Image size {width}x{height} is empty.");
        _ctx = ctx;
        Format = format;
        Width = width;
        Height = height;
        var info = new ImageCreateInfo
        {
            SType = StructureType.ImageCreateInfo, ImageType = ImageType.Type2D, Format = format,
            Extent = new Extent3D((uint)width, (uint)height, 1), MipLevels = 1, ArrayLayers = 1, Samples = SampleCountFlags.Count1Bit,
            Tiling = ImageTiling.Optimal, Usage = usage, SharingMode = SharingMode.Exclusive, InitialLayout = ImageLayout.Undefined,
        };
        Image image;
        VulkanException.Check(ctx.Vk.CreateImage(ctx.Device, &info, null, &image), "vkCreateImage");
        Handle = image;
        try
        {
            ctx.Vk.GetImageMemoryRequirements(ctx.Device, image, out var req);
            ctx.Vk.GetPhysicalDeviceMemoryProperties(ctx.PhysicalDevice, out var props);
            uint? type = null;
            for (uint i = 0; i < props.MemoryTypeCount && type is null; i++)
                if ((req.MemoryTypeBits & (1u << (int)i)) != 0 && (props.MemoryTypes[(int)i].PropertyFlags & MemoryPropertyFlags.DeviceLocalBit) != 0)
                    type = i;
            var alloc = new MemoryAllocateInfo
            {
                SType = StructureType.MemoryAllocateInfo, AllocationSize = req.Size,
                MemoryTypeIndex = type ?? throw new VulkanException($"No device-local memory type for a {width}x{height} {format} image."),
            };
            DeviceMemory memory;
            VulkanException.Check(ctx.Vk.AllocateMemory(ctx.Device, &alloc, null, &memory), "vkAllocateMemory");
            _memory = memory;
            VulkanException.Check(ctx.Vk.BindImageMemory(ctx.Device, image, memory, 0), "vkBindImageMemory");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (Handle.Handle != 0) _ctx.Vk.DestroyImage(_ctx.Device, Handle, null);
        if (_memory.Handle != 0) _ctx.Vk.FreeMemory(_ctx.Device, _memory, null);
        Handle = default;
        _memory = default;
    }
}
