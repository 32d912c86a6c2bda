using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.InteropServices;
using Silk.NET.Core.Native;
using Silk.NET.Vulkan;
using SamRealtime.Capture;
using SamRealtime.Vulkan;

namespace SamRealtime.Samples.RenderPass;

public sealed record RendererOptions
{
    /// <summary>Size of the rendered frame (colour target, mask and composite).</summary>
    public int Width { get; init; } = 640;
    public int Height { get; init; } = 480;

    /// <summary>Size of the video frames that <see cref="Renderer.Submit"/> uploads.</summary>
    public required int VideoWidth { get; init; }
    public required int VideoHeight { get; init; }

    public int FramesInFlight { get; init; } = 2;

    /// <summary>VK_LAYER_KHRONOS_validation with a debug-utils messenger; null: on when SAMRT_VALIDATION=1.</summary>
    public bool? Validation { get; init; }

    /// <summary>With validation, also the layer's synchronization validation (missing or too weak barriers between the
    /// renderer's and the mask stage's commands). Null: on when SAMRT_SYNC_VALIDATION=1.</summary>
    public bool? SynchronizationValidation { get; init; }

    /// <summary>Also copy the colour target and the mask back every frame (tests compare the composite with them).</summary>
    public bool ReadBackInputs { get; init; }

    /// <summary>Device index or name substring; null: SAMRT_DEVICE, else the best device with a graphics+compute queue.</summary>
    public string? Device { get; init; }

    public CompositeStyle Style { get; init; } = new();
}

/// <summary>The AR effect: inside the mask, <c>mix(scene, Tint.rgb, Tint.a)</c>; an inner rim of <see cref="Radius"/>
/// pixels (L1 distance to the nearest outside pixel) in <see cref="Outline"/>; outside, the scene unchanged.</summary>
public sealed record CompositeStyle
{
    public Vector4 Tint { get; init; } = new(0.1f, 0.6f, 1.0f, 0.5f);
    public Vector3 Outline { get; init; } = new(1.0f, 0.85f, 0.1f);
    public int Radius { get; init; } = 2;
}

/// <summary>GPU time of one frame's parts, from timestamp queries; null where the queue has no timestamps.</summary>
public sealed record FrameTimes(double SceneMs, double MaskMs, double CompositeMs);

/// <summary>A finished frame read back to the CPU: RGBA8 composite, and the inputs when asked for.</summary>
public sealed record RenderedFrame(int Index, int Width, int Height, byte[] Composite, byte[]? Scene, byte[]? Mask, FrameTimes? Times);

/// <summary>
/// A small offscreen Vulkan renderer that plays the part of a host engine: its own instance, device, one
/// graphics+compute queue, command buffers and targets. Each frame it draws a video frame on a full-screen triangle
/// and a lit rotating cube (depth-tested) into an RGBA8 colour target, lets an <see cref="IMaskStage"/> record the
/// mask into the same command buffer, and composites the effect from the mask into an output image that is copied
/// back. Frames go through <see cref="RendererOptions.FramesInFlight"/> slots, each with its own images, so the CPU
/// prepares frame N+1 while the GPU still runs frame N.
/// </summary>
public sealed unsafe partial class Renderer : IDisposable
{
    /// <summary>Layouts of the <see cref="MaskTargets"/> contract.</summary>
    public const ImageLayout SceneLayoutBeforeMask = ImageLayout.TransferSrcOptimal;
    public const ImageLayout SceneLayoutAfterMask = ImageLayout.ShaderReadOnlyOptimal;
    public const ImageLayout MaskLayoutAfterMask = ImageLayout.ShaderReadOnlyOptimal;

    public const Format SceneFormat = Format.R8G8B8A8Unorm;
    public const Format MaskFormat = Format.R8Unorm;
    /// <summary>The instance's apiVersion; also what a GpuContext adopting this device is told.</summary>
    public static readonly uint ApiVersion = Vk.Version12;

    private const int QueriesPerFrame = 4;

    private readonly Vk _vk;
    private readonly RendererOptions _options;
    private readonly ConcurrentQueue<ValidationMessage> _messages = new();
    private GCHandle _self;
    private DebugUtilsMessengerEXT _messenger;
    private readonly List<string> _instanceExtensions = [];

    public Instance Instance { get; }
    public PhysicalDevice PhysicalDevice { get; }
    public Device Device { get; }
    public Queue Queue { get; }
    public uint QueueFamily { get; }
    public string DeviceName { get; } = "";
    public bool ValidationEnabled { get; }
    /// <summary>Device features the renderer enabled because the library can use them (timeline semaphores, fp16).</summary>
    public bool TimelineSemaphore { get; }
    public bool StorageBuffer16BitAccess { get; }
    public bool ShaderFloat16 { get; }
    public IReadOnlyList<string> InstanceExtensions => _instanceExtensions;
    internal Vk Vk => _vk;
    /// <summary>This renderer's instance, device and queue as SamRealtime's <see cref="GpuContext.Adopt"/> takes them.</summary>
    public HostVulkan Host => new()
    {
        Instance = Instance.Handle,
        PhysicalDevice = PhysicalDevice.Handle,
        Device = Device.Handle,
        QueueFamily = QueueFamily,
        QueueIndex = 0,
        InstanceApiVersion = ApiVersion,
        EnabledFeatures = (TimelineSemaphore ? HostFeatures.TimelineSemaphore : 0)
                          | (StorageBuffer16BitAccess ? HostFeatures.StorageBuffer16BitAccess : 0)
                          | (ShaderFloat16 ? HostFeatures.ShaderFloat16 : 0),
        EnabledInstanceExtensions = _instanceExtensions.ToArray(),
    };

    public int Width => _options.Width;
    public int Height => _options.Height;
    public int FramesInFlight => _options.FramesInFlight;

    private CommandPool _pool;
    private DescriptorPool _descriptorPool;
    private QueryPool _queries;
    private double _timestampPeriodNs;
    private Format _depthFormat;
    private Sampler _linear, _nearest;
    private DescriptorSetLayout _videoSetLayout, _compositeSetLayout;
    private PipelineLayout _videoLayout, _cubeLayout, _compositeLayout;
    private Silk.NET.Vulkan.RenderPass _scenePass, _compositePass;
    private Pipeline _videoPipeline, _cubePipeline, _compositePipeline;
    private readonly List<FrameSlot> _slots = [];
    private int _nextIndex;
    private bool _disposed;

    /// <summary>Validation messages (warnings and errors) from this renderer's own messenger since creation or the
    /// last <see cref="TakeValidationMessages"/>; they include whatever the library does on the adopted device.</summary>
    public IReadOnlyCollection<ValidationMessage> ValidationMessages => _messages.ToArray();

    public IReadOnlyList<ValidationMessage> TakeValidationMessages()
    {
        var list = new List<ValidationMessage>();
        while (_messages.TryDequeue(out var m)) list.Add(m);
        return list;
    }

    public Renderer(RendererOptions options)
    {
        if (options.Width <= 0 || options.Height <= 0 || options.VideoWidth <= 0 || options.VideoHeight <= 0)
            throw new ArgumentException("Render and video sizes must be positive.");
        if (options.FramesInFlight < 1) throw new ArgumentException("FramesInFlight must be at least 1.");
        _options = options;
        _vk = Vk.GetApi();
        ValidationEnabled = options.Validation ?? Environment.GetEnvironmentVariable("SAMRT_VALIDATION") == "1";
        try
        {
            Instance = CreateInstance();
            (PhysicalDevice, QueueFamily, DeviceName) = PickDevice(options.Device ?? Environment.GetEnvironmentVariable("SAMRT_DEVICE"));
            (Device, TimelineSemaphore, StorageBuffer16BitAccess, ShaderFloat16) = CreateDevice();
            _vk.GetDeviceQueue(Device, QueueFamily, 0, out var queue);
            Queue = queue;
            CreateSharedObjects();
            for (int i = 0; i < options.FramesInFlight; i++) _slots.Add(new FrameSlot(this, i));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    // ------------------------------------------------------------------ instance and device

    private Instance CreateInstance()
    {
        const string layer = "VK_LAYER_KHRONOS_validation";
        bool syncValidation = ValidationEnabled && (_options.SynchronizationValidation
                                                    ?? Environment.GetEnvironmentVariable("SAMRT_SYNC_VALIDATION") == "1");
        var layers = new List<string>();
        if (ValidationEnabled)
        {
            uint count = 0;
            _vk.EnumerateInstanceLayerProperties(&count, null);
            var props = new LayerProperties[count];
            fixed (LayerProperties* p = props) _vk.EnumerateInstanceLayerProperties(&count, p);
            if (!props.Any(p => SilkMarshal.PtrToString((nint)p.LayerName) == layer))
                throw new VulkanException($"Validation was requested but {layer} is not installed (Debian: vulkan-validationlayers).");
            layers.Add(layer);
            _instanceExtensions.Add("VK_EXT_debug_utils");
            if (syncValidation) _instanceExtensions.Add("VK_EXT_validation_features"); // provided by the layer
        }

        var name = (byte*)SilkMarshal.StringToPtr("SamRealtime RenderPass sample");
        var layerPtrs = (byte**)SilkMarshal.StringArrayToPtr(layers);
        var extPtrs = (byte**)SilkMarshal.StringArrayToPtr(_instanceExtensions);
        try
        {
            var app = new ApplicationInfo
            {
                SType = StructureType.ApplicationInfo,
                PApplicationName = name,
                PEngineName = name,
                ApiVersion = ApiVersion,
            };
            var messengerInfo = MessengerInfo();
            var syncFeature = ValidationFeatureEnableEXT.SynchronizationValidationExt;
            var features = new ValidationFeaturesEXT
            {
                SType = StructureType.ValidationFeaturesExt,
                EnabledValidationFeatureCount = 1,
                PEnabledValidationFeatures = &syncFeature,
            };
            if (syncValidation) messengerInfo.PNext = &features;
            var info = new InstanceCreateInfo
            {
                SType = StructureType.InstanceCreateInfo,
                // Chained, the messenger also hears about vkCreateInstance and vkDestroyInstance themselves.
                PNext = ValidationEnabled ? &messengerInfo : null,
                PApplicationInfo = &app,
                EnabledLayerCount = (uint)layers.Count,
                PpEnabledLayerNames = layerPtrs,
                EnabledExtensionCount = (uint)_instanceExtensions.Count,
                PpEnabledExtensionNames = extPtrs,
            };
            Instance instance;
            Vkx.Check(_vk.CreateInstance(&info, null, &instance), "vkCreateInstance");
            if (ValidationEnabled)
            {
                // No Silk.NET extension package here, so the entry point is loaded by hand.
                var create = (delegate* unmanaged<Instance, DebugUtilsMessengerCreateInfoEXT*, AllocationCallbacks*, DebugUtilsMessengerEXT*, Result>)
                    (nint)_vk.GetInstanceProcAddr(instance, "vkCreateDebugUtilsMessengerEXT").Handle;
                if (create == null) throw new VulkanException("vkCreateDebugUtilsMessengerEXT is missing.");
                messengerInfo.PNext = null; // the validation features belonged to vkCreateInstance only
                DebugUtilsMessengerEXT messenger;
                Vkx.Check(create(instance, &messengerInfo, null, &messenger), "vkCreateDebugUtilsMessengerEXT");
                _messenger = messenger;
            }
            return instance;
        }
        finally
        {
            SilkMarshal.Free((nint)name);
            SilkMarshal.Free((nint)layerPtrs);
            SilkMarshal.Free((nint)extPtrs);
        }
    }

    private DebugUtilsMessengerCreateInfoEXT MessengerInfo()
    {
        if (!_self.IsAllocated) _self = GCHandle.Alloc(this);
        return new DebugUtilsMessengerCreateInfoEXT
        {
            SType = StructureType.DebugUtilsMessengerCreateInfoExt,
            MessageSeverity = DebugUtilsMessageSeverityFlagsEXT.WarningBitExt | DebugUtilsMessageSeverityFlagsEXT.ErrorBitExt,
            MessageType = DebugUtilsMessageTypeFlagsEXT.GeneralBitExt | DebugUtilsMessageTypeFlagsEXT.ValidationBitExt
                          | DebugUtilsMessageTypeFlagsEXT.PerformanceBitExt,
            PfnUserCallback = new PfnDebugUtilsMessengerCallbackEXT(&OnDebugMessage),
            PUserData = (void*)GCHandle.ToIntPtr(_self),
        };
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    private static Silk.NET.Core.Bool32 OnDebugMessage(DebugUtilsMessageSeverityFlagsEXT severity, DebugUtilsMessageTypeFlagsEXT type,
                                                     DebugUtilsMessengerCallbackDataEXT* data, void* user)
    {
        try
        {
            if (user != null && GCHandle.FromIntPtr((nint)user).Target is Renderer r)
            {
                var sev = (severity & DebugUtilsMessageSeverityFlagsEXT.ErrorBitExt) != 0 ? "error" : "warning";
                r._messages.Enqueue(new ValidationMessage(sev, SilkMarshal.PtrToString((nint)data->PMessage) ?? ""));
            }
        }
        catch
        {
            // Nothing may unwind into the driver.
        }
        return false;
    }

    private (PhysicalDevice, uint, string) PickDevice(string? selector)
    {
        uint count = 0;
        Vkx.Check(_vk.EnumeratePhysicalDevices(Instance, &count, null), "vkEnumeratePhysicalDevices");
        var devices = new PhysicalDevice[count];
        fixed (PhysicalDevice* p = devices) Vkx.Check(_vk.EnumeratePhysicalDevices(Instance, &count, p), "vkEnumeratePhysicalDevices");

        var candidates = new List<(PhysicalDevice Device, uint Family, string Name, int Index, int Rank)>();
        for (int i = 0; i < devices.Length; i++)
        {
            _vk.GetPhysicalDeviceProperties(devices[i], out var props);
            // The library's kernels need 1.1 and this renderer's feature structs 1.2.
            if (props.ApiVersion < Vk.Version12) continue;
            uint n = 0;
            _vk.GetPhysicalDeviceQueueFamilyProperties(devices[i], &n, null);
            var families = new QueueFamilyProperties[n];
            fixed (QueueFamilyProperties* f = families) _vk.GetPhysicalDeviceQueueFamilyProperties(devices[i], &n, f);
            // One family for both, so the SAM pass records into the very command buffer that draws the frame.
            int family = Array.FindIndex(families, f => (f.QueueFlags & (QueueFlags.GraphicsBit | QueueFlags.ComputeBit))
                                                         == (QueueFlags.GraphicsBit | QueueFlags.ComputeBit));
            if (family < 0) continue;
            int rank = props.DeviceType switch
            {
                PhysicalDeviceType.DiscreteGpu => 4, PhysicalDeviceType.IntegratedGpu => 3,
                PhysicalDeviceType.VirtualGpu => 2, PhysicalDeviceType.Cpu => 1, _ => 0,
            };
            candidates.Add((devices[i], (uint)family, SilkMarshal.PtrToString((nint)props.DeviceName) ?? "?", i, rank));
        }
        if (candidates.Count == 0)
            throw new VulkanException("No Vulkan 1.2 device with a graphics+compute queue family (Debian: mesa-vulkan-drivers gives lavapipe).");
        var chosen = selector is null or ""
            ? candidates.OrderByDescending(c => c.Rank).ThenBy(c => c.Index).First()
            : candidates.FirstOrDefault(c => int.TryParse(selector, out int idx) ? c.Index == idx
                                                 : c.Name.Contains(selector, StringComparison.OrdinalIgnoreCase));
        if (chosen.Name is null)
            throw new VulkanException($"No device '{selector}'; devices: {string.Join(", ", candidates.Select(c => $"{c.Index}: {c.Name}"))}");
        return (chosen.Device, chosen.Family, chosen.Name);
    }

    private (Device, bool Timeline, bool Storage16, bool Float16) CreateDevice()
    {
        var have11 = new PhysicalDeviceVulkan11Features { SType = StructureType.PhysicalDeviceVulkan11Features };
        var have12 = new PhysicalDeviceVulkan12Features { SType = StructureType.PhysicalDeviceVulkan12Features, PNext = &have11 };
        var have = new PhysicalDeviceFeatures2 { SType = StructureType.PhysicalDeviceFeatures2, PNext = &have12 };
        _vk.GetPhysicalDeviceFeatures2(PhysicalDevice, &have);

        // Only what is supported, and only what someone uses: timeline semaphores for a pass that signals one,
        // 16-bit storage and fp16 arithmetic for the library's fp16 mode.
        var want11 = new PhysicalDeviceVulkan11Features
        {
            SType = StructureType.PhysicalDeviceVulkan11Features,
            StorageBuffer16BitAccess = have11.StorageBuffer16BitAccess,
        };
        var want12 = new PhysicalDeviceVulkan12Features
        {
            SType = StructureType.PhysicalDeviceVulkan12Features,
            PNext = &want11,
            TimelineSemaphore = have12.TimelineSemaphore,
            ShaderFloat16 = have12.ShaderFloat16,
        };
        var want = new PhysicalDeviceFeatures2 { SType = StructureType.PhysicalDeviceFeatures2, PNext = &want12 };
        float priority = 1f;
        var queueInfo = new DeviceQueueCreateInfo
        {
            SType = StructureType.DeviceQueueCreateInfo,
            QueueFamilyIndex = QueueFamily,
            QueueCount = 1,
            PQueuePriorities = &priority,
        };
        var info = new DeviceCreateInfo
        {
            SType = StructureType.DeviceCreateInfo,
            PNext = &want,
            QueueCreateInfoCount = 1,
            PQueueCreateInfos = &queueInfo,
        };
        Device device;
        Vkx.Check(_vk.CreateDevice(PhysicalDevice, &info, null, &device), "vkCreateDevice");
        return (device, have12.TimelineSemaphore, have11.StorageBuffer16BitAccess, have12.ShaderFloat16);
    }

    // ------------------------------------------------------------------ frames

    /// <summary>
    /// Uploads <paramref name="video"/>, records scene, mask stage and composite into the next slot's command buffer
    /// and submits it. Returns the frame that previously used that slot (waiting for it), or null while the slots
    /// are still filling up; <see cref="Drain"/> returns the rest.
    /// </summary>
    public RenderedFrame? Submit(RgbaImage video, double seconds, IMaskStage maskStage)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (video.Width != _options.VideoWidth || video.Height != _options.VideoHeight)
            throw new ArgumentException($"Video frame is {video.Width}x{video.Height}, the renderer was made for {_options.VideoWidth}x{_options.VideoHeight}.");
        var slot = _slots[_nextIndex % _slots.Count];
        var done = slot.Collect();
        slot.Record(_nextIndex++, video, seconds, maskStage);
        slot.Submit();
        return done;
    }

    /// <summary>Waits for every submitted frame and returns them in submission order.</summary>
    public IReadOnlyList<RenderedFrame> Drain()
    {
        var list = new List<RenderedFrame>();
        for (int i = 0; i < _slots.Count; i++)
            if (_slots[(_nextIndex + i) % _slots.Count].Collect() is { } f) list.Add(f);
        return list;
    }

    /// <summary>Camera, projection and the cube's spin at <paramref name="seconds"/>, in the upper left of the frame
    /// (clear of the people in vtest.avi's middle and right).</summary>
    private CubePush CubeTransform(double seconds)
    {
        float t = (float)seconds;
        var model = Matrix4x4.CreateRotationY(t * 1.3f) * Matrix4x4.CreateRotationX(0.5f + t * 0.7f);
        var world = Matrix4x4.CreateScale(0.75f) * model * Matrix4x4.CreateTranslation(-1.5f, 0.8f, 0f);
        var view = Matrix4x4.CreateLookAt(new Vector3(0, 0, 3.2f), Vector3.Zero, Vector3.UnitY);
        var proj = Matrix4x4.CreatePerspectiveFieldOfView(MathF.PI / 3, (float)Width / Height, 0.1f, 20f);
        // System.Numerics projects with y up; Vulkan's framebuffer y points down.
        var flip = Matrix4x4.CreateScale(1, -1, 1);
        // Row-vector matrices (v * M) read as column-major in GLSL are transposed, so M * v there is the same product.
        return new CubePush { Mvp = world * view * proj * flip, Model = model };
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct CubePush
    {
        public Matrix4x4 Mvp;
        public Matrix4x4 Model;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct CompositePush
    {
        public Vector4 Tint;
        public Vector4 Outline;
        public int Radius;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (Device.Handle != 0)
        {
            _vk.DeviceWaitIdle(Device);
            foreach (var s in _slots) s.Dispose();
            if (_queries.Handle != 0) _vk.DestroyQueryPool(Device, _queries, null);
            if (_descriptorPool.Handle != 0) _vk.DestroyDescriptorPool(Device, _descriptorPool, null);
            foreach (var p in new[] { _videoPipeline, _cubePipeline, _compositePipeline })
                if (p.Handle != 0) _vk.DestroyPipeline(Device, p, null);
            foreach (var p in new[] { _scenePass, _compositePass })
                if (p.Handle != 0) _vk.DestroyRenderPass(Device, p, null);
            foreach (var l in new[] { _videoLayout, _cubeLayout, _compositeLayout })
                if (l.Handle != 0) _vk.DestroyPipelineLayout(Device, l, null);
            foreach (var l in new[] { _videoSetLayout, _compositeSetLayout })
                if (l.Handle != 0) _vk.DestroyDescriptorSetLayout(Device, l, null);
            foreach (var s in new[] { _linear, _nearest })
                if (s.Handle != 0) _vk.DestroySampler(Device, s, null);
            if (_pool.Handle != 0) _vk.DestroyCommandPool(Device, _pool, null);
            _vk.DestroyDevice(Device, null);
        }
        if (Instance.Handle != 0)
        {
            if (_messenger.Handle != 0)
            {
                var destroy = (delegate* unmanaged<Instance, DebugUtilsMessengerEXT, AllocationCallbacks*, void>)
                    (nint)_vk.GetInstanceProcAddr(Instance, "vkDestroyDebugUtilsMessengerEXT").Handle;
                if (destroy != null) destroy(Instance, _messenger, null);
            }
            _vk.DestroyInstance(Instance, null);
        }
        if (_self.IsAllocated) _self.Free();
        _vk.Dispose();
    }
}
