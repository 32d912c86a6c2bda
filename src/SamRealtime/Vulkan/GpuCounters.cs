namespace SamRealtime.Vulkan;

/// <summary>What a context has asked of the GPU: queue submissions (each one a round trip when waited for), bytes
/// the host read from GPU memory, and dispatches recorded. Subtract two snapshots for the cost of the work between.</summary>
public readonly record struct GpuCounters(long Submissions, long BytesReadBack, long Dispatches)
{
    public static GpuCounters operator -(GpuCounters a, GpuCounters b) =>
        new(a.Submissions - b.Submissions, a.BytesReadBack - b.BytesReadBack, a.Dispatches - b.Dispatches);
}
