using Silk.NET.Vulkan;

namespace SamRealtime.Samples.RenderPass;

/// <summary>
/// A mask stage that copies a fixed CPU mask into the mask image, keeping the <see cref="MaskTargets"/> contract the
/// way the SAM pass does (transfer write, then visible to fragment and compute reads). It lets the renderer and the
/// composite be checked without running the encoder.
/// </summary>
public sealed unsafe class StaticMaskStage : IMaskStage, IDisposable
{
    private readonly Renderer _renderer;
    private readonly HostBuffer _buffer;

    public StaticMaskStage(Renderer renderer, ReadOnlySpan<byte> mask)
    {
        if (mask.Length != renderer.Width * renderer.Height)
            throw new ArgumentException($"Mask has {mask.Length} bytes, the renderer draws {renderer.Width}x{renderer.Height}.");
        _renderer = renderer;
        _buffer = new HostBuffer(renderer.Vk, renderer.PhysicalDevice, renderer.Device, (ulong)mask.Length, BufferUsageFlags.TransferSrcBit);
        mask.CopyTo(_buffer.Span);
    }

    /// <summary>An ellipse of 255 inside the box (x0, y0, x1, y1), 0 elsewhere.</summary>
    public static byte[] Ellipse(int width, int height, (float X0, float Y0, float X1, float Y1) box)
    {
        var mask = new byte[width * height];
        float cx = (box.X0 + box.X1) / 2, cy = (box.Y0 + box.Y1) / 2, rx = (box.X1 - box.X0) / 2, ry = (box.Y1 - box.Y0) / 2;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
            {
                float dx = (x + 0.5f - cx) / rx, dy = (y + 0.5f - cy) / ry;
                if (dx * dx + dy * dy <= 1) mask[y * width + x] = 255;
            }
        return mask;
    }

    public void Record(CommandBuffer cmd, MaskTargets targets, int slot)
    {
        var vk = _renderer.Vk;
        // The scene pass made the colour writes visible to transfer; chaining on the transfer stage carries that.
        Vkx.Barrier(vk, cmd, targets.Scene, ImageAspectFlags.ColorBit, Renderer.SceneLayoutBeforeMask, Renderer.SceneLayoutAfterMask,
                    PipelineStageFlags.TransferBit, 0, PipelineStageFlags.FragmentShaderBit, AccessFlags.ShaderReadBit);
        Vkx.Barrier(vk, cmd, targets.Mask, ImageAspectFlags.ColorBit, ImageLayout.Undefined, ImageLayout.TransferDstOptimal,
                    PipelineStageFlags.TopOfPipeBit, 0, PipelineStageFlags.TransferBit, AccessFlags.TransferWriteBit);
        var region = new BufferImageCopy
        {
            ImageSubresource = new ImageSubresourceLayers(ImageAspectFlags.ColorBit, 0, 0, 1),
            ImageExtent = new Extent3D((uint)targets.Width, (uint)targets.Height, 1),
        };
        vk.CmdCopyBufferToImage(cmd, _buffer.Buffer, targets.Mask, ImageLayout.TransferDstOptimal, 1, &region);
        Vkx.Barrier(vk, cmd, targets.Mask, ImageAspectFlags.ColorBit, ImageLayout.TransferDstOptimal, Renderer.MaskLayoutAfterMask,
                    PipelineStageFlags.TransferBit, AccessFlags.TransferWriteBit,
                    PipelineStageFlags.FragmentShaderBit | PipelineStageFlags.ComputeShaderBit, AccessFlags.ShaderReadBit);
    }

    public void Dispose() => _buffer.Dispose();
}
