using System.Diagnostics;
using SamRealtime.Weights;
using Xunit;
using Xunit.Abstractions;

namespace SamRealtime.Tests.Weights;

/// <summary>
/// Mutation fuzzing from fixed seeds: truncations and byte flips of a hand-built model and of the real sam.onnx.
/// The only acceptable outcomes are a successful parse or an <see cref="OnnxFormatException"/>; for mutated
/// sam.onnx files that still parse, weight mapping must succeed or throw <see cref="ModelFormatException"/> /
/// <see cref="OnnxFormatException"/>. Anything else (crash, other exception, hang) fails the test.
/// </summary>
public sealed class OnnxFuzzTests(ITestOutputHelper output)
{
    [Fact]
    public void Mutated_small_model_never_crashes()
    {
        var original = OnnxModelFormatTests.SampleModel();
        var rng = new Random(20240611);
        var sw = Stopwatch.StartNew();
        var parsed = 0;
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = Mutate(original, rng);
            if (TryParse(bytes, "fuzz-small.onnx") is { } m)
            {
                parsed++;
                Touch(m);
            }
        }
        output.WriteLine($"small-model fuzz: {parsed} of 20000 mutated files parsed, {sw.Elapsed}");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), $"fuzzing took {sw.Elapsed}");
        Assert.InRange(parsed, 1, 19_999); // both outcomes happen
    }

    [Fact]
    public void Mutated_sam_onnx_never_crashes()
    {
        var bytes = File.ReadAllBytes(ModelFiles.Decoder);
        var rng = new Random(7);
        var sw = Stopwatch.StartNew();
        var (parsed, mapped, rejected) = (0, 0, 0);

        // Random truncations: must fail cleanly (or parse, when cut exactly at a field boundary).
        for (var i = 0; i < 300; i++)
        {
            var n = rng.Next(bytes.Length);
            if (TryParse(bytes.AsMemory(0, n), "fuzz-trunc.onnx") is { } m) { parsed++; Touch(m); }
        }

        // Byte flips, in place and restored. Most of the file is raw weight data, so aim 80% of the flips at the
        // structural part (nodes come first in the file) and the tail (inputs/outputs), 20% anywhere.
        var structural = Math.Min(bytes.Length, 400_000);
        for (var i = 0; i < 1500; i++)
        {
            var count = 1 + rng.Next(4);
            var positions = new int[count];
            var saved = new byte[count];
            for (var j = 0; j < count; j++)
            {
                var r = rng.NextDouble();
                positions[j] = r < 0.7 ? rng.Next(structural) : r < 0.8 ? bytes.Length - 1 - rng.Next(2000) : rng.Next(bytes.Length);
                saved[j] = bytes[positions[j]];
                bytes[positions[j]] = rng.Next(3) == 0 ? (byte)rng.Next(256) : (byte)(saved[j] ^ (1 << rng.Next(8)));
            }
            try
            {
                if (TryParse(bytes, "fuzz-flip.onnx") is { } m)
                {
                    parsed++;
                    Touch(m);
                    // Mapping of a structurally mutated graph: every 40th parse, to bound the time.
                    if (parsed % 40 == 0)
                    {
                        try
                        {
                            SamDecoderWeights.FromModel(m);
                            mapped++;
                        }
                        catch (ModelFormatException) { rejected++; }
                        catch (OnnxFormatException) { rejected++; }
                    }
                }
            }
            finally
            {
                for (var j = count - 1; j >= 0; j--) bytes[positions[j]] = saved[j];
            }
        }
        output.WriteLine($"sam.onnx fuzz: {parsed} mutated files parsed, {mapped} mapped, {rejected} rejected by the mapper, {sw.Elapsed}");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(120), $"fuzzing took {sw.Elapsed}");
        Assert.True(parsed > 0 && mapped + rejected > 0, $"parsed {parsed}, mapped {mapped}, rejected {rejected}");
    }

    private static OnnxModel? TryParse(ReadOnlyMemory<byte> bytes, string name)
    {
        try
        {
            return OnnxModel.Parse(bytes, name);
        }
        catch (OnnxFormatException e)
        {
            Assert.Contains(name, e.Message);
            return null;
        }
    }

    /// <summary>Uses what was parsed: lookups and conversions must also fail only with format errors.</summary>
    private static void Touch(OnnxModel m)
    {
        var g = m.Graph;
        foreach (var n in g.Nodes)
        {
            foreach (var o in n.Outputs) g.Producer(o);
            foreach (var i in n.Inputs) g.Consumers(i);
            if (n.OpType == "Constant")
            {
                try { OnnxGraph.ConstantNodeValue(n)?.ToFloatArray(); }
                catch (OnnxFormatException) { }
            }
            foreach (var a in n.Attributes) _ = a.ToString();
        }
        foreach (var t in g.Initializers.Where(t => t.ElementCount < 4096))
        {
            try { t.ToFloatArray(); }
            catch (OnnxFormatException) { }
        }
    }

    private static byte[] Mutate(byte[] original, Random rng)
    {
        var bytes = (byte[])original.Clone();
        switch (rng.Next(4))
        {
            case 0:
                return bytes[..rng.Next(bytes.Length)];
            case 1:
                for (var k = 1 + rng.Next(3); k > 0; k--) bytes[rng.Next(bytes.Length)] ^= (byte)(1 << rng.Next(8));
                return bytes;
            case 2:
                for (var k = 1 + rng.Next(3); k > 0; k--) bytes[rng.Next(bytes.Length)] = (byte)rng.Next(256);
                return bytes;
            default:
                var at = rng.Next(bytes.Length);
                var insert = new byte[1 + rng.Next(4)];
                rng.NextBytes(insert);
                return [.. bytes[..at], .. insert, .. bytes[at..]];
        }
    }
}
