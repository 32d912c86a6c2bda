using Silk.NET.Vulkan;
using SamRealtime.Vulkan;
using VkBuffer = Silk.NET.Vulkan.Buffer;

namespace SamRealtime.Samples.RenderPass;

/// <summary>Small helpers over raw Vulkan for the sample renderer: result checks, memory types, barriers, shaders.</summary>
internal static unsafe class Vkx
{
    public static void Check(Result result, string call)
    {
        if (result != Result.Success) throw new VulkanException($"{call} failed: {result}", result);
    }

    public static uint MemoryType(Vk vk, PhysicalDevice physical, uint typeBits, MemoryPropertyFlags wanted)
    {
        vk.GetPhysicalDeviceMemoryProperties(physical, out var props);
        for (int i = 0; i < props.MemoryTypeCount; i++)
            if ((typeBits & (1u << i)) != 0 && (props.MemoryTypes[i].PropertyFlags & wanted) == wanted) return (uint)i;
        throw new VulkanException($"No memory type with {wanted} among bits 0x{typeBits:x}.");
    }

    /// <summary>One image layout transition (and the memory dependency that goes with it) on a colour or depth image.</summary>
    public static void Barrier(Vk vk, CommandBuffer cmd, Image image, ImageAspectFlags aspect,
                               ImageLayout from, ImageLayout to,
                               PipelineStageFlags srcStage, AccessFlags srcAccess,
                               PipelineStageFlags dstStage, AccessFlags dstAccess)
    {
        var barrier = new ImageMemoryBarrier
        {
            SType = StructureType.ImageMemoryBarrier,
            SrcAccessMask = srcAccess,
            DstAccessMask = dstAccess,
            OldLayout = from,
            NewLayout = to,
            SrcQueueFamilyIndex = Vk.QueueFamilyIgnored,
            DstQueueFamilyIndex = Vk.QueueFamilyIgnored,
            Image = image,
            SubresourceRange = new ImageSubresourceRange(aspect, 0, 1, 0, 1),
        };
        vk.CmdPipelineBarrier(cmd, srcStage, dstStage, 0, 0, null, 0, null, 1, &barrier);
    }

    /// <summary>A SPIR-V module embedded by the csproj's shader target ("cube.vert.spv" and so on).</summary>
    public static ShaderModule LoadShader(Vk vk, Device device, string name)
    {
        using var stream = typeof(Vkx).Assembly.GetManifestResourceStream(name)
                           ?? throw new InvalidOperationException($"Shader {name} is not embedded; the glslc build step did not run.");
        var code = new byte[stream.Length];
        stream.ReadExactly(code);
        fixed (byte* p = code)
        {
            var info = new ShaderModuleCreateInfo
            {
                SType = StructureType.ShaderModuleCreateInfo,
                CodeSize = (nuint)code.Length,
                PCode = (uint*)p,
            };
            ShaderModule module;
            Check(vk.CreateShaderModule(device, &info, null, &module), $"vkCreateShaderModule({name})");
            return module;
        }
    }
}

/// <summary>A 2D image with its own memory and a view; one mip, one layer, optimal tiling.</summary>
internal sealed unsafe class GpuImage : IDisposable
{
    private readonly Vk _vk;
    private readonly Device _device;
    public Image Image { get; }
    public ImageView View { get; }
    public Format Format { get; }
    public int Width { get; }
    public int Height { get; }
    public ImageAspectFlags Aspect { get; }
    private readonly DeviceMemory _memory;

    public GpuImage(Vk vk, PhysicalDevice physical, Device device, int width, int height, Format format, ImageUsageFlags usage,
                    ImageAspectFlags aspect = ImageAspectFlags.ColorBit)
    {
        _vk = vk;
        _device = device;
        Format = format;
        Width = width;
        Height = height;
        Aspect = aspect;
        var info = new ImageCreateInfo
        {
            SType = StructureType.ImageCreateInfo,
            ImageType = ImageType.Type2D,
            Format = format,
            Extent = new Extent3D((uint)width, (uint)height, 1),
            MipLevels = 1,
            ArrayLayers = 1,
            Samples = SampleCountFlags.Count1Bit,
            Tiling = ImageTiling.Optimal,
            Usage = usage,
            SharingMode = SharingMode.Exclusive,
            InitialLayout = ImageLayout.Undefined,
        };
        Image image;
        Vkx.Check(vk.CreateImage(device, &info, null, &image), "vkCreateImage");
        Image = image;
        try
        {
            vk.GetImageMemoryRequirements(device, image, out var req);
            var alloc = new MemoryAllocateInfo
            {
                SType = StructureType.MemoryAllocateInfo,
                AllocationSize = req.Size,
                MemoryTypeIndex = Vkx.MemoryType(vk, physical, req.MemoryTypeBits, MemoryPropertyFlags.DeviceLocalBit),
            };
            DeviceMemory memory;
            Vkx.Check(vk.AllocateMemory(device, &alloc, null, &memory), "vkAllocateMemory(image)");
            _memory = memory;
            Vkx.Check(vk.BindImageMemory(device, image, memory, 0), "vkBindImageMemory");
            var viewInfo = new ImageViewCreateInfo
            {
                SType = StructureType.ImageViewCreateInfo,
                Image = image,
                ViewType = ImageViewType.Type2D,
                Format = format,
                SubresourceRange = new ImageSubresourceRange(aspect, 0, 1, 0, 1),
            };
            ImageView view;
            Vkx.Check(vk.CreateImageView(device, &viewInfo, null, &view), "vkCreateImageView");
            View = view;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Bytes per pixel of the formats the sample copies to or from buffers.</summary>
    public int PixelBytes => Format switch
    {
        Format.R8Unorm => 1,
        Format.R8G8B8A8Unorm or Format.R8G8B8A8Srgb or Format.B8G8R8A8Unorm or Format.B8G8R8A8Srgb => 4,
        _ => throw new NotSupportedException($"No buffer copies for {Format}."),
    };

    public ulong ByteSize => (ulong)(Width * Height * PixelBytes);

    public void CopyToBuffer(CommandBuffer cmd, VkBuffer buffer)
    {
        var region = Region();
        _vk.CmdCopyImageToBuffer(cmd, Image, ImageLayout.TransferSrcOptimal, buffer, 1, &region);
    }

    public void CopyFromBuffer(CommandBuffer cmd, VkBuffer buffer)
    {
        var region = Region();
        _vk.CmdCopyBufferToImage(cmd, buffer, Image, ImageLayout.TransferDstOptimal, 1, &region);
    }

    private BufferImageCopy Region() => new()
    {
        ImageSubresource = new ImageSubresourceLayers(Aspect, 0, 0, 1),
        ImageExtent = new Extent3D((uint)Width, (uint)Height, 1),
    };

    public void Dispose()
    {
        if (View.Handle != 0) _vk.DestroyImageView(_device, View, null);
        if (Image.Handle != 0) _vk.DestroyImage(_device, Image, null);
        if (_memory.Handle != 0) _vk.FreeMemory(_device, _memory, null);
    }
}

/// <summary>A host-visible, coherent buffer mapped for its whole life: uploads of video frames and readbacks.</summary>
internal sealed unsafe class HostBuffer : IDisposable
{
    private readonly Vk _vk;
    private readonly Device _device;
    private readonly DeviceMemory _memory;
    public VkBuffer Buffer { get; }
    public ulong Size { get; }
    private readonly byte* _mapped;

    public HostBuffer(Vk vk, PhysicalDevice physical, Device device, ulong size, BufferUsageFlags usage)
    {
        _vk = vk;
        _device = device;
        Size = size;
        var info = new BufferCreateInfo
        {
            SType = StructureType.BufferCreateInfo,
            Size = size,
            Usage = usage,
            SharingMode = SharingMode.Exclusive,
        };
        VkBuffer buffer;
        Vkx.Check(vk.CreateBuffer(device, &info, null, &buffer), "vkCreateBuffer");
        Buffer = buffer;
        try
        {
            vk.GetBufferMemoryRequirements(device, buffer, out var req);
            // Readbacks prefer cached memory (CPU reads of uncached memory are slow on discrete GPUs); coherent so
            // that no flush/invalidate calls are needed.
            var coherent = MemoryPropertyFlags.HostVisibleBit | MemoryPropertyFlags.HostCoherentBit;
            uint type;
            try { type = Vkx.MemoryType(vk, physical, req.MemoryTypeBits, coherent | MemoryPropertyFlags.HostCachedBit); }
            catch (VulkanException) { type = Vkx.MemoryType(vk, physical, req.MemoryTypeBits, coherent); }
            var alloc = new MemoryAllocateInfo
            {
                SType = StructureType.MemoryAllocateInfo,
                AllocationSize = req.Size,
                MemoryTypeIndex = type,
            };
            DeviceMemory memory;
            Vkx.Check(vk.AllocateMemory(device, &alloc, null, &memory), "vkAllocateMemory(buffer)");
            _memory = memory;
            Vkx.Check(vk.BindBufferMemory(device, buffer, memory, 0), "vkBindBufferMemory");
            void* mapped;
            Vkx.Check(vk.MapMemory(device, memory, 0, Vk.WholeSize, 0, &mapped), "vkMapMemory");
            _mapped = (byte*)mapped;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public Span<byte> Span => new(_mapped, checked((int)Size));

    public void Dispose()
    {
        if (Buffer.Handle != 0) _vk.DestroyBuffer(_device, Buffer, null);
        if (_memory.Handle != 0) _vk.FreeMemory(_device, _memory, null); // freeing unmaps
    }
}
