using System.Runtime.InteropServices;
using SamRealtime.Vulkan;

namespace SamRealtime.Kernels;

/// <summary>
/// 2D convolution, NCHW in and out, weight [Cout, Cin/groups, kh, kw] (PyTorch layout), optional bias [Cout],
/// fused activation and residual: out = act(conv + bias) + residual (shaders/conv2d.comp).
/// Output size per axis is (in + 2·padding − kernel)/stride + 1.
/// </summary>
internal sealed class Conv2d
{
    private readonly GpuContext _ctx;
    private static readonly KernelLayout Layout = new(5, Marshal.SizeOf<Push>(), [4]);

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public int Cin, H, W, Cout, OH, OW;
        public int Pad;
        public int CinPerGroup, CoutPerGroup;
        public int TilesPerRow;
        public int HasBias, Act, HasResidual;
    }

    private static readonly KernelLayout Im2colLayout = new(2, Marshal.SizeOf<Im2colPush>(), [1]);
    private readonly Gemm _gemm;
    private readonly Dictionary<DataType, GpuTensor> _cols = new();

    [StructLayout(LayoutKind.Sequential)]
    private struct Im2colPush
    {
        public uint Total;
        public int Cin, H, W, KH, KW, Stride, Pad, OH, OW;
    }

    /// <summary>Route ungrouped convs through GEMM (1x1: directly; K not a multiple of 4: reading the input unfolded;
    /// larger: im2col first, for the texel GEMM). False forces the direct
    /// kernel, which tests use to check both paths.</summary>
    public bool AllowGemm { get; init; } = true;

    /// <summary>Which path the last <see cref="Record"/> took: "direct", "gemm", "unfolded-gemm" or "im2col+gemm".</summary>
    public string LastPath { get; private set; } = "";

    public Conv2d(GpuContext ctx)
    {
        _ctx = ctx;
        _gemm = new Gemm(ctx);
    }

    public static int OutputSize(int size, int kernel, int stride, int padding) => (size + 2 * padding - kernel) / stride + 1;

    /// <summary>The unfolded-input scratch, grown on demand and reused: the command stream orders reuse with barriers.</summary>
    private GpuTensor Columns(DataType type, long length)
    {
        if (_cols.TryGetValue(type, out var t) && t.Length >= length) return t;
        // The smaller one may still be referenced by recorded, unsubmitted work: it lives on until the context ends.
        t = _ctx.CreateTensor([(int)length], type, "conv2d-im2col");
        _cols[type] = t;
        return t;
    }

    public void Record(CommandStream cs, GpuTensor input, GpuTensor weight, GpuTensor? bias, GpuTensor output,
                       int batch, int inChannels, int height, int width, int outChannels, int kernelH, int kernelW,
                       int stride, int padding, int groups, Activation act = Activation.None, GpuTensor? residual = null,
                       bool channelsLastOutput = false)
    {
        const string name = "conv2d";
        if (batch <= 0 || inChannels <= 0 || height <= 0 || width <= 0 || outChannels <= 0 || kernelH <= 0 || kernelW <= 0
            || stride <= 0 || padding < 0 || groups <= 0)
            throw new ShapeException($"{name}: batch {batch}, channels {inChannels}->{outChannels}, {height}x{width}, kernel " +
                                     $"{kernelH}x{kernelW}, stride {stride}, padding {padding}, groups {groups}: all must be positive (padding >= 0).");
        if (inChannels % groups != 0 || outChannels % groups != 0)
            throw new ShapeException($"{name}: groups {groups} must divide both channel counts ({inChannels} in, {outChannels} out).");
        if (height + 2 * padding < kernelH || width + 2 * padding < kernelW)
            throw new ShapeException($"{name}: kernel {kernelH}x{kernelW} is larger than the padded input {height + 2 * padding}x{width + 2 * padding}.");
        int oh = OutputSize(height, kernelH, stride, padding), ow = OutputSize(width, kernelW, stride, padding);
        int cinG = inChannels / groups, coutG = outChannels / groups;
        var type = output.Type;

        CheckLength(name, "input", input, (long)batch * inChannels * height * width, $"[{batch}x{inChannels}x{height}x{width}]");
        CheckLength(name, "output", output, (long)batch * outChannels * oh * ow, $"[{batch}x{outChannels}x{oh}x{ow}]");
        CheckLength(name, "weight", weight, (long)outChannels * cinG * kernelH * kernelW, $"[{outChannels}x{cinG}x{kernelH}x{kernelW}]");
        if (weight.Rank == 4 && !weight.Shape.SequenceEqual(new[] { outChannels, cinG, kernelH, kernelW }))
            throw new ShapeException($"{name}: weight is {weight.ShapeText}, expected [{outChannels}x{cinG}x{kernelH}x{kernelW}] (Cout, Cin/groups, kh, kw).");
        if (bias is not null) CheckLength(name, "bias", bias, outChannels, $"[{outChannels}]");
        if (residual is not null) CheckLength(name, "residual", residual, output.Length, output.ShapeText);
        foreach (var (t, what) in new[] { (input, "input"), (weight, "weight"), (bias, "bias"), (residual, "residual") })
            if (t is not null && t.Type != type)
                throw new ShapeException($"{name}: {what} is {t.Type} but the output is {type}; one storage type per call.");
        if (residual == output || input == output)
            throw new ShapeException($"{name}: the output cannot alias the input or the residual.");

        // Ungrouped convs are a GEMM: out[Cout, OH·OW] = W[Cout, Cin·kh·kw] · unfold(x). On llvmpipe the texel GEMM is
        // several times faster than the direct kernel (the neck's 3x3 went from ~4.7 to ~30 GFLOP/s), and 1x1 stride-1
        // convs need no unfolding at all. Depthwise/grouped convs stay on the direct kernel, which suits them.
        // channelsLastOutput writes [batch, OH·OW, Cout] through the GEMM's output strides (the encoder's stem feeding
        // token rows); only the GEMM route has them.
        if (channelsLastOutput && (groups != 1 || !AllowGemm || residual is not null))
            throw new ShapeException($"{name}: a channels-last output needs an ungrouped conv without residual on the GEMM route.");
        if (AllowGemm && groups == 1 && (_ctx.Info.UniformTexelRgba32F || channelsLastOutput))
        {
            int k = inChannels * kernelH * kernelW, n = oh * ow;
            var b = input;
            var outView = channelsLastOutput ? new StridedView(output, 0, n * outChannels, 1, outChannels) : StridedView.RowMajor(output, outChannels, n);
            // K not a multiple of 4 (the stem's 3-channel 3x3) rules out the texel GEMM, and the storage GEMM can
            // read the input as its unfolding directly: no column buffer, one dispatch, the same sums in the same order.
            if (kernelH == kernelW && k % 4 != 0 && !(kernelH == 1 && stride == 1 && padding == 0))
            {
                _gemm.Record(cs, outChannels, n, k, StridedView.RowMajor(weight, outChannels, k, 0, 0),
                             new StridedView(input, 0, inChannels * height * width, 0, 1), outView, batch,
                             bias, bias is null ? BiasMode.None : BiasMode.PerRow, act,
                             residual is null ? null : StridedView.RowMajor(residual, outChannels, n),
                             unfoldB: new UnfoldedInput(inChannels, height, width, kernelH, stride, padding));
                LastPath = "unfolded-gemm";
                return;
            }
            if (!(kernelH == 1 && kernelW == 1 && stride == 1 && padding == 0))
            {
                long total = (long)batch * k * n;
                if (total > int.MaxValue)
                {
                    if (channelsLastOutput) throw new ShapeException($"{name}: the unfolded input ({total} values) is too large for a channels-last output.");
                    goto direct;
                }
                b = Columns(type, total);
                var wg = LinearGrid.WorkgroupSize(_ctx);
                var im2col = _ctx.Kernel(type == DataType.F16 ? "im2col_f16" : "im2col", Im2colLayout, wg);
                var ip = new Im2colPush
                {
                    Total = (uint)total, Cin = inChannels, H = height, W = width, KH = kernelH, KW = kernelW,
                    Stride = stride, Pad = padding, OH = oh, OW = ow,
                };
                cs.Dispatch(im2col, LinearGrid.Groups(_ctx, "im2col", total, wg), ip, input.Buffer, b.Buffer);
                LastPath = "im2col+gemm";
            }
            else LastPath = "gemm";
            _gemm.Record(cs, outChannels, n, k, StridedView.RowMajor(weight, outChannels, k, 0, 0),
                         StridedView.RowMajor(b, k, n), outView, batch,
                         bias, bias is null ? BiasMode.None : BiasMode.PerRow, act,
                         residual is null ? null : StridedView.RowMajor(residual, outChannels, n));
            return;
        }
        direct:
        LastPath = "direct";
        var (wx, tc, tp, tr) = ChooseTiles(coutG, cinG, ow, oh);
        int tilesPerRow = (ow + tp - 1) / tp;
        long invocations = (long)tilesPerRow * ((oh + tr - 1) / tr);
        var kernel = _ctx.Kernel(type == DataType.F16 ? "conv2d_f16" : "conv2d", Layout, wx, tc, tp, kernelH, kernelW, stride, tr);
        var push = new Push
        {
            Cin = inChannels, H = height, W = width, Cout = outChannels, OH = oh, OW = ow,
            Pad = padding, CinPerGroup = cinG, CoutPerGroup = coutG, TilesPerRow = tilesPerRow,
            HasBias = bias is null ? 0 : 1, Act = (int)act, HasResidual = residual is null ? 0 : 1,
        };
        var dummy = _ctx.Unused(type);
        cs.Dispatch(kernel, ((uint)((invocations + wx - 1) / wx), (uint)(outChannels / tc), (uint)batch), push,
                    input.Buffer, weight.Buffer, (bias ?? dummy).Buffer, (residual ?? dummy).Buffer, output.Buffer);
    }

    internal static void CheckLength(string kernel, string what, GpuTensor t, long expected, string expectedShape)
    {
        if (t.Length != expected)
            throw new ShapeException($"{kernel}: {what} '{t.Name}' is {t.ShapeText} ({t.Length} values) but the call needs {expectedShape} ({expected}).");
    }

    /// <summary>Output channels (TC), pixels per row (TP) and rows (TR) per invocation, and the workgroup width.
    /// TC divides the channels per group so a tile never straddles two groups. TR > 1 (each input row serving
    /// several output rows) was measured 2x slower for depthwise 3x3 on lavapipe (more live registers), so it stays
    /// 1 here; the shader keeps it for devices where registers are plentiful.</summary>
    internal (int Wx, int Tc, int Tp, int Tr) ChooseTiles(int coutPerGroup, int cinPerGroup, int outWidth, int outHeight)
    {
        int tc = coutPerGroup % 8 == 0 ? 8 : coutPerGroup % 4 == 0 ? 4 : coutPerGroup % 2 == 0 ? 2 : 1;
        int tp = tc == 1 && cinPerGroup == 1 ? 16 : 8;
        while (tp > 1 && tp / 2 >= outWidth) tp /= 2;
        const int tr = 1;
        int wx = (int)Math.Min(64u, Math.Min(_ctx.Info.MaxComputeWorkGroupInvocations, _ctx.Info.MaxComputeWorkGroupSize[0]));
        return (wx, tc, tp, tr);
    }
}
