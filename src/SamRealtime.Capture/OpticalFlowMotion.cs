using OpenCvSharp;
using SamRealtime.Tracking;

namespace SamRealtime.Capture;

/// <summary>
/// Object motion from sparse optical flow: corners inside the object's previous mask (Shi-Tomasi), followed into the
/// new frame by pyramidal Lucas-Kanade, kept only when flowing them back lands where they started, then a similarity
/// transform fitted with RANSAC (so background corners caught at the mask's edge and points on a passing occluder are
/// outvoted). Too few inliers for a transform leave the median displacement when most points agree on it, else no
/// estimate (the tracker then prompts where the object was, as without flow).
/// </summary>
public sealed class OpticalFlowMotion : IMotionEstimator, IDisposable
{
    private Mat? _previous, _current;

    /// <summary>Pyramid levels above the frame: each doubles the displacement Lucas-Kanade can follow
    /// (about half the window at the top level times 2^levels).</summary>
    public int PyramidLevels { get; init; } = 4;
    public int WindowSize { get; init; } = 21;
    public int MaxCorners { get; init; } = 200;
    /// <summary>How far (pixels) a point flowed forward and back may land from where it started.</summary>
    public float MaxForwardBackwardError { get; init; } = 1f;
    /// <summary>Fewest points for a similarity fit, which must also hold at least half of the followed points.</summary>
    public int MinPoints { get; init; } = 6;

    public void AddFrame(ReadOnlySpan<byte> rgba, int width, int height, int strideBytes)
    {
        using var colour = new Mat(height, width, MatType.CV_8UC4);
        var dst = colour.AsSpan<byte>();
        for (int y = 0; y < height; y++)
            rgba.Slice(y * strideBytes, width * 4).CopyTo(dst.Slice(y * width * 4, width * 4));
        var gray = new Mat();
        Cv2.CvtColor(colour, gray, ColorConversionCodes.RGBA2GRAY);
        _previous?.Dispose();
        // A change of frame size is a new stream: nothing to compare with.
        _previous = _current is not null && _current.Size() == gray.Size() ? _current : null;
        if (_previous is null) _current?.Dispose();
        _current = gray;
    }

    public Motion? Estimate(ReadOnlySpan<byte> previousMask)
    {
        if (_previous is null || _current is null) return null;
        int w = _previous.Cols, h = _previous.Rows;
        if (previousMask.Length != w * h) throw new ArgumentException($"Mask has {previousMask.Length} bytes, expected {w}x{h}.");
        using var mask = new Mat(h, w, MatType.CV_8UC1);
        previousMask.CopyTo(mask.AsSpan<byte>());
        var corners = Cv2.GoodFeaturesToTrack(_previous, MaxCorners, 0.01, 5, mask, 3, false, 0.04);
        if (corners.Length == 0) return null;
        var win = new Size(WindowSize, WindowSize);
        var criteria = new TermCriteria(CriteriaTypes.Count | CriteriaTypes.Eps, 30, 0.01);
        var forward = Array.Empty<Point2f>();
        Cv2.CalcOpticalFlowPyrLK(_previous, _current, corners, ref forward, out var okF, out _, win, PyramidLevels, criteria);
        var back = Array.Empty<Point2f>();
        Cv2.CalcOpticalFlowPyrLK(_current, _previous, forward, ref back, out var okB, out _, win, PyramidLevels, criteria);
        var from = new List<Point2f>();
        var to = new List<Point2f>();
        for (int i = 0; i < corners.Length; i++)
        {
            if (okF[i] == 0 || okB[i] == 0) continue;
            float dx = back[i].X - corners[i].X, dy = back[i].Y - corners[i].Y;
            if (dx * dx + dy * dy > MaxForwardBackwardError * MaxForwardBackwardError) continue;
            from.Add(corners[i]);
            to.Add(forward[i]);
        }
        // Occluded or blurred objects leave few points, and a fit to a few can be anything: a motion is only believed
        // when most of the followed points agree on it.
        if (from.Count >= MinPoints)
        {
            using var inliers = new Mat();
            using var fit = Cv2.EstimateAffinePartial2D(InputArray.Create(from), InputArray.Create(to), inliers,
                                                        RobustEstimationAlgorithms.RANSAC, 3, 2000, 0.99, 10);
            int count = fit is null || fit.Empty() ? 0 : Cv2.CountNonZero(inliers);
            if (count >= MinPoints && 2 * count >= from.Count)
            {
                var m = new Motion((float)fit!.At<double>(0, 0), (float)fit.At<double>(1, 0), (float)fit.At<double>(0, 2), (float)fit.At<double>(1, 2));
                // A fit that halves or doubles the object between two frames is a degenerate point set, not motion.
                if (m.Scale is > 0.5f and < 2f) return m;
            }
        }
        if (from.Count < 3) return null;
        var ddx = from.Zip(to, (a, b) => b.X - a.X).ToArray();
        var ddy = from.Zip(to, (a, b) => b.Y - a.Y).ToArray();
        float mx = Median(ddx), my = Median(ddy);
        int agree = Enumerable.Range(0, from.Count).Count(i => MathF.Abs(ddx[i] - mx) <= 3 && MathF.Abs(ddy[i] - my) <= 3);
        return 2 * agree > from.Count ? Motion.Translation(mx, my) : null;
    }

    private static float Median(IEnumerable<float> values)
    {
        var v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    public void Dispose()
    {
        _previous?.Dispose();
        _current?.Dispose();
        _previous = _current = null;
    }
}
