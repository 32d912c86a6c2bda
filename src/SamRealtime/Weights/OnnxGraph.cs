namespace SamRealtime.Weights;

/// <summary>
/// One GraphProto: nodes in file order (ONNX requires topological order), initializers, inputs, outputs and
/// value_info, with lookups by value name (producer, consumers, constant value).
/// </summary>
internal sealed class OnnxGraph
{
    private Dictionary<string, OnnxTensor>? _initializersByName;
    private Dictionary<string, OnnxNode>? _producers;
    private Dictionary<string, List<OnnxNode>>? _consumers;
    private Dictionary<string, OnnxTensor?>? _constants;

    public OnnxGraph(string name, string source, IReadOnlyList<OnnxNode> nodes, IReadOnlyList<OnnxTensor> initializers,
        IReadOnlyList<OnnxValueInfo> inputs, IReadOnlyList<OnnxValueInfo> outputs, IReadOnlyList<OnnxValueInfo> valueInfo)
    {
        Name = name;
        Source = source;
        Nodes = nodes;
        Initializers = initializers;
        Inputs = inputs;
        Outputs = outputs;
        ValueInfo = valueInfo;
    }

    public string Name { get; }

    /// <summary>The file this graph was read from, for error messages.</summary>
    public string Source { get; }

    public IReadOnlyList<OnnxNode> Nodes { get; }
    public IReadOnlyList<OnnxTensor> Initializers { get; }
    public IReadOnlyList<OnnxValueInfo> Inputs { get; }
    public IReadOnlyList<OnnxValueInfo> Outputs { get; }
    public IReadOnlyList<OnnxValueInfo> ValueInfo { get; }

    public IReadOnlyDictionary<string, OnnxTensor> InitializersByName =>
        _initializersByName ??= BuildInitializerMap();

    /// <summary>The node that produces a value, or null for graph inputs, initializers and unknown names.</summary>
    public OnnxNode? Producer(string value)
    {
        _producers ??= BuildProducers();
        return _producers.GetValueOrDefault(value);
    }

    /// <summary>The nodes that read a value, in graph order.</summary>
    public IReadOnlyList<OnnxNode> Consumers(string value)
    {
        _consumers ??= BuildConsumers();
        return _consumers.TryGetValue(value, out var list) ? list : [];
    }

    /// <summary>
    /// The constant tensor behind a value name: an initializer (that is not also a graph input) or the output of
    /// a Constant node (value, value_float(s), value_int(s)). Null if the value is computed at run time.
    /// </summary>
    public OnnxTensor? GetConstant(string value)
    {
        if (string.IsNullOrEmpty(value)) return null;
        _constants ??= new Dictionary<string, OnnxTensor?>(StringComparer.Ordinal);
        if (_constants.TryGetValue(value, out var cached)) return cached;
        OnnxTensor? result = null;
        if (InitializersByName.TryGetValue(value, out var init) && !Inputs.Any(i => i.Name == value))
            result = init;
        else if (Producer(value) is { OpType: "Constant", Domain: "" or "ai.onnx" } node)
            result = ConstantNodeValue(node);
        _constants[value] = result;
        return result;
    }

    /// <summary>The tensor a Constant node produces, or null if it uses a form without a tensor (sparse, strings).</summary>
    public static OnnxTensor? ConstantNodeValue(OnnxNode node)
    {
        var output = node.Outputs.Count > 0 ? node.Outputs[0] : node.Name;
        foreach (var a in node.Attributes)
        {
            switch (a.Name, a.Type)
            {
                case ("value", OnnxAttributeType.Tensor) when a.Tensor is not null:
                    return a.Tensor;
                case ("value_float", OnnxAttributeType.Float):
                    return OnnxTensor.FromFloats(output, [], [a.Float]);
                case ("value_floats", OnnxAttributeType.Floats):
                    return OnnxTensor.FromFloats(output, [a.Floats.Count], a.Floats.ToArray());
                case ("value_int", OnnxAttributeType.Int):
                    return OnnxTensor.FromInt64s(output, [], [a.Int]);
                case ("value_ints", OnnxAttributeType.Ints):
                    return OnnxTensor.FromInt64s(output, [a.Ints.Count], a.Ints.ToArray());
            }
        }
        return null;
    }

    /// <summary>Constant nodes' tensors (form <c>value</c> = tensor), in graph order, with the node.</summary>
    public IEnumerable<(OnnxNode Node, OnnxTensor Tensor)> ConstantNodes()
    {
        foreach (var n in Nodes)
            if (n.OpType == "Constant" && ConstantNodeValue(n) is { } t)
                yield return (n, t);
    }

    /// <summary>A copy of this graph with one initializer replaced (same name); for tests and in-memory edits.</summary>
    public OnnxGraph WithInitializer(OnnxTensor replacement)
    {
        var found = false;
        var list = new List<OnnxTensor>(Initializers.Count);
        foreach (var t in Initializers)
        {
            if (t.Name == replacement.Name) { list.Add(replacement); found = true; }
            else list.Add(t);
        }
        if (!found) throw new ArgumentException($"graph has no initializer named '{replacement.Name}'", nameof(replacement));
        return new OnnxGraph(Name, Source, Nodes, list, Inputs, Outputs, ValueInfo);
    }

    /// <summary>A copy of this graph with a different node list (nodes must keep consistent value names).</summary>
    public OnnxGraph WithNodes(IReadOnlyList<OnnxNode> nodes) =>
        new(Name, Source, nodes, Initializers, Inputs, Outputs, ValueInfo);

    private Dictionary<string, OnnxTensor> BuildInitializerMap()
    {
        var d = new Dictionary<string, OnnxTensor>(StringComparer.Ordinal);
        foreach (var t in Initializers) d[t.Name] = t;
        return d;
    }

    private Dictionary<string, OnnxNode> BuildProducers()
    {
        var d = new Dictionary<string, OnnxNode>(StringComparer.Ordinal);
        foreach (var n in Nodes)
            foreach (var o in n.Outputs)
                if (!string.IsNullOrEmpty(o)) d.TryAdd(o, n);
        return d;
    }

    private Dictionary<string, List<OnnxNode>> BuildConsumers()
    {
        var d = new Dictionary<string, List<OnnxNode>>(StringComparer.Ordinal);
        foreach (var n in Nodes)
        {
            foreach (var i in n.Inputs.Distinct())
            {
                if (string.IsNullOrEmpty(i)) continue;
                if (!d.TryGetValue(i, out var list)) d[i] = list = [];
                list.Add(n);
            }
        }
        return d;
    }
}
