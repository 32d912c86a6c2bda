using System.Numerics;
using Silk.NET.Core.Native;
using Silk.NET.Vulkan;
using SamRealtime.Vulkan;

namespace SamRealtime.Samples.RenderPass;

/// <summary>The renderer's objects shared by all frame slots: render passes, pipelines, samplers, layouts, pools.</summary>
public sealed unsafe partial class Renderer
{
    private void CreateSharedObjects()
    {
        var poolInfo = new CommandPoolCreateInfo
        {
            SType = StructureType.CommandPoolCreateInfo,
            QueueFamilyIndex = QueueFamily,
            Flags = CommandPoolCreateFlags.ResetCommandBufferBit,
        };
        CommandPool pool;
        Vkx.Check(_vk.CreateCommandPool(Device, &poolInfo, null, &pool), "vkCreateCommandPool");
        _pool = pool;

        _depthFormat = PickDepthFormat();
        _linear = CreateSampler(Filter.Linear);
        _nearest = CreateSampler(Filter.Nearest);
        _videoSetLayout = CreateSetLayout(1);
        _compositeSetLayout = CreateSetLayout(2);
        _videoLayout = CreatePipelineLayout(_videoSetLayout, new PushConstantRange(ShaderStageFlags.FragmentBit, 0, (uint)sizeof(Vector2)));
        _cubeLayout = CreatePipelineLayout(default, new PushConstantRange(ShaderStageFlags.VertexBit, 0, (uint)sizeof(CubePush)));
        _compositeLayout = CreatePipelineLayout(_compositeSetLayout,
                                                new PushConstantRange(ShaderStageFlags.FragmentBit, 0, (uint)sizeof(CompositePush)));
        _scenePass = CreateScenePass();
        _compositePass = CreateCompositePass();
        _videoPipeline = CreatePipeline("fullscreen.vert.spv", "video.frag.spv", _videoLayout, _scenePass, depth: false);
        _cubePipeline = CreatePipeline("cube.vert.spv", "cube.frag.spv", _cubeLayout, _scenePass, depth: true);
        _compositePipeline = CreatePipeline("fullscreen.vert.spv", "composite.frag.spv", _compositeLayout, _compositePass, depth: false);

        int sets = _options.FramesInFlight;
        var sizes = new DescriptorPoolSize(DescriptorType.CombinedImageSampler, (uint)(3 * sets));
        var dpInfo = new DescriptorPoolCreateInfo
        {
            SType = StructureType.DescriptorPoolCreateInfo,
            MaxSets = (uint)(2 * sets),
            PoolSizeCount = 1,
            PPoolSizes = &sizes,
        };
        DescriptorPool dp;
        Vkx.Check(_vk.CreateDescriptorPool(Device, &dpInfo, null, &dp), "vkCreateDescriptorPool");
        _descriptorPool = dp;

        _vk.GetPhysicalDeviceProperties(PhysicalDevice, out var props);
        uint n = 0;
        _vk.GetPhysicalDeviceQueueFamilyProperties(PhysicalDevice, &n, null);
        var families = new QueueFamilyProperties[n];
        fixed (QueueFamilyProperties* f = families) _vk.GetPhysicalDeviceQueueFamilyProperties(PhysicalDevice, &n, f);
        if (families[QueueFamily].TimestampValidBits > 0 && props.Limits.TimestampPeriod > 0)
        {
            _timestampPeriodNs = props.Limits.TimestampPeriod;
            var qInfo = new QueryPoolCreateInfo
            {
                SType = StructureType.QueryPoolCreateInfo,
                QueryType = QueryType.Timestamp,
                QueryCount = (uint)(QueriesPerFrame * sets),
            };
            QueryPool qp;
            Vkx.Check(_vk.CreateQueryPool(Device, &qInfo, null, &qp), "vkCreateQueryPool");
            _queries = qp;
        }
    }

    private Format PickDepthFormat()
    {
        foreach (var f in new[] { Format.D32Sfloat, Format.X8D24UnormPack32, Format.D16Unorm })
        {
            _vk.GetPhysicalDeviceFormatProperties(PhysicalDevice, f, out var p);
            if ((p.OptimalTilingFeatures & FormatFeatureFlags.DepthStencilAttachmentBit) != 0) return f;
        }
        throw new VulkanException("No depth format usable as an attachment.");
    }

    private Sampler CreateSampler(Filter filter)
    {
        var info = new SamplerCreateInfo
        {
            SType = StructureType.SamplerCreateInfo,
            MagFilter = filter,
            MinFilter = filter,
            MipmapMode = SamplerMipmapMode.Nearest,
            AddressModeU = SamplerAddressMode.ClampToEdge,
            AddressModeV = SamplerAddressMode.ClampToEdge,
            AddressModeW = SamplerAddressMode.ClampToEdge,
            MaxLod = 0,
        };
        Sampler s;
        Vkx.Check(_vk.CreateSampler(Device, &info, null, &s), "vkCreateSampler");
        return s;
    }

    private DescriptorSetLayout CreateSetLayout(int samplers)
    {
        var bindings = stackalloc DescriptorSetLayoutBinding[samplers];
        for (int i = 0; i < samplers; i++)
            bindings[i] = new DescriptorSetLayoutBinding((uint)i, DescriptorType.CombinedImageSampler, 1, ShaderStageFlags.FragmentBit);
        var info = new DescriptorSetLayoutCreateInfo
        {
            SType = StructureType.DescriptorSetLayoutCreateInfo,
            BindingCount = (uint)samplers,
            PBindings = bindings,
        };
        DescriptorSetLayout layout;
        Vkx.Check(_vk.CreateDescriptorSetLayout(Device, &info, null, &layout), "vkCreateDescriptorSetLayout");
        return layout;
    }

    private PipelineLayout CreatePipelineLayout(DescriptorSetLayout set, PushConstantRange push)
    {
        var info = new PipelineLayoutCreateInfo
        {
            SType = StructureType.PipelineLayoutCreateInfo,
            SetLayoutCount = set.Handle != 0 ? 1u : 0u,
            PSetLayouts = &set,
            PushConstantRangeCount = push.Size != 0 ? 1u : 0u,
            PPushConstantRanges = &push,
        };
        PipelineLayout layout;
        Vkx.Check(_vk.CreatePipelineLayout(Device, &info, null, &layout), "vkCreatePipelineLayout");
        return layout;
    }

    /// <summary>Colour + depth, both cleared. The colour target ends in the layout the mask stage reads it in, and
    /// the outgoing dependency makes its writes visible to transfer and shader reads (the stage may use either).</summary>
    private Silk.NET.Vulkan.RenderPass CreateScenePass()
    {
        var attachments = stackalloc AttachmentDescription[2];
        attachments[0] = new AttachmentDescription
        {
            Format = SceneFormat,
            Samples = SampleCountFlags.Count1Bit,
            LoadOp = AttachmentLoadOp.Clear,
            StoreOp = AttachmentStoreOp.Store,
            StencilLoadOp = AttachmentLoadOp.DontCare,
            StencilStoreOp = AttachmentStoreOp.DontCare,
            InitialLayout = ImageLayout.Undefined,
            FinalLayout = SceneLayoutBeforeMask,
        };
        attachments[1] = new AttachmentDescription
        {
            Format = _depthFormat,
            Samples = SampleCountFlags.Count1Bit,
            LoadOp = AttachmentLoadOp.Clear,
            StoreOp = AttachmentStoreOp.DontCare,
            StencilLoadOp = AttachmentLoadOp.DontCare,
            StencilStoreOp = AttachmentStoreOp.DontCare,
            InitialLayout = ImageLayout.Undefined,
            FinalLayout = ImageLayout.DepthStencilAttachmentOptimal,
        };
        var colourRef = new AttachmentReference(0, ImageLayout.ColorAttachmentOptimal);
        var depthRef = new AttachmentReference(1, ImageLayout.DepthStencilAttachmentOptimal);
        var subpass = new SubpassDescription
        {
            PipelineBindPoint = PipelineBindPoint.Graphics,
            ColorAttachmentCount = 1,
            PColorAttachments = &colourRef,
            PDepthStencilAttachment = &depthRef,
        };
        var deps = stackalloc SubpassDependency[2];
        // In: the previous use of this slot's images ended with reads (readback copies, composite sampling) that
        // the fence already waited for; this orders the clears after anything earlier in the command buffer.
        deps[0] = new SubpassDependency
        {
            SrcSubpass = Vk.SubpassExternal,
            DstSubpass = 0,
            SrcStageMask = PipelineStageFlags.ColorAttachmentOutputBit | PipelineStageFlags.LateFragmentTestsBit,
            DstStageMask = PipelineStageFlags.ColorAttachmentOutputBit | PipelineStageFlags.EarlyFragmentTestsBit,
            SrcAccessMask = AccessFlags.DepthStencilAttachmentWriteBit,
            DstAccessMask = AccessFlags.ColorAttachmentWriteBit | AccessFlags.DepthStencilAttachmentWriteBit
                            | AccessFlags.DepthStencilAttachmentReadBit,
        };
        deps[1] = new SubpassDependency
        {
            SrcSubpass = 0,
            DstSubpass = Vk.SubpassExternal,
            SrcStageMask = PipelineStageFlags.ColorAttachmentOutputBit,
            DstStageMask = PipelineStageFlags.TransferBit | PipelineStageFlags.ComputeShaderBit | PipelineStageFlags.FragmentShaderBit,
            SrcAccessMask = AccessFlags.ColorAttachmentWriteBit,
            DstAccessMask = AccessFlags.TransferReadBit | AccessFlags.ShaderReadBit,
        };
        return CreateRenderPass(attachments, 2, &subpass, deps, 2);
    }

    /// <summary>One colour attachment, fully overwritten (so not loaded), left ready for the readback copy.</summary>
    private Silk.NET.Vulkan.RenderPass CreateCompositePass()
    {
        var attachment = new AttachmentDescription
        {
            Format = SceneFormat,
            Samples = SampleCountFlags.Count1Bit,
            LoadOp = AttachmentLoadOp.DontCare,
            StoreOp = AttachmentStoreOp.Store,
            StencilLoadOp = AttachmentLoadOp.DontCare,
            StencilStoreOp = AttachmentStoreOp.DontCare,
            InitialLayout = ImageLayout.Undefined,
            FinalLayout = ImageLayout.TransferSrcOptimal,
        };
        var colourRef = new AttachmentReference(0, ImageLayout.ColorAttachmentOptimal);
        var subpass = new SubpassDescription
        {
            PipelineBindPoint = PipelineBindPoint.Graphics,
            ColorAttachmentCount = 1,
            PColorAttachments = &colourRef,
        };
        var deps = stackalloc SubpassDependency[2];
        // In: the inputs' visibility is the mask stage's promise; this only orders the output's layout transition.
        deps[0] = new SubpassDependency
        {
            SrcSubpass = Vk.SubpassExternal,
            DstSubpass = 0,
            SrcStageMask = PipelineStageFlags.ColorAttachmentOutputBit,
            DstStageMask = PipelineStageFlags.ColorAttachmentOutputBit,
            SrcAccessMask = 0,
            DstAccessMask = AccessFlags.ColorAttachmentWriteBit,
        };
        deps[1] = new SubpassDependency
        {
            SrcSubpass = 0,
            DstSubpass = Vk.SubpassExternal,
            SrcStageMask = PipelineStageFlags.ColorAttachmentOutputBit,
            DstStageMask = PipelineStageFlags.TransferBit,
            SrcAccessMask = AccessFlags.ColorAttachmentWriteBit,
            DstAccessMask = AccessFlags.TransferReadBit,
        };
        return CreateRenderPass(&attachment, 1, &subpass, deps, 2);
    }

    private Silk.NET.Vulkan.RenderPass CreateRenderPass(AttachmentDescription* attachments, uint attachmentCount,
                                                        SubpassDescription* subpass, SubpassDependency* deps, uint depCount)
    {
        var info = new RenderPassCreateInfo
        {
            SType = StructureType.RenderPassCreateInfo,
            AttachmentCount = attachmentCount,
            PAttachments = attachments,
            SubpassCount = 1,
            PSubpasses = subpass,
            DependencyCount = depCount,
            PDependencies = deps,
        };
        Silk.NET.Vulkan.RenderPass pass;
        Vkx.Check(_vk.CreateRenderPass(Device, &info, null, &pass), "vkCreateRenderPass");
        return pass;
    }

    private Pipeline CreatePipeline(string vert, string frag, PipelineLayout layout, Silk.NET.Vulkan.RenderPass pass, bool depth)
    {
        var vs = Vkx.LoadShader(_vk, Device, vert);
        var fs = Vkx.LoadShader(_vk, Device, frag);
        var entry = (byte*)SilkMarshal.StringToPtr("main");
        try
        {
            var stages = stackalloc PipelineShaderStageCreateInfo[2];
            stages[0] = new PipelineShaderStageCreateInfo
            {
                SType = StructureType.PipelineShaderStageCreateInfo, Stage = ShaderStageFlags.VertexBit, Module = vs, PName = entry,
            };
            stages[1] = new PipelineShaderStageCreateInfo
            {
                SType = StructureType.PipelineShaderStageCreateInfo, Stage = ShaderStageFlags.FragmentBit, Module = fs, PName = entry,
            };
            // Geometry comes from gl_VertexIndex, so there is no vertex input at all.
            var vertexInput = new PipelineVertexInputStateCreateInfo { SType = StructureType.PipelineVertexInputStateCreateInfo };
            var assembly = new PipelineInputAssemblyStateCreateInfo
            {
                SType = StructureType.PipelineInputAssemblyStateCreateInfo,
                Topology = PrimitiveTopology.TriangleList,
            };
            var viewport = new PipelineViewportStateCreateInfo
            {
                SType = StructureType.PipelineViewportStateCreateInfo,
                ViewportCount = 1,
                ScissorCount = 1,
            };
            var raster = new PipelineRasterizationStateCreateInfo
            {
                SType = StructureType.PipelineRasterizationStateCreateInfo,
                PolygonMode = PolygonMode.Fill,
                // The depth test hides the cube's far faces; culling would only save a few triangles.
                CullMode = CullModeFlags.None,
                FrontFace = FrontFace.CounterClockwise,
                LineWidth = 1,
            };
            var multisample = new PipelineMultisampleStateCreateInfo
            {
                SType = StructureType.PipelineMultisampleStateCreateInfo,
                RasterizationSamples = SampleCountFlags.Count1Bit,
            };
            var depthState = new PipelineDepthStencilStateCreateInfo
            {
                SType = StructureType.PipelineDepthStencilStateCreateInfo,
                DepthTestEnable = depth,
                DepthWriteEnable = depth,
                DepthCompareOp = CompareOp.Less,
            };
            var blendAttachment = new PipelineColorBlendAttachmentState
            {
                ColorWriteMask = ColorComponentFlags.RBit | ColorComponentFlags.GBit | ColorComponentFlags.BBit | ColorComponentFlags.ABit,
            };
            var blend = new PipelineColorBlendStateCreateInfo
            {
                SType = StructureType.PipelineColorBlendStateCreateInfo,
                AttachmentCount = 1,
                PAttachments = &blendAttachment,
            };
            var dynamicStates = stackalloc DynamicState[] { DynamicState.Viewport, DynamicState.Scissor };
            var dynamic = new PipelineDynamicStateCreateInfo
            {
                SType = StructureType.PipelineDynamicStateCreateInfo,
                DynamicStateCount = 2,
                PDynamicStates = dynamicStates,
            };
            var info = new GraphicsPipelineCreateInfo
            {
                SType = StructureType.GraphicsPipelineCreateInfo,
                StageCount = 2,
                PStages = stages,
                PVertexInputState = &vertexInput,
                PInputAssemblyState = &assembly,
                PViewportState = &viewport,
                PRasterizationState = &raster,
                PMultisampleState = &multisample,
                PDepthStencilState = &depthState,
                PColorBlendState = &blend,
                PDynamicState = &dynamic,
                Layout = layout,
                RenderPass = pass,
                Subpass = 0,
            };
            Pipeline pipeline;
            Vkx.Check(_vk.CreateGraphicsPipelines(Device, default, 1, &info, null, &pipeline), $"vkCreateGraphicsPipelines({vert}, {frag})");
            return pipeline;
        }
        finally
        {
            SilkMarshal.Free((nint)entry);
            _vk.DestroyShaderModule(Device, vs, null);
            _vk.DestroyShaderModule(Device, fs, null);
        }
    }
}
