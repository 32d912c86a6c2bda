using System.Globalization;

namespace SamRealtime.Weights;

/// <summary>
/// A human-readable listing of a graph (ops, input/output names, constant shapes and small constant values),
/// for studying an exported model. Used by a test that writes the listings to the temp directory.
/// </summary>
internal static class OnnxGraphDump
{
    public static void Write(OnnxModel model, TextWriter w)
    {
        var g = model.Graph;
        w.WriteLine($"# {model.SourcePath}");
        w.WriteLine($"ir_version {model.IrVersion}, producer {model.ProducerName} {model.ProducerVersion}, opsets " +
                    string.Join(", ", model.OpsetImports.Select(o => $"{(o.Domain.Length == 0 ? "ai.onnx" : o.Domain)}:{o.Version}")));
        foreach (var i in g.Inputs) w.WriteLine($"INPUT  {i}");
        foreach (var o in g.Outputs) w.WriteLine($"OUTPUT {o}");
        w.WriteLine($"initializers {g.Initializers.Count} ({model.InitializerParameterCount} float elements), " +
                    $"nodes {g.Nodes.Count}, float constants >1 element: {model.ConstantParameterCount}");
        w.WriteLine("op counts: " + string.Join(", ", g.Nodes.GroupBy(n => n.OpType).OrderByDescending(x => x.Count())
            .Select(x => $"{x.Key} {x.Count()}")));
        foreach (var t in g.Initializers) w.WriteLine($"INIT   {t}");
        foreach (var n in g.Nodes)
        {
            var ins = string.Join(", ", n.Inputs.Select(i => Describe(g, i)));
            var attrs = string.Join(" ", n.Attributes.Select(a => a.Type == OnnxAttributeType.Tensor && a.Tensor is not null
                ? $"{a.Name}={Small(a.Tensor)}" : a.ToString()));
            w.WriteLine($"{n.Index,5} {n.OpType,-18} {n.Name}  in=[{ins}] out=[{string.Join(", ", n.Outputs)}] {attrs}");
        }
    }

    private static string Describe(OnnxGraph g, string value)
    {
        if (value.Length == 0) return "''";
        if (g.InitializersByName.TryGetValue(value, out var t)) return $"{value}<{t.ShapeString}>";
        return value;
    }

    private static string Small(OnnxTensor t)
    {
        var s = $"{t.DataType}{t.ShapeString}";
        if (t.ElementCount is > 0 and <= 8 && t.DataType != OnnxDataType.String)
        {
            try
            {
                s += "=" + string.Join(",", t.ToFloatArray().Select(v => v.ToString("R", CultureInfo.InvariantCulture)));
            }
            catch (OnnxFormatException)
            {
                // not convertible: the type and shape are enough
            }
        }
        return s;
    }
}
