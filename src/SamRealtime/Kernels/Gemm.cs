using System.Runtime.InteropServices;
using SamRealtime.Vulkan;
using Silk.NET.Vulkan;

namespace SamRealtime.Kernels;

internal enum BiasMode { None = 0, PerColumn = 1, PerRow = 2 }

/// <summary>A LayerNorm over each row of A (or, in <see cref="Gemm.RecordConv"/>, over each tap's input row) run as the
/// GEMM's prologue: B is the weight with gamma folded in and <paramref name="Table"/> the fp32 rest, both from
/// <see cref="Gemm.FoldLayerNorm"/>.</summary>
internal sealed record NormPrologue(GpuTensor Table, float Eps);

/// <summary>B of a GEMM given as an NCHW input [Channels, H, W] per batch entry (contiguous, at the B view's offset and
/// batch stride) and read as its im2col unfolding for a Kernel x Kernel conv: K = Channels·Kernel², N = OH·OW.</summary>
internal readonly record struct UnfoldedInput(int Channels, int H, int W, int Kernel, int Stride, int Pad);

/// <summary>
/// C[b] = act(alpha · A[b]·B[b] + bias) + residual[b] for a batch of strided matrices (shaders/gemm.comp), or
/// act(alpha · A·B + bias + residual) with activateAfterResidual; optionally scattering rows out of TinyViT windows.
/// A is M×K, B is K×N, C and the residual are M×N; a batch stride of 0 broadcasts an operand.
/// Two shaders, chosen per call: gemm_texel (A and B as vec4 texels; needs A contiguous along K, B contiguous along
/// K or N, K and all A/B offsets and strides multiples of 4, and the buffers within the device's texel-buffer
/// limits) and gemm (any strides). Both accumulate in the same order, so they give identical results.
/// Optionally A's rows are LayerNorm'd on the way in (<see cref="NormPrologue"/>) and gathered out of TinyViT windows
/// (gatherRows): TinyViT's partition + LayerNorm + qkv, and LayerNorm + fc1, each in one dispatch. B may be an NCHW
/// conv input read as its im2col unfolding (unfoldB, storage shader): a conv whose K rules out the texel shader
/// then needs no column buffer.
/// </summary>
internal sealed class Gemm
{
    private readonly GpuContext _ctx;
    private static readonly KernelLayout Layout = new(6, Marshal.SizeOf<Push>(), [4]);
    private static readonly KernelLayout TexelLayout32 = new(6, Marshal.SizeOf<Push>(), [4])
        { TexelBindings = [(0, Format.R32G32B32A32Sfloat), (1, Format.R32G32B32A32Sfloat), (2, Format.R32Sfloat), (3, Format.R32Sfloat), (5, Format.R32Sfloat)] };
    private static readonly KernelLayout TexelLayout16 = new(6, Marshal.SizeOf<Push>(), [4])
        { TexelBindings = [(0, Format.R16G16B16A16Sfloat), (1, Format.R16G16B16A16Sfloat), (2, Format.R16Sfloat), (3, Format.R16Sfloat), (5, Format.R32Sfloat)] };

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
        public int WinH, WinW, Ws;
        public int ConvH, ConvW, ConvC, ConvPad;   // gemm_texel's conv: Cin/4 texels; gemm's unfolded B: Cin
        public int D2sW, D2sC;
        public int BiasBatch;
        // The 32nd word: 128 bytes, Vulkan's guaranteed push-constant size, so no device is left out.
        public float LnEps;
    }

    public Gemm(GpuContext ctx)
    {
        _ctx = ctx;
    }

    public void Record(CommandStream cs, int m, int n, int k, StridedView a, StridedView b, StridedView c,
                       int batch = 1, GpuTensor? bias = null, BiasMode biasMode = BiasMode.None,
                       Activation act = Activation.None, StridedView? residual = null, float alpha = 1f,
                       bool activateAfterResidual = false, WindowGrid? scatterRows = null, DepthToSpace? depthToSpace = null,
                       int biasBatchStride = 0, NormPrologue? norm = null, WindowGrid? gatherRows = null,
                       UnfoldedInput? unfoldB = null)
    {
        const string name = "gemm";
        if (m <= 0 || n <= 0 || k <= 0 || batch <= 0)
            throw new ShapeException($"{name}: M={m}, N={n}, K={k}, batch={batch} must all be positive.");
        var type = c.Tensor.Type;
        // With gatherRows, row m of A is token window_row(m) of the grid's H·W map (zeros for a padding row): TinyViT's
        // window partition. It shares the window fields with scatterRows, so the two do not combine.
        int aRows = m;
        if (gatherRows is WindowGrid gg)
        {
            if (scatterRows is not null) throw new ShapeException($"{name}: a row gather and a row scatter cannot be combined.");
            if (batch != 1) throw new ShapeException($"{name}: a row gather needs batch 1, got {batch}.");
            if (gg.H <= 0 || gg.W <= 0 || gg.Ws <= 0 || gg.Rows != m)
                throw new ShapeException($"{name}: M={m} but the {gg.H}x{gg.W} map in windows of {gg.Ws} has {gg.Rows} partitioned rows.");
            aRows = gg.H * gg.W;
        }
        if (norm is not null)
        {
            if (batch != 1) throw new ShapeException($"{name}: a LayerNorm prologue needs batch 1, got {batch}.");
            CheckNorm(name, norm, 1, n);
        }
        a.Check(name, "A", batch, aRows, k);
        if (unfoldB is UnfoldedInput u)
        {
            if (u.Channels <= 0 || u.H <= 0 || u.W <= 0 || u.Kernel <= 0 || u.Stride <= 0 || u.Pad < 0
                || u.H + 2 * u.Pad < u.Kernel || u.W + 2 * u.Pad < u.Kernel)
                throw new ShapeException($"{name}: unfolded B {u}: sizes must be positive and the kernel fit the padded input.");
            int ohU = Conv2d.OutputSize(u.H, u.Kernel, u.Stride, u.Pad), owU = Conv2d.OutputSize(u.W, u.Kernel, u.Stride, u.Pad);
            if (k != u.Channels * u.Kernel * u.Kernel || n != ohU * owU)
                throw new ShapeException($"{name}: unfolding {u} needs K={u.Channels * u.Kernel * u.Kernel} and N={ohU * owU}, got K={k}, N={n}.");
            if (b.ColStride != 1) throw new ShapeException($"{name}: an unfolded B must be contiguous (column stride 1).");
            b.Check(name, "B (conv input)", batch, 1, u.Channels * u.H * u.W);
        }
        else b.Check(name, "B", batch, k, n);
        // With scatterRows, A's rows are a window-partitioned map and row m of the result lands on image token
        // window_row(m) of C (and of the residual); padding rows are dropped. That is TinyViT's unpartition + residual.
        int cRows = m, cCols = n;
        if (scatterRows is WindowGrid grid)
        {
            if (grid.Rows != m)
                throw new ShapeException($"{name}: M={m} but the {grid.H}x{grid.W} map in windows of {grid.Ws} has {grid.Rows} partitioned rows.");
            cRows = grid.H * grid.W;
        }
        // With depthToSpace, row m is input pixel (y, x) and column n = (2·dy + dx)·C + co of a 2x2 stride-2
        // transposed conv; the result lands on pixel (2y+dy, 2x+dx), channel co of C (a [2H·2W, C] map).
        if (depthToSpace is DepthToSpace d2s)
        {
            if (scatterRows is not null) throw new ShapeException($"{name}: a window scatter and a depth-to-space scatter cannot be combined.");
            if (d2s.H <= 0 || d2s.W <= 0 || d2s.C <= 0 || m != d2s.H * d2s.W || n != 4 * d2s.C)
                throw new ShapeException($"{name}: depth-to-space of a {d2s.H}x{d2s.W} map to {d2s.C} channels needs M={d2s.H * d2s.W} and N={4 * d2s.C}, got M={m}, N={n}.");
            cRows = 4 * m;
            cCols = d2s.C;
        }
        c.Check(name, "C", batch, cRows, cCols);
        if (c.BatchStride == 0 && batch > 1)
            throw new ShapeException($"{name}: C cannot be broadcast over the batch (batch stride 0 with batch {batch}).");
        foreach (var (t, what) in new[] { (a.Tensor, "A"), (b.Tensor, "B") })
            if (t.Type != type) throw new ShapeException($"{name}: {what} is {t.Type} but C is {type}; one storage type per call.");
        if ((biasMode == BiasMode.None) != (bias is null))
            throw new ShapeException($"{name}: a bias tensor needs a bias mode and a bias mode needs a tensor.");
        if (biasBatchStride < 0 || (biasBatchStride > 0 && bias is null))
            throw new ShapeException($"{name}: a bias batch stride ({biasBatchStride}) needs a bias and must not be negative.");
        if (bias is not null)
        {
            long need = (long)(batch - 1) * biasBatchStride + (biasMode == BiasMode.PerColumn ? cCols : m);
            if (bias.Length < need) throw new ShapeException($"{name}: bias {bias.ShapeText} is shorter than {need} ({biasMode}).");
            if (bias.Type != type) throw new ShapeException($"{name}: bias is {bias.Type} but C is {type}.");
        }
        if (activateAfterResidual && residual is null)
            throw new ShapeException($"{name}: activateAfterResidual needs a residual.");
        if (residual is StridedView r)
        {
            if (r.Tensor.Type != type) throw new ShapeException($"{name}: residual is {r.Tensor.Type} but C is {type}.");
            if (r.RowStride != c.RowStride || r.ColStride != c.ColStride)
                throw new ShapeException($"{name}: the residual must have C's row and column strides.");
            r.Check(name, "residual", batch, cRows, cCols);
        }

        int bMode = TexelMode(m, n, k, a, b, batch, bias, residual?.Tensor);
        // The LayerNorm prologue reads B as columns of the folded weight; B along N (mode 1) has no such path.
        if (norm is not null && (bMode == 1 || !OneWide(norm.Table))) bMode = -1;
        // An unfolded B is gathered per element: only the storage shader reads it.
        if (unfoldB is not null) bMode = -1;
        int lnorm = norm is null ? 0 : 1, gather = gatherRows is null ? 0 : 1;
        int convK = unfoldB?.Kernel ?? 0, convS = unfoldB?.Stride ?? 1;
        ComputeKernel kernel;
        int wx, wy, tm, tn;
        if (bMode >= 0)
        {
            (wx, wy, tm, tn) = ChooseTexelTiles(m, n, bMode);
            kernel = type == DataType.F16
                ? _ctx.Kernel("gemm_texel_f16", TexelLayout16, wx, wy, tm, tn, bMode, 1, 1, lnorm, gather)
                : _ctx.Kernel("gemm_texel", TexelLayout32, wx, wy, tm, tn, bMode, 1, 1, lnorm, gather);
        }
        else
        {
            (wx, wy, tm, tn) = ChooseTiles(m, n);
            kernel = _ctx.Kernel(type == DataType.F16 ? "gemm_f16" : "gemm", Layout, wx, wy, tm, tn, lnorm, gather, convK, convS);
        }
        LastPath = bMode < 0 ? "storage" : bMode == 0 ? "texel-bk" : "texel-bn";
        var push = new Push
        {
            M = m, N = n, K = k,
            AOff = a.Offset, ABatch = a.BatchStride, AM = a.RowStride, AK = a.ColStride,
            BOff = b.Offset, BBatch = b.BatchStride, BK = b.RowStride, BN = b.ColStride,
            COff = c.Offset, CBatch = c.BatchStride, CM = c.RowStride, CN = c.ColStride,
            ROff = residual?.Offset ?? 0, RBatch = residual?.BatchStride ?? 0,
            BiasMode = (int)biasMode, Act = (int)act, HasResidual = residual is null ? 0 : activateAfterResidual ? 2 : 1,
            Alpha = alpha,
            WinH = (scatterRows ?? gatherRows)?.H ?? 0, WinW = (scatterRows ?? gatherRows)?.W ?? 0,
            Ws = (scatterRows ?? gatherRows)?.Ws ?? 0,
            D2sW = depthToSpace?.W ?? 0, D2sC = depthToSpace?.C ?? 0,
            BiasBatch = biasBatchStride,
            LnEps = norm?.Eps ?? 0f,
            ConvH = unfoldB?.H ?? 0, ConvW = unfoldB?.W ?? 0, ConvC = unfoldB?.Channels ?? 0, ConvPad = unfoldB?.Pad ?? 0,
        };
        // Absent inputs are bound to A's buffer (never read): the one-element placeholder holds no texel.
        var dummy = a.Tensor;
        uint gx = (uint)((n + wx * tn - 1) / (wx * tn));
        uint gy = (uint)((m + wy * tm - 1) / (wy * tm));
        cs.Dispatch(kernel, (gx, gy, (uint)batch), push,
                    a.Tensor.Buffer, b.Tensor.Buffer, (bias ?? dummy).Buffer, (residual?.Tensor ?? dummy).Buffer, c.Tensor.Buffer,
                    (norm?.Table ?? _ctx.Unused(DataType.F32)).Buffer);
    }

    private static void CheckNorm(string name, NormPrologue norm, int taps, int n)
    {
        if (norm.Table.Type != DataType.F32)
            throw new ShapeException($"{name}: the LayerNorm table is {norm.Table.Type}; it is fp32 whatever the storage type.");
        if (norm.Table.Length < 2L * taps * n)
            throw new ShapeException($"{name}: the LayerNorm table {norm.Table.ShapeText} is shorter than {2L * taps * n} (2 x {taps} taps x N={n}).");
        if (!(norm.Eps > 0) || float.IsInfinity(norm.Eps))
            throw new ShapeException($"{name}: LayerNorm eps {norm.Eps} must be finite and positive.");
    }

    /// <summary>
    /// Folds a LayerNorm over the input rows into the weight that follows it. <paramref name="weight"/> is [N, taps·C]
    /// with each tap's C inputs contiguous (a linear layer's [out, in] with taps = 1, or <see cref="ConvWeightChannelsLast"/>
    /// with taps = k²); gamma and beta are [C]. Returns the weight to upload as B, W'[n, t, c] = γ[c]·W[n, t, c],
    /// and the fp32 <see cref="NormPrologue.Table"/>: [taps·N] column sums of W' as stored (rounded to
    /// <paramref name="storage"/>, so the mean's share cancels exactly against what the GEMM multiplies), then
    /// [taps·N] Σ_c β[c]·W[n, t, c]. Sums in double.
    /// </summary>
    public static (float[] Weight, float[] Table) FoldLayerNorm(ReadOnlySpan<float> weight, int outFeatures, int taps,
                                                                ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, DataType storage)
    {
        int c = gamma.Length;
        if (outFeatures <= 0 || taps <= 0 || c <= 0 || beta.Length != c || weight.Length != (long)outFeatures * taps * c)
            throw new ShapeException($"LayerNorm fold: weight has {weight.Length} values, gamma {gamma.Length}, beta {beta.Length}; " +
                                     $"[{outFeatures}x{taps}x{c}] needs gamma and beta of {c}.");
        var w = new float[weight.Length];
        var table = new float[2 * taps * outFeatures];
        for (int n = 0; n < outFeatures; n++)
            for (int t = 0; t < taps; t++)
            {
                double colsum = 0, betaW = 0;
                int row = (n * taps + t) * c;
                for (int i = 0; i < c; i++)
                {
                    float v = gamma[i] * weight[row + i];
                    if (storage == DataType.F16) v = (float)(Half)v;
                    w[row + i] = v;
                    colsum += v;
                    betaW += (double)beta[i] * weight[row + i];
                }
                table[t * outFeatures + n] = (float)colsum;
                table[(taps + t) * outFeatures + n] = (float)betaW;
            }
        return (w, table);
    }

    /// <summary>PyTorch's conv weight [Cout, Cin, k, k] reordered to [Cout, k, k, Cin], the K order of <see cref="RecordConv"/>.</summary>
    public static float[] ConvWeightChannelsLast(ReadOnlySpan<float> weight, int outChannels, int inChannels, int kernel)
    {
        int taps = kernel * kernel;
        if (weight.Length != outChannels * inChannels * taps)
            throw new ShapeException($"conv weight has {weight.Length} values; [{outChannels}x{inChannels}x{kernel}x{kernel}] needs {outChannels * inChannels * taps}.");
        var o = new float[weight.Length];
        for (int co = 0; co < outChannels; co++)
            for (int ci = 0; ci < inChannels; ci++)
                for (int t = 0; t < taps; t++)
                    o[(co * taps + t) * inChannels + ci] = weight[(co * inChannels + ci) * taps + t];
        return o;
    }

    /// <summary>True when <see cref="RecordConv"/> can run this input and weight on this device (texel views within
    /// the device's limits, Cin a multiple of 4).</summary>
    public bool CanRecordConv(GpuTensor input, GpuTensor weight, int inChannels)
    {
        var type = input.Type;
        var info = _ctx.Info;
        if (!AllowTexel || inChannels % 4 != 0 || !(type == DataType.F32 ? info.UniformTexelRgba32F : info.UniformTexelRgba16F)) return false;
        return input.HasTexelView(true) && weight.HasTexelView(true) && OneWide(input);
    }

    /// <summary>
    /// A dense convolution as an implicit GEMM on gemm_texel, with no unfolded copy of the input: input a
    /// channels-last map [H·W, Cin], weight [Cout, k·k·Cin] in (ky, kx, c) order (<see cref="ConvWeightChannelsLast"/>),
    /// output channels-last [OH·OW, Cout] = act(conv + bias). Needs <see cref="CanRecordConv"/>. With a
    /// <paramref name="norm"/>, each input pixel's channels are LayerNorm'd before the conv sees them (the neck's
    /// LayerNorm2d, then zero padding), and the weight is the folded one.
    /// </summary>
    public void RecordConv(CommandStream cs, GpuTensor input, GpuTensor weight, GpuTensor? bias, GpuTensor output,
                           int height, int width, int inChannels, int outChannels, int kernel, int stride, int padding,
                           Activation act = Activation.None, NormPrologue? norm = null)
    {
        const string name = "gemm conv";
        if (height <= 0 || width <= 0 || inChannels <= 0 || outChannels <= 0 || kernel <= 0 || stride <= 0 || padding < 0
            || height + 2 * padding < kernel || width + 2 * padding < kernel)
            throw new ShapeException($"{name}: {height}x{width}x{inChannels} -> {outChannels}, kernel {kernel}, stride {stride}, " +
                                     $"padding {padding}: sizes must be positive and the kernel fit the padded input.");
        if (!CanRecordConv(input, weight, inChannels) || (bias is not null && !OneWide(bias)) || (norm is not null && !OneWide(norm.Table)))
            throw new ShapeException($"{name}: needs Cin ({inChannels}) a multiple of 4 and the input and weight as texel buffers on this device.");
        int oh = Conv2d.OutputSize(height, kernel, stride, padding), ow = Conv2d.OutputSize(width, kernel, stride, padding);
        int m = oh * ow, k = kernel * kernel * inChannels, n = outChannels;
        var type = output.Type;
        Conv2d.CheckLength(name, "input", input, (long)height * width * inChannels, $"[{height * width}x{inChannels}]");
        Conv2d.CheckLength(name, "weight", weight, (long)n * k, $"[{n}x{k}]");
        Conv2d.CheckLength(name, "output", output, (long)m * n, $"[{m}x{n}]");
        if (bias is not null) Conv2d.CheckLength(name, "bias", bias, n, $"[{n}]");
        foreach (var (t, what) in new[] { (input, "input"), (weight, "weight"), (bias, "bias") })
            if (t is not null && t.Type != type)
                throw new ShapeException($"{name}: {what} is {t.Type} but the output is {type}; one storage type per call.");
        LinearGrid.CheckNotAliased(name, output, ("input", input));
        if (norm is not null) CheckNorm(name, norm, kernel * kernel, n);

        var (wx, wy, tm, tn) = ChooseTexelTiles(m, n, 0);
        int lnorm = norm is null ? 0 : 1;
        var kernelObj = type == DataType.F16
            ? _ctx.Kernel("gemm_texel_f16", TexelLayout16, wx, wy, tm, tn, 2, kernel, stride, lnorm, 0)
            : _ctx.Kernel("gemm_texel", TexelLayout32, wx, wy, tm, tn, 2, kernel, stride, lnorm, 0);
        LastPath = "texel-conv";
        var push = new Push
        {
            M = m, N = n, K = k,
            AOff = 0, AM = k, AK = 1,
            BOff = 0, BK = 1, BN = k,
            COff = 0, CM = n, CN = 1,
            BiasMode = bias is null ? 0 : (int)BiasMode.PerColumn, Act = (int)act, Alpha = 1f,
            ConvH = height, ConvW = width, ConvC = inChannels / 4, ConvPad = padding,
            LnEps = norm?.Eps ?? 0f,
        };
        // Absent inputs read from the input's buffer (never, in fact): the one-element placeholder holds no texel.
        var dummy = input;
        uint gx = (uint)((n + wx * tn - 1) / (wx * tn));
        uint gy = (uint)((m + wy * tm - 1) / (wy * tm));
        cs.Dispatch(kernelObj, (gx, gy, 1u), push, input.Buffer, weight.Buffer, (bias ?? dummy).Buffer, dummy.Buffer, output.Buffer,
                    (norm?.Table ?? _ctx.Unused(DataType.F32)).Buffer);
    }

    /// <summary>False forces the storage-buffer shader (for comparisons in tests and benchmarks).</summary>
    public bool AllowTexel { get; init; } = true;

    /// <summary>Which shader the last <see cref="Record"/> used ("storage", "texel-bk" or "texel-bn"); for tests and benchmarks.</summary>
    public string LastPath { get; private set; } = "";

    /// <summary>Whether the texel shader can read <paramref name="t"/> as one-wide texels (its bias and residual).</summary>
    private static bool OneWide(GpuTensor t) => t.HasTexelView(false);

    /// <summary>The gemm_texel B mode (0: B contiguous along K, 1: along N) when this call can read A and B as vec4
    /// texels, else -1 (the storage-buffer shader handles it).</summary>
    private int TexelMode(int m, int n, int k, StridedView a, StridedView b, int batch, GpuTensor? bias, GpuTensor? residual)
    {
        var info = _ctx.Info;
        var type = a.Tensor.Type;
        if (!AllowTexel || !(type == DataType.F32 ? info.UniformTexelRgba32F : info.UniformTexelRgba16F)) return -1;
        static bool Q(int v) => (v & 3) == 0;
        if (!Q(k) || a.ColStride != 1 || !Q(a.Offset) || (m > 1 && !Q(a.RowStride)) || (batch > 1 && !Q(a.BatchStride))) return -1;
        if (!Q(b.Offset) || (batch > 1 && !Q(b.BatchStride))) return -1;
        int mode;
        if (b.RowStride == 1 && (n == 1 || Q(b.ColStride))) mode = 0;
        else if (b.ColStride == 1 && Q(n) && Q(b.RowStride)) mode = 1;
        else return -1;
        // A view covers the whole buffer; none when it would exceed maxTexelBufferElements. A's buffer also stands in
        // for an absent bias or residual.
        if (!a.Tensor.HasTexelView(true) || !b.Tensor.HasTexelView(true)) return -1;
        if (!OneWide(a.Tensor) || (bias is not null && !OneWide(bias)) || (residual is not null && !OneWide(residual))) return -1;
        return mode;
    }

    /// <summary>Tiles for gemm_texel. On lavapipe 8x8 beat 4x4, 4x8, 8x4, 16x8 and 8x16 (1.2-2.5x over 4x4; a
    /// 16-thread load made finer tuning noise). B mode 1 needs TN a multiple of 4 (one texel of B per 4 columns).</summary>
    internal (int Wx, int Wy, int Tm, int Tn) ChooseTexelTiles(int m, int n, int bMode)
    {
        // Up to 8 rows, one invocation covers all of M (decoder tokens, the 4 mask rows) so no lane idles on rows.
        int tm = m >= 64 ? 8 : m <= 8 ? m : 4;
        int tn = n >= 64 ? 8 : n >= 16 || bMode == 1 ? 4 : 1;
        return Workgroup(m, tm, tn);
    }

    /// <summary>Register tile per invocation and workgroup shape. Small matrices (decoder tokens) get small tiles so
    /// little work is wasted; the workgroup stays within the device's invocation limit.</summary>
    internal (int Wx, int Wy, int Tm, int Tn) ChooseTiles(int m, int n)
    {
        int tm = m >= 64 ? 8 : m >= 16 ? 4 : 1;
        int tn = n >= 64 ? 8 : n >= 16 ? 4 : 1;
        return Workgroup(m, tm, tn);
    }

    /// <summary>8x8 invocations within the device's limits; a single row of tiles becomes one wide row of lanes.</summary>
    private (int Wx, int Wy, int Tm, int Tn) Workgroup(int m, int tm, int tn)
    {
        int wx = 8, wy = 8;
        int maxInv = (int)_ctx.Info.MaxComputeWorkGroupInvocations;
        while (wx * wy > maxInv) { if (wx >= wy) wx /= 2; else wy /= 2; }
        if (m <= tm) { wx *= wy; wy = 1; }
        wx = Math.Min(wx, (int)_ctx.Info.MaxComputeWorkGroupSize[0]);
        return (wx, wy, tm, tn);
    }
}
