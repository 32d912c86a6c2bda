namespace SamRealtime.Tracking;

/// <summary>
/// The tracking rules every tracker front end applies to a decoded object (<see cref="VideoTracker"/> on host frames,
/// the engine pass on GPU statistics): whether a propagated mask is accepted, and the prompt box carried to the next
/// frame. Boxes have exclusive ends, as <see cref="Model.Prompt.Box"/>.
/// </summary>
internal sealed class TrackingRules(TrackerOptions options)
{
    public TrackerOptions Options => options;

    /// <summary>A mask is kept when it is not empty and, unless the user just prompted it, SAM is confident, its size is
    /// plausible next to the last accepted one and its appearance is like the prompted one.</summary>
    public bool Accept(bool userPrompt, float score, long area, long previousArea, float similarity) =>
        area > 0 && (userPrompt || (score >= options.MinScore && AreaPlausible(previousArea, area) && similarity >= options.MinFeatureSimilarity));

    public bool AreaPlausible(long previous, long area) =>
        previous == 0 || (area <= previous * options.MaxAreaChange && area * options.MaxAreaChange >= previous);

    /// <summary>A box (exclusive ends) enlarged by the margin and clipped to the image.</summary>
    public (float, float, float, float) Enlarge(float x0, float y0, float x1, float y1, int width, int height)
    {
        float mx = (x1 - 1 - x0) * options.BoxMargin, my = (y1 - 1 - y0) * options.BoxMargin;
        return (Math.Max(0, x0 - mx), Math.Max(0, y0 - my), Math.Min(width, x1 + mx), Math.Min(height, y1 + my));
    }

    /// <summary>Appearance similarity to the prompted frame: 1 on a prompted frame or when either feature is unknown.</summary>
    public static float Similarity(bool userPrompt, float[]? reference, float[]? feature) =>
        userPrompt || reference is null || feature is null ? 1f : Cosine(reference, feature);

    public static float Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
        return na == 0 || nb == 0 ? 0 : (float)(dot / Math.Sqrt(na * nb));
    }
}
