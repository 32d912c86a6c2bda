using System.Runtime.InteropServices;
using SamRealtime.Vulkan;

namespace SamRealtime.Kernels;

/// <summary>
/// LayerNorm over the last dim of a [rows, channels] token matrix (shaders/layernorm.comp), two-pass mean/variance,
/// optionally followed by an activation (the decoder's channels-last LayerNorm2d + GELU).
/// The output may not alias the input: the kernel re-reads the row after writing would have begun.
/// </summary>
internal sealed class LayerNorm
{
    private static readonly KernelLayout Layout = new(4, Marshal.SizeOf<Push>(), [3]);
    private static readonly KernelLayout TexelLayout32 = Layout.ReadAsTexels(DataType.F32, (0, true), (1, true), (2, true));
    private static readonly KernelLayout TexelLayout16 = Layout.ReadAsTexels(DataType.F16, (0, true), (1, true), (2, true));

    /// <summary>False forces the storage-buffer shader (tests compare both).</summary>
    public bool AllowTexel { get; init; } = true;

    /// <summary>Which shader the last call used ("texel" or "storage"); for tests.</summary>
    public string LastPath { get; private set; } = "";
    private readonly GpuContext _ctx;
    private readonly int _wg;

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public uint Rows, C;
        public float Eps;
        public int H, W, Ws;
        public int Act;
        public int Transposed;
    }

    public LayerNorm(GpuContext ctx)
    {
        _ctx = ctx;
        _wg = LinearGrid.WorkgroupSize(ctx);
    }

    /// <summary>LayerNorm of each row of [rows, channels]; with <paramref name="transposedOutput"/> the result is
    /// written [channels, rows], so a channels-last map's last norm also makes the NCHW tensor (no separate permute).</summary>
    public void Record(CommandStream cs, GpuTensor input, GpuTensor output, GpuTensor gamma, GpuTensor beta,
                       int rows, int channels, float eps, Activation act = Activation.None, bool transposedOutput = false) =>
        Run(cs, input, output, gamma, beta, rows, channels, eps, null, act, transposedOutput);

    /// <summary>LayerNorm of an [H, W, C] token map cut into windows: output [<see cref="WindowGrid.Rows"/>, C] in
    /// partition order, padding rows being LayerNorm(0) = beta. Partition and norm in one pass.</summary>
    public void RecordPartitioned(CommandStream cs, GpuTensor input, GpuTensor output, GpuTensor gamma, GpuTensor beta,
                                  WindowGrid grid, int channels, float eps)
    {
        LinearGrid.CheckLength("layernorm", "input", input, (long)grid.H * grid.W * channels, output.Type);
        Run(cs, input, output, gamma, beta, grid.Rows, channels, eps, grid, Activation.None, false);
    }

    private void Run(CommandStream cs, GpuTensor input, GpuTensor output, GpuTensor gamma, GpuTensor beta,
                     int rows, int channels, float eps, WindowGrid? grid, Activation act, bool transposed)
    {
        const string name = "layernorm";
        if (grid is { } g && (g.H <= 0 || g.W <= 0 || g.Ws <= 0))
            throw new ShapeException($"{name}: window grid {g.H}x{g.W} in windows of {g.Ws} must be positive.");
        if (rows <= 0 || channels <= 0 || (long)rows * channels > int.MaxValue)
            throw new ShapeException($"{name}: rows={rows}, channels={channels} must be positive with rows·channels ≤ {int.MaxValue}.");
        if (!(eps >= 0) || float.IsInfinity(eps))
            throw new ShapeException($"{name}: eps {eps} must be finite and non-negative.");
        var type = output.Type;
        long n = (long)rows * channels;
        if (grid is null) LinearGrid.CheckLength(name, "input", input, n, type);
        LinearGrid.CheckLength(name, "output", output, n, type);
        LinearGrid.CheckLength(name, "gamma", gamma, channels, type);
        LinearGrid.CheckLength(name, "beta", beta, channels, type);
        LinearGrid.CheckNotAliased(name, output, ("input", input), ("gamma", gamma), ("beta", beta));

        bool f16 = type == DataType.F16;
        bool texel = AllowTexel && channels % 4 == 0 && new[] { input, gamma, beta }.All(t => t.HasTexelView(true));
        LastPath = texel ? "texel" : "storage";
        var kernel = _ctx.Kernel((texel ? "layernorm_texel" : "layernorm") + (f16 ? "_f16" : ""), texel ? f16 ? TexelLayout16 : TexelLayout32 : Layout, _wg);
        var push = new Push { Rows = (uint)rows, C = (uint)channels, Eps = eps, H = grid?.H ?? 0, W = grid?.W ?? 0, Ws = grid?.Ws ?? 0, Act = (int)act,
                           Transposed = transposed ? 1 : 0 };
        cs.Dispatch(kernel, LinearGrid.Groups(_ctx, name, rows, _wg), push,
                    input.Buffer, gamma.Buffer, beta.Buffer, output.Buffer);
    }
}
