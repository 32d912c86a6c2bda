namespace SamRealtime.Vulkan;

/// <summary>How a <see cref="GpuContext"/> picks and configures its device.</summary>
public sealed record GpuOptions
{
    /// <summary>Device index (as listed by <c>samrt info</c>) or a case-insensitive substring of its name.
    /// Null: the environment variable SAMRT_DEVICE, else the best device (discrete &gt; integrated &gt; virtual &gt; CPU).</summary>
    public string? Device { get; init; }

    /// <summary>Enable VK_LAYER_KHRONOS_validation and collect its messages. Null: on when SAMRT_VALIDATION=1.</summary>
    public bool? Validation { get; init; }

    /// <summary>Where the pipeline cache is kept; null: $XDG_CACHE_HOME/samrealtime (or ~/.cache/samrealtime).
    /// Empty string: no cache on disk.</summary>
    public string? PipelineCacheDirectory { get; init; }

    /// <summary>Store activations and weights as fp16 where the device supports 16-bit storage buffers.</summary>
    public bool Fp16Storage { get; init; }

    /// <summary>Always copy through staging buffers, even when device memory is host-visible (tests use this to
    /// exercise the path discrete GPUs take).</summary>
    public bool ForceStaging { get; init; }

    internal bool ValidationEnabled =>
        Validation ?? Environment.GetEnvironmentVariable("SAMRT_VALIDATION") == "1";

    internal string? DeviceSelector =>
        Device ?? (Environment.GetEnvironmentVariable("SAMRT_DEVICE") is { Length: > 0 } s ? s : null);
}
