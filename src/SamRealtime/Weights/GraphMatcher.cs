namespace SamRealtime.Weights;

/// <summary>
/// Walks an ONNX graph by tensor flow: from a value to the node that reads it, through pure data-layout ops
/// (Reshape, Transpose, Pad, Slice, ...), matching op patterns (Conv, Linear, LayerNorm, GELU, attention) and
/// taking their weights with shape checks. Weight names in the file are never relied on; they only appear in
/// error messages. Every failure is a <see cref="ModelFormatException"/> naming the file, what was expected,
/// what was found and the node.
/// </summary>
internal sealed class GraphMatcher
{
    private static readonly HashSet<string> LayoutOps = new(StringComparer.Ordinal)
    {
        "Reshape", "Transpose", "Pad", "Slice", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Tile", "Expand", "Split",
    };

    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public GraphMatcher(OnnxModel model)
    {
        Model = model;
        Graph = model.Graph;
        Source = model.SourcePath;
        // Every ONNX operator has a first output; the patterns below rely on it.
        foreach (var n in Graph.Nodes)
            if (n.Outputs.Count == 0 || n.Outputs[0].Length == 0)
                throw Fail("node has no output", n);
    }

    public OnnxModel Model { get; }
    public OnnxGraph Graph { get; }
    public string Source { get; }

    public ModelFormatException Fail(string message, OnnxNode? at = null) =>
        new(Source, at is null ? message : $"{message} (at node {at.Label})", at?.Name);

    // ------------------------------------------------------------------ values and constants

    public static bool IsLayout(OnnxNode n) => LayoutOps.Contains(n.OpType);

    /// <summary>Consumers that read the data of a value (Shape/Size only read its shape).</summary>
    public List<OnnxNode> DataConsumers(string value)
    {
        var list = new List<OnnxNode>();
        foreach (var n in Graph.Consumers(value))
            if (n.OpType is not ("Shape" or "Size")) list.Add(n);
        return list;
    }

    public OnnxTensor? Const(string value) => Graph.GetConstant(value);

    /// <summary>The other input of a binary node, given one of them.</summary>
    public string OtherInput(OnnxNode node, string one, string what)
    {
        if (node.Inputs.Count != 2) throw Fail($"{what}: expected a binary {node.OpType}", node);
        if (node.Inputs[0] == one) return node.Inputs[1];
        if (node.Inputs[1] == one) return node.Inputs[0];
        throw Fail($"{what}: node does not read value '{one}'", node);
    }

    /// <summary>A scalar (one-element) float constant read by a node, from the input that is not <paramref name="data"/>.</summary>
    public float ScalarOperand(OnnxNode node, string data, string what)
    {
        var other = OtherInput(node, data, what);
        var t = Const(other);
        if (t is null || t.ElementCount != 1)
            throw Fail($"{what}: expected a scalar constant operand, found '{other}'{(t is null ? " (computed)" : " " + t.ShapeString)}", node);
        return t.ToFloatArray()[0];
    }

    public void ExpectScalar(OnnxNode node, string data, float expected, float tolerance, string what)
    {
        var v = ScalarOperand(node, data, what);
        if (!(MathF.Abs(v - expected) <= tolerance))
            throw Fail($"{what}: expected constant {expected}, found {v}", node);
    }

    /// <summary>
    /// Takes a float constant as a weight, checking its shape exactly. <paramref name="storedShape"/> is the shape
    /// expected in the file; <paramref name="shapeNote"/> explains it when it differs from the exposed shape.
    /// </summary>
    public float[] TakeConst(string value, int[] storedShape, string weightName, OnnxNode at, string? shapeNote = null)
    {
        var t = Const(value)
            ?? throw Fail($"{weightName}: expected a constant weight {Fmt(storedShape)}{shapeNote}, found computed value '{value}'", at);
        if (!t.IsFloatingPoint)
            throw Fail($"{weightName}: expected a floating-point weight, found {t.DataType} ('{t.Name}')", at);
        if (!t.Dims.SequenceEqual(storedShape.Select(d => (long)d)))
            throw Fail($"{weightName}: expected shape {Fmt(storedShape)}{shapeNote}, found {t.ShapeString} (tensor '{t.Name}')", at);
        _used.Add(value);
        return t.ToFloatArray();
    }

    public WeightTensor TakeWeight(string value, int[] storedShape, string weightName, OnnxNode at, int[]? exposedShape = null) =>
        new(weightName, exposedShape ?? storedShape, TakeConst(value, storedShape, weightName, at));

    /// <summary>Fails on the first floating-point initializer that no matcher took.</summary>
    public void RequireAllInitializersUsed()
    {
        foreach (var t in Graph.Initializers)
        {
            if (!t.IsFloatingPoint || _used.Contains(t.Name)) continue;
            var readers = Graph.Consumers(t.Name);
            throw Fail($"initializer '{t.Name}' {t.ShapeString} was not mapped to any weight of the expected layout",
                readers.Count > 0 ? readers[0] : null);
        }
    }

    // ------------------------------------------------------------------ walking

    /// <summary>Follows a value through a chain of single-consumer layout ops; returns the last value.</summary>
    public string FollowLayout(string value)
    {
        for (var guard = 0; guard <= Graph.Nodes.Count; guard++)
        {
            var cs = DataConsumers(value);
            if (cs.Count != 1) return value;
            var c = cs[0];
            if (!IsLayout(c) || c.Inputs.Count == 0 || c.Inputs[0] != value || c.Outputs.Count != 1) return value;
            value = c.Outputs[0];
        }
        throw Fail($"layout chain from '{value}' does not end (cyclic graph?)");
    }

    /// <summary>
    /// The unique node matching <paramref name="match"/> reached from <paramref name="value"/> directly or through
    /// layout ops (following their data input only). Returns the node and the value it reads on that path.
    /// </summary>
    public (OnnxNode Node, string Via) FindForward(string value, Func<OnnxNode, bool> match, string what, OnnxNode? context = null)
    {
        var r = TryFindForward(value, match, out var count);
        if (r is { } found)
            return found.Node.Outputs.Count > 0 && found.Node.Outputs[0].Length > 0 ? found : throw Fail($"{what}: node has no output", found.Node);
        throw Fail(count == 0
            ? $"expected {what} reading '{value}' (directly or through reshapes/transposes), found none"
            : $"expected one {what} reading '{value}', found {count}", context ?? Graph.Producer(value));
    }

    public (OnnxNode Node, string Via)? TryFindForward(string value, Func<OnnxNode, bool> match, out int count)
    {
        var found = new List<(OnnxNode, string)>();
        var visited = new HashSet<string>(StringComparer.Ordinal) { value };
        var queue = new Queue<string>();
        queue.Enqueue(value);
        while (queue.Count > 0)
        {
            var v = queue.Dequeue();
            foreach (var c in DataConsumers(v))
            {
                if (match(c))
                {
                    if (!found.Any(f => ReferenceEquals(f.Item1, c))) found.Add((c, v));
                }
                else if (IsLayout(c) && c.Inputs.Count > 0 && c.Inputs[0] == v)
                {
                    foreach (var o in c.Outputs)
                        if (o.Length > 0 && visited.Add(o)) queue.Enqueue(o);
                }
            }
        }
        count = found.Count;
        return found.Count == 1 ? found[0] : null;
    }

    /// <summary>Walks back from a value through layout ops to the first producer that is not one.</summary>
    public (OnnxNode? Producer, string Value) TraceBack(string value)
    {
        for (var guard = 0; guard <= Graph.Nodes.Count; guard++)
        {
            var p = Graph.Producer(value);
            if (p is null || !IsLayout(p) || p.Inputs.Count == 0) return (p, value);
            value = p.Inputs[0];
        }
        throw Fail($"layout chain to '{value}' does not end (cyclic graph?)");
    }

    /// <summary>The unique data consumer of a value with the given op type.</summary>
    public OnnxNode Consumer(string value, string opType, string what)
    {
        OnnxNode? hit = null;
        var n = 0;
        foreach (var c in DataConsumers(value))
            if (c.OpType == opType) { hit = c; n++; }
        if (n == 1)
            return hit!.Outputs.Count > 0 && hit.Outputs[0].Length > 0 ? hit : throw Fail($"{what}: node has no output", hit);
        throw Fail(n == 0 ? $"{what}: expected a {opType} reading '{value}', found none"
                          : $"{what}: expected one {opType} reading '{value}', found {n}", Graph.Producer(value));
    }

    /// <summary>The Add node whose two inputs are exactly <paramref name="a"/> and <paramref name="b"/>.</summary>
    public OnnxNode AddOf(string a, string b, string what)
    {
        foreach (var c in Graph.Consumers(a))
            if (c.OpType == "Add" && c.Inputs.Count == 2 &&
                ((c.Inputs[0] == a && c.Inputs[1] == b) || (c.Inputs[0] == b && c.Inputs[1] == a)))
                return c;
        throw Fail($"{what}: expected Add('{a}', '{b}'), found none", Graph.Producer(b) ?? Graph.Producer(a));
    }

    // ------------------------------------------------------------------ patterns

    /// <summary>
    /// Exact (erf) GELU: <c>x * (1 + erf(x / sqrt 2)) * 0.5</c> as exported by PyTorch (Div, Erf, Add, Mul, Mul),
    /// or a Gelu op with approximate="none". Returns the output value.
    /// </summary>
    public string Gelu(string x, string what)
    {
        foreach (var c in DataConsumers(x))
            if (c.OpType == "Gelu")
            {
                if ((c.GetString("approximate") ?? "none") != "none")
                    throw Fail($"{what}: expected exact (erf) GELU, found approximate={c.GetString("approximate")}", c);
                return c.Outputs[0];
            }
        var div = DataConsumers(x).Where(c => c.OpType == "Div" && c.Inputs.Count == 2 && c.Inputs[0] == x).ToList();
        if (div.Count != 1)
            throw Fail($"{what}: expected GELU (x / sqrt(2) -> Erf -> +1 -> *x -> *0.5) reading '{x}'", Graph.Producer(x));
        ExpectScalar(div[0], x, MathF.Sqrt(2f), 1e-4f, $"{what} (GELU x/sqrt2)");
        var erf = Consumer(div[0].Outputs[0], "Erf", $"{what} (GELU Erf)");
        var add = Consumer(erf.Outputs[0], "Add", $"{what} (GELU +1)");
        ExpectScalar(add, erf.Outputs[0], 1f, 1e-6f, $"{what} (GELU +1)");
        var mul = Consumer(add.Outputs[0], "Mul", $"{what} (GELU *x)");
        if (OtherInput(mul, add.Outputs[0], what) != x)
            throw Fail($"{what}: GELU multiplies by something other than its input", mul);
        var half = Consumer(mul.Outputs[0], "Mul", $"{what} (GELU *0.5)");
        ExpectScalar(half, mul.Outputs[0], 0.5f, 1e-6f, $"{what} (GELU *0.5)");
        return half.Outputs[0];
    }

    /// <summary>ReLU; returns its output.</summary>
    public string Relu(string x, string what) => Consumer(x, "Relu", what).Outputs[0];

    /// <summary>
    /// LayerNorm over the last axis (<paramref name="channelAxis"/> = -1; nn.LayerNorm) or over axis 1
    /// (LayerNorm2d), as a LayerNormalization op or decomposed (ReduceMean, Sub, Pow 2, ReduceMean, Add eps, Sqrt,
    /// Div, Mul weight, Add bias). Returns the weights and the output value.
    /// </summary>
    public (LayerNormWeights Weights, string Output) LayerNorm(string x, int channels, int channelAxis, string name)
    {
        var fused = DataConsumers(x).Where(c => c.OpType == "LayerNormalization" && c.Inputs[0] == x).ToList();
        if (fused.Count == 1)
        {
            var ln = fused[0];
            var axis = ln.GetInt("axis", -1);
            if (channelAxis == -1 ? axis != -1 : axis != channelAxis)
                throw Fail($"{name}: expected LayerNormalization over axis {channelAxis}, found axis {axis}", ln);
            if (ln.Inputs.Count < 3 || ln.Inputs[2].Length == 0)
                throw Fail($"{name}: expected LayerNormalization with a bias input", ln);
            var w = TakeWeight(ln.Inputs[1], [channels], name + ".weight", ln);
            var b = TakeWeight(ln.Inputs[2], [channels], name + ".bias", ln);
            return (new LayerNormWeights(w, b, ln.GetFloat("epsilon", 1e-5f)), ln.Outputs[0]);
        }

        var mean = DataConsumers(x).Where(c => c.OpType == "ReduceMean" && c.Inputs[0] == x).ToList();
        if (mean.Count != 1)
            throw Fail($"{name}: expected a LayerNorm (LayerNormalization, or ReduceMean/Sub/Pow/Sqrt/Div) reading '{x}'",
                Graph.Producer(x));
        CheckReduceAxis(mean[0], channelAxis, name);
        var sub = Consumer(mean[0].Outputs[0], "Sub", $"{name} (x - mean)");
        if (sub.Inputs.Count != 2 || sub.Inputs[0] != x || sub.Inputs[1] != mean[0].Outputs[0])
            throw Fail($"{name}: expected Sub(x, mean)", sub);
        var pow = Consumer(sub.Outputs[0], "Pow", $"{name} (square)");
        ExpectScalar(pow, sub.Outputs[0], 2f, 0f, $"{name} (square)");
        var var2 = Consumer(pow.Outputs[0], "ReduceMean", $"{name} (variance)");
        CheckReduceAxis(var2, channelAxis, name);
        var addEps = Consumer(var2.Outputs[0], "Add", $"{name} (+eps)");
        var eps = ScalarOperand(addEps, var2.Outputs[0], $"{name} (+eps)");
        if (!(eps > 0f && eps <= 1e-2f)) throw Fail($"{name}: implausible epsilon {eps}", addEps);
        var sqrt = Consumer(addEps.Outputs[0], "Sqrt", $"{name} (sqrt)");
        var div = Consumer(sqrt.Outputs[0], "Div", $"{name} (normalise)");
        if (div.Inputs.Count != 2 || div.Inputs[0] != sub.Outputs[0] || div.Inputs[1] != sqrt.Outputs[0])
            throw Fail($"{name}: expected Div(x - mean, sqrt(var + eps))", div);
        var mul = Consumer(div.Outputs[0], "Mul", $"{name} (scale)");
        var add = Consumer(mul.Outputs[0], "Add", $"{name} (shift)");
        int[] stored = channelAxis == -1 ? [channels] : [channels, 1, 1];
        var weight = TakeWeight(OtherInput(mul, div.Outputs[0], name), stored, name + ".weight", mul, [channels]);
        var bias = TakeWeight(OtherInput(add, mul.Outputs[0], name), stored, name + ".bias", add, [channels]);
        return (new LayerNormWeights(weight, bias, eps), add.Outputs[0]);
    }

    private void CheckReduceAxis(OnnxNode reduce, int channelAxis, string name)
    {
        var axes = reduce.GetInts("axes")?.ToArray();
        if (axes is null && reduce.Inputs.Count > 1 && Const(reduce.Inputs[1]) is { } t) axes = t.ToInt64Array();
        var ok = axes is { Length: 1 } && (channelAxis == -1 ? axes[0] == -1 : axes[0] == channelAxis);
        if (!ok)
            throw Fail($"{name}: expected ReduceMean over axis {channelAxis}, found axes [{string.Join(", ", axes ?? [])}]", reduce);
        if (reduce.GetInt("keepdims", 1) != 1)
            throw Fail($"{name}: expected ReduceMean with keepdims=1", reduce);
    }

    /// <summary>A MatMul of two computed values (attention scores or attention · values).</summary>
    public bool IsDataMatMul(OnnxNode n) => n.OpType == "MatMul" && n.Inputs.Count == 2 && !IsLinear(n);

    /// <summary>
    /// Runs a mapping, turning the index/sequence errors a malformed graph (a node with too few inputs or outputs)
    /// can still cause deep in a pattern into a <see cref="ModelFormatException"/>.
    /// </summary>
    public static T Guard<T>(OnnxModel model, Func<T> map)
    {
        try
        {
            return map();
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentOutOfRangeException or InvalidOperationException)
        {
            throw new ModelFormatException(model.SourcePath, $"malformed graph: {e.Message}", null, e);
        }
    }

    /// <summary>A node that is a linear layer's matrix product: MatMul by a rank-2 constant, or Gemm.</summary>
    public bool IsLinear(OnnxNode n) =>
        (n.OpType == "MatMul" && n.Inputs.Count == 2 && Const(n.Inputs[1]) is { Rank: 2 }) ||
        (n.OpType == "Gemm" && n.Inputs.Count >= 2 && Const(n.Inputs[1]) is { Rank: 2 });

    /// <summary>The linear layer node reading <paramref name="x"/> as its data input (exactly one).</summary>
    public OnnxNode LinearReading(string x, string name)
    {
        var hits = DataConsumers(x).Where(c => IsLinear(c) && c.Inputs[0] == x).ToList();
        if (hits.Count == 1) return hits[0];
        throw Fail($"{name}: expected one linear layer (MatMul by a weight, or Gemm) reading '{x}', found {hits.Count}",
            Graph.Producer(x));
    }

    /// <summary>The output value of a linear layer: the bias Add after a MatMul, or the Gemm itself.</summary>
    public string LinearOutput(OnnxNode node)
    {
        if (node.OpType == "Gemm") return node.Outputs[0];
        var adds = DataConsumers(node.Outputs[0]).Where(c => c.OpType == "Add").ToList();
        return adds.Count == 1 && adds[0].Inputs.Count == 2 && Const(OtherInput(adds[0], node.Outputs[0], "bias")) is { Rank: 1 }
            ? adds[0].Outputs[0]
            : throw Fail("expected the linear layer's bias Add after the MatMul", node);
    }

    /// <summary>The linear layer whose output (bias Add or Gemm) is <paramref name="value"/>, or null.</summary>
    public OnnxNode? LinearProducing(string value)
    {
        var p = Graph.Producer(value);
        if (p is null) return null;
        if (p.OpType == "Gemm" && IsLinear(p)) return p;
        if (p.OpType != "Add" || p.Inputs.Count != 2) return null;
        foreach (var i in p.Inputs)
            if (Graph.Producer(i) is { } mm && mm.OpType == "MatMul" && IsLinear(mm) && Const(OtherInput(p, i, "bias")) is { Rank: 1 })
                return mm;
        return null;
    }

    /// <summary>Reads a linear layer in → out, normalising the weight to [out, in].</summary>
    public (LinearWeights Weights, string Output) Linear(OnnxNode node, int inFeatures, int outFeatures, string name)
    {
        if (node.OpType == "MatMul")
        {
            var w = TakeConst(node.Inputs[1], [inFeatures, outFeatures], name + ".weight", node,
                $" (MatMul B [in, out]; [out, in] = [{outFeatures}, {inFeatures}] as a PyTorch weight)");
            var output = LinearOutput(node);
            var add = Graph.Producer(output)!;
            var bias = TakeWeight(OtherInput(add, node.Outputs[0], name), [outFeatures], name + ".bias", add);
            return (new LinearWeights(new WeightTensor(name + ".weight", [outFeatures, inFeatures], Transpose(w, inFeatures, outFeatures)),
                bias, OnnxLinearForm.MatMulInOut), output);
        }
        if (node.OpType == "Gemm")
        {
            if (node.GetInt("transA", 0) != 0 || node.GetFloat("alpha", 1f) != 1f || node.GetFloat("beta", 1f) != 1f)
                throw Fail($"{name}: expected Gemm with transA=0, alpha=1, beta=1", node);
            if (node.Inputs.Count < 3 || node.Inputs[2].Length == 0)
                throw Fail($"{name}: expected Gemm with a bias input", node);
            var transB = node.GetInt("transB", 0) != 0;
            WeightTensor weight;
            if (transB)
            {
                weight = TakeWeight(node.Inputs[1], [outFeatures, inFeatures], name + ".weight", node);
            }
            else
            {
                var w = TakeConst(node.Inputs[1], [inFeatures, outFeatures], name + ".weight", node, " (Gemm transB=0 B [in, out])");
                weight = new WeightTensor(name + ".weight", [outFeatures, inFeatures], Transpose(w, inFeatures, outFeatures));
            }
            var bias = TakeWeight(node.Inputs[2], [outFeatures], name + ".bias", node);
            return (new LinearWeights(weight, bias, transB ? OnnxLinearForm.GemmOutIn : OnnxLinearForm.GemmInOut), node.Outputs[0]);
        }
        throw Fail($"{name}: expected MatMul or Gemm, found {node.OpType}", node);
    }

    /// <summary>An MLP reading <paramref name="x"/>: Linear (ReLU Linear)*; <paramref name="dims"/> = in, hidden..., out.</summary>
    public (MlpWeights Weights, string Output) Mlp(string x, int[] dims, string name)
    {
        var layers = new List<LinearWeights>();
        for (var i = 0; i + 1 < dims.Length; i++)
        {
            var (lw, y) = Linear(LinearReading(x, $"{name}.layers.{i}"), dims[i], dims[i + 1], $"{name}.layers.{i}");
            layers.Add(lw);
            x = i + 2 < dims.Length ? Relu(y, $"{name} ReLU after layer {i}") : y;
        }
        return (new MlpWeights(layers), x);
    }

    /// <summary>A Conv node with checked weight shape and attributes.</summary>
    public Conv2dWeights Conv(OnnxNode conv, int outCh, int inCh, int kernel, int stride, int pad, int groups, bool bias, string name)
    {
        if (conv.OpType != "Conv" || conv.Inputs.Count < 2) throw Fail($"{name}: expected Conv(x, W[, b]), found {conv.OpType} with {conv.Inputs.Count} inputs", conv);
        var g = conv.GetInt("group", 1);
        if (g != groups) throw Fail($"{name}: expected group={groups}, found {g}", conv);
        CheckPair(conv, "strides", stride, name);
        CheckPair(conv, "dilations", 1, name);
        CheckPair(conv, "kernel_shape", kernel, name, optional: true);
        var pads = conv.GetInts("pads") ?? [0, 0, 0, 0];
        if (pads.Count != 4 || pads.Any(p => p != pad))
            throw Fail($"{name}: expected pads [{pad}, {pad}, {pad}, {pad}], found [{string.Join(", ", pads)}]", conv);
        var autoPad = conv.GetString("auto_pad");
        if (autoPad is not (null or "NOTSET")) throw Fail($"{name}: expected no auto_pad, found {autoPad}", conv);
        var w = TakeWeight(conv.Inputs[1], [outCh, inCh / groups, kernel, kernel], name + ".weight", conv);
        var hasBias = conv.Inputs.Count > 2 && conv.Inputs[2].Length > 0;
        if (hasBias != bias) throw Fail($"{name}: expected {(bias ? "a" : "no")} bias", conv);
        var b = bias ? TakeWeight(conv.Inputs[2], [outCh], name + ".bias", conv) : null;
        return new Conv2dWeights(w, b, stride, pad, groups);
    }

    /// <summary>A ConvTranspose node with kernel = stride, no padding, bias.</summary>
    public ConvTranspose2dWeights ConvTranspose(OnnxNode node, int inCh, int outCh, int kernel, string name)
    {
        if (node.OpType != "ConvTranspose" || node.Inputs.Count < 2)
            throw Fail($"{name}: expected ConvTranspose(x, W, b), found {node.OpType} with {node.Inputs.Count} inputs", node);
        if (node.GetInt("group", 1) != 1) throw Fail($"{name}: expected group=1", node);
        CheckPair(node, "strides", kernel, name);
        CheckPair(node, "dilations", 1, name);
        CheckPair(node, "kernel_shape", kernel, name, optional: true);
        var pads = node.GetInts("pads") ?? [0, 0, 0, 0];
        if (pads.Any(p => p != 0)) throw Fail($"{name}: expected no padding", node);
        if (node.GetInts("output_padding") is { } op && op.Any(p => p != 0)) throw Fail($"{name}: expected no output_padding", node);
        if (node.GetInts("output_shape") is not null) throw Fail($"{name}: expected no output_shape", node);
        var w = TakeWeight(node.Inputs[1], [inCh, outCh, kernel, kernel], name + ".weight", node);
        if (node.Inputs.Count < 3 || node.Inputs[2].Length == 0) throw Fail($"{name}: expected a bias", node);
        var b = TakeWeight(node.Inputs[2], [outCh], name + ".bias", node);
        return new ConvTranspose2dWeights(w, b, kernel);
    }

    private void CheckPair(OnnxNode node, string attr, int expected, string name, bool optional = false)
    {
        var v = node.GetInts(attr);
        if (v is null)
        {
            if (optional || expected == 1) return;
            throw Fail($"{name}: expected {attr} [{expected}, {expected}], found none", node);
        }
        if (v.Count != 2 || v[0] != expected || v[1] != expected)
            throw Fail($"{name}: expected {attr} [{expected}, {expected}], found [{string.Join(", ", v)}]", node);
    }

    public static float[] Transpose(float[] a, int rows, int cols)
    {
        var t = new float[a.Length];
        for (var r = 0; r < rows; r++)
            for (var c = 0; c < cols; c++)
                t[c * rows + r] = a[r * cols + c];
        return t;
    }

    public static string Fmt(int[] shape) => "[" + string.Join(", ", shape) + "]";
}
