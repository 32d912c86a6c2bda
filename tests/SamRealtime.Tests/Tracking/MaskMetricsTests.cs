using SamRealtime.Capture.Benchmark;
using Xunit;

namespace SamRealtime.Tests.Tracking;

/// <summary>J and F on hand-made masks whose answers are known exactly.</summary>
public sealed class MaskMetricsTests
{
    private const int W = 64, H = 48;

    private static byte[] Rect(int x0, int y0, int w, int h, byte[]? into = null)
    {
        var m = into ?? new byte[W * H];
        for (int y = y0; y < y0 + h; y++)
        for (int x = x0; x < x0 + w; x++) m[y * W + x] = 255;
        return m;
    }

    [Fact]
    public void IdenticalMasksScoreOne()
    {
        var a = Rect(10, 10, 20, 15);
        Assert.Equal(1, MaskMetrics.Jaccard(a, (byte[])a.Clone()));
        Assert.Equal(1, MaskMetrics.BoundaryF(a, (byte[])a.Clone(), W, H, 0));
    }

    [Fact]
    public void DisjointMasksScoreZero()
    {
        var a = Rect(2, 2, 10, 10);
        var b = Rect(40, 30, 10, 10);
        Assert.Equal(0, MaskMetrics.Jaccard(a, b));
        Assert.Equal(0, MaskMetrics.BoundaryF(a, b, W, H, 3));
    }

    [Fact]
    public void ShiftedSquareHasKnownIou()
    {
        // 10x10 squares 5 px apart: 50 shared pixels of 150.
        Assert.Equal(1.0 / 3, MaskMetrics.Jaccard(Rect(10, 10, 10, 10), Rect(15, 10, 10, 10)), 12);
    }

    [Fact]
    public void OnePixelShiftIsWithinTheTolerance()
    {
        var a = Rect(10, 10, 20, 15);
        var b = Rect(11, 10, 20, 15);
        Assert.Equal(1, MaskMetrics.BoundaryF(a, b, W, H, 1));
        // Without tolerance the vertical edges miss each other (the horizontal ones still mostly meet).
        Assert.True(MaskMetrics.BoundaryF(a, b, W, H, 0) < 1);
    }

    [Fact]
    public void ExtraBlobHalvesPrecision()
    {
        // Prediction = the true square plus an equal square far away: P = 1/2, R = 1, F = 2/3.
        var truth = Rect(5, 5, 10, 10);
        var pred = Rect(40, 30, 10, 10, Rect(5, 5, 10, 10));
        Assert.Equal(2.0 / 3, MaskMetrics.BoundaryF(pred, truth, W, H, 2), 12);
        Assert.Equal(0.5, MaskMetrics.Jaccard(pred, truth), 12);
    }

    [Fact]
    public void EmptyMasksFollowDavis()
    {
        var empty = new byte[W * H];
        var a = Rect(10, 10, 5, 5);
        Assert.Equal(1, MaskMetrics.Jaccard(empty, empty));
        Assert.Equal(1, MaskMetrics.BoundaryF(empty, empty, W, H, 2));
        Assert.Equal(0, MaskMetrics.Jaccard(a, empty));
        Assert.Equal(0, MaskMetrics.BoundaryF(a, empty, W, H, 2));
        Assert.Equal(0, MaskMetrics.BoundaryF(empty, a, W, H, 2));
    }

    [Fact]
    public void ImageBorderIsNoBoundary()
    {
        // A mask filling the left half has one contour column (x = 31), not a frame around it.
        var b = MaskMetrics.Boundary(Rect(0, 0, W / 2, H), W, H);
        Assert.Equal(H, b.Count(v => v));
        Assert.All(Enumerable.Range(0, H), y => Assert.True(b[y * W + W / 2 - 1]));
    }

    [Fact]
    public void ToleranceIsDavisFractionOfTheDiagonal()
    {
        Assert.Equal(8, MaskMetrics.BoundaryTolerance(768, 576));     // 0.008 * 960 = 7.68
        Assert.Equal(4, MaskMetrics.BoundaryTolerance(320, 240));     // 0.008 * 400 = 3.2
    }
}
