using System.Runtime.InteropServices;
using SamRealtime.Vulkan;

namespace SamRealtime.Kernels;

/// <summary>
/// SAM's LayerNorm2d (shaders/layernorm2d.comp): for each (n, y, x) of an NCHW tensor, normalise over C, scale and
/// shift per channel, then an optional fused activation (GELU in the mask decoder's upscaling). No aliasing.
/// </summary>
internal sealed class LayerNorm2d
{
    private static readonly KernelLayout Layout = new(4, Marshal.SizeOf<Push>(), [3]);
    private readonly GpuContext _ctx;
    private readonly int _wg;

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public uint Batch, C, Hw;
        public float Eps;
        public int Act;
    }

    public LayerNorm2d(GpuContext ctx)
    {
        _ctx = ctx;
        _wg = LinearGrid.WorkgroupSize(ctx);
    }

    public void Record(CommandStream cs, GpuTensor input, GpuTensor output, GpuTensor gamma, GpuTensor beta,
                       int batch, int channels, int hw, float eps, Activation act = Activation.None)
    {
        const string name = "layernorm2d";
        if (batch <= 0 || channels <= 0 || hw <= 0 || (long)batch * channels * hw > int.MaxValue)
            throw new ShapeException($"{name}: batch={batch}, channels={channels}, hw={hw} must be positive with a product ≤ {int.MaxValue}.");
        if (!(eps >= 0) || float.IsInfinity(eps))
            throw new ShapeException($"{name}: eps {eps} must be finite and non-negative.");
        if (!Enum.IsDefined(act))
            throw new ShapeException($"{name}: unknown activation {(int)act}.");
        var type = output.Type;
        long n = (long)batch * channels * hw;
        LinearGrid.CheckLength(name, "input", input, n, type);
        LinearGrid.CheckLength(name, "output", output, n, type);
        LinearGrid.CheckLength(name, "gamma", gamma, channels, type);
        LinearGrid.CheckLength(name, "beta", beta, channels, type);
        LinearGrid.CheckNotAliased(name, output, ("input", input), ("gamma", gamma), ("beta", beta));

        var kernel = _ctx.Kernel(type == DataType.F16 ? "layernorm2d_f16" : "layernorm2d", Layout, _wg);
        var push = new Push { Batch = (uint)batch, C = (uint)channels, Hw = (uint)hw, Eps = eps, Act = (int)act };
        long invocations = (long)batch * ((hw + 3) / 4);   // 4 pixels each
        cs.Dispatch(kernel, LinearGrid.Groups(_ctx, name, invocations, _wg), push,
                    input.Buffer, gamma.Buffer, beta.Buffer, output.Buffer);
    }
}
