using SamRealtime.Vulkan;
using Xunit;

namespace SamRealtime.Tests;

/// <summary>One validated Vulkan context shared by all GPU tests (device creation and pipeline JIT are slow on
/// lavapipe). The tests using it run one at a time, so each validation message belongs to the test that caused it.</summary>
public sealed class GpuFixture : IDisposable
{
    public GpuContext Context { get; }

    public GpuFixture()
    {
        Context = new GpuContext(new GpuOptions { Validation = true, PipelineCacheDirectory = "" });
    }

    public void Dispose()
    {
        Context.Dispose();
    }
}

[CollectionDefinition("gpu")]
public sealed class GpuCollection : ICollectionFixture<GpuFixture>;

/// <summary>Base of GPU tests: fails the test when the validation layer reported a warning or error during it.</summary>
[Collection("gpu")]
public abstract class GpuTest : IDisposable
{
    protected GpuContext Ctx { get; }

    protected GpuTest(GpuFixture fixture)
    {
        Ctx = fixture.Context;
        Ctx.TakeValidationMessages();
    }

    public virtual void Dispose()
    {
        var messages = Ctx.TakeValidationMessages();
        if (messages.Count > 0)
            throw new Xunit.Sdk.XunitException("Vulkan validation reported:\n" + string.Join("\n", messages.Select(m => $"[{m.Severity}] {m.Text}")));
    }
}
