using System.Runtime.InteropServices;
using SamRealtime.Vulkan;

namespace SamRealtime.Kernels;

/// <summary>
/// Flat elementwise ops (shaders/elementwise.comp): add, activation, fused add+activation, copy and a broadcast add
/// of a periodic table. All tensors share one storage type; the output may not alias an input (the command stream
/// rejects a written binding that is also read), so in-place updates need a second buffer.
/// </summary>
internal sealed class Elementwise
{
    private const int OpAdd = 0, OpAct = 1, OpAddAct = 2, OpCopy = 3, OpAddBroadcast = 4;
    private static readonly KernelLayout Layout = new(3, Marshal.SizeOf<Push>(), [2]);
    private readonly GpuContext _ctx;
    private readonly int _wg;

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public uint Count, Period;
        public int Op, Act, Vec4Ok;
    }

    public Elementwise(GpuContext ctx)
    {
        _ctx = ctx;
        _wg = LinearGrid.WorkgroupSize(ctx);
    }

    /// <summary>out = a + b.</summary>
    public void Add(CommandStream cs, GpuTensor a, GpuTensor b, GpuTensor output, long count) =>
        Run(cs, "elementwise.add", OpAdd, a, b, output, Activation.None, count, count);

    /// <summary>out = act(input): GELU (erf form) or ReLU.</summary>
    public void Activate(CommandStream cs, GpuTensor input, GpuTensor output, Activation act, long count) =>
        Run(cs, "elementwise.activate", OpAct, input, null, output, act, count, count);

    /// <summary>out = act(a + b), e.g. TinyViT MBConv's GELU after the residual add.</summary>
    public void AddActivate(CommandStream cs, GpuTensor a, GpuTensor b, GpuTensor output, Activation act, long count) =>
        Run(cs, "elementwise.addActivate", OpAddAct, a, b, output, act, count, count);

    public void Copy(CommandStream cs, GpuTensor input, GpuTensor output, long count) =>
        Run(cs, "elementwise.copy", OpCopy, input, null, output, Activation.None, count, count);

    /// <summary>out[i] = a[i] + b[i % period]: a per-position table (e.g. positional encodings) added to every batch item.</summary>
    public void AddBroadcast(CommandStream cs, GpuTensor a, GpuTensor b, GpuTensor output, long count, long period) =>
        Run(cs, "elementwise.addBroadcast", OpAddBroadcast, a, b, output, Activation.None, count, period);

    private void Run(CommandStream cs, string name, int op, GpuTensor a, GpuTensor? b, GpuTensor output,
                     Activation act, long count, long period)
    {
        if (count <= 0 || count > int.MaxValue)
            throw new ShapeException($"{name}: count {count} must be in 1..{int.MaxValue}.");
        if (period <= 0 || period > count)
            throw new ShapeException($"{name}: period {period} must be in 1..count ({count}).");
        if (!Enum.IsDefined(act))
            throw new ShapeException($"{name}: unknown activation {(int)act}.");
        var type = output.Type;
        LinearGrid.CheckLength(name, "a", a, count, type);
        if (b is not null) LinearGrid.CheckLength(name, "b", b, period, type);
        LinearGrid.CheckLength(name, "output", output, count, type);
        LinearGrid.CheckNotAliased(name, output, ("a", a), ("b", b));

        var push = new Push
        {
            Count = (uint)count, Period = (uint)period, Op = op, Act = (int)act,
            // vec4 indexing of b by i/4 is only right when the table restarts on a 4-element boundary.
            Vec4Ok = op != OpAddBroadcast || period % 4 == 0 ? 1 : 0,
        };
        var kernel = _ctx.Kernel(type == DataType.F16 ? "elementwise_f16" : "elementwise", Layout, _wg);
        var groups = LinearGrid.Groups(_ctx, name, (count + 3) / 4, _wg);
        // An unused b binds a again: both are only read, so that is not aliasing.
        cs.Dispatch(kernel, groups, push, a.Buffer, (b ?? a).Buffer, output.Buffer);
    }
}

/// <summary>Shared by the 1-D kernels of this family: workgroup size from device limits, and a grid of any length
/// spread over x, y and z (each bounded by maxComputeWorkGroupCount); the shaders linearise it back.</summary>
internal static class LinearGrid
{
    /// <summary>64 lanes: a multiple of every common subgroup width and of llvmpipe's 8/16-wide vectors, capped by
    /// the device's limits.</summary>
    public static int WorkgroupSize(GpuContext ctx) =>
        (int)Math.Max(1, Math.Min(64u, Math.Min(ctx.Info.MaxComputeWorkGroupInvocations, ctx.Info.MaxComputeWorkGroupSize[0])));

    public static (uint X, uint Y, uint Z) Groups(GpuContext ctx, string name, long invocations, int wg)
    {
        long groups = (invocations + wg - 1) / wg;
        var max = ctx.Info.MaxComputeWorkGroupCount;
        long gx = Math.Min(groups, max[0]);
        long rest = (groups + gx - 1) / gx;
        long gy = Math.Min(rest, max[1]);
        long gz = (rest + gy - 1) / gy;
        if (gz > max[2])
            throw new ShapeException($"{name}: {groups} workgroups exceed the device's grid {max[0]}x{max[1]}x{max[2]}.");
        return ((uint)gx, (uint)gy, (uint)gz);
    }

    public static void CheckLength(string kernel, string what, GpuTensor t, long need, DataType type)
    {
        if (t.Length < need)
            throw new ShapeException($"{kernel}: {what} '{t.Name}' {t.ShapeText} holds {t.Length} values; {need} are needed.");
        if (t.Type != type)
            throw new ShapeException($"{kernel}: {what} '{t.Name}' is {t.Type} but the output is {type}; one storage type per call.");
    }

    public static void CheckNotAliased(string kernel, GpuTensor output, params (string What, GpuTensor? T)[] inputs)
    {
        foreach (var (what, t) in inputs)
            if (t is not null && t.Buffer == output.Buffer)
                throw new ShapeException($"{kernel}: {what} and the output are the same tensor '{output.Name}'; in-place is not supported.");
    }
}
