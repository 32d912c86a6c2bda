using Silk.NET.Vulkan;

namespace SamRealtime.Samples.RenderPass;

/// <summary>
/// The images a mask stage works on in one frame slot. When <see cref="IMaskStage.Record"/> runs (in command order),
/// <see cref="Scene"/> holds the rendered frame in <see cref="Renderer.SceneLayoutBeforeMask"/> with its colour
/// writes visible to transfer and shader reads; the stage must leave it in <see cref="Renderer.SceneLayoutAfterMask"/>.
/// <see cref="Mask"/> (R8_UNORM, same size) starts with undefined contents; the stage writes 255 for the object and 0
/// elsewhere and leaves it in <see cref="Renderer.MaskLayoutAfterMask"/>, visible to fragment shader reads.
/// </summary>
public readonly record struct MaskTargets(Image Scene, Format SceneFormat, Image Mask, int Width, int Height);

/// <summary>Whatever fills the mask between the scene and the composite: SamRealtime's pass, or a fixed mask.</summary>
public interface IMaskStage
{
    /// <summary>Records the stage into the frame's command buffer; <paramref name="slot"/> is the renderer's frame
    /// slot, whose previous use has completed on the GPU.</summary>
    void Record(CommandBuffer cmd, MaskTargets targets, int slot);
}
