using System.Runtime.InteropServices;
using System.Text;
using SamRealtime.Kernels;
using SamRealtime.Model;
using SamRealtime.Vulkan;

namespace SamRealtime.Native;

/// <summary>
/// The C ABI of samrt.h (the header documents each function). Every export catches everything: an exception that
/// reached C would end the host process. Argument checks name the C parameter, because that is what the caller sees.
/// </summary>
internal static unsafe partial class Exports
{
    private const int Version = 200; // keep equal to SAMRT_VERSION in include/samrt.h

    [UnmanagedCallersOnly(EntryPoint = "samrt_version")]
    public static int SamrtVersion() => Version;

    [UnmanagedCallersOnly(EntryPoint = "samrt_last_error")]
    public static byte* SamrtLastError() => LastError.Current;

    [UnmanagedCallersOnly(EntryPoint = "samrt_create")]
    public static nint Create(byte* modelDir) => CreateCore("samrt_create", modelDir, null, 0);

    [UnmanagedCallersOnly(EntryPoint = "samrt_create_ex")]
    public static nint CreateEx(byte* modelDir, byte* device, uint flags) => CreateCore("samrt_create_ex", modelDir, device, flags);

    private const uint FlagValidation = 1, FlagFp16 = 2;

    private static nint CreateCore(string function, byte* modelDir, byte* device, uint flags)
    {
        LastError.Clear();
        try
        {
            if (modelDir == null) throw SamrtException.Arg("model_dir is NULL.");
            if ((flags & ~(FlagValidation | FlagFp16)) != 0) throw SamrtException.Arg($"flags 0x{flags:x} has unknown bits.");
            var dir = Utf8(modelDir);
            if (dir.Length == 0) throw SamrtException.Arg("model_dir is empty.");
            var options = new GpuOptions
            {
                Device = device == null || *device == 0 ? null : Utf8(device),
                // Unset, the SAMRT_VALIDATION environment variable still decides.
                Validation = (flags & FlagValidation) != 0 ? true : null,
                Fp16Storage = (flags & FlagFp16) != 0,
            };
            var model = SamModel.Load(dir, options);
            try { return Handles.Add(new Session(model)); }
            catch { model.Dispose(); throw; }
        }
        catch (Exception e)
        {
            LastError.Fail(function, e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "samrt_destroy")]
    public static void Destroy(nint ctx)
    {
        LastError.Clear();
        try { Handles.Release<Session>(ctx, Session.Name)?.Destroy(); }
        catch (Exception e) { LastError.Fail("samrt_destroy", e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "samrt_device_name")]
    public static int DeviceName(nint ctx, byte* buf, int bufSize) =>
        WithSession("samrt_device_name", ctx, s => LastError.CopyTo(s.Model.Context.Info.Name, buf, bufSize));

    [UnmanagedCallersOnly(EntryPoint = "samrt_set_image_rgba8")]
    public static int SetImageRgba8(nint ctx, byte* rgba, int width, int height, int strideBytes) =>
        WithSession("samrt_set_image_rgba8", ctx, s =>
        {
            s.Model.SetImage(Pixels(rgba, width, height, strideBytes), width, height, strideBytes, PixelFormat.Rgba8);
            return 0;
        });

    [UnmanagedCallersOnly(EntryPoint = "samrt_image_size")]
    public static int ImageSize(nint ctx, int* widthOut, int* heightOut) =>
        WithSession("samrt_image_size", ctx, s =>
        {
            if (widthOut == null || heightOut == null) throw SamrtException.Arg("width_out or height_out is NULL.");
            var m = RequireImage(s);
            *widthOut = m.ImageWidth;
            *heightOut = m.ImageHeight;
            return 0;
        });

    [UnmanagedCallersOnly(EntryPoint = "samrt_predict")]
    public static int Predict(nint ctx, float* pointsXy, int* labels, int numPoints, float* boxXyxy, byte* maskOut, float* scoreOut) =>
        WithSession("samrt_predict", ctx, s =>
        {
            var m = RequireImage(s);
            var prompt = MakePrompt(pointsXy, labels, numPoints, boxXyxy);
            if (maskOut == null) throw SamrtException.Arg("mask_out is NULL.");
            var p = m.Predict(prompt);
            p.BestMask.CopyTo(new Span<byte>(maskOut, p.BestMask.Length));
            if (scoreOut != null) *scoreOut = p.BestScore;
            return 0;
        });

    [UnmanagedCallersOnly(EntryPoint = "samrt_predict_multimask")]
    public static int PredictMultimask(nint ctx, float* pointsXy, int* labels, int numPoints, float* boxXyxy, byte* masksOut, float* scoresOut) =>
        WithSession("samrt_predict_multimask", ctx, s =>
        {
            var m = RequireImage(s);
            var prompt = MakePrompt(pointsXy, labels, numPoints, boxXyxy);
            if (masksOut == null) throw SamrtException.Arg("masks_out is NULL.");
            var p = m.Predict(prompt, multimask: true);
            int n = p.Width * p.Height;
            for (int k = 0; k < p.Masks.Length; k++)
            {
                p.Masks[k].CopyTo(new Span<byte>(masksOut + (long)k * n, n));
                if (scoresOut != null) scoresOut[k] = p.Scores[k];
            }
            return p.Best;
        });

    [UnmanagedCallersOnly(EntryPoint = "samrt_take_validation_messages")]
    public static int TakeValidationMessages(nint ctx, byte* buf, int bufSize) =>
        WithSession("samrt_take_validation_messages", ctx, s =>
        {
            // Checked before taking, so a bad buffer does not lose the messages.
            LastError.CopyTo("", buf, bufSize);
            var messages = s.Model.Context.TakeValidationMessages();
            var text = new StringBuilder();
            foreach (var m in messages) text.Append('[').Append(m.Severity).Append("] ").Append(m.Text).Append('\n');
            LastError.CopyTo(text.ToString(), buf, bufSize);
            return messages.Count;
        });

    // ---------------------------------------------------------------- helpers

    /// <summary>Runs <paramref name="body"/> on the context under its lock; any exception becomes a return code.</summary>
    private static int WithSession(string function, nint ctx, Func<Session, int> body)
    {
        LastError.Clear();
        try
        {
            var s = Handles.Get<Session>(ctx, Session.Name);
            lock (s.Gate) return body(s);
        }
        catch (Exception e)
        {
            return LastError.Fail(function, e);
        }
    }

    private static SamModel RequireImage(Session s)
    {
        var m = s.Model;
        if (!m.HasImage) throw new SamrtException(ErrorCode.NoImage, "no image: call samrt_set_image_rgba8 first.");
        return m;
    }

    private static string Utf8(byte* s) => Marshal.PtrToStringUTF8((nint)s) ?? "";

    /// <summary>The caller's pixels as a span, after the checks that must come before reading them.</summary>
    private static ReadOnlySpan<byte> Pixels(byte* rgba, int width, int height, int strideBytes)
    {
        if (rgba == null) throw SamrtException.Arg("rgba is NULL.");
        Limits.CheckImageSize(width, height);
        if (strideBytes < 4L * width) throw SamrtException.Arg($"stride_bytes {strideBytes} is less than 4*width ({4L * width}).");
        long bytes = (long)strideBytes * (height - 1) + 4L * width;
        if (bytes > Array.MaxLength) throw SamrtException.Arg($"image {width}x{height} with stride {strideBytes} is too large ({bytes} bytes).");
        return new ReadOnlySpan<byte>(rgba, (int)bytes);
    }

    /// <summary>Reads a C prompt. Coordinates are checked against the image where it is used (Prompt.Validate).</summary>
    internal static Prompt MakePrompt(float* pointsXy, int* labels, int numPoints, float* boxXyxy)
    {
        if (numPoints < 0) throw SamrtException.Arg($"num_points {numPoints} is negative.");
        Limits.CheckPointCount(numPoints);
        if (numPoints > 0 && pointsXy == null) throw SamrtException.Arg($"points_xy is NULL but num_points is {numPoints}.");
        if (numPoints > 0 && labels == null) throw SamrtException.Arg($"labels is NULL but num_points is {numPoints}.");
        if (numPoints == 0 && boxXyxy == null) throw SamrtException.Arg("empty prompt: give at least one point or a box.");
        var points = new PromptPoint[numPoints];
        for (int i = 0; i < numPoints; i++)
        {
            var label = labels[i] switch
            {
                1 => PointLabel.Positive,
                0 => PointLabel.Negative,
                var l => throw SamrtException.Arg($"labels[{i}] is {l}; use 1 (positive) or 0 (negative)."),
            };
            points[i] = new PromptPoint(pointsXy[2 * i], pointsXy[2 * i + 1], label);
        }
        return new Prompt
        {
            Points = points,
            Box = boxXyxy == null ? null : (boxXyxy[0], boxXyxy[1], boxXyxy[2], boxXyxy[3]),
        };
    }
}
