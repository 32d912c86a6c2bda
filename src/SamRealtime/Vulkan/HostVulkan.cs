namespace SamRealtime.Vulkan;

/// <summary>Device features a host declares as enabled on its VkDevice. Vulkan cannot be asked which features a
/// device was created with, so the host says so and <see cref="GpuContext.Adopt"/> checks it against what we need.</summary>
[Flags]
public enum HostFeatures
{
    None = 0,
    /// <summary>VkPhysicalDevice16BitStorageFeatures::storageBuffer16BitAccess (fp16 storage of weights/activations).</summary>
    StorageBuffer16BitAccess = 1,
    /// <summary>VkPhysicalDeviceShaderFloat16Int8Features::shaderFloat16.</summary>
    ShaderFloat16 = 2,
    /// <summary>VkPhysicalDeviceVulkan12Features::timelineSemaphore (the submit-on-our-queue pass signals one).</summary>
    TimelineSemaphore = 4,
}

/// <summary>
/// The host renderer's Vulkan objects that a <see cref="GpuContext"/> adopts instead of creating its own. Handles are
/// the raw dispatchable handles (VkInstance, VkPhysicalDevice, VkDevice as pointers). SamRealtime never destroys any
/// of them; it creates its own command pool, pipelines, descriptor pools and memory on the device and frees those.
/// </summary>
public sealed record HostVulkan
{
    public required nint Instance { get; init; }
    public required nint PhysicalDevice { get; init; }
    public required nint Device { get; init; }

    /// <summary>Queue family of the queue we record for and submit to; it must support compute.</summary>
    public required uint QueueFamily { get; init; }
    public uint QueueIndex { get; init; }

    /// <summary>The host's vkGetInstanceProcAddr; zero: the system loader's (libvulkan.so.1 / vulkan-1.dll).
    /// Hosts that load Vulkan themselves (volk, a bundled loader) pass theirs so we call the same dispatch chain.</summary>
    public nint GetInstanceProcAddr { get; init; }

    /// <summary>The apiVersion the host's VkInstance was created with (VK_MAKE_API_VERSION); we need 1.1 or newer.</summary>
    public uint InstanceApiVersion { get; init; } = 1u << 22 | 2u << 12;

    public HostFeatures EnabledFeatures { get; init; }
    public IReadOnlyList<string> EnabledInstanceExtensions { get; init; } = [];
    public IReadOnlyList<string> EnabledDeviceExtensions { get; init; } = [];
}
