using SamRealtime.Kernels;
using SamRealtime.Vulkan;
using Silk.NET.Vulkan;
using Xunit;
using VkBuffer = Silk.NET.Vulkan.Buffer;

namespace SamRealtime.Tests.Vulkan;

public sealed class RuntimeTests(GpuFixture fixture) : GpuTest(fixture)
{
    [Fact]
    public void SelectsADeviceAndReportsItsLimits()
    {
        var info = Ctx.Info;
        Assert.False(string.IsNullOrEmpty(info.Name));
        Assert.True(info.SubgroupSize >= 1);
        Assert.True(info.MaxComputeSharedMemorySize >= 16384, "Vulkan guarantees 16 KiB of shared memory");
        Assert.True(info.MaxComputeWorkGroupInvocations >= 128);
        Assert.Contains(GpuContext.ListDevices(), d => d.Name == info.Name);
    }

    [Fact]
    public void UnknownDeviceNameIsAClearError()
    {
        var e = Assert.Throws<VulkanException>(() => new GpuContext(new GpuOptions { Device = "no-such-gpu-xyz", PipelineCacheDirectory = "" }));
        Assert.Contains("no-such-gpu-xyz", e.Message);
        Assert.Contains(Ctx.Info.Name, e.Message);
    }

    [Fact]
    public void SmallBuffersShareMemoryBlocks()
    {
        ulong before = Ctx.Allocator.BytesReserved;
        var tensors = Enumerable.Range(0, 200).Select(i => Ctx.CreateTensor([1000 + i])).ToList();
        // 200 separate allocations would be 200 VkDeviceMemory objects; sub-allocation needs at most one new block.
        Assert.True(Ctx.Allocator.BytesReserved - before <= 64UL << 20);
        for (int i = 0; i < tensors.Count; i++) tensors[i].Write(Enumerable.Repeat((float)i, 1000 + i).ToArray());
        for (int i = 0; i < tensors.Count; i += 37) Assert.All(tensors[i].Read(), v => Assert.Equal(i, v));
        foreach (var t in tensors) t.Dispose();
        // Freed ranges merge back: the same sizes fit again without growing.
        ulong after = Ctx.Allocator.BytesReserved;
        var again = Enumerable.Range(0, 200).Select(i => Ctx.CreateTensor([1000 + i])).ToList();
        Assert.Equal(after, Ctx.Allocator.BytesReserved);
        foreach (var t in again) t.Dispose();
    }

    [Fact]
    public void StagingPathRoundTripsBothTypes()
    {
        using var ctx = new GpuContext(new GpuOptions { Validation = true, ForceStaging = true, PipelineCacheDirectory = "" });
        var data = Reference.Random(12345, 3);
        using var t32 = ctx.Upload(data, [12345]);
        Assert.False(t32.Buffer.DirectAccess);
        Assert.Equal(data, t32.Read());
        using var t16 = ctx.Upload(data, [12345], DataType.F16);
        Assert.Equal(Reference.ToHalf(data), t16.Read());
        Assert.Empty(ctx.TakeValidationMessages());
    }

    [Fact]
    public void ProfilingGivesATimePerDispatch()
    {
        if (!Ctx.Info.TimestampsOnCompute) return;
        using var a = Ctx.Upload(Reference.Random(64 * 64, 1), [64, 64]);
        using var c = Ctx.CreateTensor([64, 64]);
        using var d = Ctx.CreateTensor([64, 64]);
        var gemm = new Gemm(Ctx);
        using var cs = Ctx.BeginCommands(profile: true);
        gemm.Record(cs, 64, 64, 64, StridedView.RowMajor(a, 64, 64), StridedView.RowMajor(a, 64, 64), StridedView.RowMajor(c, 64, 64));
        gemm.Record(cs, 64, 64, 64, StridedView.RowMajor(c, 64, 64), StridedView.RowMajor(a, 64, 64), StridedView.RowMajor(d, 64, 64));
        // The second GEMM reads what the first wrote: exactly one barrier between them.
        Assert.Equal(1, cs.BarrierCount);
        cs.Submit();
        Assert.Equal(2, cs.Timings.Count);
        Assert.All(cs.Timings, t => Assert.True(t.Milliseconds > 0 && t.Milliseconds < 10_000));
    }

    [Fact]
    public void IndependentDispatchesGetNoBarrier()
    {
        using var a = Ctx.Upload(Reference.Random(16 * 16, 1), [16, 16]);
        using var c = Ctx.CreateTensor([16, 16]);
        using var d = Ctx.CreateTensor([16, 16]);
        var gemm = new Gemm(Ctx);
        using var cs = Ctx.BeginCommands();
        gemm.Record(cs, 16, 16, 16, StridedView.RowMajor(a, 16, 16), StridedView.RowMajor(a, 16, 16), StridedView.RowMajor(c, 16, 16));
        gemm.Record(cs, 16, 16, 16, StridedView.RowMajor(a, 16, 16), StridedView.RowMajor(a, 16, 16), StridedView.RowMajor(d, 16, 16));
        Assert.Equal(0, cs.BarrierCount);
        cs.Submit();
        Assert.Equal(c.Read(), d.Read());
    }

    [Fact]
    public void PipelineCacheIsSavedPerDeviceUuidWhenTheDriverFillsIt()
    {
        var dir = Path.Combine(Path.GetTempPath(), "samrt-cache-" + Guid.NewGuid().ToString("N"));
        var name = $"pipelines-{Convert.ToHexString(Ctx.Info.PipelineCacheUuid)}.bin";
        try
        {
            long cached;
            using (var ctx = new GpuContext(new GpuOptions { PipelineCacheDirectory = dir }))
            {
                using var a = ctx.Upload([1f, 2f, 3f, 4f], [2, 2]);
                using var c = ctx.CreateTensor([2, 2]);
                using var cs = ctx.BeginCommands();
                new Gemm(ctx).Record(cs, 2, 2, 2, StridedView.RowMajor(a, 2, 2), StridedView.RowMajor(a, 2, 2), StridedView.RowMajor(c, 2, 2));
                cs.Submit();
                cached = ctx.PipelineCacheDataSize();
            }
            var files = Directory.Exists(dir) ? Directory.GetFiles(dir) : [];
            // A driver that fills its cache gets one file named by its pipelineCacheUUID; one that keeps only the
            // 32-byte header (lavapipe, which caches in Mesa's disk cache instead) gets none.
            if (cached > 32) Assert.Equal(name, Path.GetFileName(Assert.Single(files)));
            else Assert.Empty(files);
            // A corrupt cache file under the device's name must not break start-up.
            Directory.CreateDirectory(dir);
            File.WriteAllBytes(Path.Combine(dir, name), [1, 2, 3]);
            using var again = new GpuContext(new GpuOptions { PipelineCacheDirectory = dir });
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void SubmittedStreamCannotBeReused()
    {
        using var cs = Ctx.BeginCommands();
        cs.Submit();
        Assert.Throws<InvalidOperationException>(() => cs.Barrier());
    }

    /// <summary>Proves the validation plumbing works: deliberately invalid usage (a zero-sized VkBuffer, which the
    /// spec forbids) must arrive as an error message. Without this a silent messenger would make every test green.</summary>
    [Fact]
    public unsafe void ValidationErrorsAreCaught()
    {
        using var ctx = new GpuContext(new GpuOptions { Validation = true, PipelineCacheDirectory = "" });
        var info = new BufferCreateInfo
        {
            SType = StructureType.BufferCreateInfo,
            Size = 0,
            Usage = BufferUsageFlags.StorageBufferBit,
            SharingMode = SharingMode.Exclusive,
        };
        VkBuffer buffer;
        var r = ctx.Vk.CreateBuffer(ctx.Device, &info, null, &buffer);
        if (r == Result.Success) ctx.Vk.DestroyBuffer(ctx.Device, buffer, null);
        var messages = ctx.TakeValidationMessages();
        Assert.Contains(messages, m => m.Severity == "error" && m.Text.Contains("VkBufferCreateInfo"));
    }

    /// <summary>A steady frame reuses its buffers: a stream renting as many buffers as the encoder does (over a
    /// hundred) gets all of them back on the next stream without creating one; a size no stream asks for is freed
    /// after a few streams, so it is created again when asked for later.</summary>
    [Fact]
    public void FrameBuffersReuseAWholeFrameAndDropIdleSizes()
    {
        using var buffers = new FrameBuffers(Ctx);
        var sizes = Enumerable.Range(1, 150).Select(i => (ulong)(i * 256)).ToArray();
        void Frame(IEnumerable<ulong> rent)
        {
            using var cs = Ctx.BeginCommands();
            foreach (var size in rent) buffers.Rent(cs, size, BufferKind.Device, "test.frame");
        }
        Frame(sizes);
        var before = Ctx.Counters;
        Frame(sizes);
        Assert.Equal(0, (Ctx.Counters - before).BuffersCreated);
        // The last size idles while other streams run; then it is asked for again.
        for (int i = 0; i < 12; i++) Frame(sizes[..^1]);
        before = Ctx.Counters;
        Frame(sizes);
        Assert.Equal(1, (Ctx.Counters - before).BuffersCreated);
    }
}
