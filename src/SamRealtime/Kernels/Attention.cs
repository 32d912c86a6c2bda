using System.Runtime.InteropServices;
using SamRealtime.Vulkan;

namespace SamRealtime.Kernels;

/// <summary>
/// A batch x tokens x heads x headDim view into a tensor: element (b, token t, head h, d) is at
/// Offset + b*BatchStride + t*TokenStride + h*HeadStride + d (in elements). TinyViT's interleaved qkv tensor
/// [windows, tokens, heads*3*dim] is three views with offsets 0, dim, 2*dim and head stride 3*dim.
/// </summary>
internal readonly record struct HeadView(GpuTensor Tensor, int Offset, int BatchStride, int TokenStride, int HeadStride)
{
    /// <summary>A dense [batch, tokens, heads*headDim] tensor (heads side by side in the channel dimension).</summary>
    public static HeadView Dense(GpuTensor t, int tokens, int heads, int headDim, int offset = 0) =>
        new(t, offset, tokens * heads * headDim, heads * headDim, headDim);

    internal void Check(string kernel, string what, int batch, int tokens, int heads, int headDim)
    {
        if (Offset < 0 || BatchStride < 0 || TokenStride < 0 || HeadStride < 0)
            throw new ShapeException($"{kernel}: {what} has a negative offset or stride ({Describe()}).");
        long last = Offset + (long)(batch - 1) * BatchStride + (long)(tokens - 1) * TokenStride
                    + (long)(heads - 1) * HeadStride + (headDim - 1);
        if (last >= Tensor.Length)
            throw new ShapeException($"{kernel}: {what} as {batch}x{tokens}x{heads}x{headDim} ({Describe()}) reaches element {last}, " +
                                     $"but tensor '{Tensor.Name}' {Tensor.ShapeText} has {Tensor.Length}.");
        if (last > int.MaxValue)
            throw new ShapeException($"{kernel}: {what} reaches element {last}; shader indices are 32-bit.");
    }

    /// <summary>True when no two (b, t, h, d) of the view share an element: strides sorted ascending each clear the
    /// extent of the smaller ones (sufficient, and true of every layout the model writes).</summary>
    internal bool IsInjective(int batch, int tokens, int heads, int headDim)
    {
        var dims = new List<(long Stride, long Size)> { (1, headDim), (HeadStride, heads), (TokenStride, tokens), (BatchStride, batch) };
        dims.RemoveAll(x => x.Size == 1);
        dims.Sort((x, y) => x.Stride.CompareTo(y.Stride));
        long extent = 0;
        foreach (var (stride, size) in dims)
        {
            if (stride <= extent) return false;
            extent += (size - 1) * stride;
        }
        return true;
    }

    public string Describe() => $"offset {Offset}, strides batch {BatchStride}, token {TokenStride}, head {HeadStride}";
}

/// <summary>
/// Fused multi-head attention out = softmax(scale · Q·Kᵀ + bias) · V with an online softmax (shaders/attention.comp);
/// the score matrix is never stored. Q, K, V and the output are <see cref="HeadView"/>s, so interleaved and separate
/// q/k/v layouts both work without copies.
/// </summary>
internal sealed class Attention
{
    /// <summary>Largest head dimension: q and the accumulator of every row live in registers.</summary>
    public const int MaxHeadDim = 128;

    private readonly GpuContext _ctx;
    private static readonly KernelLayout Layout = new(5, Marshal.SizeOf<Push>(), [4]);
    // Q, K, V four-wide, the bias one-wide.
    private static readonly KernelLayout TexelLayout32 = Layout.ReadAsTexels(DataType.F32, (0, true), (1, true), (2, true), (3, false));
    private static readonly KernelLayout TexelLayout16 = Layout.ReadAsTexels(DataType.F16, (0, true), (1, true), (2, true), (3, false));

    /// <summary>False forces the storage-buffer shader (tests compare both).</summary>
    public bool AllowTexel { get; init; } = true;

    /// <summary>Which shader the last <see cref="Record"/> used ("texel" or "storage"); for tests.</summary>
    public string LastPath { get; private set; } = "";

    [StructLayout(LayoutKind.Sequential)]
    private struct Push
    {
        public int Nq, Nk;
        public int QOff, QBatch, QTok, QHead;
        public int KOff, KBatch, KTok, KHead;
        public int VOff, VBatch, VTok, VHead;
        public int OOff, OBatch, OTok, OHead;
        public int BiasBatch, HasBias;
        public float Scale;
    }

    public Attention(GpuContext ctx)
    {
        _ctx = ctx;
    }

    /// <summary>
    /// q: batch x nq x heads x headDim; k, v: batch x nk x heads x headDim; output like q. bias: optional additive
    /// [heads, nq, nk] row-major, broadcast over the batch, or per batch entry <paramref name="biasBatchStride"/>
    /// elements apart. <paramref name="scale"/> multiplies Q·Kᵀ before the bias is added.
    /// </summary>
    public void Record(CommandStream cs, HeadView q, HeadView k, HeadView v, HeadView output,
                       int batch, int heads, int nq, int nk, int headDim, float scale,
                       GpuTensor? bias = null, int biasBatchStride = 0)
    {
        const string name = "attention";
        if (batch <= 0 || heads <= 0 || nq <= 0 || nk <= 0 || headDim <= 0)
            throw new ShapeException($"{name}: batch={batch}, heads={heads}, nq={nq}, nk={nk}, headDim={headDim} must all be positive.");
        if (headDim > MaxHeadDim)
            throw new ShapeException($"{name}: headDim {headDim} exceeds the supported {MaxHeadDim}.");
        var type = output.Tensor.Type;
        q.Check(name, "Q", batch, nq, heads, headDim);
        k.Check(name, "K", batch, nk, heads, headDim);
        v.Check(name, "V", batch, nk, heads, headDim);
        output.Check(name, "output", batch, nq, heads, headDim);
        if (!output.IsInjective(batch, nq, heads, headDim))
            throw new ShapeException($"{name}: output view ({output.Describe()}) maps two elements of {batch}x{nq}x{heads}x{headDim} " +
                                     "to the same place.");
        foreach (var (t, what) in new[] { (q.Tensor, "Q"), (k.Tensor, "K"), (v.Tensor, "V") })
        {
            if (t.Type != type) throw new ShapeException($"{name}: {what} is {t.Type} but the output is {type}; one storage type per call.");
            if (t == output.Tensor) throw new ShapeException($"{name}: {what} and the output are the same tensor '{t.Name}'; attention cannot run in place.");
        }
        if (biasBatchStride < 0)
            throw new ShapeException($"{name}: bias batch stride {biasBatchStride} is negative.");
        if (bias is not null)
        {
            long need = (long)(batch - 1) * biasBatchStride + (long)heads * nq * nk;
            if (bias.Length < need)
                throw new ShapeException($"{name}: bias {bias.ShapeText} is shorter than {need} elements " +
                                         $"([{heads}, {nq}, {nk}] per batch entry, batch stride {biasBatchStride}, batch {batch}).");
            if (need > int.MaxValue) throw new ShapeException($"{name}: bias reaches element {need}; shader indices are 32-bit.");
            if (bias.Type != type) throw new ShapeException($"{name}: bias is {bias.Type} but the output is {type}.");
            if (bias == output.Tensor) throw new ShapeException($"{name}: bias and output are the same tensor.");
        }
        else if (biasBatchStride != 0)
            throw new ShapeException($"{name}: a bias batch stride was given without a bias.");

        var (wg, rows, bk, ksplit) = ChooseTiles(nq, nk, headDim);
        var dummy = _ctx.Unused(type);
        bool texel = CanReadTexels(q, k, v, bias ?? dummy, headDim);
        LastPath = texel ? "texel" : "storage";
        string shader = (texel ? "attention_texel" : "attention") + (type == DataType.F16 ? "_f16" : "");
        var kernel = _ctx.Kernel(shader, texel ? type == DataType.F16 ? TexelLayout16 : TexelLayout32 : Layout, wg, headDim, rows, bk, ksplit);
        var push = new Push
        {
            Nq = nq, Nk = nk,
            QOff = q.Offset, QBatch = q.BatchStride, QTok = q.TokenStride, QHead = q.HeadStride,
            KOff = k.Offset, KBatch = k.BatchStride, KTok = k.TokenStride, KHead = k.HeadStride,
            VOff = v.Offset, VBatch = v.BatchStride, VTok = v.TokenStride, VHead = v.HeadStride,
            OOff = output.Offset, OBatch = output.BatchStride, OTok = output.TokenStride, OHead = output.HeadStride,
            BiasBatch = biasBatchStride, HasBias = bias is null ? 0 : 1,
            Scale = scale,
        };
        int rowsPerGroup = ksplit > 1 ? rows : wg * rows;
        uint gx = (uint)((nq + rowsPerGroup - 1) / rowsPerGroup);
        // q, k and v may be one tensor (interleaved qkv): binding one buffer several times for reading is fine.
        cs.Dispatch(kernel, (gx, (uint)heads, (uint)batch), push,
                    q.Tensor.Buffer, k.Tensor.Buffer, v.Tensor.Buffer, (bias ?? dummy).Buffer, output.Tensor.Buffer);
    }

    /// <summary>Whether Q, K and V can be read as four-wide texels (head dim, offsets and strides multiples of 4) and
    /// the bias as one-wide ones, on this device and within its texel-buffer limits.</summary>
    private bool CanReadTexels(HeadView q, HeadView k, HeadView v, GpuTensor bias, int headDim)
    {
        static bool Q(int x) => (x & 3) == 0;
        return AllowTexel && headDim % 4 == 0
               && new[] { q, k, v }.All(h => Q(h.Offset) && Q(h.BatchStride) && Q(h.TokenStride) && Q(h.HeadStride) && h.Tensor.HasTexelView(true))
               && bias.HasTexelView(false);
    }

    /// <summary>Workgroup size, query rows per invocation, keys per softmax block and key split (1 or the workgroup
    /// size). Tuned on lavapipe, where a K/V load costs several FMAs even when every lane reads the same address:
    /// lanes = one subgroup, and as many rows per invocation as registers allow, sharing each load.</summary>
    internal (int Wg, int Rows, int Bk, int KSplit) ChooseTiles(int nq, int nk, int headDim)
    {
        int maxWg = (int)Math.Min(_ctx.Info.MaxComputeWorkGroupInvocations, _ctx.Info.MaxComputeWorkGroupSize[0]);
        int wg = Math.Clamp((int)_ctx.Info.SubgroupSize, 1, Math.Min(64, maxWg));
        // q and the accumulator of every row stay in registers: about 256 floats of each per invocation.
        int maxRows = Math.Clamp(256 / headDim, 1, 8);
        // Keys per online-softmax block: 1-2 measured fastest on lavapipe for every SAM/TinyViT shape (larger blocks
        // save rescales but keep R*BK scores live and the key loop body stops unrolling); an odd nk wastes one key.
        int bk = Math.Min(2, nk);

        // Few rows, many keys (token->image): lanes take turns over key blocks, each holding all rows.
        if (nq <= maxRows && nk >= 16 * wg && wg > 1)
        {
            long shared = (long)wg * nq * (headDim + 2) * sizeof(float);
            if (shared <= _ctx.Info.MaxComputeSharedMemorySize) return (wg, nq, bk, wg);
        }
        // Rows per invocation: the fewest row groups at maxRows, then the rows spread evenly (196 -> 4 groups of 7x8).
        int groups = (nq + wg * maxRows - 1) / (wg * maxRows);
        int rows = (nq + wg * groups - 1) / (wg * groups);
        return (wg, rows, bk, 1);
    }
}
