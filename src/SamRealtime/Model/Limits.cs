namespace SamRealtime.Model;

/// <summary>
/// The sizes every entry point accepts (SamModel, VideoTracker, SamPass, the C ABI and the CLI all check here), chosen
/// so that a call within them finishes in a frame's time and bounded memory, and a call beyond them is refused before
/// any allocation or GPU work instead of running for minutes.
/// </summary>
public static class Limits
{
    /// <summary>Points in one prompt. The decoder attends over every point token, so its cost and memory grow with
    /// the count; SAM was trained with a handful of clicks and a few hundred is already far past any benefit.</summary>
    public const int MaxPointsPerPrompt = 256;

    /// <summary>Objects in one tracker or pass, and prompts in one batched <see cref="SamModel.Predict(IReadOnlyList{Prompt}, bool)"/>:
    /// each costs a decoder batch entry and a full-size mask every frame.</summary>
    public const int MaxObjects = 64;

    /// <summary>Longest image side in pixels: 8K video and 40-megapixel photos fit; the full-size masks and the
    /// pixel upload grow with the area, and the encoder sees 1024 pixels on the longest side whatever comes in.</summary>
    public const int MaxImageSide = 8192;

    /// <summary>Throws <see cref="ArgumentException"/> when a prompt has more than <see cref="MaxPointsPerPrompt"/> points.</summary>
    public static void CheckPointCount(int count)
    {
        if (count > MaxPointsPerPrompt)
            throw new ArgumentException($"A prompt has {count} points; at most {MaxPointsPerPrompt} are accepted.");
    }

    /// <summary>Throws <see cref="ArgumentException"/> when <paramref name="count"/> objects exceed <see cref="MaxObjects"/>.</summary>
    public static void CheckObjectCount(int count)
    {
        if (count > MaxObjects)
            throw new ArgumentException($"{count} objects; at most {MaxObjects} are accepted per tracker, pass or batch.");
    }

    /// <summary>Throws <see cref="ArgumentException"/> for an empty image or one with a side over <see cref="MaxImageSide"/>.</summary>
    public static void CheckImageSize(int width, int height)
    {
        if (width <= 0 || height <= 0)
            throw new ArgumentException($"Image size {width}x{height} is empty.");
        if (width > MaxImageSide || height > MaxImageSide)
            throw new ArgumentException($"Image size {width}x{height} is too large; the longest side may be at most {MaxImageSide} pixels.");
    }
}
