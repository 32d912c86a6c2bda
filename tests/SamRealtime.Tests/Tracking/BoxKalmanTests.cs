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
}
