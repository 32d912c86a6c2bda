using System.Runtime.InteropServices;
using Silk.NET.Vulkan;
using SamRealtime.Engine;
using SamRealtime.Model;
using SamRealtime.Vulkan;
using Semaphore = Silk.NET.Vulkan.Semaphore;

namespace SamRealtime.Native;

// The structs of samrt.h's engine pass section. Sequential layout with the fields in header order gives the C
// compilers' natural alignment on every 32- and 64-bit ABI we build for, pointers included.

[StructLayout(LayoutKind.Sequential)]
internal unsafe struct SamrtVulkanHost
{
    public nint Instance, PhysicalDevice, Device;
    public uint QueueFamily, QueueIndex;
    public nint GetInstanceProcAddr;
    public uint InstanceApiVersion, EnabledFeatures;
    public byte** InstanceExtensions;
    public uint InstanceExtensionCount;
    public byte** DeviceExtensions;
    public uint DeviceExtensionCount;
}

[StructLayout(LayoutKind.Sequential)]
internal struct SamrtPassOptions
{
    public int FramesInFlight, EncoderInterval, Labels, TrackObjects;
    public float MinScore, BoxMargin;
}

[StructLayout(LayoutKind.Sequential)]
internal struct SamrtImage
{
    public ulong Image;
    public uint Format;
    public int Width, Height;
    public uint Layout, FinalLayout;
}

[StructLayout(LayoutKind.Sequential)]
internal struct SamrtPassObject
{
    public int Id, State;
    public float Score;
    public int X0, Y0, X1, Y1;
}

internal static unsafe partial class Exports
{
    private const uint KnownFeatures = (uint)(HostFeatures.StorageBuffer16BitAccess | HostFeatures.ShaderFloat16 | HostFeatures.TimelineSemaphore);
    private const string DebugUtils = "VK_EXT_debug_utils";

    [UnmanagedCallersOnly(EntryPoint = "samrt_create_on_host")]
    public static nint CreateOnHost(byte* modelDir, SamrtVulkanHost* host, uint flags)
    {
        const string function = "samrt_create_on_host";
        LastError.Clear();
        try
        {
            if (modelDir == null) throw SamrtException.Arg("model_dir is NULL.");
            var dir = Utf8(modelDir);
            if (dir.Length == 0) throw SamrtException.Arg("model_dir is empty.");
            if ((flags & ~(FlagValidation | FlagFp16)) != 0) throw SamrtException.Arg($"flags 0x{flags:x} has unknown bits.");
            var description = ReadHost(host);
            // Adopt quietly collects nothing without debug utils; a caller who asked for the messages explicitly
            // would otherwise believe a clean run had none.
            if ((flags & FlagValidation) != 0 && !description.EnabledInstanceExtensions.Contains(DebugUtils))
                throw SamrtException.Arg($"SAMRT_CREATE_VALIDATION needs {DebugUtils} enabled on the host's instance and listed in host->instance_extensions.");
            var options = new GpuOptions
            {
                Validation = (flags & FlagValidation) != 0 ? true : null,
                Fp16Storage = (flags & FlagFp16) != 0,
            };
            var ctx = GpuContext.Adopt(description, options);
            SamModel? model = null;
            try
            {
                model = new SamModel(ctx, dir, ownsContext: true);
                return Handles.Add(new Session(model));
            }
            catch
            {
                if (model is not null) model.Dispose();
                else ctx.Dispose();
                throw;
            }
        }
        catch (Exception e)
        {
            LastError.Fail(function, e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "samrt_pass_create")]
    public static nint PassCreate(nint ctx, SamrtPassOptions* options)
    {
        LastError.Clear();
        try
        {
            var s = Handles.Get<Session>(ctx, Session.Name);
            var o = ReadOptions(options);
            lock (s.Gate)
            {
                var model = s.Model;
                // The pass reads and writes the host's images, which only exist on the host's device.
                if (!model.Context.IsAdopted)
                    throw SamrtException.Arg("the samrt_ctx was made by samrt_create/samrt_create_ex; a pass needs one from samrt_create_on_host.");
                var pass = new SamPass(model, o);
                try
                {
                    var p = new PassSession(s, pass);
                    var handle = Handles.Add(p);
                    s.Passes.Add(p);
                    return handle;
                }
                catch
                {
                    pass.Dispose();
                    throw;
                }
            }
        }
        catch (Exception e)
        {
            LastError.Fail("samrt_pass_create", e);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "samrt_pass_destroy")]
    public static void PassDestroy(nint pass)
    {
        LastError.Clear();
        try
        {
            var p = Handles.Release<PassSession>(pass, PassSession.Name);
            if (p is null) return;
            lock (p.Owner.Gate)
            {
                try { p.Free(); }
                finally { p.Owner.Passes.Remove(p); }
            }
        }
        catch (Exception e)
        {
            LastError.Fail("samrt_pass_destroy", e);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "samrt_pass_add_object")]
    public static int PassAddObject(nint pass, float* pointsXy, int* labels, int numPoints, float* boxXyxy, int* idOut) =>
        WithPass("samrt_pass_add_object", pass, p =>
        {
            if (idOut == null) throw SamrtException.Arg("id_out is NULL.");
            var prompt = MakePrompt(pointsXy, labels, numPoints, boxXyxy);
            *idOut = p.AddObject(prompt);
            return 0;
        });

    [UnmanagedCallersOnly(EntryPoint = "samrt_pass_update_object")]
    public static int PassUpdateObject(nint pass, int id, float* pointsXy, int* labels, int numPoints, float* boxXyxy) =>
        WithPass("samrt_pass_update_object", pass, p =>
        {
            var prompt = MakePrompt(pointsXy, labels, numPoints, boxXyxy);
            p.UpdateObject(RequireObject(p, id), prompt);
            return 0;
        });

    [UnmanagedCallersOnly(EntryPoint = "samrt_pass_remove_object")]
    public static int PassRemoveObject(nint pass, int id) =>
        WithPass("samrt_pass_remove_object", pass, p =>
        {
            p.RemoveObject(RequireObject(p, id));
            return 0;
        });

    [UnmanagedCallersOnly(EntryPoint = "samrt_pass_clear_objects")]
    public static int PassClearObjects(nint pass) =>
        WithPass("samrt_pass_clear_objects", pass, p =>
        {
            p.ClearObjects();
            return 0;
        });

    [UnmanagedCallersOnly(EntryPoint = "samrt_pass_record")]
    public static int PassRecord(nint pass, nint commandBuffer, SamrtImage* source, SamrtImage* mask, int frameSlot) =>
        WithPass("samrt_pass_record", pass, p =>
        {
            if (commandBuffer == 0) throw SamrtException.Arg("vk_command_buffer is NULL.");
            var (src, dst) = ReadImages(source, mask);
            CheckSlot(p, frameSlot);
            p.Record(new CommandBuffer(commandBuffer), src, dst, frameSlot);
            return 0;
        });

    [UnmanagedCallersOnly(EntryPoint = "samrt_pass_submit")]
    public static int PassSubmit(nint pass, SamrtImage* source, SamrtImage* mask, int frameSlot, ulong waitSemaphore,
                                 ulong waitValue, ulong signalTimeline, ulong signalValue) =>
        WithPass("samrt_pass_submit", pass, p =>
        {
            var (src, dst) = ReadImages(source, mask);
            CheckSlot(p, frameSlot);
            if (signalTimeline == 0) throw SamrtException.Arg("signal_timeline is 0; samrt_pass_submit signals a timeline semaphore.");
            if (signalValue == 0) throw SamrtException.Arg("signal_value is 0; a timeline signal value must be greater than 0.");
            if (waitSemaphore == 0 && waitValue != 0) throw SamrtException.Arg($"wait_value is {waitValue} but wait_semaphore is 0.");
            p.Submit(src, dst, frameSlot, waitSemaphore == 0 ? null : new Semaphore(waitSemaphore), waitValue,
                     new Semaphore(signalTimeline), signalValue);
            return 0;
        });

    [UnmanagedCallersOnly(EntryPoint = "samrt_pass_objects")]
    public static int PassObjects(nint pass, SamrtPassObject* output, int capacity, int* count) =>
        WithPass("samrt_pass_objects", pass, p =>
        {
            if (count == null) throw SamrtException.Arg("count is NULL.");
            if (capacity < 0) throw SamrtException.Arg($"capacity {capacity} is negative.");
            if (capacity > 0 && output == null) throw SamrtException.Arg($"out is NULL but capacity is {capacity}.");
            var objects = p.Objects;
            *count = objects.Count;
            if (output == null) return 0;
            if (capacity < objects.Count)
                throw new SamrtException(ErrorCode.BufferTooSmall, $"capacity {capacity} is less than the pass's {objects.Count} objects.");
            for (int i = 0; i < objects.Count; i++)
            {
                var o = objects[i];
                // Inclusive corners, as samrt_object's boxes are; the pass's own box ends are exclusive.
                // A lost object is not in the mask image, so a box would point at nothing the host can see.
                var (x0, y0, x1, y1) = CConvention.Box(o.State == PassObjectState.Tracked ? o.Box : null);
                output[i] = new SamrtPassObject
                {
                    Id = o.Id,
                    State = o.State switch { PassObjectState.Tracked => 0, PassObjectState.Lost => 1, _ => 2 },
                    Score = o.State == PassObjectState.Pending ? 0 : o.Score,
                    X0 = x0, Y0 = y0, X1 = x1, Y1 = y1,
                };
            }
            return objects.Count;
        });

    // ---------------------------------------------------------------- helpers

    /// <summary>Runs <paramref name="body"/> on a pass under its context's lock.</summary>
    private static int WithPass(string function, nint pass, Func<SamPass, int> body)
    {
        LastError.Clear();
        try
        {
            var p = Handles.Get<PassSession>(pass, PassSession.Name);
            lock (p.Owner.Gate) return body(p.Pass);
        }
        catch (Exception e)
        {
            return LastError.Fail(function, e);
        }
    }

    private static HostVulkan ReadHost(SamrtVulkanHost* h)
    {
        if (h == null) throw SamrtException.Arg("host is NULL.");
        if (h->Instance == 0) throw SamrtException.Arg("host->instance is NULL.");
        if (h->PhysicalDevice == 0) throw SamrtException.Arg("host->physical_device is NULL.");
        if (h->Device == 0) throw SamrtException.Arg("host->device is NULL.");
        if ((h->EnabledFeatures & ~KnownFeatures) != 0)
            throw SamrtException.Arg($"host->enabled_features 0x{h->EnabledFeatures:x} has unknown bits (known: 0x{KnownFeatures:x}).");
        return new HostVulkan
        {
            Instance = h->Instance,
            PhysicalDevice = h->PhysicalDevice,
            Device = h->Device,
            QueueFamily = h->QueueFamily,
            QueueIndex = h->QueueIndex,
            GetInstanceProcAddr = h->GetInstanceProcAddr,
            InstanceApiVersion = h->InstanceApiVersion,
            EnabledFeatures = (HostFeatures)h->EnabledFeatures,
            EnabledInstanceExtensions = Strings(h->InstanceExtensions, h->InstanceExtensionCount, "host->instance_extensions"),
            EnabledDeviceExtensions = Strings(h->DeviceExtensions, h->DeviceExtensionCount, "host->device_extensions"),
        };
    }

    private static string[] Strings(byte** list, uint count, string what)
    {
        if (count == 0) return [];
        if (list == null) throw SamrtException.Arg($"{what} is NULL but its count is {count}.");
        var result = new string[count];
        for (int i = 0; i < count; i++)
        {
            if (list[i] == null) throw SamrtException.Arg($"{what}[{i}] is NULL.");
            result[i] = Utf8(list[i]);
        }
        return result;
    }

    private static SamPassOptions ReadOptions(SamrtPassOptions* o)
    {
        if (o == null) return new SamPassOptions();
        if (o->FramesInFlight is < 1 or > 16) throw SamrtException.Arg($"options->frames_in_flight {o->FramesInFlight} is outside 1..16.");
        if (o->EncoderInterval < 1) throw SamrtException.Arg($"options->encoder_interval {o->EncoderInterval} is less than 1.");
        // Strict booleans: anything else is most likely an uninitialised struct.
        if (o->Labels is not (0 or 1)) throw SamrtException.Arg($"options->labels is {o->Labels}; use 0 or 1.");
        if (o->TrackObjects is not (0 or 1)) throw SamrtException.Arg($"options->track_objects is {o->TrackObjects}; use 0 or 1.");
        if (float.IsNaN(o->MinScore)) throw SamrtException.Arg("options->min_score is NaN.");
        if (!float.IsFinite(o->BoxMargin) || o->BoxMargin < 0) throw SamrtException.Arg($"options->box_margin {o->BoxMargin} is not a finite value >= 0.");
        return new SamPassOptions
        {
            FramesInFlight = o->FramesInFlight,
            EncoderInterval = o->EncoderInterval,
            Labels = o->Labels == 1,
            TrackObjects = o->TrackObjects == 1,
            MinScore = o->MinScore,
            BoxMargin = o->BoxMargin,
        };
    }

    /// <summary>The C images as the pass's; the checks here speak C (VkFormat numbers, field names), SamPass's own
    /// checks (sizes) still follow.</summary>
    private static (HostImage Source, HostImage Mask) ReadImages(SamrtImage* source, SamrtImage* mask)
    {
        var src = ReadImage(source, "source", checkLayout: true);
        // The mask's layout is not read: the pass discards its contents (UNDEFINED -> TRANSFER_DST_OPTIMAL).
        var dst = ReadImage(mask, "mask", checkLayout: false);
        if (src.Format is not (Format.R8G8B8A8Unorm or Format.R8G8B8A8Srgb or Format.B8G8R8A8Unorm or Format.B8G8R8A8Srgb))
            throw SamrtException.Arg($"source->format is {FormatName(src.Format)}, which the pass cannot read; use VK_FORMAT_R8G8B8A8_UNORM/_SRGB " +
                                     $"or VK_FORMAT_B8G8R8A8_UNORM/_SRGB ({(int)Format.R8G8B8A8Unorm}, {(int)Format.R8G8B8A8Srgb}, " +
                                     $"{(int)Format.B8G8R8A8Unorm}, {(int)Format.B8G8R8A8Srgb}).");
        if (dst.Format != Format.R8Unorm)
            throw SamrtException.Arg($"mask->format is {FormatName(dst.Format)}; the mask must be VK_FORMAT_R8_UNORM ({(int)Format.R8Unorm}).");
        if (src.Layout == ImageLayout.Undefined)
            throw SamrtException.Arg("source->layout is VK_IMAGE_LAYOUT_UNDEFINED, which would discard the image; give the layout it is in.");
        return (src, dst);
    }

    private static HostImage ReadImage(SamrtImage* p, string what, bool checkLayout)
    {
        if (p == null) throw SamrtException.Arg($"{what} is NULL.");
        if (p->Image == 0) throw SamrtException.Arg($"{what}->image is VK_NULL_HANDLE.");
        var layout = (ImageLayout)p->Layout;
        var final = (ImageLayout)p->FinalLayout;
        // An unknown value is most likely garbage; Vulkan would take it as undefined behaviour, not an error.
        if (checkLayout && !Enum.IsDefined(layout)) throw SamrtException.Arg($"{what}->layout {p->Layout} is not a VkImageLayout.");
        if (!Enum.IsDefined(final)) throw SamrtException.Arg($"{what}->final_layout {p->FinalLayout} is not a VkImageLayout.");
        if (final is ImageLayout.Undefined or ImageLayout.Preinitialized)
            throw SamrtException.Arg($"{what}->final_layout is {(final == ImageLayout.Undefined ? "VK_IMAGE_LAYOUT_UNDEFINED" : "VK_IMAGE_LAYOUT_PREINITIALIZED")}, " +
                                     "which no transition may go to; give the layout the image should be left in.");
        return new HostImage(new Image(p->Image), (Format)p->Format, p->Width, p->Height, checkLayout ? layout : ImageLayout.Undefined, final);
    }

    private static string FormatName(Format f) =>
        Enum.IsDefined(f) ? $"VkFormat {(uint)f} ({f})" : $"VkFormat {(uint)f}";

    private static void CheckSlot(SamPass p, int frameSlot)
    {
        int n = p.Options.FramesInFlight;
        if (frameSlot < 0 || frameSlot >= n)
            throw SamrtException.Arg($"frame_slot {frameSlot} is outside 0..{n - 1} (frames_in_flight {n}).");
    }

    private static int RequireObject(SamPass p, int id) =>
        p.Objects.Any(o => o.Id == id) ? id : throw SamrtException.Arg($"the pass has no object {id}.");
}
