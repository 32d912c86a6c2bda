using Silk.NET.Vulkan;

namespace SamRealtime.Vulkan;

/// <summary>What a physical device is and can do; all limits the kernels size themselves from.</summary>
public sealed record GpuDeviceInfo
{
    public required int Index { get; init; }
    public required string Name { get; init; }
    public required PhysicalDeviceType Type { get; init; }
    public required string ApiVersion { get; init; }
    public required string DriverVersion { get; init; }
    public required uint VendorId { get; init; }
    public required uint MaxComputeSharedMemorySize { get; init; }
    public required uint MaxComputeWorkGroupInvocations { get; init; }
    public required uint[] MaxComputeWorkGroupSize { get; init; }
    public required uint[] MaxComputeWorkGroupCount { get; init; }
    public required uint MaxPushConstantsSize { get; init; }
    public required ulong MaxStorageBufferRange { get; init; }
    public required uint MaxTexelBufferElements { get; init; }
    public required ulong MinStorageBufferOffsetAlignment { get; init; }
    public ulong MinTexelBufferOffsetAlignment { get; init; }
    /// <summary>Whether RGBA32F / RGBA16F can back a uniform texel buffer (samplerBuffer); llvmpipe gathers texel
    /// fetches far faster than per-lane storage-buffer loads (DESIGN.md), so kernels prefer them when possible.</summary>
    public bool UniformTexelRgba32F { get; init; }
    public bool UniformTexelRgba16F { get; init; }
    /// <summary>Whether R32F can back a uniform texel buffer: scattered single floats without picking a component out
    /// of a four-wide texel per lane.</summary>
    public bool UniformTexelR32F { get; init; }
    public bool UniformTexelR16F { get; init; }
    public required uint SubgroupSize { get; init; }
    public required bool SubgroupArithmetic { get; init; }
    public required bool StorageBuffer16Bit { get; init; }
    public required bool ShaderFloat16 { get; init; }
    public bool TimelineSemaphore { get; init; }
    public required float TimestampPeriodNs { get; init; }
    public required bool TimestampsOnCompute { get; init; }
    public required ulong DeviceLocalBytes { get; init; }
    public required bool HasComputeQueue { get; init; }
    public required byte[] PipelineCacheUuid { get; init; }

    public string TypeName => Type switch
    {
        PhysicalDeviceType.DiscreteGpu => "discrete GPU",
        PhysicalDeviceType.IntegratedGpu => "integrated GPU",
        PhysicalDeviceType.VirtualGpu => "virtual GPU",
        PhysicalDeviceType.Cpu => "CPU",
        _ => "other",
    };

    internal int Preference => Type switch
    {
        PhysicalDeviceType.DiscreteGpu => 4,
        PhysicalDeviceType.IntegratedGpu => 3,
        PhysicalDeviceType.VirtualGpu => 2,
        PhysicalDeviceType.Cpu => 1,
        _ => 0,
    };
}
