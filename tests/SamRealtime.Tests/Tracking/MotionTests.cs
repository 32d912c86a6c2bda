using OpenCvSharp;
using SamRealtime.Capture;
using SamRealtime.Tests.Weights;
using SamRealtime.Tracking;
using Xunit;

namespace SamRealtime.Tests.Tracking;

/// <summary>The motion model and the optical-flow estimator on a real photo moved by a known transform.</summary>
public sealed class MotionTests
{
    [Fact]
    public void InverseUndoesTheMotion()
    {
        var m = new Motion(1.1f * MathF.Cos(0.3f), 1.1f * MathF.Sin(0.3f), 12, -7);
        var (x, y) = m.Apply(40, 25);
        var (bx, by) = m.Inverse().Apply(x, y);
        Assert.Equal(40, bx, 3);
        Assert.Equal(25, by, 3);
        Assert.Equal(1.1f, m.Scale, 5);
        Assert.Equal(0.3f, m.Angle, 5);
    }

    [Theory]
    [InlineData(6, -4, 0, 1, 1)]          // a few pixels
    [InlineData(90, 40, 0, 1, 1)]         // fast: far beyond a 15% box margin
    // Turning and coming closer: Lucas-Kanade follows translating patches, so a turned, grown patch lands a little
    // off; 2 px at the box corners is a 1.5% error in scale and angle, well inside the box margin.
    [InlineData(10, 5, 8, 1.08, 2)]
    public void OpticalFlowRecoversAKnownMotion(float dx, float dy, double degrees, double scale, float tolerance)
    {
        var truck = ImageIO.LoadRgba(Path.Combine(ModelFiles.RepoRoot, "samples", "data", "truck.jpg"));
        using var full = Mat.FromPixelData(truck.Height, truck.Width, MatType.CV_8UC4, truck.Pixels);
        using var first = new Mat();
        Cv2.Resize(full, first, new Size(768, 512));
        // The true motion: about the front tyre's centre, then shifted.
        var centre = new Point2f(240, 315);
        using var rot = Cv2.GetRotationMatrix2D(centre, -degrees, scale);   // OpenCV's positive angle turns counter-clockwise as seen
        rot.At<double>(0, 2) += dx;
        rot.At<double>(1, 2) += dy;
        using var second = new Mat();
        Cv2.WarpAffine(first, second, rot, first.Size(), InterpolationFlags.Linear, BorderTypes.Reflect101);
        var truth = new Motion((float)rot.At<double>(0, 0), (float)rot.At<double>(1, 0), (float)rot.At<double>(0, 2), (float)rot.At<double>(1, 2));

        // The object: the tyre's box on the first frame.
        var mask = new byte[768 * 512];
        for (int y = 255; y < 375; y++)
        for (int x = 180; x < 300; x++) mask[y * 768 + x] = 255;
        using var estimator = new OpticalFlowMotion();
        Assert.Null(estimator.Estimate(mask));                    // no frame yet
        foreach (var frame in new[] { first, second })
        {
            frame.GetArray(out Vec4b[] px);
            estimator.AddFrame(System.Runtime.InteropServices.MemoryMarshal.AsBytes(px.AsSpan()), 768, 512, 768 * 4);
        }
        var m = estimator.Estimate(mask) ?? throw new Xunit.Sdk.XunitException("no motion estimated");
        foreach (var (x, y) in new[] { (180f, 255f), (300f, 375f), (240f, 315f) })
        {
            var (ex, ey) = m.Apply(x, y);
            var (tx, ty) = truth.Apply(x, y);
            Assert.True(Math.Abs(ex - tx) < tolerance && Math.Abs(ey - ty) < tolerance, $"({x}, {y}) → ({ex:F2}, {ey:F2}), truth ({tx:F2}, {ty:F2})");
        }
    }
}
