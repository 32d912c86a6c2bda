namespace SamRealtime.Weights;

/// <summary>
/// An ONNX ModelProto read by our own protobuf wire-format parser (no generated code, no dependency).
/// Reads what weight loading needs: the main graph's nodes with attributes, initializers, inputs/outputs/value_info
/// with shapes, and Constant nodes' tensors. Tensor payloads are not copied until converted.
/// </summary>
/// <remarks>
/// Unsupported on purpose, each with a clear <see cref="OnnxFormatException"/>: external data, segmented
/// tensors, protobuf groups. Unknown fields are skipped. Sparse initializers, training info and functions are
/// skipped. A repeated occurrence of a singular message field (legal protobuf "merge") keeps the last one.
/// </remarks>
internal sealed class OnnxModel
{
    /// <summary>Tensors with more dimensions than this are rejected as corrupt.</summary>
    public const int MaxTensorRank = 64;

    private OnnxModel(string sourcePath, long irVersion, string producerName, string producerVersion, string domain,
        long modelVersion, IReadOnlyList<OnnxOpsetImport> opsetImports, OnnxGraph graph)
    {
        SourcePath = sourcePath;
        IrVersion = irVersion;
        ProducerName = producerName;
        ProducerVersion = producerVersion;
        Domain = domain;
        ModelVersion = modelVersion;
        OpsetImports = opsetImports;
        Graph = graph;
    }

    /// <summary>The file the model was read from (or the name given to <see cref="Parse"/>).</summary>
    public string SourcePath { get; }

    public long IrVersion { get; }
    public string ProducerName { get; }
    public string ProducerVersion { get; }
    public string Domain { get; }
    public long ModelVersion { get; }
    public IReadOnlyList<OnnxOpsetImport> OpsetImports { get; }
    public OnnxGraph Graph { get; }

    /// <summary>The opset version of the default ("" / "ai.onnx") domain, or 0 if not declared.</summary>
    public long DefaultOpset =>
        OpsetImports.FirstOrDefault(o => o.Domain is "" or "ai.onnx")?.Version ?? 0;

    /// <summary>Reads and parses an .onnx file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist (the message names the full path).</exception>
    /// <exception cref="OnnxFormatException">The file is not a well-formed ONNX model.</exception>
    public static OnnxModel Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new FileNotFoundException($"ONNX model file not found: {full}", full);
        var bytes = File.ReadAllBytes(full);
        return Parse(bytes, full);
    }

    /// <summary>Parses ModelProto bytes; <paramref name="sourceName"/> is used in error messages.</summary>
    public static OnnxModel Parse(ReadOnlyMemory<byte> bytes, string sourceName)
    {
        if (bytes.Length == 0)
            throw new OnnxFormatException(sourceName, "file is empty", 0);
        var r = new ProtoReader(bytes, sourceName, new ProtoPath(null, "ModelProto"));
        return new Parser(sourceName).ReadModel(r);
    }

    /// <summary>A copy of this model with another main graph (in-memory modification).</summary>
    public OnnxModel WithGraph(OnnxGraph graph) =>
        new(SourcePath, IrVersion, ProducerName, ProducerVersion, Domain, ModelVersion, OpsetImports, graph);

    /// <summary>Total element count of floating-point initializers.</summary>
    public long InitializerParameterCount =>
        Graph.Initializers.Where(t => t.IsFloatingPoint).Sum(t => Math.Max(0, t.ElementCount));

    /// <summary>Total element count of floating-point Constant-node tensors with more than one element.</summary>
    public long ConstantParameterCount =>
        Graph.ConstantNodes().Where(c => c.Tensor.IsFloatingPoint && c.Tensor.ElementCount > 1).Sum(c => c.Tensor.ElementCount);

    private sealed class Parser(string source)
    {
        public OnnxModel ReadModel(ProtoReader r)
        {
            long ir = 0, modelVersion = 0;
            string producer = "", producerVersion = "", domain = "";
            var opsets = new List<OnnxOpsetImport>();
            OnnxGraph? graph = null;
            while (r.HasMore)
            {
                var (field, wire) = r.ReadTag();
                switch (field)
                {
                    case 1: r.Expect(wire, WireType.Varint, "ir_version"); ir = r.ReadInt64(); break;
                    case 2: r.Expect(wire, WireType.LengthDelimited, "producer_name"); producer = r.ReadString(); break;
                    case 3: r.Expect(wire, WireType.LengthDelimited, "producer_version"); producerVersion = r.ReadString(); break;
                    case 4: r.Expect(wire, WireType.LengthDelimited, "domain"); domain = r.ReadString(); break;
                    case 5: r.Expect(wire, WireType.Varint, "model_version"); modelVersion = r.ReadInt64(); break;
                    case 7:
                        r.Expect(wire, WireType.LengthDelimited, "graph");
                        graph = ReadGraph(r.ReadMessage("graph"));
                        break;
                    case 8:
                        r.Expect(wire, WireType.LengthDelimited, "opset_import");
                        opsets.Add(ReadOpset(r.ReadMessage("opset_import", opsets.Count)));
                        break;
                    default: r.Skip(wire); break;
                }
            }
            if (graph is null)
                throw new OnnxFormatException(source, "ModelProto has no graph (not an ONNX model, or truncated before the graph)", r.Position);
            return new OnnxModel(source, ir, producer, producerVersion, domain, modelVersion, opsets, graph);
        }

        private static OnnxOpsetImport ReadOpset(ProtoReader r)
        {
            string domain = "";
            long version = 0;
            while (r.HasMore)
            {
                var (field, wire) = r.ReadTag();
                switch (field)
                {
                    case 1: r.Expect(wire, WireType.LengthDelimited, "domain"); domain = r.ReadString(); break;
                    case 2: r.Expect(wire, WireType.Varint, "version"); version = r.ReadInt64(); break;
                    default: r.Skip(wire); break;
                }
            }
            return new OnnxOpsetImport(domain, version);
        }

        private OnnxGraph ReadGraph(ProtoReader r)
        {
            var name = "";
            var nodes = new List<OnnxNode>();
            var inits = new List<OnnxTensor>();
            var inputs = new List<OnnxValueInfo>();
            var outputs = new List<OnnxValueInfo>();
            var valueInfo = new List<OnnxValueInfo>();
            while (r.HasMore)
            {
                var (field, wire) = r.ReadTag();
                switch (field)
                {
                    case 1:
                        r.Expect(wire, WireType.LengthDelimited, "node");
                        nodes.Add(ReadNode(r.ReadMessage("node", nodes.Count), nodes.Count));
                        break;
                    case 2: r.Expect(wire, WireType.LengthDelimited, "name"); name = r.ReadString(); break;
                    case 5:
                        r.Expect(wire, WireType.LengthDelimited, "initializer");
                        inits.Add(ReadTensor(r.ReadMessage("initializer", inits.Count)));
                        break;
                    case 11:
                        r.Expect(wire, WireType.LengthDelimited, "input");
                        inputs.Add(ReadValueInfo(r.ReadMessage("input", inputs.Count)));
                        break;
                    case 12:
                        r.Expect(wire, WireType.LengthDelimited, "output");
                        outputs.Add(ReadValueInfo(r.ReadMessage("output", outputs.Count)));
                        break;
                    case 13:
                        r.Expect(wire, WireType.LengthDelimited, "value_info");
                        valueInfo.Add(ReadValueInfo(r.ReadMessage("value_info", valueInfo.Count)));
                        break;
                    default: r.Skip(wire); break;
                }
            }
            return new OnnxGraph(name, source, nodes, inits, inputs, outputs, valueInfo);
        }

        private OnnxNode ReadNode(ProtoReader r, int index)
        {
            var inputs = new List<string>();
            var outputs = new List<string>();
            var attributes = new List<OnnxAttribute>();
            string name = "", opType = "", domain = "";
            while (r.HasMore)
            {
                var (field, wire) = r.ReadTag();
                switch (field)
                {
                    case 1: r.Expect(wire, WireType.LengthDelimited, "input"); inputs.Add(r.ReadString()); break;
                    case 2: r.Expect(wire, WireType.LengthDelimited, "output"); outputs.Add(r.ReadString()); break;
                    case 3: r.Expect(wire, WireType.LengthDelimited, "name"); name = r.ReadString(); break;
                    case 4: r.Expect(wire, WireType.LengthDelimited, "op_type"); opType = r.ReadString(); break;
                    case 5:
                        r.Expect(wire, WireType.LengthDelimited, "attribute");
                        attributes.Add(ReadAttribute(r.ReadMessage("attribute", attributes.Count)));
                        break;
                    case 7: r.Expect(wire, WireType.LengthDelimited, "domain"); domain = r.ReadString(); break;
                    default: r.Skip(wire); break;
                }
            }
            if (opType.Length == 0)
                throw r.Error("node has no op_type", r.Position);
            return new OnnxNode(index, name, opType, domain, inputs, outputs, attributes);
        }

        private OnnxAttribute ReadAttribute(ProtoReader r)
        {
            var a = new OnnxAttribute("", OnnxAttributeType.Undefined);
            string name = "";
            var declared = OnnxAttributeType.Undefined;
            var floats = new List<float>();
            var ints = new List<long>();
            var strings = new List<string>();
            var tensors = new List<OnnxTensor>();
            var graphs = new List<OnnxGraph>();
            bool hasF = false, hasI = false, hasS = false, hasT = false, hasG = false;
            while (r.HasMore)
            {
                var (field, wire) = r.ReadTag();
                switch (field)
                {
                    case 1: r.Expect(wire, WireType.LengthDelimited, "name"); name = r.ReadString(); break;
                    case 20: r.Expect(wire, WireType.Varint, "type"); declared = (OnnxAttributeType)r.ReadInt32(); break;
                    case 2: r.Expect(wire, WireType.Fixed32, "f"); a.Float = r.ReadFloat(); hasF = true; break;
                    case 3: r.Expect(wire, WireType.Varint, "i"); a.Int = r.ReadInt64(); hasI = true; break;
                    case 4: r.Expect(wire, WireType.LengthDelimited, "s"); a.Bytes = r.ReadBytes().ToArray(); hasS = true; break;
                    case 5: r.Expect(wire, WireType.LengthDelimited, "t"); a.Tensor = ReadTensor(r.ReadMessage("t")); hasT = true; break;
                    case 6: r.Expect(wire, WireType.LengthDelimited, "g"); a.Graph = ReadGraph(r.ReadMessage("g")); hasG = true; break;
                    case 7: r.ReadRepeatedFloat(wire, floats, "floats"); break;
                    case 8: r.ReadRepeatedInt64(wire, ints, "ints"); break;
                    case 9: r.Expect(wire, WireType.LengthDelimited, "strings"); strings.Add(r.ReadString()); break;
                    case 10:
                        r.Expect(wire, WireType.LengthDelimited, "tensors");
                        tensors.Add(ReadTensor(r.ReadMessage("tensors", tensors.Count)));
                        break;
                    case 11:
                        r.Expect(wire, WireType.LengthDelimited, "graphs");
                        graphs.Add(ReadGraph(r.ReadMessage("graphs", graphs.Count)));
                        break;
                    default: r.Skip(wire); break;
                }
            }
            // IR version < 2 files may omit "type": infer it from the field present.
            if (declared == OnnxAttributeType.Undefined)
            {
                declared = hasF ? OnnxAttributeType.Float : hasI ? OnnxAttributeType.Int : hasS ? OnnxAttributeType.String
                    : hasT ? OnnxAttributeType.Tensor : hasG ? OnnxAttributeType.Graph : floats.Count > 0 ? OnnxAttributeType.Floats
                    : ints.Count > 0 ? OnnxAttributeType.Ints : strings.Count > 0 ? OnnxAttributeType.Strings
                    : tensors.Count > 0 ? OnnxAttributeType.Tensors : graphs.Count > 0 ? OnnxAttributeType.Graphs
                    : OnnxAttributeType.Undefined;
            }
            if (declared == OnnxAttributeType.Tensor && a.Tensor is null)
                throw r.Error($"attribute '{name}' is of type TENSOR but has no tensor", r.Position);
            if (declared == OnnxAttributeType.Graph && a.Graph is null)
                throw r.Error($"attribute '{name}' is of type GRAPH but has no graph", r.Position);
            var result = new OnnxAttribute(name, declared)
            {
                Float = a.Float,
                Int = a.Int,
                Bytes = a.Bytes,
                Tensor = a.Tensor,
                Graph = a.Graph,
                Floats = floats,
                Ints = ints,
                Strings = strings,
                Tensors = tensors,
                Graphs = graphs,
            };
            return result;
        }

        private static OnnxValueInfo ReadValueInfo(ProtoReader r)
        {
            string name = "";
            var elem = OnnxDataType.Undefined;
            List<OnnxDimension>? shape = null;
            while (r.HasMore)
            {
                var (field, wire) = r.ReadTag();
                switch (field)
                {
                    case 1: r.Expect(wire, WireType.LengthDelimited, "name"); name = r.ReadString(); break;
                    case 2:
                        r.Expect(wire, WireType.LengthDelimited, "type");
                        (elem, shape) = ReadType(r.ReadMessage("type"));
                        break;
                    default: r.Skip(wire); break;
                }
            }
            return new OnnxValueInfo(name, elem, shape);
        }

        private static (OnnxDataType, List<OnnxDimension>?) ReadType(ProtoReader r)
        {
            var elem = OnnxDataType.Undefined;
            List<OnnxDimension>? shape = null;
            while (r.HasMore)
            {
                var (field, wire) = r.ReadTag();
                if (field == 1) // tensor_type
                {
                    r.Expect(wire, WireType.LengthDelimited, "tensor_type");
                    var t = r.ReadMessage("tensor_type");
                    while (t.HasMore)
                    {
                        var (tf, tw) = t.ReadTag();
                        switch (tf)
                        {
                            case 1: t.Expect(tw, WireType.Varint, "elem_type"); elem = (OnnxDataType)t.ReadInt32(); break;
                            case 2:
                                t.Expect(tw, WireType.LengthDelimited, "shape");
                                shape = ReadShape(t.ReadMessage("shape"));
                                break;
                            default: t.Skip(tw); break;
                        }
                    }
                }
                else
                {
                    r.Skip(wire); // sequence/map/optional/sparse types and denotation: not needed
                }
            }
            return (elem, shape);
        }

        private static List<OnnxDimension> ReadShape(ProtoReader r)
        {
            var dims = new List<OnnxDimension>();
            while (r.HasMore)
            {
                var (field, wire) = r.ReadTag();
                if (field != 1) { r.Skip(wire); continue; }
                r.Expect(wire, WireType.LengthDelimited, "dim");
                var d = r.ReadMessage("dim", dims.Count);
                long? value = null;
                string? param = null;
                while (d.HasMore)
                {
                    var (df, dw) = d.ReadTag();
                    switch (df)
                    {
                        case 1: d.Expect(dw, WireType.Varint, "dim_value"); value = d.ReadInt64(); break;
                        case 2: d.Expect(dw, WireType.LengthDelimited, "dim_param"); param = d.ReadString(); break;
                        default: d.Skip(dw); break;
                    }
                }
                dims.Add(new OnnxDimension(value, param));
            }
            return dims;
        }

        private OnnxTensor ReadTensor(ProtoReader r)
        {
            var start = r.Position;
            var dims = new List<long>();
            var dataType = OnnxDataType.Undefined;
            string name = "";
            ReadOnlyMemory<byte> raw = default;
            var hasRaw = false;
            List<float>? floats = null;
            List<int>? int32s = null;
            List<long>? int64s = null;
            List<double>? doubles = null;
            List<ulong>? uint64s = null;
            var strings = 0;
            var external = false;
            while (r.HasMore)
            {
                var (field, wire) = r.ReadTag();
                switch (field)
                {
                    case 1: r.ReadRepeatedInt64(wire, dims, "dims", MaxTensorRank); break;
                    case 2: r.Expect(wire, WireType.Varint, "data_type"); dataType = (OnnxDataType)r.ReadInt32(); break;
                    case 3: throw r.Error($"tensor '{name}' uses segments, which are not supported");
                    case 4: r.ReadRepeatedFloat(wire, floats ??= [], "float_data"); break;
                    case 5: r.ReadRepeatedInt32(wire, int32s ??= [], "int32_data"); break;
                    case 6: r.Expect(wire, WireType.LengthDelimited, "string_data"); r.Skip(wire); strings++; break;
                    case 7: r.ReadRepeatedInt64(wire, int64s ??= [], "int64_data"); break;
                    case 8: r.Expect(wire, WireType.LengthDelimited, "name"); name = r.ReadString(); break;
                    case 9: r.Expect(wire, WireType.LengthDelimited, "raw_data"); raw = r.ReadBytes(); hasRaw = true; break;
                    case 10: r.ReadRepeatedDouble(wire, doubles ??= [], "double_data"); break;
                    case 11: r.ReadRepeatedUInt64(wire, uint64s ??= [], "uint64_data"); break;
                    case 13: r.Expect(wire, WireType.LengthDelimited, "external_data"); r.Skip(wire); external = true; break;
                    case 14:
                        r.Expect(wire, WireType.Varint, "data_location");
                        if (r.ReadInt64() == 1) external = true;
                        break;
                    default: r.Skip(wire); break;
                }
            }

            var label = name.Length > 0 ? $"'{name}'" : "(unnamed)";
            if (external)
                throw r.Error($"tensor {label}: external data not supported (weights must be stored inside the .onnx file)", start);
            var dimArray = dims.ToArray();
            foreach (var d in dimArray)
                if (d < 0) throw r.Error($"tensor {label} has a negative dimension {d}", start);
            var count = OnnxTensor.CountElements(dimArray);
            if (count < 0)
                throw r.Error($"tensor {label} shape [{string.Join(", ", dimArray)}] overflows", start);
            if (!Enum.IsDefined(dataType) || dataType == OnnxDataType.Undefined)
                throw r.Error($"tensor {label} has unknown data_type {(int)dataType}", start);

            var fieldsUsed = (hasRaw ? 1 : 0) + (floats is null ? 0 : 1) + (int32s is null ? 0 : 1) + (int64s is null ? 0 : 1)
                + (doubles is null ? 0 : 1) + (uint64s is null ? 0 : 1) + (strings > 0 ? 1 : 0);
            if (fieldsUsed > 1)
                throw r.Error($"tensor {label} stores data in more than one field", start);

            long stored;
            string dataField;
            if (hasRaw)
            {
                var es = OnnxTensor.ElementSize(dataType);
                if (es == 0) throw r.Error($"tensor {label} of type {dataType} cannot use raw_data", start);
                if (raw.Length % es != 0)
                    throw r.Error($"tensor {label} raw_data has {raw.Length} bytes, not a multiple of {es} ({dataType})", start);
                stored = raw.Length / es;
                dataField = "raw_data";
            }
            else if (floats is not null)
            {
                RequireType(r, label, start, "float_data", dataType, OnnxDataType.Float, OnnxDataType.Complex64);
                stored = dataType == OnnxDataType.Complex64 ? floats.Count / 2 : floats.Count;
                dataField = "float_data";
            }
            else if (int32s is not null)
            {
                RequireType(r, label, start, "int32_data", dataType, OnnxDataType.Int32, OnnxDataType.Int16, OnnxDataType.Int8,
                    OnnxDataType.UInt16, OnnxDataType.UInt8, OnnxDataType.Bool, OnnxDataType.Float16, OnnxDataType.BFloat16);
                stored = int32s.Count;
                dataField = "int32_data";
            }
            else if (int64s is not null)
            {
                RequireType(r, label, start, "int64_data", dataType, OnnxDataType.Int64);
                stored = int64s.Count;
                dataField = "int64_data";
            }
            else if (doubles is not null)
            {
                RequireType(r, label, start, "double_data", dataType, OnnxDataType.Double, OnnxDataType.Complex128);
                stored = dataType == OnnxDataType.Complex128 ? doubles.Count / 2 : doubles.Count;
                dataField = "double_data";
            }
            else if (uint64s is not null)
            {
                RequireType(r, label, start, "uint64_data", dataType, OnnxDataType.UInt32, OnnxDataType.UInt64);
                stored = uint64s.Count;
                dataField = "uint64_data";
            }
            else if (strings > 0)
            {
                RequireType(r, label, start, "string_data", dataType, OnnxDataType.String);
                stored = strings;
                dataField = "string_data";
            }
            else
            {
                stored = 0;
                dataField = "no data field";
            }
            if (stored != count)
                throw r.Error($"tensor {label} shape [{string.Join(", ", dimArray)}] needs {count} elements but {dataField} holds {stored}", start);

            return new OnnxTensor(name, dataType, dimArray, raw, hasRaw, floats?.ToArray(), int32s?.ToArray(),
                int64s?.ToArray(), doubles?.ToArray(), uint64s?.ToArray(), strings, source);
        }

        private static void RequireType(ProtoReader r, string label, int start, string field, OnnxDataType actual, params OnnxDataType[] allowed)
        {
            if (Array.IndexOf(allowed, actual) < 0)
                throw r.Error($"tensor {label} of type {actual} stores its data in {field}, which is not valid for that type", start);
        }
    }
}
