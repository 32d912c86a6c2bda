using System.Runtime.InteropServices;
using SamRealtime.Vulkan;

namespace SamRealtime.Kernels;

/// <summary>Numerically stable softmax over the last dimension of a row-major [rows, cols] tensor (shaders/softmax.comp).
/// Attention does its own softmax inside <see cref="Attention"/>; this is for everything else.</summary>
internal sealed class Softmax
{
    private readonly GpuContext _ctx;
    private static readonly KernelLayout Layout = new(2, Marshal.SizeOf<Push>(), [1]);

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public int Rows, Cols;
    }

    public Softmax(GpuContext ctx) => _ctx = ctx;

    public void Record(CommandStream cs, GpuTensor input, GpuTensor output, int rows, int cols)
    {
        const string name = "softmax";
        if (rows <= 0 || cols <= 0)
            throw new ShapeException($"{name}: rows={rows}, cols={cols} must be positive.");
        long n = (long)rows * cols;
        if (input.Length < n || output.Length < n)
            throw new ShapeException($"{name}: [{rows}, {cols}] needs {n} elements; input '{input.Name}' {input.ShapeText} has {input.Length}, " +
                                     $"output '{output.Name}' {output.ShapeText} has {output.Length}.");
        if (n > int.MaxValue) throw new ShapeException($"{name}: {n} elements exceed 32-bit shader indices.");
        if (input.Type != output.Type)
            throw new ShapeException($"{name}: input is {input.Type} but output is {output.Type}; one storage type per call.");
        if (input == output)
            throw new ShapeException($"{name}: input and output are the same tensor '{input.Name}'; softmax cannot run in place.");

        var (wg, lanes) = ChooseLanes(cols);
        var kernel = _ctx.Kernel(output.Type == DataType.F16 ? "softmax_f16" : "softmax", Layout, wg, lanes);
        int rowsPerGroup = wg / lanes;
        long groups = (rows + rowsPerGroup - 1) / rowsPerGroup;
        long maxX = _ctx.Info.MaxComputeWorkGroupCount[0];
        uint gx = (uint)Math.Min(groups, maxX);
        uint gy = (uint)((groups + gx - 1) / gx);
        cs.Dispatch(kernel, (gx, gy, 1u), new Push { Rows = rows, Cols = cols }, input.Buffer, output.Buffer);
    }

    /// <summary>Workgroup size and lanes per row. Short rows get one lane each (no shared memory or barriers); long
    /// rows are split over up to 64 lanes with about 16 or more columns per lane, so a barrier is amortised.</summary>
    internal (int Wg, int Lanes) ChooseLanes(int cols)
    {
        int maxInv = (int)Math.Min(_ctx.Info.MaxComputeWorkGroupInvocations, _ctx.Info.MaxComputeWorkGroupSize[0]);
        int wg = Math.Min(64, maxInv);
        // Two floats of shared memory per invocation.
        while (wg > 1 && wg * 8 > _ctx.Info.MaxComputeSharedMemorySize) wg /= 2;
        int lanes = 1;
        while (lanes * 2 <= wg && (long)lanes * 2 * 16 <= cols) lanes *= 2;
        // wg must be a multiple of lanes: both are powers of two when maxInv is; otherwise round down.
        wg = Math.Max(lanes, wg / lanes * lanes);
        return (wg, lanes);
    }
}
