using System.Runtime.InteropServices;
using SamRealtime.Vulkan;

namespace SamRealtime.Kernels;

/// <summary>
/// Depthwise 2D convolution on channels-last maps (shaders/dwconv_nhwc.comp): input [H, W, C], output [OH, OW, C],
/// weight [kh·kw, C] (taps-major, see <see cref="TapsMajor"/>: one vec4 load gives a tap for 4 channels), optional bias [C]; out = act(conv + bias) + residual. C must be a
/// multiple of 4 (one vec4 per invocation). This is TinyViT's local conv and MBConv/patch-merging depthwise conv read
/// straight from token rows, so the encoder needs no NCHW copy around them.
/// </summary>
internal sealed class DepthwiseConv
{
    private static readonly KernelLayout Layout = new(5, Marshal.SizeOf<Push>(), [4]);
    private static readonly KernelLayout TexelLayout32 = Layout.ReadAsTexels(DataType.F32, (0, true), (1, true), (2, true), (3, true));
    private static readonly KernelLayout TexelLayout16 = Layout.ReadAsTexels(DataType.F16, (0, true), (1, true), (2, true), (3, true));

    /// <summary>False forces the storage-buffer shader (tests compare both).</summary>
    public bool AllowTexel { get; init; } = true;

    /// <summary>Which shader the last <see cref="Record"/> used ("texel" or "storage"); for tests.</summary>
    public string LastPath { get; private set; } = "";
    private readonly GpuContext _ctx;
    private readonly int _wg;

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public int H, W, C4, OH, OW;
        public int Pad;
        public int TilesPerRow;
        public int HasBias, Act, HasResidual;
    }

    public DepthwiseConv(GpuContext ctx)
    {
        _ctx = ctx;
        _wg = LinearGrid.WorkgroupSize(ctx);
    }

    /// <summary>PyTorch's depthwise weight [C, 1, k, k] reordered to the kernel's [k·k, C].</summary>
    public static float[] TapsMajor(ReadOnlySpan<float> weight, int channels, int kernel)
    {
        int taps = kernel * kernel;
        if (weight.Length != channels * taps)
            throw new ShapeException($"dwconv: weight has {weight.Length} values; [{channels}x1x{kernel}x{kernel}] needs {channels * taps}.");
        var o = new float[weight.Length];
        for (int c = 0; c < channels; c++)
            for (int t = 0; t < taps; t++) o[t * channels + c] = weight[c * taps + t];
        return o;
    }

    public void Record(CommandStream cs, GpuTensor input, GpuTensor weight, GpuTensor? bias, GpuTensor output,
                       int height, int width, int channels, int kernel, int stride, int padding,
                       Activation act = Activation.None, GpuTensor? residual = null)
    {
        const string name = "dwconv";
        if (height <= 0 || width <= 0 || channels <= 0 || kernel <= 0 || stride <= 0 || padding < 0)
            throw new ShapeException($"{name}: {height}x{width}x{channels}, kernel {kernel}, stride {stride}, padding {padding}: " +
                                     "all must be positive (padding >= 0).");
        if (channels % 4 != 0)
            throw new ShapeException($"{name}: {channels} channels; the channels-last kernel needs a multiple of 4.");
        if (height + 2 * padding < kernel || width + 2 * padding < kernel)
            throw new ShapeException($"{name}: kernel {kernel}x{kernel} is larger than the padded input {height + 2 * padding}x{width + 2 * padding}.");
        int oh = Conv2d.OutputSize(height, kernel, stride, padding), ow = Conv2d.OutputSize(width, kernel, stride, padding);
        var type = output.Type;
        Conv2d.CheckLength(name, "input", input, (long)height * width * channels, $"[{height}x{width}x{channels}]");
        Conv2d.CheckLength(name, "output", output, (long)oh * ow * channels, $"[{oh}x{ow}x{channels}]");
        Conv2d.CheckLength(name, "weight", weight, (long)channels * kernel * kernel, $"[{kernel * kernel}x{channels}]");
        if (bias is not null) Conv2d.CheckLength(name, "bias", bias, channels, $"[{channels}]");
        if (residual is not null) Conv2d.CheckLength(name, "residual", residual, output.Length, output.ShapeText);
        foreach (var (t, what) in new[] { (input, "input"), (weight, "weight"), (bias, "bias"), (residual, "residual") })
            if (t is not null && t.Type != type)
                throw new ShapeException($"{name}: {what} is {t.Type} but the output is {type}; one storage type per call.");
        LinearGrid.CheckNotAliased(name, output, ("input", input), ("residual", residual));

        // 8 pixels per invocation share each loaded strip (3x3 stride 1: 10 loads for 24 taps); fewer on narrow maps.
        int tp = 8;
        while (tp > 1 && tp / 2 >= ow) tp /= 2;
        int tilesPerRow = (ow + tp - 1) / tp;
        // Absent inputs are bound to the input buffer (never read): the one-element placeholder holds no texel.
        var absent = input;
        bool f16 = type == DataType.F16;
        bool texel = AllowTexel && new[] { input, weight, bias ?? absent, residual ?? absent }.All(t => t.HasTexelView(true));
        LastPath = texel ? "texel" : "storage";
        var k = _ctx.Kernel((texel ? "dwconv_nhwc_texel" : "dwconv_nhwc") + (f16 ? "_f16" : ""), texel ? f16 ? TexelLayout16 : TexelLayout32 : Layout,
                            _wg, tp, kernel, kernel, stride);
        var push = new Push
        {
            H = height, W = width, C4 = channels / 4, OH = oh, OW = ow, Pad = padding, TilesPerRow = tilesPerRow,
            HasBias = bias is null ? 0 : 1, Act = (int)act, HasResidual = residual is null ? 0 : 1,
        };
        long invocations = (long)oh * tilesPerRow * (channels / 4);
        cs.Dispatch(k, LinearGrid.Groups(_ctx, name, invocations, _wg), push,
                    input.Buffer, weight.Buffer, (bias ?? absent).Buffer, (residual ?? absent).Buffer, output.Buffer);
    }
}
