using SamRealtime.Tracking;
using Xunit;

namespace SamRealtime.Tests.Tracking;

// The box motion model on exact synthetic tracks: it learns a constant velocity and growth from measured boxes,
// extrapolates while it coasts, and a measurement pulls it back.
public sealed class BoxKalmanTests
{
    private static (int, int, int, int) BoxAt(double cx, double cy, double w, double h) =>
        ((int)Math.Round(cx - w / 2), (int)Math.Round(cy - h / 2), (int)Math.Round(cx + w / 2), (int)Math.Round(cy + h / 2));

    [Fact]
    public void LearnsAConstantVelocityAndCoastsOnIt()
    {
        var k = new BoxKalman();
        Assert.False(k.Initialised);
        // 12 px/frame right, 5 down, height growing 2 px/frame at a fixed aspect of 1.5.
        for (int f = 0; f < 15; f++)
        {
            k.Predict();
            k.Correct(BoxAt(100 + 12 * f, 200 + 5 * f, 1.5 * (80 + 2 * f), 80 + 2 * f));
        }
        Assert.True(k.Initialised);
        var (vx, vy) = k.Velocity;
        Assert.InRange(vx, 11.0, 13.0);
        Assert.InRange(vy, 4.0, 6.0);
        // Five frames without a measurement: the prediction is where the object has gone, not where it was lost.
        for (int f = 15; f < 20; f++) k.Predict();
        var (x0, y0, x1, y1) = k.Box(1);
        double cx = (x0 + x1) / 2, cy = (y0 + y1) / 2, h = y1 - y0;
        Assert.InRange(cx, 100 + 12 * 20 - 8, 100 + 12 * 20 + 8);
        Assert.InRange(cy, 200 + 5 * 20 - 5, 200 + 5 * 20 + 5);
        Assert.InRange(h, 80 + 2 * 20 - 6, 80 + 2 * 20 + 6);
        Assert.InRange((x1 - x0) / h, 1.4, 1.6);
    }

    [Fact]
    public void AMeasurementAfterAJumpPullsTheStateToIt()
    {
        var k = new BoxKalman();
        for (int f = 0; f < 10; f++) { k.Predict(); k.Correct(BoxAt(300, 300, 60, 60)); }
        var (vx, vy) = k.Velocity;
        Assert.True(Math.Abs(vx) < 0.5 && Math.Abs(vy) < 0.5, $"still object, velocity {vx}, {vy}");
        // The object reappears 200 px away: the position follows the measurements within a few frames.
        for (int f = 0; f < 6; f++) { k.Predict(); k.Correct(BoxAt(500, 300, 60, 60)); }
        var (x0, _, x1, _) = k.Box();
        Assert.InRange((x0 + x1) / 2, 480.0, 520.0);
    }

    /// <summary>The gate's centre and covariance k frames ahead are what k predictions give (plus the measurement noise),
    /// and the gate widens while the filter coasts; a gate around a prediction contains the predicted box and not a box
    /// a few standard deviations away.</summary>
    [Fact]
    public void TheMotionGateIsThePredictionAndWidensWhileCoasting()
    {
        var k = new BoxKalman();
        for (int f = 0; f < 10; f++)
        {
            k.Predict();
            k.Correct(BoxAt(300 - 4 * f, 200 + f, 34, 80));
        }
        var ahead = k.Centre(3);
        var (x0, y0, x1, y1) = k.Box(3);
        Assert.Equal((x0 + x1) / 2, ahead.X, 3);
        Assert.Equal((y0 + y1) / 2, ahead.Y, 3);
        for (int f = 0; f < 3; f++) k.Predict();
        var now = k.Centre(0);
        Assert.Equal(ahead.Sxx, now.Sxx, 9);
        Assert.Equal(ahead.Sxy, now.Sxy, 9);
        Assert.Equal(ahead.Syy, now.Syy, 9);
        Assert.True(k.Centre(6).Sxx > k.Centre(1).Sxx && k.Centre(6).Syy > k.Centre(1).Syy);

        // Frame 640x480; SAM resizes it to 1024x768, so a low-res cell is 2.5 pixels.
        var gate = MotionGate.Of(k, 5.99f, 640, 480)!.Value;
        var (px0, py0, px1, py1) = k.Box(1);
        int Cell(double px) => (int)Math.Floor(px / 2.5);
        Assert.True(gate.Contains(Cell(px0), Cell(py0), Cell(px1) - 1, Cell(py1) - 1));
        double sd = Math.Sqrt(k.Centre(1).Syy);
        Assert.False(gate.Contains(Cell(px0), Cell(py0 + 4 * sd), Cell(px1) - 1, Cell(py1 + 4 * sd) - 1));
        Assert.Null(MotionGate.Of(new BoxKalman(), 5.99f, 640, 480));
    }
}
