using Silk.NET.Vulkan;
using SamRealtime.Engine;
using SamRealtime.Kernels;
using SamRealtime.Model;
using SamRealtime.Tracking;
using SamRealtime.Vulkan;

namespace SamRealtime.Capture.Benchmark;

/// <summary>
/// <see cref="SamPass"/> with tracking on, driven the way an engine drives it, so that the benchmark can score it on
/// the same sequences as <see cref="VideoTracker"/>. It plays the host on the model's own device: an RGBA8 source
/// image and an R8 mask image, and per frame one command buffer that uploads the frame into the source image, has the
/// pass recorded into it (<see cref="SamPass.Record"/>, frame slot 0, one frame in flight), copies the mask image out,
/// and is submitted and waited for. The pass then applies its rules to that frame (<see cref="SamPass.Complete"/>).
/// <para>A result's <see cref="ObjectResult.Mask"/> is the object's label in the mask image, as the engine would show
/// it: the pass renders a frame's masks before its rules judge them (they change the next frame's prompts), so a
/// rejected mask is still drawn when its score passes <see cref="TrackerOptions.MinScore"/>. The pass reports no
/// appearance similarity (NaN).</para>
/// </summary>
public sealed class PassTracker : IDisposable
{
    private const int Slot = 0;
    private readonly GpuContext _ctx;
    private readonly SamPass _pass;
    private GpuImage? _source, _mask;
    private GpuBuffer? _pixels, _labels;

    /// <param name="options">The pass's options; tracking, labels and one frame in flight are forced on.</param>
    public PassTracker(SamModel model, SamPassOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        _ctx = model.Context;
        _pass = new SamPass(model, (options ?? new SamPassOptions()) with { TrackObjects = true, Labels = true, FramesInFlight = 1 });
    }

    public SamPass Pass => _pass;

    /// <summary>Adds an object from a prompt on the next frame; returns its id (its label in the mask image).</summary>
    public int AddObject(Prompt prompt) => _pass.AddObject(prompt);

    /// <summary>One frame through the pass: every object's mask from the mask image and its state after the rules.</summary>
    public IReadOnlyList<ObjectResult> Track(RgbaImage frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        int w = frame.Width, h = frame.Height;
        Limits.CheckImageSize(w, h);
        if (frame.Pixels.Length < w * h * 4) throw new ArgumentException($"Frame of {w}x{h} holds only {frame.Pixels.Length} bytes.");
        Resize(w, h);
        using (var cs = _ctx.BeginCommands())
        {
            cs.Write(_pixels!, frame.Pixels.AsSpan(0, w * h * 4));
            var src = _source!.Handle;
            cs.ImageBarrier(src, ImageLayout.Undefined, ImageLayout.TransferDstOptimal, PipelineStageFlags.TopOfPipeBit, 0,
                            PipelineStageFlags.TransferBit, AccessFlags.TransferWriteBit);
            cs.CopyBufferToImage(_pixels!, src, (uint)w, (uint)h);
            cs.ImageBarrier(src, ImageLayout.TransferDstOptimal, ImageLayout.TransferSrcOptimal, PipelineStageFlags.TransferBit,
                            AccessFlags.TransferWriteBit, PipelineStageFlags.TransferBit, AccessFlags.TransferReadBit);
            // The pass leaves the mask image in TRANSFER_SRC_OPTIMAL with its write made visible: copy it out as is.
            _pass.Record(cs.Handle, new HostImage(src, Format.R8G8B8A8Unorm, w, h, ImageLayout.TransferSrcOptimal),
                         new HostImage(_mask!.Handle, Format.R8Unorm, w, h, ImageLayout.TransferSrcOptimal), Slot);
            cs.CopyImageToBuffer(_mask.Handle, (uint)w, (uint)h, _labels!);
            cs.Submit();
        }
        _pass.Complete(Slot);
        var labels = new byte[w * h];
        _labels!.Read(labels);
        return _pass.Objects.Select(o =>
        {
            var mask = new byte[labels.Length];
            for (int i = 0; i < labels.Length; i++) if (labels[i] == o.Id) mask[i] = 255;
            var state = o.State == PassObjectState.Tracked ? TrackState.Tracked : TrackState.Lost;
            return new ObjectResult(o.Id, mask, o.Score, state, o.Box, float.NaN);
        }).ToArray();
    }

    /// <summary>The host's images and buffers follow the frame size (the pass checks the pair on every frame).</summary>
    private void Resize(int w, int h)
    {
        if (_source is { } s && s.Width == w && s.Height == h) return;
        // Earlier frames were waited for; nothing in flight uses the old ones.
        DisposeImages();
        _source = new GpuImage(_ctx, w, h, Format.R8G8B8A8Unorm, ImageUsageFlags.TransferDstBit | ImageUsageFlags.TransferSrcBit);
        _mask = new GpuImage(_ctx, w, h, Format.R8Unorm, ImageUsageFlags.TransferDstBit | ImageUsageFlags.TransferSrcBit);
        _pixels = _ctx.CreateBuffer((ulong)w * (ulong)h * 4, BufferKind.Device, "host.pixels");
        _labels = _ctx.CreateBuffer(MaskOutput.PackedBytes((long)w * h), BufferKind.Readback, "host.mask");
    }

    private void DisposeImages()
    {
        _source?.Dispose();
        _mask?.Dispose();
        _pixels?.Dispose();
        _labels?.Dispose();
        _source = _mask = null;
        _pixels = _labels = null;
    }

    public void Dispose()
    {
        // Waits for the device, so the images are free to go.
        _pass.Dispose();
        DisposeImages();
    }
}
