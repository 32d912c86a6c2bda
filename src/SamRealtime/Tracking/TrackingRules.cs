namespace SamRealtime.Tracking;

/// <summary>
/// The prompt box every tracker front end carries to the next frame (<see cref="VideoTracker"/> and the engine pass):
/// the last box enlarged by the margin. What is accepted is <see cref="ObjectTrack"/>'s decision. Boxes have exclusive
/// ends, as <see cref="Model.Prompt.Box"/>.
/// </summary>
internal sealed class TrackingRules(TrackerOptions options)
{
    public TrackerOptions Options => options;

    /// <summary>A box (exclusive ends) enlarged by the margin and clipped to the image.</summary>
    public (float, float, float, float) Enlarge(float x0, float y0, float x1, float y1, int width, int height)
    {
        float mx = (x1 - 1 - x0) * options.BoxMargin, my = (y1 - 1 - y0) * options.BoxMargin;
        return (Math.Max(0, x0 - mx), Math.Max(0, y0 - my), Math.Min(width, x1 + mx), Math.Min(height, y1 + my));
    }
}
