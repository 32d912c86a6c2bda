using Silk.NET.Vulkan;
using SamRealtime.Engine;
using SamRealtime.Model;
using SamRealtime.Vulkan;

namespace SamRealtime.Samples.RenderPass;

/// <summary>
/// SamRealtime's pass as the renderer's mask stage, on the renderer's own device: a context adopting it, the model
/// and the pass. The renderer's layout contract is stated as the pass's <see cref="HostImage"/>s, and the
/// renderer's frame slots are the pass's, so its fence wait before reusing a slot is the wait the pass requires.
/// </summary>
public sealed class SamMaskStage : IMaskStage, IDisposable
{
    public GpuContext Context { get; }
    public SamModel Model { get; }
    public SamPass Pass { get; }

    /// <param name="gpuOptions">Pipeline cache and fp16 choices; validation follows the renderer's (it goes through the
    /// renderer's instance extension, and the context's own messenger adds which kernel was being built).</param>
    public SamMaskStage(Renderer renderer, string modelDir, SamPassOptions? options = null, GpuOptions? gpuOptions = null)
    {
        Context = GpuContext.Adopt(renderer.Host, (gpuOptions ?? new GpuOptions()) with { Validation = renderer.ValidationEnabled });
        try
        {
            Model = new SamModel(Context, modelDir);
            Pass = new SamPass(Model, (options ?? new SamPassOptions()) with { FramesInFlight = renderer.FramesInFlight });
        }
        catch
        {
            Model?.Dispose();
            Context.Dispose();
            throw;
        }
    }

    public void Record(CommandBuffer cmd, MaskTargets t, int slot)
    {
        var source = new HostImage(t.Scene, t.SceneFormat, t.Width, t.Height, Renderer.SceneLayoutBeforeMask, Renderer.SceneLayoutAfterMask);
        var mask = new HostImage(t.Mask, Renderer.MaskFormat, t.Width, t.Height, ImageLayout.Undefined, Renderer.MaskLayoutAfterMask);
        Pass.Record(cmd, source, mask, slot);
    }

    /// <summary>Pass, model, context: each waits for the queue, and all go before the renderer's device.</summary>
    public void Dispose()
    {
        Pass.Dispose();
        Model.Dispose();
        Context.Dispose();
    }
}
