using System.Reflection;
using System.Runtime.InteropServices;
using Silk.NET.Vulkan;

namespace SamRealtime.Vulkan;

/// <summary>What a shader binds: <paramref name="Buffers"/> storage buffers at bindings 0..n-1 of set 0, of which
/// those in <paramref name="Written"/> are written (the command stream places barriers from this), and
/// <paramref name="PushBytes"/> bytes of push constants.</summary>
internal sealed record KernelLayout(int Buffers, int PushBytes, int[] Written)
{
    public bool Writes(int binding) => Array.IndexOf(Written, binding) >= 0;

    /// <summary>Bindings that are read-only uniform texel buffers (GLSL samplerBuffer) instead of storage buffers,
    /// with the texel format the command stream views the bound buffer as. Empty for ordinary kernels.</summary>
    public (int Binding, Format Format)[] TexelBindings { get; init; } = [];

    /// <summary>This layout with the given read-only bindings as uniform texel buffers of <paramref name="type"/>,
    /// four-wide (vec4) or one-wide: the texel variant of a kernel whose storage variant has this layout.</summary>
    public KernelLayout ReadAsTexels(DataType type, params (int Binding, bool FourWide)[] bindings) =>
        this with { TexelBindings = bindings.Select(b => (b.Binding, GpuTensor.TexelFormat(type, b.FourWide))).ToArray() };

    public Format? TexelFormat(int binding)
    {
        foreach (var (b, f) in TexelBindings) if (b == binding) return f;
        return null;
    }
}

/// <summary>A compute pipeline from embedded SPIR-V, with its specialization constants (ids 0..n-1, 32-bit).</summary>
internal sealed unsafe class ComputeKernel
{
    private readonly GpuContext _ctx;
    internal readonly Pipeline Pipeline;
    internal readonly PipelineLayout PipelineLayout;
    internal readonly DescriptorSetLayout SetLayout;
    public string Name { get; }
    public KernelLayout Layout { get; }
    public int[] Specialization { get; }

    internal ComputeKernel(GpuContext ctx, string shader, KernelLayout layout, ReadOnlySpan<int> specialization)
    {
        _ctx = ctx;
        Name = shader;
        Layout = layout;
        Specialization = specialization.ToArray();
        if (layout.PushBytes > ctx.Info.MaxPushConstantsSize)
            throw new VulkanException($"Kernel {shader} needs {layout.PushBytes} bytes of push constants; the device allows {ctx.Info.MaxPushConstantsSize}.");
        foreach (var (b, _) in layout.TexelBindings)
            if (b < 0 || b >= layout.Buffers || layout.Writes(b))
                throw new VulkanException($"Kernel {shader}: texel binding {b} must be a read-only binding below {layout.Buffers}.");
        var code = LoadSpirv(shader);
        var vk = ctx.Vk;
        GpuContext.CurrentOperation = $"creating kernel {shader} [{string.Join(",", Specialization)}]";

        var bindings = new DescriptorSetLayoutBinding[layout.Buffers];
        for (int i = 0; i < bindings.Length; i++)
            bindings[i] = new DescriptorSetLayoutBinding
            {
                Binding = (uint)i,
                DescriptorType = layout.TexelFormat(i) is null ? DescriptorType.StorageBuffer : DescriptorType.UniformTexelBuffer,
                DescriptorCount = 1,
                StageFlags = ShaderStageFlags.ComputeBit,
            };
        ShaderModule module = default;
        try
        {
            fixed (DescriptorSetLayoutBinding* b = bindings)
            {
                var info = new DescriptorSetLayoutCreateInfo
                {
                    SType = StructureType.DescriptorSetLayoutCreateInfo,
                    BindingCount = (uint)bindings.Length,
                    PBindings = b,
                };
                VulkanException.Check(vk.CreateDescriptorSetLayout(ctx.Device, &info, null, out SetLayout), "vkCreateDescriptorSetLayout");
            }
            var range = new PushConstantRange { StageFlags = ShaderStageFlags.ComputeBit, Offset = 0, Size = (uint)layout.PushBytes };
            var setLayout = SetLayout;
            var layoutInfo = new PipelineLayoutCreateInfo
            {
                SType = StructureType.PipelineLayoutCreateInfo,
                SetLayoutCount = 1,
                PSetLayouts = &setLayout,
                PushConstantRangeCount = layout.PushBytes > 0 ? 1u : 0u,
                PPushConstantRanges = &range,
            };
            VulkanException.Check(vk.CreatePipelineLayout(ctx.Device, &layoutInfo, null, out PipelineLayout), "vkCreatePipelineLayout");

            fixed (byte* c = code)
            {
                var moduleInfo = new ShaderModuleCreateInfo
                {
                    SType = StructureType.ShaderModuleCreateInfo,
                    CodeSize = (nuint)code.Length,
                    PCode = (uint*)c,
                };
                VulkanException.Check(vk.CreateShaderModule(ctx.Device, &moduleInfo, null, out module), $"vkCreateShaderModule({shader})");
            }

            var entries = new SpecializationMapEntry[Specialization.Length];
            for (int i = 0; i < entries.Length; i++)
                entries[i] = new SpecializationMapEntry { ConstantID = (uint)i, Offset = (uint)(i * 4), Size = 4 };
            var main = (byte*)Marshal.StringToHGlobalAnsi("main");
            try
            {
                fixed (SpecializationMapEntry* e = entries)
                fixed (int* values = Specialization)
                {
                    var spec = new SpecializationInfo
                    {
                        MapEntryCount = (uint)entries.Length,
                        PMapEntries = e,
                        DataSize = (nuint)(Specialization.Length * 4),
                        PData = values,
                    };
                    var pipelineInfo = new ComputePipelineCreateInfo
                    {
                        SType = StructureType.ComputePipelineCreateInfo,
                        Stage = new PipelineShaderStageCreateInfo
                        {
                            SType = StructureType.PipelineShaderStageCreateInfo,
                            Stage = ShaderStageFlags.ComputeBit,
                            Module = module,
                            PName = main,
                            PSpecializationInfo = entries.Length > 0 ? &spec : null,
                        },
                        Layout = PipelineLayout,
                    };
                    Pipeline pipeline;
                    VulkanException.Check(vk.CreateComputePipelines(ctx.Device, ctx.PipelineCache, 1, &pipelineInfo, null, &pipeline),
                                          $"vkCreateComputePipelines({shader})");
                    Pipeline = pipeline;
                }
            }
            finally
            {
                Marshal.FreeHGlobal((nint)main);
            }
        }
        catch
        {
            Destroy();
            throw;
        }
        finally
        {
            if (module.Handle != 0) vk.DestroyShaderModule(ctx.Device, module, null);
            GpuContext.CurrentOperation = null;
        }
    }

    internal static byte[] LoadSpirv(string shader)
    {
        var asm = typeof(ComputeKernel).Assembly;
        using var s = asm.GetManifestResourceStream(shader + ".spv")
                      ?? throw new VulkanException($"Shader '{shader}.spv' is not embedded in {asm.GetName().Name}; was it compiled by glslc?");
        var bytes = new byte[s.Length];
        s.ReadExactly(bytes);
        return bytes;
    }

    internal static IEnumerable<string> EmbeddedShaders() =>
        typeof(ComputeKernel).Assembly.GetManifestResourceNames().Where(n => n.EndsWith(".spv")).Select(n => n[..^4]);

    internal void Destroy()
    {
        var vk = _ctx.Vk;
        if (Pipeline.Handle != 0) vk.DestroyPipeline(_ctx.Device, Pipeline, null);
        if (PipelineLayout.Handle != 0) vk.DestroyPipelineLayout(_ctx.Device, PipelineLayout, null);
        if (SetLayout.Handle != 0) vk.DestroyDescriptorSetLayout(_ctx.Device, SetLayout, null);
    }
}
