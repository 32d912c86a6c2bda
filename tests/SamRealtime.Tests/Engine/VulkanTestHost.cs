using Silk.NET.Core.Native;
using Silk.NET.Vulkan;
using SamRealtime.Vulkan;
using VkBuffer = Silk.NET.Vulkan.Buffer;
using VkSemaphore = Silk.NET.Vulkan.Semaphore;

namespace SamRealtime.Tests.Engine;

/// <summary>
/// A minimal "engine" for the pass tests: its own instance (validation + debug utils), device with one
/// graphics+compute queue and timeline semaphores, images it creates, fills and reads back with its own commands.
/// Everything here is the host's; the SamRealtime context adopts it and must not destroy any of it.
/// </summary>
internal sealed unsafe class VulkanTestHost : IDisposable
{
    public readonly Vk Vk = Vk.GetApi();
    public readonly Instance Instance;
    public readonly PhysicalDevice Physical;
    public readonly Device Device;
    public readonly uint Family;
    public readonly Queue Queue;
    public readonly CommandPool Pool;
    public readonly bool Timeline;
    private readonly List<(Image, DeviceMemory)> _images = new();

    public VulkanTestHost(bool timeline = true)
    {
        var layers = new[] { "VK_LAYER_KHRONOS_validation" };
        var exts = new[] { "VK_EXT_debug_utils" };
        var app = new ApplicationInfo { SType = StructureType.ApplicationInfo, ApiVersion = Vk.Version12 };
        var lp = (byte**)SilkMarshal.StringArrayToPtr(layers);
        var ep = (byte**)SilkMarshal.StringArrayToPtr(exts);
        var ici = new InstanceCreateInfo
        {
            SType = StructureType.InstanceCreateInfo, PApplicationInfo = &app,
            EnabledLayerCount = 1, PpEnabledLayerNames = lp, EnabledExtensionCount = 1, PpEnabledExtensionNames = ep,
        };
        Check(Vk.CreateInstance(&ici, null, out Instance));
        SilkMarshal.Free((nint)lp);
        SilkMarshal.Free((nint)ep);

        uint n = 0;
        Vk.EnumeratePhysicalDevices(Instance, &n, null);
        var devs = new PhysicalDevice[n];
        fixed (PhysicalDevice* d = devs) Vk.EnumeratePhysicalDevices(Instance, &n, d);
        Physical = devs[0];
        uint qn = 0;
        Vk.GetPhysicalDeviceQueueFamilyProperties(Physical, &qn, null);
        var qp = new QueueFamilyProperties[qn];
        fixed (QueueFamilyProperties* q = qp) Vk.GetPhysicalDeviceQueueFamilyProperties(Physical, &qn, q);
        Family = (uint)Array.FindIndex(qp, q => (q.QueueFlags & (QueueFlags.GraphicsBit | QueueFlags.ComputeBit)) == (QueueFlags.GraphicsBit | QueueFlags.ComputeBit));

        float prio = 1;
        var qci = new DeviceQueueCreateInfo { SType = StructureType.DeviceQueueCreateInfo, QueueFamilyIndex = Family, QueueCount = 1, PQueuePriorities = &prio };
        var tl = new PhysicalDeviceTimelineSemaphoreFeatures { SType = StructureType.PhysicalDeviceTimelineSemaphoreFeatures, TimelineSemaphore = timeline };
        var f2 = new PhysicalDeviceFeatures2 { SType = StructureType.PhysicalDeviceFeatures2, PNext = &tl };
        var dci = new DeviceCreateInfo { SType = StructureType.DeviceCreateInfo, PNext = &f2, QueueCreateInfoCount = 1, PQueueCreateInfos = &qci };
        Check(Vk.CreateDevice(Physical, &dci, null, out Device));
        Timeline = timeline;
        Vk.GetDeviceQueue(Device, Family, 0, out Queue);
        var pci = new CommandPoolCreateInfo { SType = StructureType.CommandPoolCreateInfo, QueueFamilyIndex = Family, Flags = CommandPoolCreateFlags.ResetCommandBufferBit };
        Check(Vk.CreateCommandPool(Device, &pci, null, out Pool));
    }

    public HostVulkan Description(HostFeatures? features = null) => new()
    {
        Instance = Instance.Handle,
        PhysicalDevice = Physical.Handle,
        Device = Device.Handle,
        QueueFamily = Family,
        InstanceApiVersion = Vk.Version12,
        EnabledFeatures = features ?? (Timeline ? HostFeatures.TimelineSemaphore : HostFeatures.None),
        EnabledInstanceExtensions = ["VK_EXT_debug_utils"],
    };

    public static void Check(Result r)
    {
        if (r != Result.Success) throw new InvalidOperationException($"host Vulkan call failed: {r}");
    }

    public Image CreateImage(int w, int h, Format format, ImageUsageFlags usage)
    {
        var ici = new ImageCreateInfo
        {
            SType = StructureType.ImageCreateInfo, ImageType = ImageType.Type2D, Format = format,
            Extent = new Extent3D((uint)w, (uint)h, 1), MipLevels = 1, ArrayLayers = 1, Samples = SampleCountFlags.Count1Bit,
            Tiling = ImageTiling.Optimal, Usage = usage, SharingMode = SharingMode.Exclusive, InitialLayout = ImageLayout.Undefined,
        };
        Check(Vk.CreateImage(Device, &ici, null, out var image));
        Vk.GetImageMemoryRequirements(Device, image, out var req);
        var mem = Allocate(req, MemoryPropertyFlags.DeviceLocalBit);
        Check(Vk.BindImageMemory(Device, image, mem, 0));
        _images.Add((image, mem));
        return image;
    }

    private DeviceMemory Allocate(MemoryRequirements req, MemoryPropertyFlags flags)
    {
        Vk.GetPhysicalDeviceMemoryProperties(Physical, out var props);
        for (uint i = 0; i < props.MemoryTypeCount; i++)
            if ((req.MemoryTypeBits & (1u << (int)i)) != 0 && (props.MemoryTypes[(int)i].PropertyFlags & flags) == flags)
            {
                var mai = new MemoryAllocateInfo { SType = StructureType.MemoryAllocateInfo, AllocationSize = req.Size, MemoryTypeIndex = i };
                Check(Vk.AllocateMemory(Device, &mai, null, out var mem));
                return mem;
            }
        throw new InvalidOperationException("no memory type");
    }

    public CommandBuffer Begin()
    {
        var cai = new CommandBufferAllocateInfo { SType = StructureType.CommandBufferAllocateInfo, CommandPool = Pool, Level = CommandBufferLevel.Primary, CommandBufferCount = 1 };
        Check(Vk.AllocateCommandBuffers(Device, &cai, out var cmd));
        var bi = new CommandBufferBeginInfo { SType = StructureType.CommandBufferBeginInfo, Flags = CommandBufferUsageFlags.OneTimeSubmitBit };
        Check(Vk.BeginCommandBuffer(cmd, &bi));
        return cmd;
    }

    /// <summary>Ends, submits and waits for <paramref name="cmd"/>, then frees it.</summary>
    public void SubmitAndWait(CommandBuffer cmd)
    {
        Check(Vk.EndCommandBuffer(cmd));
        var fci = new FenceCreateInfo { SType = StructureType.FenceCreateInfo };
        Check(Vk.CreateFence(Device, &fci, null, out var fence));
        var si = new SubmitInfo { SType = StructureType.SubmitInfo, CommandBufferCount = 1, PCommandBuffers = &cmd };
        Check(Vk.QueueSubmit(Queue, 1, &si, fence));
        Check(Vk.WaitForFences(Device, 1, &fence, true, 600_000_000_000UL));
        Vk.DestroyFence(Device, fence, null);
        Vk.FreeCommandBuffers(Device, Pool, 1, &cmd);
    }

    public VkSemaphore CreateTimeline()
    {
        var t = new SemaphoreTypeCreateInfo { SType = StructureType.SemaphoreTypeCreateInfo, SemaphoreType = SemaphoreType.Timeline };
        var sci = new SemaphoreCreateInfo { SType = StructureType.SemaphoreCreateInfo, PNext = &t };
        Check(Vk.CreateSemaphore(Device, &sci, null, out var s));
        return s;
    }

    public void DestroySemaphore(VkSemaphore s) => Vk.DestroySemaphore(Device, s, null);

    public void WaitTimeline(VkSemaphore s, ulong value)
    {
        var wi = new SemaphoreWaitInfo { SType = StructureType.SemaphoreWaitInfo, SemaphoreCount = 1, PSemaphores = &s, PValues = &value };
        Check(Vk.WaitSemaphores(Device, &wi, 600_000_000_000UL));
    }

    public void Barrier(CommandBuffer cmd, Image image, ImageLayout from, ImageLayout to)
    {
        var b = new ImageMemoryBarrier
        {
            SType = StructureType.ImageMemoryBarrier, OldLayout = from, NewLayout = to,
            SrcAccessMask = AccessFlags.MemoryWriteBit, DstAccessMask = AccessFlags.MemoryReadBit | AccessFlags.MemoryWriteBit,
            SrcQueueFamilyIndex = Vk.QueueFamilyIgnored, DstQueueFamilyIndex = Vk.QueueFamilyIgnored, Image = image,
            SubresourceRange = new ImageSubresourceRange(ImageAspectFlags.ColorBit, 0, 1, 0, 1),
        };
        Vk.CmdPipelineBarrier(cmd, PipelineStageFlags.AllCommandsBit, PipelineStageFlags.AllCommandsBit, 0, 0, null, 0, null, 1, &b);
    }

    /// <summary>Fills a whole image from packed bytes and leaves it in <paramref name="layout"/>.</summary>
    public void Upload(Image image, int w, int h, ReadOnlySpan<byte> bytes, ImageLayout layout)
    {
        var (buf, mem) = HostBuffer((ulong)bytes.Length, BufferUsageFlags.TransferSrcBit);
        void* p;
        Check(Vk.MapMemory(Device, mem, 0, (ulong)bytes.Length, 0, &p));
        bytes.CopyTo(new Span<byte>(p, bytes.Length));
        Vk.UnmapMemory(Device, mem);
        var cmd = Begin();
        Barrier(cmd, image, ImageLayout.Undefined, ImageLayout.TransferDstOptimal);
        var region = new BufferImageCopy { ImageSubresource = new ImageSubresourceLayers(ImageAspectFlags.ColorBit, 0, 0, 1), ImageExtent = new Extent3D((uint)w, (uint)h, 1) };
        Vk.CmdCopyBufferToImage(cmd, buf, image, ImageLayout.TransferDstOptimal, 1, &region);
        Barrier(cmd, image, ImageLayout.TransferDstOptimal, layout);
        SubmitAndWait(cmd);
        Vk.DestroyBuffer(Device, buf, null);
        Vk.FreeMemory(Device, mem, null);
    }

    /// <summary>Reads a whole image (in <paramref name="layout"/>, left there) as packed bytes.</summary>
    public byte[] Read(Image image, int w, int h, int bytesPerPixel, ImageLayout layout)
    {
        ulong size = (ulong)(w * h * bytesPerPixel);
        var (buf, mem) = HostBuffer(size, BufferUsageFlags.TransferDstBit);
        var cmd = Begin();
        Barrier(cmd, image, layout, ImageLayout.TransferSrcOptimal);
        var region = new BufferImageCopy { ImageSubresource = new ImageSubresourceLayers(ImageAspectFlags.ColorBit, 0, 0, 1), ImageExtent = new Extent3D((uint)w, (uint)h, 1) };
        Vk.CmdCopyImageToBuffer(cmd, image, ImageLayout.TransferSrcOptimal, buf, 1, &region);
        Barrier(cmd, image, ImageLayout.TransferSrcOptimal, layout);
        var hb = new MemoryBarrier { SType = StructureType.MemoryBarrier, SrcAccessMask = AccessFlags.TransferWriteBit, DstAccessMask = AccessFlags.HostReadBit };
        Vk.CmdPipelineBarrier(cmd, PipelineStageFlags.TransferBit, PipelineStageFlags.HostBit, 0, 1, &hb, 0, null, 0, null);
        SubmitAndWait(cmd);
        void* p;
        Check(Vk.MapMemory(Device, mem, 0, size, 0, &p));
        var result = new Span<byte>(p, (int)size).ToArray();
        Vk.UnmapMemory(Device, mem);
        Vk.DestroyBuffer(Device, buf, null);
        Vk.FreeMemory(Device, mem, null);
        return result;
    }

    private (VkBuffer, DeviceMemory) HostBuffer(ulong size, BufferUsageFlags usage)
    {
        var bci = new BufferCreateInfo { SType = StructureType.BufferCreateInfo, Size = size, Usage = usage, SharingMode = SharingMode.Exclusive };
        Check(Vk.CreateBuffer(Device, &bci, null, out var buf));
        Vk.GetBufferMemoryRequirements(Device, buf, out var req);
        var mem = Allocate(req, MemoryPropertyFlags.HostVisibleBit | MemoryPropertyFlags.HostCoherentBit);
        Check(Vk.BindBufferMemory(Device, buf, mem, 0));
        return (buf, mem);
    }

    public void Dispose()
    {
        Vk.DeviceWaitIdle(Device);
        foreach (var (img, mem) in _images)
        {
            Vk.DestroyImage(Device, img, null);
            Vk.FreeMemory(Device, mem, null);
        }
        Vk.DestroyCommandPool(Device, Pool, null);
        Vk.DestroyDevice(Device, null);
        Vk.DestroyInstance(Instance, null);
    }
}
