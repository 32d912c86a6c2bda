using System.Runtime.InteropServices;
using SamRealtime.Vulkan;

namespace SamRealtime.Kernels;

public enum BiasMode { None = 0, PerColumn = 1, PerRow = 2 }

/// <summary>
/// C[b] = act(alpha · A[b]·B[b] + bias) + residual[b] for a batch of strided matrices (shaders/gemm.comp).
/// A is M×K, B is K×N, C and the residual are M×N; a batch stride of 0 broadcasts an operand.
/// </summary>
public sealed class Gemm
{
    private readonly GpuContext _ctx;
    private static readonly KernelLayout Layout = new(5, Marshal.SizeOf<Push>(), [4]);
    private readonly GpuTensor _dummy32, _dummy16;

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public int M, N, K;
        public int AOff, ABatch, AM, AK;
        public int BOff, BBatch, BK, BN;
        public int COff, CBatch, CM, CN;
        public int ROff, RBatch;
        public int BiasMode, Act, HasResidual;
        public float Alpha;
    }

    public Gemm(GpuContext ctx)
    {
        _ctx = ctx;
        _dummy32 = ctx.CreateTensor([1], DataType.F32, "gemm-unused");
        _dummy16 = ctx.CreateTensor([2], DataType.F16, "gemm-unused-f16");
    }

    public void Record(CommandStream cs, int m, int n, int k, StridedView a, StridedView b, StridedView c,
                       int batch = 1, GpuTensor? bias = null, BiasMode biasMode = BiasMode.None,
                       Activation act = Activation.None, StridedView? residual = null, float alpha = 1f)
    {
        const string name = "gemm";
        if (m <= 0 || n <= 0 || k <= 0 || batch <= 0)
            throw new ShapeException($"{name}: M={m}, N={n}, K={k}, batch={batch} must all be positive.");
        var type = c.Tensor.Type;
        a.Check(name, "A", batch, m, k);
        b.Check(name, "B", batch, k, n);
        c.Check(name, "C", batch, m, n);
        if (c.BatchStride == 0 && batch > 1)
            throw new ShapeException($"{name}: C cannot be broadcast over the batch (batch stride 0 with batch {batch}).");
        foreach (var (t, what) in new[] { (a.Tensor, "A"), (b.Tensor, "B") })
            if (t.Type != type) throw new ShapeException($"{name}: {what} is {t.Type} but C is {type}; one storage type per call.");
        if ((biasMode == BiasMode.None) != (bias is null))
            throw new ShapeException($"{name}: a bias tensor needs a bias mode and a bias mode needs a tensor.");
        if (bias is not null)
        {
            long need = biasMode == BiasMode.PerColumn ? n : m;
            if (bias.Length < need) throw new ShapeException($"{name}: bias {bias.ShapeText} is shorter than {need} ({biasMode}).");
            if (bias.Type != type) throw new ShapeException($"{name}: bias is {bias.Type} but C is {type}.");
        }
        if (residual is StridedView r)
        {
            if (r.Tensor.Type != type) throw new ShapeException($"{name}: residual is {r.Tensor.Type} but C is {type}.");
            if (r.RowStride != c.RowStride || r.ColStride != c.ColStride)
                throw new ShapeException($"{name}: the residual must have C's row and column strides.");
            r.Check(name, "residual", batch, m, n);
        }

        var (wx, wy, tm, tn) = ChooseTiles(m, n);
        var kernel = _ctx.Kernel(type == DataType.F16 ? "gemm_f16" : "gemm", Layout, wx, wy, tm, tn);
        var push = new Push
        {
            M = m, N = n, K = k,
            AOff = a.Offset, ABatch = a.BatchStride, AM = a.RowStride, AK = a.ColStride,
            BOff = b.Offset, BBatch = b.BatchStride, BK = b.RowStride, BN = b.ColStride,
            COff = c.Offset, CBatch = c.BatchStride, CM = c.RowStride, CN = c.ColStride,
            ROff = residual?.Offset ?? 0, RBatch = residual?.BatchStride ?? 0,
            BiasMode = (int)biasMode, Act = (int)act, HasResidual = residual is null ? 0 : 1,
            Alpha = alpha,
        };
        var dummy = type == DataType.F16 ? _dummy16 : _dummy32;
        uint gx = (uint)((n + wx * tn - 1) / (wx * tn));
        uint gy = (uint)((m + wy * tm - 1) / (wy * tm));
        cs.Dispatch(kernel, (gx, gy, (uint)batch), push,
                    a.Tensor.Buffer, b.Tensor.Buffer, (bias ?? dummy).Buffer, (residual?.Tensor ?? dummy).Buffer, c.Tensor.Buffer);
    }

    /// <summary>Register tile per invocation and workgroup shape. Small matrices (decoder tokens) get small tiles so
    /// little work is wasted; the workgroup stays within the device's invocation limit.</summary>
    internal (int Wx, int Wy, int Tm, int Tn) ChooseTiles(int m, int n)
    {
        int tm = m >= 64 ? 8 : m >= 16 ? 4 : 1;
        int tn = n >= 64 ? 8 : n >= 16 ? 4 : 1;
        int wx = 8, wy = 8;
        int maxInv = (int)_ctx.Info.MaxComputeWorkGroupInvocations;
        while (wx * wy > maxInv) { if (wx >= wy) wx /= 2; else wy /= 2; }
        if (m <= tm) { wx *= wy; wy = 1; }
        wx = Math.Min(wx, (int)_ctx.Info.MaxComputeWorkGroupSize[0]);
        return (wx, wy, tm, tn);
    }
}
