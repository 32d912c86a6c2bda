using System.Runtime.InteropServices;
using SamRealtime.Tracking;

namespace SamRealtime.Native;

/// <summary>samrt_object of samrt.h: all fields 4 bytes, so the layout is the same for every C compiler.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct SamrtObject
{
    public int Id, State;
    public float Score, Similarity;
    public int X0, Y0, X1, Y1;
}

internal static unsafe partial class Exports
{
    [UnmanagedCallersOnly(EntryPoint = "samrt_tracker_create")]
    public static nint TrackerCreate(nint ctx)
    {
        LastError.Clear();
        try
        {
            var s = Handles.Get<Session>(ctx, Session.Name);
            lock (s.Gate) return Handles.Add(new TrackerSession(s));
        }
        catch (Exception e)
        {
            LastError.Fail("samrt_tracker_create", e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "samrt_tracker_destroy")]
    public static void TrackerDestroy(nint tracker)
    {
        LastError.Clear();
        // The tracker's object state lives on its context's device; a context destroyed first has freed it already.
        try
        {
            if (Handles.Release<TrackerSession>(tracker, TrackerSession.Name) is { } t)
                lock (t.Owner.Gate)
                    if (!t.Owner.IsDestroyed) t.Tracker.Dispose();
        }
        catch (Exception e) { LastError.Fail("samrt_tracker_destroy", e); }
    }

    [UnmanagedCallersOnly(EntryPoint = "samrt_tracker_add_object")]
    public static int TrackerAddObject(nint tracker, float* pointsXy, int* labels, int numPoints, float* boxXyxy) =>
        WithTracker("samrt_tracker_add_object", tracker, t =>
        {
            var prompt = MakePrompt(pointsXy, labels, numPoints, boxXyxy);
            int id = t.Tracker.AddObject(prompt);
            return id;
        });

    [UnmanagedCallersOnly(EntryPoint = "samrt_tracker_correct")]
    public static int TrackerCorrect(nint tracker, int id, float* pointsXy, int* labels, int numPoints, float* boxXyxy) =>
        WithTracker("samrt_tracker_correct", tracker, t =>
        {
            var prompt = MakePrompt(pointsXy, labels, numPoints, boxXyxy);
            if (!t.Tracker.ObjectIds.Contains(id)) throw SamrtException.Arg($"the tracker has no object {id}.");
            t.Tracker.Correct(id, prompt);
            return 0;
        });

    [UnmanagedCallersOnly(EntryPoint = "samrt_tracker_num_objects")]
    public static int TrackerNumObjects(nint tracker) =>
        WithTracker("samrt_tracker_num_objects", tracker, t => t.Tracker.ObjectIds.Count);

    [UnmanagedCallersOnly(EntryPoint = "samrt_tracker_track")]
    public static int TrackerTrack(nint tracker, byte* rgba, int width, int height, int strideBytes, byte* masksOut,
                                   SamrtObject* objectsOut, int capacity) =>
        WithTracker("samrt_tracker_track", tracker, t =>
        {
            int count = t.Tracker.ObjectIds.Count;
            if (capacity < 0) throw SamrtException.Arg($"capacity {capacity} is negative.");
            if (capacity < count)
                throw new SamrtException(ErrorCode.BufferTooSmall, $"capacity {capacity} is less than the tracker's {count} objects.");
            if (objectsOut == null && count > 0) throw SamrtException.Arg("objects_out is NULL.");
            var pixels = Pixels(rgba, width, height, strideBytes);
            // The tracker checks its pending prompts against this frame before encoding it.
            var results = t.Tracker.Track(pixels, width, height, strideBytes);
            int n = width * height;
            for (int i = 0; i < results.Count; i++)
            {
                var r = results[i];
                var box = CConvention.Box(r.Box);
                objectsOut[i] = new SamrtObject
                {
                    Id = r.Id,
                    State = r.State == TrackState.Tracked ? 0 : 1,
                    Score = r.Score,
                    Similarity = r.Similarity,
                    X0 = box.X0, Y0 = box.Y0, X1 = box.X1, Y1 = box.Y1,
                };
                if (masksOut != null) r.Mask.CopyTo(new Span<byte>(masksOut + (long)i * n, n));
            }
            return results.Count;
        });

    /// <summary>Runs <paramref name="body"/> on a tracker under its context's lock.</summary>
    private static int WithTracker(string function, nint tracker, Func<TrackerSession, int> body)
    {
        LastError.Clear();
        try
        {
            var t = Handles.Get<TrackerSession>(tracker, TrackerSession.Name);
            lock (t.Owner.Gate)
            {
                if (t.Owner.IsDestroyed)
                    throw new SamrtException(ErrorCode.InvalidHandle, "the samrt_ctx of this samrt_tracker was destroyed.");
                return body(t);
            }
        }
        catch (Exception e)
        {
            return LastError.Fail(function, e);
        }
    }
}
