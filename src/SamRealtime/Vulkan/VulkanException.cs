using Silk.NET.Vulkan;

namespace SamRealtime.Vulkan;

/// <summary>A Vulkan call failed, or Vulkan cannot be used here. The message names the call.</summary>
public sealed class VulkanException : Exception
{
    public Result Result { get; }

    public VulkanException(string message, Result result = Result.ErrorUnknown) : base(message) => Result = result;

    internal static void Check(Result result, string call)
    {
        if (result != Result.Success)
            throw new VulkanException($"{call} failed: {result}", result);
    }
}

/// <summary>A kernel was given tensors whose shapes or strides it cannot handle; thrown before any GPU work.</summary>
public sealed class ShapeException : ArgumentException
{
    public ShapeException(string message) : base(message) { }
}
