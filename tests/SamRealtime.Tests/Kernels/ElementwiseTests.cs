using SamRealtime.Kernels;
using SamRealtime.Vulkan;
using Xunit;

namespace SamRealtime.Tests.Kernels;

// Metric: add/copy/broadcast are one fp32 rounding from the double reference (|err| ≤ 1e-6 + 1e-6·|want|);
// GELU against the double erf form: atol 1e-6 + rtol 1e-5 (the shader's erf is good to 1.5e-7 absolute);
// fp16 storage: atol 2e-3 + rtol 2e-3 (inputs are pre-rounded to fp16, so this measures the output store).
public sealed class ElementwiseTests(GpuFixture fixture) : GpuTest(fixture)
{
    private enum Op { Add, Activate, AddActivate, Copy, AddBroadcast }

    private static double Act(double v, Activation act) =>
        act switch { Activation.Gelu => Reference.Gelu(v), Activation.Relu => Math.Max(v, 0), _ => v };

    public static TheoryData<int, int, int, int, bool> Cases() => new()
    {
        // op, count, act, period (AddBroadcast), fp16
        { (int)Op.Add, 4096 * 64, 0, 0, false },
        { (int)Op.Add, 1, 0, 0, false },
        { (int)Op.Add, 1027, 0, 0, false },                 // not a multiple of 4 or of the workgroup
        { (int)Op.Activate, 4096 * 256, 1, 0, false },      // TinyViT MLP hidden, GELU
        { (int)Op.Activate, 1003, 2, 0, false },
        { (int)Op.Activate, 7, 0, 0, false },
        { (int)Op.AddActivate, 64 * 128 * 128, 1, 0, false },   // MBConv: GELU(x + residual)
        { (int)Op.AddActivate, 333, 2, 0, false },
        { (int)Op.Copy, 4099, 0, 0, false },
        { (int)Op.AddBroadcast, 256 * 4096, 0, 256 * 4096, false }, // positional encoding, batch 1
        { (int)Op.AddBroadcast, 3 * 64 * 36, 0, 64 * 36, false },   // period % 4 == 0, batch 3
        { (int)Op.AddBroadcast, 5 * 257, 0, 257, false },           // period % 4 != 0 (scalar path)
        { (int)Op.AddBroadcast, 10, 0, 3, false },
        { (int)Op.Add, 4096 * 64 + 3, 0, 0, true },
        { (int)Op.AddActivate, 50001, 1, 0, true },
        { (int)Op.Activate, 4097, 1, 0, true },
        { (int)Op.AddBroadcast, 3 * 257, 0, 257, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesReference(int opCode, int count, int act, int period, bool fp16)
    {
        var op = (Op)opCode;
        var type = fp16 ? DataType.F16 : DataType.F32;
        int bLen = op == Op.AddBroadcast ? period : count;
        var a = Reference.Random(count, count + opCode, 4f);
        var b = Reference.Random(bLen, count + 7, 4f);
        if (fp16) { a = Reference.ToHalf(a); b = Reference.ToHalf(b); }
        var want = new double[count];
        for (int i = 0; i < count; i++)
            want[i] = op switch
            {
                Op.Add => (double)a[i] + b[i],
                Op.Activate => Act(a[i], (Activation)act),
                Op.AddActivate => Act((double)a[i] + b[i], (Activation)act),
                Op.Copy => a[i],
                _ => (double)a[i] + b[i % period],
            };

        using var ta = Ctx.Upload(a, [count], type, "a");
        using var tb = Ctx.Upload(b, [bLen], type, "b");
        using var to = Ctx.CreateTensor([count], type, "out");
        var ew = new Elementwise(Ctx);
        using (var cs = Ctx.BeginCommands())
        {
            switch (op)
            {
                case Op.Add: ew.Add(cs, ta, tb, to, count); break;
                case Op.Activate: ew.Activate(cs, ta, to, (Activation)act, count); break;
                case Op.AddActivate: ew.AddActivate(cs, ta, tb, to, (Activation)act, count); break;
                case Op.Copy: ew.Copy(cs, ta, to, count); break;
                case Op.AddBroadcast: ew.AddBroadcast(cs, ta, tb, to, count, period); break;
            }
            cs.Submit();
        }
        var got = to.Read();
        if (op == Op.Copy) { Assert.Equal(a, got); return; }
        bool gelu = act == (int)Activation.Gelu && op is Op.Activate or Op.AddActivate;
        double atol = fp16 ? 2e-3 : gelu ? 1e-6 : 1e-6;
        double rtol = fp16 ? 2e-3 : gelu ? 1e-5 : 1e-6;
        Reference.AssertClose(want, got, atol, rtol, $"{op} {count} act {act} {type}");
    }

    [Fact]
    public void GridLargerThanOneDimension()
    {
        // More workgroups than maxComputeWorkGroupCount[0] allows in x: the grid must spill into y/z.
        var max = Ctx.Info.MaxComputeWorkGroupCount[0];
        long need = (long)max * 64 * 4 + 12345;   // > max groups of 64 invocations x 4 elements
        if (need > 300_000_000) return;             // a device with a huge x limit needs no split; nothing to test
        int count = (int)need;
        var a = new float[count];
        for (int i = 0; i < count; i++) a[i] = i % 1000;
        using var ta = Ctx.Upload(a, [count]);
        using var to = Ctx.CreateTensor([count]);
        using (var cs = Ctx.BeginCommands())
        {
            new Elementwise(Ctx).Activate(cs, ta, to, Activation.Relu, count);
            cs.Submit();
        }
        var got = to.Read();
        for (int i = 0; i < count; i += 997) Assert.Equal(a[i], got[i]);
        Assert.Equal(a[^1], got[^1]);
    }

    [Fact]
    public void RejectsBadShapes()
    {
        using var a = Ctx.CreateTensor([100]);
        using var b = Ctx.CreateTensor([50]);
        using var h = Ctx.CreateTensor([100], DataType.F16);
        using var o = Ctx.CreateTensor([100]);
        using var cs = Ctx.BeginCommands();
        var ew = new Elementwise(Ctx);
        var e = Assert.Throws<ShapeException>(() => ew.Add(cs, a, b, o, 100));
        Assert.Contains("elementwise.add", e.Message);
        Assert.Contains("[50]", e.Message);
        Assert.Throws<ShapeException>(() => ew.Add(cs, a, h, o, 100));
        Assert.Throws<ShapeException>(() => ew.Add(cs, a, a, a, 100));
        Assert.Throws<ShapeException>(() => ew.Copy(cs, a, o, 0));
        Assert.Throws<ShapeException>(() => ew.AddBroadcast(cs, a, b, o, 100, 0));
        Assert.Throws<ShapeException>(() => ew.AddBroadcast(cs, a, b, o, 100, 51));
        ew.AddBroadcast(cs, a, b, o, 100, 50);   // fits
    }
}
