using SamRealtime.Kernels;
using SamRealtime.Vulkan;
using SamRealtime.Weights;

namespace SamRealtime.Model;

/// <summary>
/// SAM's dense prompt path and mask decoder on our kernels, for a batch of prompts that share a token count.
/// Follows MINISAM.md: tokens = [iou, mask×4, sparse…]; two two-way blocks; final token→image attention;
/// 2x ConvTranspose upscaling; hypernetwork MLPs; IoU head.
/// Without mask prompts the image side starts identical for every prompt, so it is kept once (batch stride 0)
/// until the first image→token update makes it prompt-specific.
/// </summary>
internal sealed class MaskDecoder : IDisposable
{
    private const int D = SamDecoderWeights.EmbedDim, Side = 64, Pix = Side * Side, LowRes = 256;
    private readonly KernelSet _k;
    private readonly GpuWeights _w;
    private readonly PromptEncoder _prompts;
    private readonly SamDecoderWeights _weights;
    private readonly GpuTensor _imagePe, _noMask;
    // The image positional encoding projected by each layer that reads image tokens + PE (see AttendImage).
    private readonly GpuTensor[] _peKeys, _peQueries;
    private readonly GpuTensor _peFinalKeys;
    private readonly Dictionary<object, GpuTensor> _linearW = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<object, GpuTensor> _linearB = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, (GpuTensor W, GpuTensor B)> _stacked = [];

    public DataType Type => _w.Type;

    public MaskDecoder(KernelSet kernels, SamDecoderWeights weights, DataType type = DataType.F32)
    {
        _k = kernels;
        _weights = weights;
        _w = new GpuWeights(kernels.Context, type);
        _prompts = new PromptEncoder(weights.PromptEncoder);
        try
        {
            _imagePe = _w.Upload(_prompts.ImagePositionalTokens(Side), [Pix, D], "image_pe");
            _noMask = _w.Upload(weights.PromptEncoder.NoMaskEmbedding);
            var md = weights.MaskDecoder;
            using var cs = kernels.Context.BeginCommands();
            _peKeys = md.Layers.Select((l, i) => ProjectPe(cs, l.CrossTokenToImage.K, 2 * l.CrossTokenToImage.InternalDim, $"dec.l{i}.t2i.pe")).ToArray();
            _peQueries = md.Layers.Select((l, i) => ProjectPe(cs, l.CrossImageToToken.Q, l.CrossImageToToken.InternalDim, $"dec.l{i}.i2t.pe")).ToArray();
            _peFinalKeys = ProjectPe(cs, md.FinalAttention.K, 2 * md.FinalAttention.InternalDim, "dec.final.pe");
            cs.Submit();
        }
        catch
        {
            _w.Dispose();
            throw;
        }
    }

    /// <summary>PE·Wᵀ (no bias) for the image positional encoding PE [4096, 256], in the first columns of a zeroed
    /// [4096, width]: a constant the image-side projections add as their GEMM residual instead of adding PE to the
    /// image tokens on every run.</summary>
    private GpuTensor ProjectPe(CommandStream cs, LinearWeights l, int width, string name)
    {
        var t = _w.Upload(new float[Pix * width], [Pix, width], name);
        _k.Gemm.Record(cs, Pix, l.OutFeatures, D, StridedView.RowMajor(_imagePe, Pix, D),
                       StridedView.RowMajor(W(l), l.OutFeatures, D).Transposed(), new StridedView(t, 0, 0, width, 1));
        return t;
    }

    private GpuTensor W(LinearWeights l)
    {
        if (!_linearW.TryGetValue(l, out var t)) _linearW[l] = t = _w.Upload(l.Weight);
        return t;
    }

    private GpuTensor Bias(LinearWeights l)
    {
        if (!_linearB.TryGetValue(l, out var t)) _linearB[l] = t = _w.Upload(l.Bias);
        return t;
    }

    private GpuTensor ConvTWeight(ConvTranspose2dWeights c)
    {
        if (!_linearW.TryGetValue(c, out var t))
            _linearW[c] = t = _w.Upload(ConvTranspose2d.WeightAsGemm(c.Weight.Data, c.InChannels, c.OutChannels),
                                        [4 * c.OutChannels, c.InChannels], c.Weight.Name);
        return t;
    }

    private GpuTensor Param(WeightTensor wt)
    {
        if (!_linearW.TryGetValue(wt, out var t)) _linearW[wt] = t = _w.Upload(wt);
        return t;
    }

    /// <summary>GPU outputs of one decoder run, owned by the decoder's scratch space until the next run.</summary>
    public sealed record Outputs(GpuTensor MaskLogits, GpuTensor Iou, int Batch);

    /// <summary>Builds the token matrix on the CPU (a few hundred floats per prompt) for prompts already in the 1024 frame.</summary>
    internal float[] Tokens(IReadOnlyList<PromptPoint[]> sparse)
    {
        int t = 5 + sparse[0].Length;
        var tokens = new float[sparse.Count * t * D];
        var md = _weights.MaskDecoder;
        for (int b = 0; b < sparse.Count; b++)
        {
            var dst = tokens.AsSpan(b * t * D);
            md.IouToken.Data.CopyTo(dst);
            md.MaskTokens.Data.CopyTo(dst[D..]);
            _prompts.Sparse(sparse[b]).CopyTo(dst[(5 * D)..]);
        }
        return tokens;
    }

    /// <summary>
    /// Records the decoder for <paramref name="batch"/> prompts with <paramref name="tokenCount"/> tokens each
    /// (tokens [batch, T, 256] uploaded by the caller), on <paramref name="embedding"/> [1,256,64,64].
    /// <paramref name="masks"/>: [batch, 1, 256, 256] previous logits, or null for the no-mask embedding.
    /// </summary>
    /// <paramref name="imageSide"/>: <see cref="RecordImageSide"/> of this embedding, recorded earlier; used when there
    /// are no mask prompts, so the first layer's image-only projections are not run again for every prompt.
    public Outputs Record(CommandStream cs, GpuTensor embedding, GpuTensor tokens, int batch, int tokenCount, GpuTensor? masks,
                          DecoderImageSide? imageSide = null)
    {
        int T = tokenCount;
        if (!embedding.Shape.SequenceEqual([1, D, Side, Side]))
            throw new ShapeException($"mask decoder: embedding must be [1x256x64x64], got {embedding.ShapeText}.");
        if (tokens.Length != (long)batch * T * D)
            throw new ShapeException($"mask decoder: tokens {tokens.ShapeText} is not {batch}x{T}x{D}.");
        if (masks is not null && masks.Length != (long)batch * LowRes * LowRes)
            throw new ShapeException($"mask decoder: mask prompts {masks.ShapeText} is not {batch}x1x256x256.");
        var md = _weights.MaskDecoder;

        // Image side K [kb, 4096, 256], kb = 1 (shared) or batch.
        GpuTensor K;
        int kb;
        // A mask prompt makes the image side prompt-specific from the start.
        var side = masks is null ? imageSide : null;
        if (masks is null)
        {
            K = side?.Keys ?? NoMaskKeys(cs, embedding, _w.Scratch("dec.k0", Pix, D));
            kb = 1;
        }
        else
        {
            var dense = Downscale(cs, masks, batch);
            var sum = _w.Scratch("dec.densesum", batch, D, Pix);
            _k.Elementwise.AddBroadcast(cs, dense, embedding, sum, (long)batch * D * Pix, (long)D * Pix);
            K = _w.Scratch("dec.k0b", batch, Pix, D);
            _k.Permute.Transpose(cs, sum, K, batch, D, Pix);
            kb = batch;
        }

        var Q = tokens;
        for (int layer = 0; layer < md.Layers.Count; layer++)
        {
            var L = md.Layers[layer];
            string tag = $"dec.l{layer}";
            // 1. token self-attention
            var sa = _w.Scratch(tag + ".sa", batch, T, D);
            if (L.SkipFirstLayerPe)
                AttendSelf(cs, L.SelfAttention, Q, Q, batch, T, sa, null, tag + ".self");
            else
            {
                var qpe = AddQpe(cs, Q, tokens, batch * T, tag + ".qpe1");
                AttendSelf(cs, L.SelfAttention, qpe, Q, batch, T, sa, Q, tag + ".self");
            }
            var q1 = Norm(cs, L.Norm1, sa, batch * T, tag + ".q1");
            // 2. token → image
            var qpe2 = AddQpe(cs, q1, tokens, batch * T, tag + ".qpe2");
            var t2i = _w.Scratch(tag + ".t2i", batch, T, D);
            var first = layer == 0 ? side : null;
            AttendImage(cs, L.CrossTokenToImage, qpe2, K, kb, _peKeys[layer], batch, T, t2i, q1, tag + ".t2i", first?.KeysValues);
            var q2 = Norm(cs, L.Norm2, t2i, batch * T, tag + ".q2");
            // 3. MLP
            var hidden = _w.Scratch(tag + ".mlp", batch * T, L.MlpLin1.OutFeatures);
            Linear(cs, q2, L.MlpLin1, hidden, batch * T, Activation.Relu);
            var mlp = _w.Scratch(tag + ".mlpout", batch, T, D);
            Linear(cs, hidden, L.MlpLin2, mlp, batch * T, Activation.None, q2);
            var q3 = Norm(cs, L.Norm3, mlp, batch * T, tag + ".q3");
            // 4. image → token (queries are the image tokens, keys/values the prompt tokens)
            var qpe3 = AddQpe(cs, q3, tokens, batch * T, tag + ".qpe3");
            var i2t = _w.Scratch(tag + ".i2t", batch, Pix, D);
            AttendImageQueries(cs, L.CrossImageToToken, K, kb, _peQueries[layer], qpe3, q3, batch, T, i2t, tag + ".i2t", first?.Queries);
            K = Norm(cs, L.Norm4, i2t, batch * Pix, tag + ".k");
            kb = batch;
            Q = q3;
        }

        // Final token → image attention.
        var qf = AddQpe(cs, Q, tokens, batch * T, "dec.final.qpe");
        var fin = _w.Scratch("dec.final", batch, T, D);
        AttendImage(cs, md.FinalAttention, qf, K, kb, _peFinalKeys, batch, T, fin, Q, "dec.final");
        var qOut = Norm(cs, md.NormFinal, fin, batch * T, "dec.qout");

        // Upscale the image side, channels-last as the token rows already are: [batch, 256², 32].
        var up = md.Upscaling;
        int c1 = up.ConvT1.OutChannels, c2 = up.ConvT2.OutChannels;
        var u1 = _w.Scratch("dec.up1", batch, 4 * Pix, c1);
        _k.ConvTranspose2d.Record(cs, K, ConvTWeight(up.ConvT1), Param(up.ConvT1.Bias), u1, batch, D, Side, Side, c1);
        var u1n = _w.Scratch("dec.up1n", batch, 4 * Pix, c1);
        _k.LayerNorm.Record(cs, u1, u1n, Param(up.Norm.Weight), Param(up.Norm.Bias), batch * 4 * Pix, c1, up.Norm.Epsilon, Activation.Gelu);
        var u2 = _w.Scratch("dec.up2", batch, LowRes * LowRes, c2);
        _k.ConvTranspose2d.Record(cs, u1n, ConvTWeight(up.ConvT2), Param(up.ConvT2.Bias), u2, batch, c1, 2 * Side, 2 * Side, c2, Activation.Gelu);

        var hyper = _w.Scratch("dec.hyper", batch, 4, c2);
        var iou = _w.Scratch("dec.iou", batch, 4);
        Heads(cs, qOut, batch, T, hyper, iou);
        var logits = _w.Scratch("dec.masks", batch, 4, LowRes, LowRes);
        // masks = hyper · u2ᵀ: u2's pixel rows read as B's columns (contiguous along K).
        _k.Gemm.Record(cs, 4, LowRes * LowRes, c2, StridedView.RowMajor(hyper, 4, c2), new StridedView(u2, 0, LowRes * LowRes * c2, 1, c2),
                       StridedView.RowMajor(logits, 4, LowRes * LowRes), batch);
        return new Outputs(logits, iou, batch);
    }

    /// <summary>Scratch bytes <see cref="Record"/> allocates per prompt of a batch without mask prompts, with
    /// <paramref name="tokenCount"/> tokens per prompt: what one more prompt in a batch costs in device memory. Mirrors
    /// the scratch shapes of <see cref="Record"/> (a test holds it to the allocations).</summary>
    public long BytesPerPrompt(int tokenCount)
    {
        long T = tokenCount, n = 0;
        var md = _weights.MaskDecoder;
        for (int layer = 0; layer < md.Layers.Count; layer++)
        {
            var L = md.Layers[layer];
            int self = L.SelfAttention.InternalDim, t2i = L.CrossTokenToImage.InternalDim, i2t = L.CrossImageToToken.InternalDim;
            // Token side: sa, q1, qpe2, t2i, q2, mlpout, q3, qpe3 (+ qpe1), the self-attention's q/k/v/o, the
            // cross attentions' token projections, the MLP's hidden layer.
            n += T * D * (L.SkipFirstLayerPe ? 8 : 9) + 4 * T * self + 2 * T * t2i + 2 * T * i2t + T * L.MlpLin1.OutFeatures;
            // Image side: i2t, its attention output and the new keys; from the second layer on the image tokens are
            // per prompt, so their token→image keys/values and image→token queries are too.
            n += 2L * Pix * D + (long)Pix * i2t;
            if (layer > 0) n += 2L * Pix * t2i + (long)Pix * i2t;
        }
        int fin = md.FinalAttention.InternalDim;
        n += 3 * T * D + 2 * T * fin + 2L * Pix * fin;
        var up = md.Upscaling;
        n += 2L * up.ConvT1.OutChannels * 4 * Pix + (long)up.ConvT2.OutChannels * LowRes * LowRes;
        n += 4L * up.ConvT2.OutChannels + 4L * LowRes * LowRes + 4;
        foreach (var h in md.Hypernetworks) n += h.Layers.Take(h.Layers.Count - 1).Sum(l => (long)l.OutFeatures);
        n += md.IouHead.Layers.Take(md.IouHead.Layers.Count - 1).Sum(l => (long)l.OutFeatures);
        return n * (_w.Type == DataType.F16 ? 2 : 4);
    }

    /// <summary>The largest single scratch tensor's bytes per prompt (the upscaled features), which a batch must keep
    /// within the device's storage-buffer range.</summary>
    public long LargestTensorBytesPerPrompt
    {
        get
        {
            var up = _weights.MaskDecoder.Upscaling;
            long n = Math.Max((long)up.ConvT2.OutChannels * LowRes * LowRes, Math.Max(4L * up.ConvT1.OutChannels * Pix, (long)Pix * D));
            return n * (_w.Type == DataType.F16 ? 2 : 4);
        }
    }

    /// <summary>Bytes of all scratch tensors allocated so far (they are kept per shape between runs).</summary>
    internal long ScratchBytes => _w.ScratchBytes;

    private GpuTensor Downscale(CommandStream cs, GpuTensor masks, int batch)
    {
        var m = _weights.PromptEncoder.MaskDownscaling;
        var c1 = _w.Scratch("dense.c1", batch, m.Conv1.OutChannels, 128, 128);
        _k.Conv2d.Record(cs, masks, Param(m.Conv1.Weight), m.Conv1.Bias is null ? null : Param(m.Conv1.Bias), c1, batch, 1, LowRes, LowRes,
                         m.Conv1.OutChannels, 2, 2, 2, 0, 1);
        var n1 = _w.Scratch("dense.n1", batch, m.Conv1.OutChannels, 128, 128);
        _k.LayerNorm2d.Record(cs, c1, n1, Param(m.Norm1.Weight), Param(m.Norm1.Bias), batch, m.Conv1.OutChannels, 128 * 128, m.Norm1.Epsilon, Activation.Gelu);
        var c2 = _w.Scratch("dense.c2", batch, m.Conv2.OutChannels, Side, Side);
        _k.Conv2d.Record(cs, n1, Param(m.Conv2.Weight), m.Conv2.Bias is null ? null : Param(m.Conv2.Bias), c2, batch, m.Conv1.OutChannels, 128, 128,
                         m.Conv2.OutChannels, 2, 2, 2, 0, 1);
        var n2 = _w.Scratch("dense.n2", batch, m.Conv2.OutChannels, Side, Side);
        _k.LayerNorm2d.Record(cs, c2, n2, Param(m.Norm2.Weight), Param(m.Norm2.Bias), batch, m.Conv2.OutChannels, Pix, m.Norm2.Epsilon, Activation.Gelu);
        var dense = _w.Scratch("dense.out", batch, D, Side, Side);
        _k.Conv2d.Record(cs, n2, Param(m.Conv3.Weight), m.Conv3.Bias is null ? null : Param(m.Conv3.Bias), dense, batch, m.Conv2.OutChannels, Side, Side,
                         D, 1, 1, 1, 0, 1);
        return dense;
    }

    private GpuTensor AddQpe(CommandStream cs, GpuTensor q, GpuTensor qpe, int rows, string name)
    {
        var t = _w.Scratch(name, rows, D);
        _k.Elementwise.Add(cs, q, qpe, t, (long)rows * D);
        return t;
    }

    private GpuTensor Norm(CommandStream cs, LayerNormWeights n, GpuTensor x, int rows, string name)
    {
        var t = _w.Scratch(name, rows, D);
        _k.LayerNorm.Record(cs, x, t, Param(n.Weight), Param(n.Bias), rows, D, n.Epsilon);
        return t;
    }

    /// <summary>output [rows, outFeatures] = input · wᵀ + b for a (stacked) weight w [outFeatures, D].</summary>
    private void Linear(CommandStream cs, GpuTensor input, GpuTensor w, GpuTensor b, int outFeatures, GpuTensor output, int rows)
    {
        _k.Gemm.Record(cs, rows, outFeatures, D, StridedView.RowMajor(input, rows, D), StridedView.RowMajor(w, outFeatures, D).Transposed(),
                       StridedView.RowMajor(output, rows, outFeatures), 1, b, BiasMode.PerColumn);
    }

    private void Linear(CommandStream cs, GpuTensor input, LinearWeights l, GpuTensor output, int rows, Activation act, GpuTensor? residual = null)
    {
        _k.Gemm.Record(cs, rows, l.OutFeatures, l.InFeatures, StridedView.RowMajor(input, rows, l.InFeatures),
                       StridedView.RowMajor(W(l), l.OutFeatures, l.InFeatures).Transposed(), StridedView.RowMajor(output, rows, l.OutFeatures),
                       1, Bias(l), BiasMode.PerColumn, act, residual is null ? null : StridedView.RowMajor(residual, rows, l.OutFeatures));
    }

    /// <summary>The IoU head (on token 0) and the four hypernetwork MLPs (on tokens 1..4) have the same hidden layer
    /// shapes (256→256→256, fixed by the weight mapping in SamDecoderWeights), so each hidden layer is one GEMM batched over the five heads (weights stacked, bias batch stride) and
    /// the last layers are two: 4 dispatches instead of 15. hyper: [batch, 4, c2]; iou: [batch, 4].</summary>
    private void Heads(CommandStream cs, GpuTensor qOut, int batch, int T, GpuTensor hyper, GpuTensor iou)
    {
        var md = _weights.MaskDecoder;
        MlpWeights[] heads = [md.IouHead, .. md.Hypernetworks];
        int depth = md.IouHead.Layers.Count;
        // Batch entry h = head h reads token h of every prompt (rows = prompts).
        var x = new StridedView(qOut, 0, D, T * D, 1);
        for (int i = 0; i < depth - 1; i++)
        {
            var (w, b) = Stacked($"dec.heads{i}", heads.Select(h => h.Layers[i]).ToArray());
            int o = w.Shape[1], k = w.Shape[2];
            var y = _w.Scratch($"dec.heads.h{i}", heads.Length, batch, o);
            _k.Gemm.Record(cs, batch, o, k, x, StridedView.RowMajor(w, o, k).Transposed(), StridedView.RowMajor(y, batch, o),
                           heads.Length, b, BiasMode.PerColumn, Activation.Relu, biasBatchStride: o);
            x = StridedView.RowMajor(y, batch, o);
        }
        var (hw, hb) = Stacked("dec.hyperout", md.Hypernetworks.Select(h => h.Layers[^1]).ToArray());
        int c2 = hw.Shape[1], kh = hw.Shape[2];
        _k.Gemm.Record(cs, batch, c2, kh, x with { Offset = x.BatchStride }, StridedView.RowMajor(hw, c2, kh).Transposed(),
                       new StridedView(hyper, 0, c2, 4 * c2, 1), md.Hypernetworks.Count, hb, BiasMode.PerColumn, biasBatchStride: c2);
        var last = md.IouHead.Layers[^1];
        _k.Gemm.Record(cs, batch, last.OutFeatures, last.InFeatures, x, StridedView.RowMajor(W(last), last.OutFeatures, last.InFeatures).Transposed(),
                       StridedView.RowMajor(iou, batch, last.OutFeatures), 1, Bias(last), BiasMode.PerColumn);
    }

    /// <summary>Same-shaped linear layers as one [count, out, in] weight and [count, out] bias (uploaded once).</summary>
    private (GpuTensor W, GpuTensor B) Stacked(string name, LinearWeights[] layers)
    {
        if (_stacked.TryGetValue(name, out var t)) return t;
        int o = layers[0].OutFeatures, k = layers[0].InFeatures;
        var w = new float[layers.Length * o * k];
        var b = new float[layers.Length * o];
        for (int i = 0; i < layers.Length; i++)
        {
            layers[i].Weight.Data.CopyTo(w, i * o * k);
            layers[i].Bias.Data.CopyTo(b, i * o);
        }
        return _stacked[name] = (_w.Upload(w, [layers.Length, o, k], name + ".weight"), _w.Upload(b, [layers.Length, o], name + ".bias"));
    }

    /// <summary>Token self-attention: queries and keys from <paramref name="qk"/> (tokens + PE, or the tokens themselves
    /// in the first layer), values from <paramref name="tokens"/>; projections that read the same input are one GEMM
    /// on stacked weights. out = residual + OutProj(attention), or OutProj(attention) without a residual.</summary>
    private void AttendSelf(CommandStream cs, SamAttentionWeights a, GpuTensor qk, GpuTensor tokens, int batch, int T,
                            GpuTensor output, GpuTensor? residual, string tag)
    {
        int inner = a.InternalDim, hd = a.HeadDim, rows = batch * T;
        bool one = ReferenceEquals(qk, tokens);
        var (w, b) = Stacked(tag + (one ? ".qkv" : ".qk"), one ? [a.Q, a.K, a.V] : [a.Q, a.K]);
        int width = (one ? 3 : 2) * inner;
        var qkv = _w.Scratch(tag + ".qkv", rows, width);
        Linear(cs, qk, w, b, width, qkv, rows);
        var v = new HeadView(qkv, 2 * inner, T * width, width, hd);
        if (!one)
        {
            var vt = _w.Scratch(tag + ".v", rows, inner);
            Linear(cs, tokens, a.V, vt, rows, Activation.None);
            v = new HeadView(vt, 0, T * inner, inner, hd);
        }
        var o = _w.Scratch(tag + ".o", rows, inner);
        _k.Attention.Record(cs, new HeadView(qkv, 0, T * width, width, hd), new HeadView(qkv, inner, T * width, width, hd), v,
                            new HeadView(o, 0, T * inner, inner, hd), batch, a.Heads, T, T, hd, a.Scale);
        Linear(cs, o, a.Out, output, rows, Activation.None, residual);
    }

    /// <summary>Token queries [batch, T] against the image tokens K [kb, 4096] (kb 1 = shared by the batch): keys are
    /// (K + PE)·Wkᵀ = K·Wkᵀ + PE·Wkᵀ, so keys and values are one GEMM on K whose residual is the constant
    /// [PE·Wkᵀ | 0] (<paramref name="peKeys"/>). out = residual + OutProj(attention).</summary>
    private void AttendImage(CommandStream cs, SamAttentionWeights a, GpuTensor qIn, GpuTensor K, int kb, GpuTensor peKeys,
                             int batch, int T, GpuTensor output, GpuTensor residual, string tag, GpuTensor? keysValues = null)
    {
        int inner = a.InternalDim, hd = a.HeadDim, width = 2 * inner;
        var q = _w.Scratch(tag + ".q", batch * T, inner);
        Linear(cs, qIn, a.Q, q, batch * T, Activation.None);
        var kv = keysValues ?? ImageKeysValues(cs, a, K, kb, peKeys, _w.Scratch(tag + ".kv", kb, Pix, width), tag);
        var o = _w.Scratch(tag + ".o", batch * T, inner);
        int kvBatch = kb == 1 ? 0 : Pix * width;
        _k.Attention.Record(cs, new HeadView(q, 0, T * inner, inner, hd), new HeadView(kv, 0, kvBatch, width, hd),
                            new HeadView(kv, inner, kvBatch, width, hd), new HeadView(o, 0, T * inner, inner, hd),
                            batch, a.Heads, T, Pix, hd, a.Scale);
        Linear(cs, o, a.Out, output, batch * T, Activation.None, residual);
    }

    /// <summary>Image→token attention: queries are the image tokens K [kb, 4096] (possibly shared, kb = 1) plus PE,
    /// projected as K·Wqᵀ + the constant PE·Wqᵀ (<paramref name="peQueries"/>); keys/values the prompt tokens.
    /// out = K + OutProj(attention) for every prompt (residual broadcast when K is shared).</summary>
    private void AttendImageQueries(CommandStream cs, SamAttentionWeights a, GpuTensor K, int kb, GpuTensor peQueries, GpuTensor qpe,
                                    GpuTensor qTokens, int batch, int T, GpuTensor output, string tag, GpuTensor? queries = null)
    {
        int inner = a.InternalDim, hd = a.HeadDim;
        var q = queries ?? ImageQueries(cs, a, K, kb, peQueries, _w.Scratch(tag + ".q", kb * Pix, inner));
        var k = _w.Scratch(tag + ".k", batch * T, inner);
        var v = _w.Scratch(tag + ".v", batch * T, inner);
        Linear(cs, qpe, a.K, k, batch * T, Activation.None);
        Linear(cs, qTokens, a.V, v, batch * T, Activation.None);
        var o = _w.Scratch(tag + ".o", batch, Pix, inner);
        int qBatch = kb == 1 ? 0 : Pix * inner;
        _k.Attention.Record(cs, new HeadView(q, 0, qBatch, inner, hd), new HeadView(k, 0, T * inner, inner, hd),
                            new HeadView(v, 0, T * inner, inner, hd), new HeadView(o, 0, Pix * inner, inner, hd),
                            batch, a.Heads, Pix, T, hd, a.Scale);
        _k.Gemm.Record(cs, Pix, D, inner, StridedView.RowMajor(o, Pix, inner),
                       StridedView.RowMajor(W(a.Out), D, inner, 0, 0).Transposed(), StridedView.RowMajor(output, Pix, D),
                       batch, Bias(a.Out), BiasMode.PerColumn, Activation.None,
                       StridedView.RowMajor(K, Pix, D, 0, kb == 1 ? 0 : Pix * D));
    }

    /// <summary>The image tokens of a decode without mask prompts: the embedding as rows [4096, 256] plus the no-mask
    /// embedding.</summary>
    private GpuTensor NoMaskKeys(CommandStream cs, GpuTensor embedding, GpuTensor keys)
    {
        var embT = _w.Scratch("dec.embT", Pix, D);
        _k.Permute.Transpose(cs, embedding, embT, 1, D, Pix);
        _k.Elementwise.AddBroadcast(cs, embT, _noMask, keys, (long)Pix * D, D);
        return keys;
    }

    /// <summary>Token→image keys and values of the image tokens K, one GEMM on stacked weights: (K + PE)·Wkᵀ and K·Wvᵀ.</summary>
    private GpuTensor ImageKeysValues(CommandStream cs, SamAttentionWeights a, GpuTensor K, int kb, GpuTensor peKeys, GpuTensor kv, string tag)
    {
        int width = 2 * a.InternalDim;
        var (w, b) = Stacked(tag + ".kv", [a.K, a.V]);
        _k.Gemm.Record(cs, Pix, width, D, StridedView.RowMajor(K, Pix, D), StridedView.RowMajor(w, width, D, 0, 0).Transposed(),
                       StridedView.RowMajor(kv, Pix, width), kb, b, BiasMode.PerColumn, Activation.None,
                       StridedView.RowMajor(peKeys, Pix, width, 0, 0));
        return kv;
    }

    /// <summary>Image→token queries of the image tokens K: (K + PE)·Wqᵀ.</summary>
    private GpuTensor ImageQueries(CommandStream cs, SamAttentionWeights a, GpuTensor K, int kb, GpuTensor peQueries, GpuTensor q)
    {
        int inner = a.InternalDim;
        _k.Gemm.Record(cs, Pix, inner, D, StridedView.RowMajor(K, Pix, D), StridedView.RowMajor(W(a.Q), inner, D, 0, 0).Transposed(),
                       StridedView.RowMajor(q, Pix, inner), kb, Bias(a.Q), BiasMode.PerColumn, Activation.None,
                       StridedView.RowMajor(peQueries, Pix, inner, 0, 0));
        return q;
    }

    /// <summary>Tensors for <see cref="RecordImageSide"/>, owned by the caller.</summary>
    public DecoderImageSide CreateImageSide()
    {
        var first = _weights.MaskDecoder.Layers[0];
        var ctx = _k.Context;
        GpuTensor? keys = null, kv = null;
        try
        {
            keys = ctx.CreateTensor([Pix, D], _w.Type, "dec.side.keys");
            kv = ctx.CreateTensor([Pix, 2 * first.CrossTokenToImage.InternalDim], _w.Type, "dec.side.kv");
            var q = ctx.CreateTensor([Pix, first.CrossImageToToken.InternalDim], _w.Type, "dec.side.q");
            return new DecoderImageSide(keys, kv, q);
        }
        catch
        {
            keys?.Dispose();
            kv?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Records into <paramref name="side"/> (<see cref="CreateImageSide"/>) what every decode of
    /// <paramref name="embedding"/> without a mask prompt computes before any prompt reaches the image side: the image
    /// tokens and the first layer's token→image keys/values and image→token queries (~15% of a one-prompt decode).
    /// Kept with the embedding (<see cref="ImageEmbedding"/>), a click on the same image, or each batch of a
    /// segment-everything grid, runs only what its prompts change. Valid once the stream has completed.
    /// </summary>
    public void RecordImageSide(CommandStream cs, GpuTensor embedding, DecoderImageSide side)
    {
        if (!embedding.Shape.SequenceEqual([1, D, Side, Side]))
            throw new ShapeException($"mask decoder: embedding must be [1x256x64x64], got {embedding.ShapeText}.");
        var first = _weights.MaskDecoder.Layers[0];
        NoMaskKeys(cs, embedding, side.Keys);
        ImageKeysValues(cs, first.CrossTokenToImage, side.Keys, 1, _peKeys[0], side.KeysValues, "dec.l0.t2i");
        ImageQueries(cs, first.CrossImageToToken, side.Keys, 1, _peQueries[0], side.Queries);
    }

    public void Dispose() => _w.Dispose();
}

/// <summary>The decoder's prompt-independent start on one embedding (<see cref="MaskDecoder.RecordImageSide"/>):
/// image tokens [4096, 256] with the no-mask embedding, the first layer's token→image keys/values and its
/// image→token queries.</summary>
internal sealed class DecoderImageSide(GpuTensor keys, GpuTensor keysValues, GpuTensor queries) : IDisposable
{
    public GpuTensor Keys { get; } = keys;
    public GpuTensor KeysValues { get; } = keysValues;
    public GpuTensor Queries { get; } = queries;

    public void Dispose()
    {
        Keys.Dispose();
        KeysValues.Dispose();
        Queries.Dispose();
    }
}
