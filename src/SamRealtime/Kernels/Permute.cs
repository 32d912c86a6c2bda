using System.Runtime.InteropServices;
using SamRealtime.Vulkan;

namespace SamRealtime.Kernels;

/// <summary>Batched 2-D transpose [batch, rows, cols] → [batch, cols, rows] (shaders/permute.comp): NCHW ↔ NHWC,
/// i.e. feature maps ↔ token matrices. Bit-exact; the output may not alias the input.</summary>
internal sealed class Permute
{
    private static readonly KernelLayout Layout = new(2, Marshal.SizeOf<Push>(), [1]);
    private readonly GpuContext _ctx;
    private readonly int _wg;

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public uint Batch, Rows, Cols;
    }

    public Permute(GpuContext ctx)
    {
        _ctx = ctx;
        _wg = LinearGrid.WorkgroupSize(ctx);
    }

    public void Transpose(CommandStream cs, GpuTensor input, GpuTensor output, int batch, int rows, int cols)
    {
        const string name = "permute";
        if (batch <= 0 || rows <= 0 || cols <= 0 || (long)batch * rows * cols > int.MaxValue)
            throw new ShapeException($"{name}: batch={batch}, rows={rows}, cols={cols} must be positive with a product ≤ {int.MaxValue}.");
        var type = output.Type;
        long n = (long)batch * rows * cols;
        LinearGrid.CheckLength(name, "input", input, n, type);
        LinearGrid.CheckLength(name, "output", output, n, type);
        LinearGrid.CheckNotAliased(name, output, ("input", input));

        var kernel = _ctx.Kernel(type == DataType.F16 ? "permute_f16" : "permute", Layout, _wg);
        var push = new Push { Batch = (uint)batch, Rows = (uint)rows, Cols = (uint)cols };
        long invocations = (long)batch * ((rows + 3) / 4) * ((cols + 3) / 4);   // one 4x4 block each
        cs.Dispatch(kernel, LinearGrid.Groups(_ctx, name, invocations, _wg), push, input.Buffer, output.Buffer);
    }
}
