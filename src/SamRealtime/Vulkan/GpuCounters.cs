namespace SamRealtime.Vulkan;

/// <summary>What a context has asked of the GPU: queue submissions (each one a round trip when waited for), bytes
/// the host read from GPU memory, dispatches recorded, and buffers created (a steady frame reuses its buffers; a new
/// one is memory to allocate and, on a CPU driver, pages to fault in). Subtract two snapshots for the cost of the
/// work between.</summary>
public readonly record struct GpuCounters(long Submissions, long BytesReadBack, long Dispatches, long BuffersCreated = 0)
{
    public static GpuCounters operator -(GpuCounters a, GpuCounters b) =>
        new(a.Submissions - b.Submissions, a.BytesReadBack - b.BytesReadBack, a.Dispatches - b.Dispatches, a.BuffersCreated - b.BuffersCreated);
}
