using System.Numerics;
using Silk.NET.Vulkan;
using SamRealtime.Capture;

namespace SamRealtime.Samples.RenderPass;

public sealed unsafe partial class Renderer
{
    /// <summary>Everything one frame in flight owns: its command buffer and fence, the uploaded video frame, the
    /// colour/depth targets, the mask, the composite and the readback buffers. A slot is reused only after its fence
    /// says the GPU is done with it, so no two frames in flight share an image.</summary>
    private sealed class FrameSlot : IDisposable
    {
        private readonly Renderer _r;
        private readonly Vk _vk;
        private readonly int _slot;
        private readonly CommandBuffer _cmd;
        private readonly Fence _fence;
        private readonly GpuImage _video, _scene, _depth, _mask, _output;
        private readonly HostBuffer _upload, _compositeReadback;
        private readonly HostBuffer? _sceneReadback, _maskReadback;
        private readonly Framebuffer _sceneFramebuffer, _compositeFramebuffer;
        private readonly DescriptorSet _videoSet, _compositeSet;
        private int? _pending;

        public FrameSlot(Renderer r, int slot)
        {
            _r = r;
            _vk = r._vk;
            _slot = slot;
            var device = r.Device;
            var physical = r.PhysicalDevice;
            int w = r.Width, h = r.Height;
            try
            {
                var alloc = new CommandBufferAllocateInfo
                {
                    SType = StructureType.CommandBufferAllocateInfo,
                    CommandPool = r._pool,
                    Level = CommandBufferLevel.Primary,
                    CommandBufferCount = 1,
                };
                CommandBuffer cmd;
                Vkx.Check(_vk.AllocateCommandBuffers(device, &alloc, &cmd), "vkAllocateCommandBuffers");
                _cmd = cmd;
                var fenceInfo = new FenceCreateInfo { SType = StructureType.FenceCreateInfo };
                Fence fence;
                Vkx.Check(_vk.CreateFence(device, &fenceInfo, null, &fence), "vkCreateFence");
                _fence = fence;

                _video = new GpuImage(_vk, physical, device, r._options.VideoWidth, r._options.VideoHeight, SceneFormat,
                                      ImageUsageFlags.TransferDstBit | ImageUsageFlags.SampledBit);
                // TRANSFER_SRC and SAMPLED: the mask stage reads the frame by copy, the composite samples it.
                _scene = new GpuImage(_vk, physical, device, w, h, SceneFormat,
                                      ImageUsageFlags.ColorAttachmentBit | ImageUsageFlags.TransferSrcBit | ImageUsageFlags.SampledBit);
                _depth = new GpuImage(_vk, physical, device, w, h, r._depthFormat, ImageUsageFlags.DepthStencilAttachmentBit,
                                      ImageAspectFlags.DepthBit);
                // TRANSFER_DST is how the mask stage writes it; TRANSFER_SRC only for the optional readback.
                _mask = new GpuImage(_vk, physical, device, w, h, MaskFormat,
                                     ImageUsageFlags.TransferDstBit | ImageUsageFlags.SampledBit | ImageUsageFlags.TransferSrcBit);
                _output = new GpuImage(_vk, physical, device, w, h, SceneFormat,
                                       ImageUsageFlags.ColorAttachmentBit | ImageUsageFlags.TransferSrcBit);

                _upload = new HostBuffer(_vk, physical, device, _video.ByteSize, BufferUsageFlags.TransferSrcBit);
                _compositeReadback = new HostBuffer(_vk, physical, device, _output.ByteSize, BufferUsageFlags.TransferDstBit);
                if (r._options.ReadBackInputs)
                {
                    _sceneReadback = new HostBuffer(_vk, physical, device, _scene.ByteSize, BufferUsageFlags.TransferDstBit);
                    _maskReadback = new HostBuffer(_vk, physical, device, _mask.ByteSize, BufferUsageFlags.TransferDstBit);
                }

                _sceneFramebuffer = CreateFramebuffer(r._scenePass, [_scene.View, _depth.View]);
                _compositeFramebuffer = CreateFramebuffer(r._compositePass, [_output.View]);
                _videoSet = AllocateSet(r._videoSetLayout, [(_video.View, r._linear)]);
                // texelFetch ignores the sampler's filter; nearest says so.
                _compositeSet = AllocateSet(r._compositeSetLayout, [(_scene.View, r._nearest), (_mask.View, r._nearest)]);
            }
            catch
            {
                Dispose(); // what was made so far; unset fields are still null or zero handles
                throw;
            }
        }

        private Framebuffer CreateFramebuffer(Silk.NET.Vulkan.RenderPass pass, ImageView[] views)
        {
            fixed (ImageView* v = views)
            {
                var info = new FramebufferCreateInfo
                {
                    SType = StructureType.FramebufferCreateInfo,
                    RenderPass = pass,
                    AttachmentCount = (uint)views.Length,
                    PAttachments = v,
                    Width = (uint)_r.Width,
                    Height = (uint)_r.Height,
                    Layers = 1,
                };
                Framebuffer fb;
                Vkx.Check(_vk.CreateFramebuffer(_r.Device, &info, null, &fb), "vkCreateFramebuffer");
                return fb;
            }
        }

        private DescriptorSet AllocateSet(DescriptorSetLayout layout, (ImageView View, Sampler Sampler)[] images)
        {
            var info = new DescriptorSetAllocateInfo
            {
                SType = StructureType.DescriptorSetAllocateInfo,
                DescriptorPool = _r._descriptorPool,
                DescriptorSetCount = 1,
                PSetLayouts = &layout,
            };
            DescriptorSet set;
            Vkx.Check(_vk.AllocateDescriptorSets(_r.Device, &info, &set), "vkAllocateDescriptorSets");
            var imageInfos = stackalloc DescriptorImageInfo[images.Length];
            var writes = stackalloc WriteDescriptorSet[images.Length];
            for (int i = 0; i < images.Length; i++)
            {
                imageInfos[i] = new DescriptorImageInfo(images[i].Sampler, images[i].View, ImageLayout.ShaderReadOnlyOptimal);
                writes[i] = new WriteDescriptorSet
                {
                    SType = StructureType.WriteDescriptorSet,
                    DstSet = set,
                    DstBinding = (uint)i,
                    DescriptorCount = 1,
                    DescriptorType = DescriptorType.CombinedImageSampler,
                    PImageInfo = &imageInfos[i],
                };
            }
            _vk.UpdateDescriptorSets(_r.Device, (uint)images.Length, writes, 0, null);
            return set;
        }

        public void Record(int index, RgbaImage video, double seconds, IMaskStage maskStage)
        {
            video.Pixels.CopyTo(_upload.Span);
            Vkx.Check(_vk.ResetCommandBuffer(_cmd, 0), "vkResetCommandBuffer");
            var begin = new CommandBufferBeginInfo
            {
                SType = StructureType.CommandBufferBeginInfo,
                Flags = CommandBufferUsageFlags.OneTimeSubmitBit,
            };
            Vkx.Check(_vk.BeginCommandBuffer(_cmd, &begin), "vkBeginCommandBuffer");
            uint q = (uint)(_slot * QueriesPerFrame);
            bool timed = _r._queries.Handle != 0;
            if (timed)
            {
                _vk.CmdResetQueryPool(_cmd, _r._queries, q, QueriesPerFrame);
                _vk.CmdWriteTimestamp(_cmd, PipelineStageFlags.TopOfPipeBit, _r._queries, q);
            }

            // The video frame: host writes are visible to the GPU at submit; copy, then make it sampleable.
            Vkx.Barrier(_vk, _cmd, _video.Image, ImageAspectFlags.ColorBit, ImageLayout.Undefined, ImageLayout.TransferDstOptimal,
                        PipelineStageFlags.TopOfPipeBit, 0, PipelineStageFlags.TransferBit, AccessFlags.TransferWriteBit);
            _video.CopyFromBuffer(_cmd, _upload.Buffer);
            Vkx.Barrier(_vk, _cmd, _video.Image, ImageAspectFlags.ColorBit, ImageLayout.TransferDstOptimal, ImageLayout.ShaderReadOnlyOptimal,
                        PipelineStageFlags.TransferBit, AccessFlags.TransferWriteBit,
                        PipelineStageFlags.FragmentShaderBit, AccessFlags.ShaderReadBit);

            RecordScene(seconds);
            if (timed) _vk.CmdWriteTimestamp(_cmd, PipelineStageFlags.BottomOfPipeBit, _r._queries, q + 1);

            maskStage.Record(_cmd, new MaskTargets(_scene.Image, SceneFormat, _mask.Image, _r.Width, _r.Height), _slot);
            if (timed) _vk.CmdWriteTimestamp(_cmd, PipelineStageFlags.BottomOfPipeBit, _r._queries, q + 2);

            RecordComposite();
            if (timed) _vk.CmdWriteTimestamp(_cmd, PipelineStageFlags.BottomOfPipeBit, _r._queries, q + 3);

            RecordReadback();
            Vkx.Check(_vk.EndCommandBuffer(_cmd), "vkEndCommandBuffer");
            _pending = index;
        }

        private void RecordScene(double seconds)
        {
            var clears = stackalloc ClearValue[2];
            clears[0] = new ClearValue(new ClearColorValue(0f, 0f, 0f, 1f));
            clears[1] = new ClearValue(depthStencil: new ClearDepthStencilValue(1f, 0));
            BeginPass(_r._scenePass, _sceneFramebuffer, clears, 2);
            var videoSet = _videoSet;
            _vk.CmdBindPipeline(_cmd, PipelineBindPoint.Graphics, _r._videoPipeline);
            _vk.CmdBindDescriptorSets(_cmd, PipelineBindPoint.Graphics, _r._videoLayout, 0, 1, &videoSet, 0, null);
            var invSize = new Vector2(1f / _r.Width, 1f / _r.Height);
            _vk.CmdPushConstants(_cmd, _r._videoLayout, ShaderStageFlags.FragmentBit, 0, (uint)sizeof(Vector2), &invSize);
            _vk.CmdDraw(_cmd, 3, 1, 0, 0);

            var push = _r.CubeTransform(seconds);
            _vk.CmdBindPipeline(_cmd, PipelineBindPoint.Graphics, _r._cubePipeline);
            _vk.CmdPushConstants(_cmd, _r._cubeLayout, ShaderStageFlags.VertexBit, 0, (uint)sizeof(CubePush), &push);
            _vk.CmdDraw(_cmd, 36, 1, 0, 0);
            _vk.CmdEndRenderPass(_cmd);
        }

        private void RecordComposite()
        {
            BeginPass(_r._compositePass, _compositeFramebuffer, null, 0);
            var set = _compositeSet;
            var style = _r._options.Style;
            var push = new CompositePush { Tint = style.Tint, Outline = new(style.Outline, 1f), Radius = style.Radius };
            _vk.CmdBindPipeline(_cmd, PipelineBindPoint.Graphics, _r._compositePipeline);
            _vk.CmdBindDescriptorSets(_cmd, PipelineBindPoint.Graphics, _r._compositeLayout, 0, 1, &set, 0, null);
            _vk.CmdPushConstants(_cmd, _r._compositeLayout, ShaderStageFlags.FragmentBit, 0, (uint)sizeof(CompositePush), &push);
            _vk.CmdDraw(_cmd, 3, 1, 0, 0);
            _vk.CmdEndRenderPass(_cmd);
        }

        private void BeginPass(Silk.NET.Vulkan.RenderPass pass, Framebuffer fb, ClearValue* clears, uint clearCount)
        {
            var area = new Rect2D(new Offset2D(0, 0), new Extent2D((uint)_r.Width, (uint)_r.Height));
            var info = new RenderPassBeginInfo
            {
                SType = StructureType.RenderPassBeginInfo,
                RenderPass = pass,
                Framebuffer = fb,
                RenderArea = area,
                ClearValueCount = clearCount,
                PClearValues = clears,
            };
            _vk.CmdBeginRenderPass(_cmd, &info, SubpassContents.Inline);
            var viewport = new Viewport(0, 0, _r.Width, _r.Height, 0, 1);
            _vk.CmdSetViewport(_cmd, 0, 1, &viewport);
            _vk.CmdSetScissor(_cmd, 0, 1, &area);
        }

        private void RecordReadback()
        {
            // The composite pass's outgoing dependency already made the output visible to this copy.
            _output.CopyToBuffer(_cmd, _compositeReadback.Buffer);
            if (_sceneReadback is not null && _maskReadback is not null)
            {
                // Both were last read by the composite's fragment shader; reads need no memory dependency, only order.
                foreach (var image in new[] { _scene, _mask })
                    Vkx.Barrier(_vk, _cmd, image.Image, ImageAspectFlags.ColorBit, ImageLayout.ShaderReadOnlyOptimal, ImageLayout.TransferSrcOptimal,
                                PipelineStageFlags.FragmentShaderBit, 0, PipelineStageFlags.TransferBit, AccessFlags.TransferReadBit);
                _scene.CopyToBuffer(_cmd, _sceneReadback.Buffer);
                _mask.CopyToBuffer(_cmd, _maskReadback.Buffer);
            }
            var toHost = new MemoryBarrier
            {
                SType = StructureType.MemoryBarrier,
                SrcAccessMask = AccessFlags.TransferWriteBit,
                DstAccessMask = AccessFlags.HostReadBit,
            };
            _vk.CmdPipelineBarrier(_cmd, PipelineStageFlags.TransferBit, PipelineStageFlags.HostBit, 0, 1, &toHost, 0, null, 0, null);
        }

        public void Submit()
        {
            var cmd = _cmd;
            var submit = new SubmitInfo
            {
                SType = StructureType.SubmitInfo,
                CommandBufferCount = 1,
                PCommandBuffers = &cmd,
            };
            Vkx.Check(_vk.QueueSubmit(_r.Queue, 1, &submit, _fence), "vkQueueSubmit");
        }

        /// <summary>Waits for this slot's frame, if one is in flight, and reads it back.</summary>
        public RenderedFrame? Collect()
        {
            if (_pending is not int index) return null;
            var fence = _fence;
            Vkx.Check(_vk.WaitForFences(_r.Device, 1, &fence, true, ulong.MaxValue), "vkWaitForFences");
            Vkx.Check(_vk.ResetFences(_r.Device, 1, &fence), "vkResetFences");
            _pending = null;
            return new RenderedFrame(index, _r.Width, _r.Height, _compositeReadback.Span.ToArray(),
                                     _sceneReadback?.Span.ToArray(), _maskReadback?.Span.ToArray(), ReadTimes());
        }

        private FrameTimes? ReadTimes()
        {
            if (_r._queries.Handle == 0) return null;
            var t = stackalloc ulong[QueriesPerFrame];
            var result = _vk.GetQueryPoolResults(_r.Device, _r._queries, (uint)(_slot * QueriesPerFrame), QueriesPerFrame,
                                                 (nuint)(QueriesPerFrame * sizeof(ulong)), t, sizeof(ulong), QueryResultFlags.Result64Bit);
            if (result != Result.Success) return null;
            double ms(int a, int b) => (t[b] - t[a]) * _r._timestampPeriodNs / 1e6;
            return new FrameTimes(ms(0, 1), ms(1, 2), ms(2, 3));
        }

        public void Dispose()
        {
            var device = _r.Device;
            if (_compositeFramebuffer.Handle != 0) _vk.DestroyFramebuffer(device, _compositeFramebuffer, null);
            if (_sceneFramebuffer.Handle != 0) _vk.DestroyFramebuffer(device, _sceneFramebuffer, null);
            foreach (var d in new IDisposable?[] { _video, _scene, _depth, _mask, _output, _upload, _compositeReadback, _sceneReadback, _maskReadback })
                d?.Dispose();
            if (_fence.Handle != 0) _vk.DestroyFence(device, _fence, null);
            // The command buffer and descriptor sets go with their pools.
        }
    }
}
