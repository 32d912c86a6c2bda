using System.Runtime.InteropServices;
using Silk.NET.Vulkan;
using Semaphore = Silk.NET.Vulkan.Semaphore;
using VkBuffer = Silk.NET.Vulkan.Buffer;

namespace SamRealtime.Vulkan;

/// <summary>GPU time of one recorded dispatch or copy, from timestamp queries.</summary>
internal readonly record struct KernelTiming(string Label, double Milliseconds);

/// <summary>
/// Records many dispatches and copies into one command buffer and submits them at once. Barriers are placed
/// automatically: a dispatch that reads or writes a buffer written since the last barrier, or writes one read
/// since it, gets a compute/transfer memory barrier in front of it; independent dispatches stay unsynchronised.
/// </summary>
internal sealed unsafe class CommandStream : IDisposable
{
    private const int SetsPerPool = 128;
    private const uint MaxQueries = 4096;

    private readonly GpuContext _ctx;
    private readonly Vk _vk;
    private CommandBuffer _cmd;
    private Fence _fence;
    private readonly List<DescriptorPool> _pools = new();
    private int _setsInPool = SetsPerPool;
    private readonly HashSet<ulong> _written = new();
    private readonly HashSet<ulong> _read = new();
    private readonly List<IDisposable> _transient = new();
    private readonly QueryPool _queries;
    private readonly List<string> _labels = new();
    private readonly List<KernelTiming> _timings = new();
    private bool _submitted;
    // Recording into a host's command buffer: we neither begin, end, submit nor free it.
    private readonly bool _external;

    public int DispatchCount { get; private set; }
    public int BarrierCount { get; private set; }

    /// <summary>Per-dispatch GPU times, filled by <see cref="Submit"/> when the stream was begun with profiling.</summary>
    public IReadOnlyList<KernelTiming> Timings => _timings;

    internal CommandStream(GpuContext ctx, bool profile)
    {
        _ctx = ctx;
        _vk = ctx.Vk;
        try
        {
            var alloc = new CommandBufferAllocateInfo
            {
                SType = StructureType.CommandBufferAllocateInfo,
                CommandPool = ctx.CommandPool,
                Level = CommandBufferLevel.Primary,
                CommandBufferCount = 1,
            };
            lock (ctx.CommandPoolLock)
                VulkanException.Check(_vk.AllocateCommandBuffers(ctx.Device, &alloc, out _cmd), "vkAllocateCommandBuffers");
            var fenceInfo = new FenceCreateInfo { SType = StructureType.FenceCreateInfo };
            VulkanException.Check(_vk.CreateFence(ctx.Device, &fenceInfo, null, out _fence), "vkCreateFence");
            var begin = new CommandBufferBeginInfo
            {
                SType = StructureType.CommandBufferBeginInfo,
                Flags = CommandBufferUsageFlags.OneTimeSubmitBit,
            };
            VulkanException.Check(_vk.BeginCommandBuffer(_cmd, &begin), "vkBeginCommandBuffer");
            // Work the host recorded with the engine pass may still run on this queue and shares our scratch
            // buffers; a barrier's first scope covers everything submitted earlier, so one here orders us after it.
            var lead = new MemoryBarrier
            {
                SType = StructureType.MemoryBarrier,
                SrcAccessMask = AccessFlags.ShaderWriteBit | AccessFlags.TransferWriteBit,
                DstAccessMask = AccessFlags.ShaderReadBit | AccessFlags.ShaderWriteBit | AccessFlags.TransferReadBit | AccessFlags.TransferWriteBit,
            };
            var leadStages = PipelineStageFlags.ComputeShaderBit | PipelineStageFlags.TransferBit;
            _vk.CmdPipelineBarrier(_cmd, leadStages, leadStages, 0, 1, &lead, 0, null, 0, null);
            if (profile && ctx.Info.TimestampsOnCompute)
            {
                var qi = new QueryPoolCreateInfo
                {
                    SType = StructureType.QueryPoolCreateInfo,
                    QueryType = QueryType.Timestamp,
                    QueryCount = MaxQueries,
                };
                VulkanException.Check(_vk.CreateQueryPool(ctx.Device, &qi, null, out _queries), "vkCreateQueryPool");
                _vk.CmdResetQueryPool(_cmd, _queries, 0, MaxQueries);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Records into a command buffer the host began and will submit; see <see cref="Finish"/>.</summary>
    internal CommandStream(GpuContext ctx, CommandBuffer external)
    {
        _ctx = ctx;
        _vk = ctx.Vk;
        _external = true;
        _cmd = external;
    }

    internal CommandBuffer Handle => _cmd;

    /// <summary>Ends recording into the host's command buffer. The descriptor sets and staging buffers made while
    /// recording stay alive until <see cref="Dispose"/>, which the owner may call only after the host's submission
    /// of that command buffer has completed.</summary>
    internal void Finish()
    {
        CheckOpen();
        if (!_external) throw new InvalidOperationException("Finish is for streams recording into a host command buffer; use Submit.");
        _submitted = true;
    }

    /// <summary>Submits without waiting: waits on <paramref name="wait"/> (binary when <paramref name="waitValue"/> is 0,
    /// else timeline) and signals the timeline <paramref name="signal"/> with <paramref name="signalValue"/> (no signal
    /// when null). Completion is seen through <see cref="IsComplete"/>; Dispose waits for it.</summary>
    internal void SubmitNoWait(Semaphore? wait, ulong waitValue, PipelineStageFlags waitStage, Semaphore? signal, ulong signalValue)
    {
        CheckOpen();
        if (_external) throw new InvalidOperationException("A stream recording into a host command buffer is submitted by the host.");
        VulkanException.Check(_vk.EndCommandBuffer(_cmd), "vkEndCommandBuffer");
        _submitted = true;
        var waitSem = wait ?? default;
        var signalSem = signal ?? default;
        ulong wv = waitValue, sv = signalValue;
        var timeline = new TimelineSemaphoreSubmitInfo
        {
            SType = StructureType.TimelineSemaphoreSubmitInfo,
            WaitSemaphoreValueCount = wait is null ? 0u : 1u,
            PWaitSemaphoreValues = &wv,
            SignalSemaphoreValueCount = signal is null ? 0u : 1u,
            PSignalSemaphoreValues = &sv,
        };
        var cmd = _cmd;
        var submit = new SubmitInfo
        {
            SType = StructureType.SubmitInfo,
            PNext = wait is not null && waitValue != 0 || signal is not null ? &timeline : null,
            WaitSemaphoreCount = wait is null ? 0u : 1u,
            PWaitSemaphores = &waitSem,
            PWaitDstStageMask = &waitStage,
            CommandBufferCount = 1,
            PCommandBuffers = &cmd,
            SignalSemaphoreCount = signal is null ? 0u : 1u,
            PSignalSemaphores = &signalSem,
        };
        _ctx.Submit(submit, _fence);
    }

    /// <summary>Waits until a <see cref="SubmitNoWait"/> submission has finished on the GPU.</summary>
    internal void WaitForCompletion()
    {
        if (!_submitted || _external || _fence.Handle == 0) return;
        var fence = _fence;
        VulkanException.Check(_vk.WaitForFences(_ctx.Device, 1, &fence, true, ulong.MaxValue), "vkWaitForFences");
    }

    /// <summary>True once a <see cref="SubmitNoWait"/> submission has finished on the GPU.</summary>
    internal bool IsComplete => _submitted && !_external && _vk.GetFenceStatus(_ctx.Device, _fence) == Result.Success;

    public bool Profiling => _queries.Handle != 0;

    /// <summary>Records one dispatch of <paramref name="kernel"/> over <paramref name="groups"/> workgroups.</summary>
    public void Dispatch<TPush>(ComputeKernel kernel, (uint X, uint Y, uint Z) groups, in TPush push,
                                params ReadOnlySpan<GpuBuffer> buffers) where TPush : unmanaged
    {
        fixed (TPush* p = &push)
            Dispatch(kernel, groups, new ReadOnlySpan<byte>(p, sizeof(TPush)), buffers);
    }

    public void Dispatch(ComputeKernel kernel, (uint X, uint Y, uint Z) groups, ReadOnlySpan<byte> push,
                         ReadOnlySpan<GpuBuffer> buffers)
    {
        CheckOpen();
        var layout = kernel.Layout;
        if (buffers.Length != layout.Buffers)
            throw new ArgumentException($"Kernel {kernel.Name} binds {layout.Buffers} buffers; {buffers.Length} were given.");
        if (push.Length != layout.PushBytes)
            throw new ArgumentException($"Kernel {kernel.Name} takes {layout.PushBytes} bytes of push constants; {push.Length} were given.");
        var max = _ctx.Info.MaxComputeWorkGroupCount;
        if (groups.X == 0 || groups.Y == 0 || groups.Z == 0 || groups.X > max[0] || groups.Y > max[1] || groups.Z > max[2])
            throw new ShapeException($"Kernel {kernel.Name}: grid {groups.X}x{groups.Y}x{groups.Z} is empty or exceeds the device's {max[0]}x{max[1]}x{max[2]}.");

        for (int i = 0; i < buffers.Length; i++)
        {
            ObjectDisposedException.ThrowIf(buffers[i].Handle.Handle == 0, buffers[i]);
            for (int j = 0; j < i; j++)
                if (buffers[i] == buffers[j] && (layout.Writes(i) || layout.Writes(j)))
                    throw new ArgumentException($"Kernel {kernel.Name}: binding {j} and {i} are the same buffer and one is written (aliasing).");
        }

        bool hazard = false;
        for (int i = 0; i < buffers.Length; i++)
        {
            ulong h = buffers[i].Handle.Handle;
            hazard |= _written.Contains(h) || (layout.Writes(i) && _read.Contains(h));
        }
        if (hazard) Barrier();
        for (int i = 0; i < buffers.Length; i++)
            (layout.Writes(i) ? _written : _read).Add(buffers[i].Handle.Handle);

        var views = stackalloc BufferView[buffers.Length];
        for (int i = 0; i < buffers.Length; i++)
            if (layout.TexelFormat(i) is Format f)
                views[i] = buffers[i].TexelView(f)
                           ?? throw new ShapeException($"Kernel {kernel.Name}: buffer '{buffers[i].Name}' ({buffers[i].Size} bytes) cannot be viewed as {f} texels on this device.");

        var set = AllocateSet(kernel.SetLayout);
        var infos = stackalloc DescriptorBufferInfo[buffers.Length];
        var writes = stackalloc WriteDescriptorSet[buffers.Length];
        for (int i = 0; i < buffers.Length; i++)
        {
            bool texel = layout.TexelFormat(i) is not null;
            infos[i] = new DescriptorBufferInfo { Buffer = buffers[i].Handle, Offset = 0, Range = Vk.WholeSize };
            writes[i] = new WriteDescriptorSet
            {
                SType = StructureType.WriteDescriptorSet,
                DstSet = set,
                DstBinding = (uint)i,
                DescriptorCount = 1,
                DescriptorType = texel ? DescriptorType.UniformTexelBuffer : DescriptorType.StorageBuffer,
                PBufferInfo = texel ? null : &infos[i],
                PTexelBufferView = texel ? &views[i] : null,
            };
        }
        _vk.UpdateDescriptorSets(_ctx.Device, (uint)buffers.Length, writes, 0, null);

        BeginTiming(kernel.Name);
        _vk.CmdBindPipeline(_cmd, PipelineBindPoint.Compute, kernel.Pipeline);
        _vk.CmdBindDescriptorSets(_cmd, PipelineBindPoint.Compute, kernel.PipelineLayout, 0, 1, &set, 0, null);
        if (push.Length > 0)
            fixed (byte* p = push)
                _vk.CmdPushConstants(_cmd, kernel.PipelineLayout, ShaderStageFlags.ComputeBit, 0, (uint)push.Length, p);
        _vk.CmdDispatch(_cmd, groups.X, groups.Y, groups.Z);
        EndTiming();
        DispatchCount++;
        _ctx.CountDispatch();
    }

    public void Copy(GpuBuffer src, ulong srcOffset, GpuBuffer dst, ulong dstOffset, ulong bytes)
    {
        CheckOpen();
        if (srcOffset + bytes > src.Size || dstOffset + bytes > dst.Size)
            throw new ArgumentOutOfRangeException(nameof(bytes), $"Copy of {bytes} bytes is outside '{src.Name}' or '{dst.Name}'.");
        ulong s = src.Handle.Handle, d = dst.Handle.Handle;
        if (_written.Contains(s) || _written.Contains(d) || _read.Contains(d)) Barrier();
        _read.Add(s);
        _written.Add(d);
        var region = new BufferCopy { SrcOffset = srcOffset, DstOffset = dstOffset, Size = bytes };
        BeginTiming("copy");
        _vk.CmdCopyBuffer(_cmd, src.Handle, dst.Handle, 1, &region);
        EndTiming();
    }

    /// <summary>Copies a whole 2D colour image (already in TransferSrcOptimal) into <paramref name="dst"/>, rows packed.</summary>
    internal void CopyImageToBuffer(Image image, uint width, uint height, GpuBuffer dst)
    {
        CheckOpen();
        ulong d = dst.Handle.Handle;
        if (_written.Contains(d) || _read.Contains(d)) Barrier();
        _written.Add(d);
        var region = ImageRegion(width, height);
        BeginTiming("copy-image-to-buffer");
        _vk.CmdCopyImageToBuffer(_cmd, image, ImageLayout.TransferSrcOptimal, dst.Handle, 1, &region);
        EndTiming();
    }

    /// <summary>Copies <paramref name="src"/> (rows packed) into a whole 2D colour image already in TransferDstOptimal.</summary>
    internal void CopyBufferToImage(GpuBuffer src, Image image, uint width, uint height)
    {
        CheckOpen();
        if (_written.Contains(src.Handle.Handle)) Barrier();
        _read.Add(src.Handle.Handle);
        var region = ImageRegion(width, height);
        BeginTiming("copy-buffer-to-image");
        _vk.CmdCopyBufferToImage(_cmd, src.Handle, image, ImageLayout.TransferDstOptimal, 1, &region);
        EndTiming();
    }

    private static BufferImageCopy ImageRegion(uint width, uint height) => new()
    {
        BufferOffset = 0,
        BufferRowLength = 0,
        BufferImageHeight = 0,
        ImageSubresource = new ImageSubresourceLayers(ImageAspectFlags.ColorBit, 0, 0, 1),
        ImageOffset = new Offset3D(0, 0, 0),
        ImageExtent = new Extent3D(width, height, 1),
    };

    /// <summary>One image layout transition with the given scopes (the pass API states its scopes in its docs).</summary>
    internal void ImageBarrier(Image image, ImageLayout oldLayout, ImageLayout newLayout,
                               PipelineStageFlags srcStage, AccessFlags srcAccess, PipelineStageFlags dstStage, AccessFlags dstAccess)
    {
        CheckOpen();
        var b = new ImageMemoryBarrier
        {
            SType = StructureType.ImageMemoryBarrier,
            SrcAccessMask = srcAccess,
            DstAccessMask = dstAccess,
            OldLayout = oldLayout,
            NewLayout = newLayout,
            SrcQueueFamilyIndex = Vk.QueueFamilyIgnored,
            DstQueueFamilyIndex = Vk.QueueFamilyIgnored,
            Image = image,
            SubresourceRange = new ImageSubresourceRange(ImageAspectFlags.ColorBit, 0, 1, 0, 1),
        };
        _vk.CmdPipelineBarrier(_cmd, srcStage, dstStage, 0, 0, null, 0, null, 1, &b);
    }

    /// <summary>Hands <paramref name="resource"/> to this stream: it is disposed with the stream, after the GPU is done.</summary>
    internal T Transient<T>(T resource) where T : IDisposable
    {
        _transient.Add(resource);
        return resource;
    }

    /// <summary>Uploads through a staging buffer owned by this stream, ordered with the recorded work.</summary>
    public void Upload(GpuTensor dst, ReadOnlySpan<float> data)
    {
        if (data.Length != dst.Length)
            throw new ShapeException($"Tensor '{dst.Name}' {dst.ShapeText} holds {dst.Length} values; {data.Length} were given.");
        var staging = new GpuBuffer(_ctx, dst.Buffer.Size, BufferKind.Upload, "stream-upload");
        _transient.Add(staging);
        if (dst.Type == DataType.F32) staging.Write(MemoryMarshal.AsBytes(data));
        else
        {
            var half = new Half[data.Length];
            for (int i = 0; i < data.Length; i++) half[i] = (Half)data[i];
            staging.Write(MemoryMarshal.AsBytes(half.AsSpan()));
        }
        Copy(staging, 0, dst.Buffer, 0, dst.Buffer.Size);
    }

    /// <summary>Writes bytes into <paramref name="dst"/> as part of this stream: directly when the buffer is
    /// host-mapped (the caller guarantees no earlier work still uses it), else through a staging buffer copied
    /// in order with the recorded work — never a submission of its own.</summary>
    public void Write(GpuBuffer dst, ReadOnlySpan<byte> data, ulong offset = 0)
    {
        CheckOpen();
        if (offset + (ulong)data.Length > dst.Size)
            throw new ArgumentOutOfRangeException(nameof(offset), $"Range {offset}+{data.Length} is outside buffer '{dst.Name}' of {dst.Size} bytes.");
        if (data.IsEmpty) return;
        if (dst.DirectAccess && !_written.Contains(dst.Handle.Handle) && !_read.Contains(dst.Handle.Handle))
        {
            dst.Write(data, offset);
            return;
        }
        var staging = new GpuBuffer(_ctx, (ulong)data.Length, BufferKind.Upload, "stream-upload");
        _transient.Add(staging);
        staging.Write(data);
        Copy(staging, 0, dst, offset, (ulong)data.Length);
    }

    public void Fill(GpuBuffer dst, uint value = 0)
    {
        CheckOpen();
        ulong d = dst.Handle.Handle;
        if (_written.Contains(d) || _read.Contains(d)) Barrier();
        _written.Add(d);
        _vk.CmdFillBuffer(_cmd, dst.Handle, 0, Vk.WholeSize, value);
    }

    /// <summary>Makes everything recorded so far visible to everything recorded after.</summary>
    public void Barrier()
    {
        CheckOpen();
        var mb = new MemoryBarrier
        {
            SType = StructureType.MemoryBarrier,
            SrcAccessMask = AccessFlags.ShaderWriteBit | AccessFlags.TransferWriteBit | AccessFlags.ShaderReadBit | AccessFlags.TransferReadBit,
            DstAccessMask = AccessFlags.ShaderReadBit | AccessFlags.ShaderWriteBit | AccessFlags.TransferReadBit | AccessFlags.TransferWriteBit,
        };
        var stages = PipelineStageFlags.ComputeShaderBit | PipelineStageFlags.TransferBit;
        _vk.CmdPipelineBarrier(_cmd, stages, stages, 0, 1, &mb, 0, null, 0, null);
        _written.Clear();
        _read.Clear();
        BarrierCount++;
    }

    /// <summary>Submits the recorded work and waits for it (bounded: a GPU that never finishes is reported, not waited on forever).</summary>
    public void Submit(TimeSpan? timeout = null)
    {
        CheckOpen();
        if (_external) throw new InvalidOperationException("A stream recording into a host command buffer is submitted by the host; call Finish.");
        // Results are read by the host after this: make shader/transfer writes visible to host reads.
        var mb = new MemoryBarrier
        {
            SType = StructureType.MemoryBarrier,
            SrcAccessMask = AccessFlags.ShaderWriteBit | AccessFlags.TransferWriteBit,
            DstAccessMask = AccessFlags.HostReadBit,
        };
        _vk.CmdPipelineBarrier(_cmd, PipelineStageFlags.ComputeShaderBit | PipelineStageFlags.TransferBit,
                               PipelineStageFlags.HostBit, 0, 1, &mb, 0, null, 0, null);
        VulkanException.Check(_vk.EndCommandBuffer(_cmd), "vkEndCommandBuffer");
        _submitted = true;
        _ctx.Submit(_cmd, _fence);
        var fence = _fence;
        ulong ns = (ulong)((timeout ?? TimeSpan.FromMinutes(10)).TotalMilliseconds * 1e6);
        var r = _vk.WaitForFences(_ctx.Device, 1, &fence, true, ns);
        if (r == Result.Timeout)
        {
            // Leave the fence and buffer alive; Dispose waits for the device before freeing them.
            throw new VulkanException($"GPU work ({DispatchCount} dispatches) did not finish within {timeout ?? TimeSpan.FromMinutes(10)}.", r);
        }
        VulkanException.Check(r, "vkWaitForFences");
        ReadTimings();
    }

    private void ReadTimings()
    {
        if (!Profiling || _labels.Count == 0) return;
        var n = (uint)_labels.Count * 2;
        var ticks = new ulong[n];
        fixed (ulong* t = ticks)
            VulkanException.Check(_vk.GetQueryPoolResults(_ctx.Device, _queries, 0, n, (nuint)(n * 8), t, 8,
                                                         QueryResultFlags.Result64Bit | QueryResultFlags.ResultWaitBit), "vkGetQueryPoolResults");
        double period = _ctx.Info.TimestampPeriodNs;
        for (int i = 0; i < _labels.Count; i++)
            _timings.Add(new KernelTiming(_labels[i], (ticks[2 * i + 1] - ticks[2 * i]) * period / 1e6));
    }

    private void BeginTiming(string label)
    {
        if (!Profiling || _labels.Count * 2 + 2 > MaxQueries) return;
        _vk.CmdWriteTimestamp(_cmd, PipelineStageFlags.TopOfPipeBit, _queries, (uint)_labels.Count * 2);
        _labels.Add(label);
        _timingOpen = true;
    }

    private bool _timingOpen;

    private void EndTiming()
    {
        if (!_timingOpen) return;
        _vk.CmdWriteTimestamp(_cmd, PipelineStageFlags.BottomOfPipeBit, _queries, (uint)_labels.Count * 2 - 1);
        _timingOpen = false;
    }

    private DescriptorSet AllocateSet(DescriptorSetLayout layout)
    {
        if (_setsInPool >= SetsPerPool)
        {
            var sizes = stackalloc DescriptorPoolSize[2];
            sizes[0] = new DescriptorPoolSize { Type = DescriptorType.StorageBuffer, DescriptorCount = SetsPerPool * 8 };
            sizes[1] = new DescriptorPoolSize { Type = DescriptorType.UniformTexelBuffer, DescriptorCount = SetsPerPool * 4 };
            var info = new DescriptorPoolCreateInfo
            {
                SType = StructureType.DescriptorPoolCreateInfo,
                MaxSets = SetsPerPool,
                PoolSizeCount = 2,
                PPoolSizes = sizes,
            };
            DescriptorPool pool;
            VulkanException.Check(_vk.CreateDescriptorPool(_ctx.Device, &info, null, &pool), "vkCreateDescriptorPool");
            _pools.Add(pool);
            _setsInPool = 0;
        }
        var alloc = new DescriptorSetAllocateInfo
        {
            SType = StructureType.DescriptorSetAllocateInfo,
            DescriptorPool = _pools[^1],
            DescriptorSetCount = 1,
            PSetLayouts = &layout,
        };
        DescriptorSet set;
        VulkanException.Check(_vk.AllocateDescriptorSets(_ctx.Device, &alloc, &set), "vkAllocateDescriptorSets");
        _setsInPool++;
        return set;
    }

    private void CheckOpen()
    {
        if (_submitted) throw new InvalidOperationException("This command stream was already submitted; begin a new one.");
        if (_cmd.Handle == 0) throw new ObjectDisposedException(nameof(CommandStream));
    }

    public void Dispose()
    {
        if (_cmd.Handle == 0 && _fence.Handle == 0 && _pools.Count == 0) return;
        if (_external) _cmd = default;
        if (_submitted && _fence.Handle != 0)
        {
            var fence = _fence;
            // Resources may only be freed once the GPU is done with them.
            if (_vk.WaitForFences(_ctx.Device, 1, &fence, true, ulong.MaxValue) != Result.Success) _ctx.WaitIdle();
        }
        foreach (var t in _transient) t.Dispose();
        _transient.Clear();
        foreach (var p in _pools) _vk.DestroyDescriptorPool(_ctx.Device, p, null);
        _pools.Clear();
        if (_queries.Handle != 0) _vk.DestroyQueryPool(_ctx.Device, _queries, null);
        if (_fence.Handle != 0) _vk.DestroyFence(_ctx.Device, _fence, null);
        _fence = default;
        if (_cmd.Handle != 0)
        {
            var cmd = _cmd;
            lock (_ctx.CommandPoolLock) _vk.FreeCommandBuffers(_ctx.Device, _ctx.CommandPool, 1, &cmd);
            _cmd = default;
        }
    }
}
