namespace SamRealtime.Tracking;

/// <summary>
/// A similarity transform of image pixels, (x, y) → (A·x − B·y + Tx, B·x + A·y + Ty): A = s·cos θ and B = s·sin θ for
/// a scale s and a rotation θ. It is the motion model of one object between two frames: rich enough for an object that
/// moves, turns and comes closer, small enough to estimate robustly from a handful of tracked points.
/// </summary>
public readonly record struct Motion(float A, float B, float Tx, float Ty)
{
    public static Motion Identity => new(1, 0, 0, 0);

    public static Motion Translation(float dx, float dy) => new(1, 0, dx, dy);

    public float Scale => MathF.Sqrt(A * A + B * B);

    /// <summary>Rotation in radians, counter-clockwise in a y-down image (clockwise as seen).</summary>
    public float Angle => MathF.Atan2(B, A);

    public (float X, float Y) Apply(float x, float y) => (A * x - B * y + Tx, B * x + A * y + Ty);

    public Motion Inverse()
    {
        float d = A * A + B * B;
        if (d == 0) throw new InvalidOperationException("A motion with zero scale has no inverse.");
        float ia = A / d, ib = -B / d;
        return new Motion(ia, ib, -(ia * Tx - ib * Ty), -(ib * Tx + ia * Ty));
    }
}

/// <summary>
/// Estimates how an object moved between consecutive frames, from the frames themselves. The tracker gives it every
/// frame it tracks (<see cref="AddFrame"/>), then asks for the motion of each object it holds, named by the object's
/// mask on the previous frame. The library keeps no image-processing dependency: the OpenCV implementation (pyramidal
/// Lucas-Kanade on corners inside the mask) lives in SamRealtime.Capture, and an engine can pass its own (e.g. from
/// the motion vectors its renderer or video decoder already has).
/// </summary>
public interface IMotionEstimator
{
    /// <summary>The next frame, packed RGBA8 rows of <paramref name="strideBytes"/>. Every <see cref="Estimate"/> after
    /// it is from the frame before this one to this one.</summary>
    void AddFrame(ReadOnlySpan<byte> rgba, int width, int height, int strideBytes);

    /// <summary>Motion of the region that <paramref name="previousMask"/> (width×height, non-zero = object) covers on
    /// the previous frame; null when it cannot be told (no previous frame, too few points to follow).</summary>
    Motion? Estimate(ReadOnlySpan<byte> previousMask);
}
