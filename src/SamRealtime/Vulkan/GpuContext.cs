using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Silk.NET.Core;
using Silk.NET.Core.Native;
using Silk.NET.Vulkan;

namespace SamRealtime.Vulkan;

/// <summary>One validation-layer message (severity warning or error).</summary>
public sealed record ValidationMessage(string Severity, string Text);

/// <summary>
/// A Vulkan instance, one physical device, one logical device with a compute queue, and what hangs off them:
/// the memory allocator, the pipeline cache and the kernel cache. Everything GPU-side that the library creates is
/// owned, directly or through these, by one context; disposing it waits for the GPU and frees it all.
/// </summary>
public sealed unsafe class GpuContext : IDisposable
{
    internal readonly Vk Vk;
    internal readonly Instance Instance;
    internal readonly PhysicalDevice PhysicalDevice;
    internal readonly Device Device;
    internal readonly Queue Queue;
    internal readonly uint QueueFamily;
    internal readonly CommandPool CommandPool;
    internal readonly MemoryAllocator Allocator;
    internal PipelineCache PipelineCache;
    internal readonly object CommandPoolLock = new();

    private readonly DebugUtilsMessengerEXT _messenger;
    private GCHandle _selfHandle;
    private readonly string? _pipelineCachePath;
    private readonly ConcurrentQueue<ValidationMessage> _validation = new();
    private readonly Dictionary<string, ComputeKernel> _kernels = new();
    private readonly object _queueLock = new();
    private bool _disposed;
    // False when the instance and device belong to a host renderer (see Adopt): those are never destroyed here.
    private readonly bool _ownsDevice = true;
    private readonly uint _queueIndex;

    /// <summary>True when this context adopted a host's device (<see cref="Adopt"/>).</summary>
    public bool IsAdopted => !_ownsDevice;

    /// <summary>Features the device was created with that the pass API needs (timeline semaphores).</summary>
    public bool TimelineSemaphores { get; }

    /// <summary>What this thread is doing, attached to validation messages so they name the kernel involved.</summary>
    [ThreadStatic] internal static string? CurrentOperation;

    public GpuDeviceInfo Info { get; private set; }
    public GpuOptions Options { get; }
    public bool ValidationEnabled { get; }

    /// <summary>True when kernels should store tensors as fp16 (requested and supported).</summary>
    public bool Fp16Storage => Options.Fp16Storage && Info.StorageBuffer16Bit;

    /// <summary>Validation messages of severity warning or error since creation (or the last <see cref="TakeValidationMessages"/>).</summary>
    public IReadOnlyCollection<ValidationMessage> ValidationMessages => _validation.ToArray();

    public GpuContext(GpuOptions? options = null)
    {
        Options = options ?? new GpuOptions();
        Vk = LoadVulkan();
        ValidationEnabled = Options.ValidationEnabled;
        try
        {
            Instance = CreateInstance(Vk, ValidationEnabled);
            if (ValidationEnabled) _messenger = CreateMessenger();

            var devices = EnumerateDevices(Vk, Instance);
            var (physical, info0) = SelectDevice(devices, Options.DeviceSelector);
            PhysicalDevice = physical;
            Info = info0;
            QueueFamily = FindComputeQueueFamily(Vk, PhysicalDevice)
                          ?? throw new VulkanException($"Device '{Info.Name}' has no compute queue.");
            Device = CreateDevice(Vk, PhysicalDevice, QueueFamily, Info);
            TimelineSemaphores = Info.TimelineSemaphore;
            Vk.GetDeviceQueue(Device, QueueFamily, 0, out Queue);
            (CommandPool, Allocator, _pipelineCachePath, PipelineCache) = CreateDeviceObjects();
        }
        catch
        {
            DestroyCore();
            throw;
        }
    }

    /// <summary>
    /// A context on the host renderer's instance, device and queue. Checks that the device has what we need (Vulkan
    /// 1.1+, a compute-capable queue family, the features the options ask for) and names anything missing. Disposing
    /// the context frees only what SamRealtime created; the host's objects stay untouched. The queue is shared: the
    /// host must not submit to it from another thread while a SamRealtime call that submits is running.
    /// </summary>
    public static GpuContext Adopt(HostVulkan host, GpuOptions? options = null) => new(host, options ?? new GpuOptions());

    private GpuContext(HostVulkan host, GpuOptions options)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (host.Instance == 0 || host.PhysicalDevice == 0 || host.Device == 0)
            throw new ArgumentException("HostVulkan needs non-null Instance, PhysicalDevice and Device handles.");
        Options = options;
        _ownsDevice = false;
        Vk = host.GetInstanceProcAddr == 0 ? LoadVulkan() : HostLoader(host.Instance, host.GetInstanceProcAddr);
        Instance = new Instance(host.Instance);
        PhysicalDevice = new PhysicalDevice(host.PhysicalDevice);
        Device = new Device(host.Device);
        Vk.CurrentInstance = Instance;
        Vk.CurrentDevice = Device;
        ValidationEnabled = Options.ValidationEnabled && host.EnabledInstanceExtensions.Contains("VK_EXT_debug_utils");
        try
        {
            if (ValidationEnabled) _messenger = CreateMessenger();
            Info = Describe(Vk, PhysicalDevice, 0);
            var missing = new List<string>();
            if (host.InstanceApiVersion < (1u << 22 | 1u << 12))
                missing.Add($"an instance created with apiVersion 1.1 or newer (got {host.InstanceApiVersion >> 22}.{(host.InstanceApiVersion >> 12) & 0x3ff})");
            if (Info.ApiVersion.StartsWith("1.0."))
                missing.Add($"a Vulkan 1.1 device ('{Info.Name}' reports {Info.ApiVersion})");
            uint familyCount = 0;
            Vk.GetPhysicalDeviceQueueFamilyProperties(PhysicalDevice, &familyCount, null);
            var families = new QueueFamilyProperties[familyCount];
            fixed (QueueFamilyProperties* f = families) Vk.GetPhysicalDeviceQueueFamilyProperties(PhysicalDevice, &familyCount, f);
            if (host.QueueFamily >= familyCount)
                missing.Add($"queue family {host.QueueFamily} (the device has {familyCount})");
            else if ((families[host.QueueFamily].QueueFlags & QueueFlags.ComputeBit) == 0)
                missing.Add($"compute support on queue family {host.QueueFamily}");
            else if (host.QueueIndex >= families[host.QueueFamily].QueueCount)
                missing.Add($"queue {host.QueueIndex} in family {host.QueueFamily} (it has {families[host.QueueFamily].QueueCount})");
            if (Options.Fp16Storage && (host.EnabledFeatures & HostFeatures.StorageBuffer16BitAccess) == 0)
                missing.Add("the feature storageBuffer16BitAccess (VkPhysicalDevice16BitStorageFeatures), asked for by Fp16Storage");
            if ((host.EnabledFeatures & HostFeatures.StorageBuffer16BitAccess) != 0 && !Info.StorageBuffer16Bit)
                missing.Add($"storageBuffer16BitAccess is declared enabled but '{Info.Name}' does not support it");
            if ((host.EnabledFeatures & HostFeatures.TimelineSemaphore) != 0 && !Info.TimelineSemaphore)
                missing.Add($"timelineSemaphore is declared enabled but '{Info.Name}' does not support it");
            if (missing.Count > 0)
                throw new VulkanException("The host's Vulkan device cannot run SamRealtime; missing: " + string.Join("; ", missing) + ".",
                                          Result.ErrorFeatureNotPresent);
            // Only what the host enabled may be used: fp16 storage is off unless declared.
            if ((host.EnabledFeatures & HostFeatures.StorageBuffer16BitAccess) == 0) Info = Info with { StorageBuffer16Bit = false };
            if ((host.EnabledFeatures & HostFeatures.ShaderFloat16) == 0) Info = Info with { ShaderFloat16 = false };
            TimelineSemaphores = (host.EnabledFeatures & HostFeatures.TimelineSemaphore) != 0;
            QueueFamily = host.QueueFamily;
            _queueIndex = host.QueueIndex;
            Vk.GetDeviceQueue(Device, QueueFamily, _queueIndex, out Queue);
            (CommandPool, Allocator, _pipelineCachePath, PipelineCache) = CreateDeviceObjects();
        }
        catch
        {
            DestroyCore();
            throw;
        }
    }

    private static Vk HostLoader(nint instance, nint getInstanceProcAddr)
    {
        var gipa = (delegate* unmanaged<nint, byte*, nint>)getInstanceProcAddr;
        // Every entry point through the host's vkGetInstanceProcAddr on its instance: device functions resolved this
        // way dispatch through the instance, which is slightly slower but always valid.
        return new Vk(new Silk.NET.Core.Contexts.LamdaNativeContext(name =>
        {
            if (name == "vkGetInstanceProcAddr") return getInstanceProcAddr;
            var bytes = System.Text.Encoding.ASCII.GetBytes(name + "\0");
            fixed (byte* b = bytes) return gipa(instance, b);
        }));
    }

    private DebugUtilsMessengerEXT CreateMessenger()
    {
        // Silk.NET's extension package is not available to us, so the two entry points are loaded by hand.
        var create = (delegate* unmanaged<Instance, DebugUtilsMessengerCreateInfoEXT*, AllocationCallbacks*, DebugUtilsMessengerEXT*, Result>)
            (nint)Vk.GetInstanceProcAddr(Instance, "vkCreateDebugUtilsMessengerEXT").Handle;
        if (create == null)
            throw new VulkanException("VK_EXT_debug_utils is not available; validation messages cannot be collected.");
        _selfHandle = GCHandle.Alloc(this);
        var info = new DebugUtilsMessengerCreateInfoEXT
        {
            SType = StructureType.DebugUtilsMessengerCreateInfoExt,
            MessageSeverity = DebugUtilsMessageSeverityFlagsEXT.WarningBitExt | DebugUtilsMessageSeverityFlagsEXT.ErrorBitExt,
            MessageType = DebugUtilsMessageTypeFlagsEXT.GeneralBitExt | DebugUtilsMessageTypeFlagsEXT.ValidationBitExt
                          | DebugUtilsMessageTypeFlagsEXT.PerformanceBitExt,
            PfnUserCallback = new PfnDebugUtilsMessengerCallbackEXT(&OnDebugMessage),
            PUserData = (void*)GCHandle.ToIntPtr(_selfHandle),
        };
        DebugUtilsMessengerEXT messenger;
        VulkanException.Check(create(Instance, &info, null, &messenger), "vkCreateDebugUtilsMessengerEXT");
        return messenger;
    }

    private (CommandPool, MemoryAllocator, string?, PipelineCache) CreateDeviceObjects()
    {
        {
            var poolInfo = new CommandPoolCreateInfo
            {
                SType = StructureType.CommandPoolCreateInfo,
                QueueFamilyIndex = QueueFamily,
                Flags = CommandPoolCreateFlags.ResetCommandBufferBit,
            };
            VulkanException.Check(Vk.CreateCommandPool(Device, &poolInfo, null, out var pool), "vkCreateCommandPool");
            _commandPoolForCleanup = pool;
            var allocator = new MemoryAllocator(this);
            _allocatorForCleanup = allocator;
            var path = PipelineCacheFile(Options.PipelineCacheDirectory, Info.PipelineCacheUuid);
            return (pool, allocator, path, CreatePipelineCache(path));
        }
    }

    // The constructors assign the readonly fields only after all of CreateDeviceObjects succeeded; a failure half-way
    // must still free what was made.
    private CommandPool _commandPoolForCleanup;
    private MemoryAllocator? _allocatorForCleanup;

    /// <summary>All Vulkan devices on this machine with their limits, for <c>samrt info</c>.</summary>
    public static IReadOnlyList<GpuDeviceInfo> ListDevices()
    {
        var vk = LoadVulkan();
        var instance = CreateInstance(vk, validation: false);
        try
        {
            return EnumerateDevices(vk, instance).Select(d => d.Info).ToArray();
        }
        finally
        {
            vk.DestroyInstance(instance, null);
        }
    }

    /// <summary>Returns and clears the validation messages collected so far.</summary>
    public IReadOnlyList<ValidationMessage> TakeValidationMessages()
    {
        var list = new List<ValidationMessage>();
        while (_validation.TryDequeue(out var m)) list.Add(m);
        return list;
    }

    /// <summary>A kernel built from the embedded SPIR-V <paramref name="shader"/>.spv; cached per specialization.</summary>
    internal ComputeKernel Kernel(string shader, KernelLayout layout, params ReadOnlySpan<int> specialization)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var key = shader + "|" + string.Join(",", specialization.ToArray());
        lock (_kernels)
        {
            if (!_kernels.TryGetValue(key, out var k))
            {
                k = new ComputeKernel(this, shader, layout, specialization);
                _kernels[key] = k;
            }
            return k;
        }
    }

    /// <summary>Distinct compute pipelines (shader + specialization) created on this context so far.</summary>
    public int PipelineCount
    {
        get { lock (_kernels) return _kernels.Count; }
    }

    private readonly Dictionary<DataType, GpuTensor> _unused = new();

    /// <summary>A tiny tensor to bind where a kernel's optional input (bias, residual) is absent: shaders never read
    /// it, but Vulkan requires every declared binding to hold a buffer. One per storage type, owned here.</summary>
    internal GpuTensor Unused(DataType type)
    {
        lock (_unused)
        {
            if (!_unused.TryGetValue(type, out var t))
                _unused[type] = t = CreateTensor([type == DataType.F16 ? 2 : 1], type, "unused-binding");
            return t;
        }
    }

    /// <summary>Starts recording GPU work; submit it with <see cref="CommandStream.Submit"/>.</summary>
    internal CommandStream BeginCommands(bool profile = false) => new(this, profile);

    internal GpuBuffer CreateBuffer(ulong bytes, BufferKind kind = BufferKind.Device, string? name = null)
    {
        Interlocked.Increment(ref _buffersCreated);
        return new(this, bytes, kind, name);
    }

    internal GpuTensor CreateTensor(ReadOnlySpan<int> shape, DataType type = DataType.F32, string? name = null) =>
        new(this, shape, type, name);

    /// <summary>Uploads fp32 data into a new device tensor (converted to <paramref name="type"/>).</summary>
    internal GpuTensor Upload(ReadOnlySpan<float> data, ReadOnlySpan<int> shape, DataType type = DataType.F32, string? name = null)
    {
        var t = new GpuTensor(this, shape, type, name);
        try
        {
            t.Write(data);
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    private long _submissions, _bytesReadBack, _dispatches, _buffersCreated;

    /// <summary>Queue submissions, bytes the host read from GPU memory, dispatches recorded and buffers created through
    /// <see cref="CreateBuffer"/> on this context so far (a host's own submissions of a recorded pass are not ours to count). Differences of two snapshots give
    /// the cost of the work between them.</summary>
    public GpuCounters Counters => new(Interlocked.Read(ref _submissions), Interlocked.Read(ref _bytesReadBack), Interlocked.Read(ref _dispatches),
                                       Interlocked.Read(ref _buffersCreated));

    internal void CountReadBack(long bytes) => Interlocked.Add(ref _bytesReadBack, bytes);
    internal void CountDispatch() => Interlocked.Increment(ref _dispatches);

    internal void Submit(in SubmitInfo submit, Fence fence)
    {
        Interlocked.Increment(ref _submissions);
        fixed (SubmitInfo* p = &submit)
            lock (_queueLock)
                VulkanException.Check(Vk.QueueSubmit(Queue, 1, p, fence), "vkQueueSubmit");
    }

    /// <summary>Starts recording into a command buffer the host began (engine pass API).</summary>
    internal CommandStream RecordInto(CommandBuffer hostCommands) => new(this, hostCommands);

    internal void Submit(CommandBuffer cmd, Fence fence)
    {
        Interlocked.Increment(ref _submissions);
        var submit = new SubmitInfo
        {
            SType = StructureType.SubmitInfo,
            CommandBufferCount = 1,
            PCommandBuffers = &cmd,
        };
        lock (_queueLock)
            VulkanException.Check(Vk.QueueSubmit(Queue, 1, &submit, fence), "vkQueueSubmit");
    }

    internal void WaitIdle()
    {
        lock (_queueLock)
        {
            if (_ownsDevice) Vk.DeviceWaitIdle(Device);
            else Vk.QueueWaitIdle(Queue);
        }
    }

    // ---------------------------------------------------------------- setup helpers

    private static Vk LoadVulkan()
    {
        try
        {
            var vk = Vk.GetApi();
            uint n = 0;
            // Touch the loader once so a missing libvulkan surfaces here, with install advice.
            vk.EnumerateInstanceExtensionProperties((byte*)null, &n, null);
            return vk;
        }
        catch (Exception e) when (e is DllNotFoundException or FileNotFoundException or EntryPointNotFoundException
                                   or InvalidOperationException or PlatformNotSupportedException)
        {
            throw new VulkanException(
                "No Vulkan loader found (libvulkan.so.1). Install it and a driver: on Debian " +
                "'apt-get install libvulkan1 mesa-vulkan-drivers'; on Windows install your GPU driver. (" + e.Message + ")",
                Result.ErrorInitializationFailed);
        }
    }

    private static Instance CreateInstance(Vk vk, bool validation)
    {
        const string layerName = "VK_LAYER_KHRONOS_validation";
        var layers = new List<string>();
        var extensions = new List<string>();
        if (validation)
        {
            uint count = 0;
            vk.EnumerateInstanceLayerProperties(&count, null);
            var props = new LayerProperties[count];
            fixed (LayerProperties* p = props) vk.EnumerateInstanceLayerProperties(&count, p);
            bool found = props.Any(p => SilkMarshal.PtrToString((nint)p.LayerName) == layerName);
            if (!found)
                throw new VulkanException($"Validation was requested but {layerName} is not installed " +
                                          "(Debian: 'apt-get install vulkan-validationlayers'; Windows: the Vulkan SDK).");
            layers.Add(layerName);
            extensions.Add("VK_EXT_debug_utils");
        }

        var appName = (byte*)SilkMarshal.StringToPtr("SamRealtime");
        var layerPtrs = (byte**)SilkMarshal.StringArrayToPtr(layers);
        var extPtrs = (byte**)SilkMarshal.StringArrayToPtr(extensions);
        try
        {
            var app = new ApplicationInfo
            {
                SType = StructureType.ApplicationInfo,
                PApplicationName = appName,
                PEngineName = appName,
                ApiVersion = Vk.Version12,
            };
            var info = new InstanceCreateInfo
            {
                SType = StructureType.InstanceCreateInfo,
                PApplicationInfo = &app,
                EnabledLayerCount = (uint)layers.Count,
                PpEnabledLayerNames = layerPtrs,
                EnabledExtensionCount = (uint)extensions.Count,
                PpEnabledExtensionNames = extPtrs,
            };
            Instance instance;
            var r = vk.CreateInstance(&info, null, &instance);
            if (r == Result.ErrorIncompatibleDriver)
                throw new VulkanException("No Vulkan driver found (vkCreateInstance: ErrorIncompatibleDriver). On Debian " +
                                          "'apt-get install mesa-vulkan-drivers' gives the lavapipe CPU driver.", r);
            VulkanException.Check(r, "vkCreateInstance");
            return instance;
        }
        finally
        {
            SilkMarshal.Free((nint)appName);
            SilkMarshal.Free((nint)layerPtrs);
            SilkMarshal.Free((nint)extPtrs);
        }
    }

    private static List<(PhysicalDevice Device, GpuDeviceInfo Info)> EnumerateDevices(Vk vk, Instance instance)
    {
        uint count = 0;
        VulkanException.Check(vk.EnumeratePhysicalDevices(instance, &count, null), "vkEnumeratePhysicalDevices");
        var devices = new PhysicalDevice[count];
        fixed (PhysicalDevice* p = devices)
            VulkanException.Check(vk.EnumeratePhysicalDevices(instance, &count, p), "vkEnumeratePhysicalDevices");
        var list = new List<(PhysicalDevice, GpuDeviceInfo)>();
        for (int i = 0; i < devices.Length; i++) list.Add((devices[i], Describe(vk, devices[i], i)));
        return list;
    }

    private static GpuDeviceInfo Describe(Vk vk, PhysicalDevice device, int index)
    {
        var subgroup = new PhysicalDeviceSubgroupProperties { SType = StructureType.PhysicalDeviceSubgroupProperties };
        var props2 = new PhysicalDeviceProperties2 { SType = StructureType.PhysicalDeviceProperties2, PNext = &subgroup };
        vk.GetPhysicalDeviceProperties2(device, &props2);
        var p = props2.Properties;

        var timeline = new PhysicalDeviceTimelineSemaphoreFeatures { SType = StructureType.PhysicalDeviceTimelineSemaphoreFeatures };
        var f16 = new PhysicalDeviceShaderFloat16Int8Features { SType = StructureType.PhysicalDeviceShaderFloat16Int8Features, PNext = &timeline };
        var s16 = new PhysicalDevice16BitStorageFeatures { SType = StructureType.PhysicalDevice16BitStorageFeatures, PNext = &f16 };
        var feat2 = new PhysicalDeviceFeatures2 { SType = StructureType.PhysicalDeviceFeatures2, PNext = &s16 };
        vk.GetPhysicalDeviceFeatures2(device, &feat2);

        vk.GetPhysicalDeviceMemoryProperties(device, out var mem);
        ulong deviceLocal = 0;
        for (int h = 0; h < mem.MemoryHeapCount; h++)
            if ((mem.MemoryHeaps[h].Flags & MemoryHeapFlags.DeviceLocalBit) != 0) deviceLocal += mem.MemoryHeaps[h].Size;

        var family = FindComputeQueueFamily(vk, device);
        bool timestamps = false;
        if (family is uint fam)
        {
            uint qn = 0;
            vk.GetPhysicalDeviceQueueFamilyProperties(device, &qn, null);
            var qprops = new QueueFamilyProperties[qn];
            fixed (QueueFamilyProperties* q = qprops) vk.GetPhysicalDeviceQueueFamilyProperties(device, &qn, q);
            timestamps = qprops[fam].TimestampValidBits > 0 && p.Limits.TimestampPeriod > 0;
        }

        var uuid = new byte[16];
        for (int i = 0; i < 16; i++) uuid[i] = p.PipelineCacheUuid[i];
        vk.GetPhysicalDeviceFormatProperties(device, Format.R32G32B32A32Sfloat, out var fmt32);
        vk.GetPhysicalDeviceFormatProperties(device, Format.R32Sfloat, out var fmtR32);
        vk.GetPhysicalDeviceFormatProperties(device, Format.R16Sfloat, out var fmtR16);
        vk.GetPhysicalDeviceFormatProperties(device, Format.R16G16B16A16Sfloat, out var fmt16);
        return new GpuDeviceInfo
        {
            Index = index,
            Name = SilkMarshal.PtrToString((nint)p.DeviceName) ?? "?",
            Type = p.DeviceType,
            ApiVersion = $"{p.ApiVersion >> 22}.{(p.ApiVersion >> 12) & 0x3ff}.{p.ApiVersion & 0xfff}",
            DriverVersion = p.DriverVersion.ToString(),
            VendorId = p.VendorID,
            MaxComputeSharedMemorySize = p.Limits.MaxComputeSharedMemorySize,
            MaxComputeWorkGroupInvocations = p.Limits.MaxComputeWorkGroupInvocations,
            MaxComputeWorkGroupSize = [p.Limits.MaxComputeWorkGroupSize[0], p.Limits.MaxComputeWorkGroupSize[1], p.Limits.MaxComputeWorkGroupSize[2]],
            MaxComputeWorkGroupCount = [p.Limits.MaxComputeWorkGroupCount[0], p.Limits.MaxComputeWorkGroupCount[1], p.Limits.MaxComputeWorkGroupCount[2]],
            MaxPushConstantsSize = p.Limits.MaxPushConstantsSize,
            MaxStorageBufferRange = p.Limits.MaxStorageBufferRange,
            MaxTexelBufferElements = p.Limits.MaxTexelBufferElements,
            MinStorageBufferOffsetAlignment = p.Limits.MinStorageBufferOffsetAlignment,
            MinTexelBufferOffsetAlignment = p.Limits.MinTexelBufferOffsetAlignment,
            UniformTexelRgba32F = (fmt32.BufferFeatures & FormatFeatureFlags.UniformTexelBufferBit) != 0,
            UniformTexelRgba16F = (fmt16.BufferFeatures & FormatFeatureFlags.UniformTexelBufferBit) != 0,
            UniformTexelR32F = (fmtR32.BufferFeatures & FormatFeatureFlags.UniformTexelBufferBit) != 0,
            UniformTexelR16F = (fmtR16.BufferFeatures & FormatFeatureFlags.UniformTexelBufferBit) != 0,
            SubgroupSize = subgroup.SubgroupSize,
            SubgroupArithmetic = (subgroup.SupportedOperations & SubgroupFeatureFlags.ArithmeticBit) != 0
                                 && (subgroup.SupportedStages & ShaderStageFlags.ComputeBit) != 0,
            StorageBuffer16Bit = s16.StorageBuffer16BitAccess,
            ShaderFloat16 = f16.ShaderFloat16,
            TimelineSemaphore = timeline.TimelineSemaphore,
            TimestampPeriodNs = p.Limits.TimestampPeriod,
            TimestampsOnCompute = timestamps,
            DeviceLocalBytes = deviceLocal,
            HasComputeQueue = family.HasValue,
            PipelineCacheUuid = uuid,
        };
    }

    private static (PhysicalDevice, GpuDeviceInfo) SelectDevice(List<(PhysicalDevice Device, GpuDeviceInfo Info)> devices, string? selector)
    {
        var usable = devices.Where(d => d.Info.HasComputeQueue).ToList();
        if (usable.Count == 0)
            throw new VulkanException("No Vulkan device with a compute queue found. On Debian 'apt-get install mesa-vulkan-drivers' " +
                                      "gives the lavapipe CPU driver; otherwise install your GPU's Vulkan driver.",
                                      Result.ErrorInitializationFailed);
        if (selector is null)
            return usable.OrderByDescending(d => d.Info.Preference).ThenBy(d => d.Info.Index).First();
        if (int.TryParse(selector, out int index))
        {
            var byIndex = usable.FirstOrDefault(d => d.Info.Index == index);
            if (byIndex.Info is null)
                throw new VulkanException($"No Vulkan device with index {index}; devices: {string.Join(", ", usable.Select(d => $"{d.Info.Index}: {d.Info.Name}"))}");
            return byIndex;
        }
        var byName = usable.FirstOrDefault(d => d.Info.Name.Contains(selector, StringComparison.OrdinalIgnoreCase));
        if (byName.Info is null)
            throw new VulkanException($"No Vulkan device whose name contains '{selector}'; devices: {string.Join(", ", usable.Select(d => $"{d.Info.Index}: {d.Info.Name}"))}");
        return byName;
    }

    private static uint? FindComputeQueueFamily(Vk vk, PhysicalDevice device)
    {
        uint n = 0;
        vk.GetPhysicalDeviceQueueFamilyProperties(device, &n, null);
        var props = new QueueFamilyProperties[n];
        fixed (QueueFamilyProperties* p = props) vk.GetPhysicalDeviceQueueFamilyProperties(device, &n, p);
        uint? any = null;
        for (uint i = 0; i < n; i++)
        {
            if ((props[i].QueueFlags & QueueFlags.ComputeBit) == 0) continue;
            // A compute-only family is usually an async compute engine; prefer it when there is one.
            if ((props[i].QueueFlags & QueueFlags.GraphicsBit) == 0) return i;
            any ??= i;
        }
        return any;
    }

    private static Device CreateDevice(Vk vk, PhysicalDevice physical, uint family, GpuDeviceInfo info)
    {
        float priority = 1f;
        var queueInfo = new DeviceQueueCreateInfo
        {
            SType = StructureType.DeviceQueueCreateInfo,
            QueueFamilyIndex = family,
            QueueCount = 1,
            PQueuePriorities = &priority,
        };
        var timeline = new PhysicalDeviceTimelineSemaphoreFeatures
        {
            SType = StructureType.PhysicalDeviceTimelineSemaphoreFeatures,
            TimelineSemaphore = info.TimelineSemaphore,
        };
        var f16 = new PhysicalDeviceShaderFloat16Int8Features
        {
            SType = StructureType.PhysicalDeviceShaderFloat16Int8Features,
            PNext = &timeline,
            ShaderFloat16 = info.ShaderFloat16,
        };
        var s16 = new PhysicalDevice16BitStorageFeatures
        {
            SType = StructureType.PhysicalDevice16BitStorageFeatures,
            PNext = &f16,
            StorageBuffer16BitAccess = info.StorageBuffer16Bit,
        };
        var features = new PhysicalDeviceFeatures2 { SType = StructureType.PhysicalDeviceFeatures2, PNext = &s16 };
        var deviceInfo = new DeviceCreateInfo
        {
            SType = StructureType.DeviceCreateInfo,
            PNext = &features,
            QueueCreateInfoCount = 1,
            PQueueCreateInfos = &queueInfo,
        };
        Device device;
        VulkanException.Check(vk.CreateDevice(physical, &deviceInfo, null, &device), "vkCreateDevice");
        return device;
    }

    private static string? PipelineCacheFile(string? dir, byte[] uuid)
    {
        if (dir == "") return null;
        if (dir is null)
        {
            var root = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            if (string.IsNullOrEmpty(root))
                root = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            dir = Path.Combine(root, "samrealtime");
        }
        return Path.Combine(dir, $"pipelines-{Convert.ToHexString(uuid)}.bin");
    }

    private PipelineCache CreatePipelineCache(string? path)
    {
        byte[] initial = [];
        if (path is not null && File.Exists(path))
        {
            try { initial = File.ReadAllBytes(path); }
            catch (IOException) { initial = []; }
        }
        fixed (byte* data = initial)
        {
            var info = new PipelineCacheCreateInfo
            {
                SType = StructureType.PipelineCacheCreateInfo,
                InitialDataSize = (nuint)initial.Length,
                PInitialData = data,
            };
            PipelineCache cache;
            // The file name carries the device's pipelineCacheUUID, and the driver checks the header again;
            // a stale or corrupt file only costs a recompile, so fall back to an empty cache.
            if (Vk.CreatePipelineCache(Device, &info, null, &cache) == Result.Success) return cache;
            info.InitialDataSize = 0;
            info.PInitialData = null;
            VulkanException.Check(Vk.CreatePipelineCache(Device, &info, null, &cache), "vkCreatePipelineCache");
            return cache;
        }
    }

    /// <summary>Bytes the driver would hand back for the pipeline cache now (0 when it cannot say).</summary>
    internal long PipelineCacheDataSize()
    {
        nuint size = 0;
        if (PipelineCache.Handle == 0 || Vk.GetPipelineCacheData(Device, PipelineCache, &size, null) != Result.Success) return 0;
        return (long)size;
    }

    private void SavePipelineCache()
    {
        if (_pipelineCachePath is null) return;
        // Only the header (16 + 16 bytes in Vulkan's version-one layout) means the driver keeps nothing in this cache:
        // lavapipe compiles on a pipeline's first dispatch and caches in Mesa's own disk cache. No file then, so
        // none suggests a warm start that will not happen; drivers that do fill it (NVIDIA) get it written.
        nuint size = (nuint)PipelineCacheDataSize();
        if (size <= 32) return;
        var bytes = new byte[size];
        fixed (byte* b = bytes)
            if (Vk.GetPipelineCacheData(Device, PipelineCache, &size, b) != Result.Success) return;
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(_pipelineCachePath)!);
            var tmp = _pipelineCachePath + "." + Environment.ProcessId + ".tmp";
            File.WriteAllBytes(tmp, bytes.AsSpan(0, (int)size).ToArray());
            File.Move(tmp, _pipelineCachePath, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A read-only home only costs compile time on the next start.
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    private static Bool32 OnDebugMessage(DebugUtilsMessageSeverityFlagsEXT severity, DebugUtilsMessageTypeFlagsEXT type,
                                       DebugUtilsMessengerCallbackDataEXT* data, void* user)
    {
        try
        {
            if (user == null) return false;
            if (GCHandle.FromIntPtr((nint)user).Target is not GpuContext ctx) return false;
            var text = SilkMarshal.PtrToString((nint)data->PMessage) ?? "";
            var sev = (severity & DebugUtilsMessageSeverityFlagsEXT.ErrorBitExt) != 0 ? "error" : "warning";
            if (CurrentOperation is { } op) text = $"(while {op}) {text}";
            ctx._validation.Enqueue(new ValidationMessage(sev, text));
            if (Environment.GetEnvironmentVariable("SAMRT_VALIDATION_PRINT") == "1")
                Console.Error.WriteLine($"[vulkan {sev}] {text}");
        }
        catch
        {
            // Nothing may unwind into the driver.
        }
        return false;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        DestroyCore();
    }

    private void DestroyCore()
    {
        if (Device.Handle != 0)
        {
            // An adopted device may be busy with the host's own work; waiting on our queue is all we may ask.
            if (_ownsDevice) Vk.DeviceWaitIdle(Device);
            else if (Queue.Handle != 0) lock (_queueLock) Vk.QueueWaitIdle(Queue);
            foreach (var k in _kernels.Values) k.Destroy();
            _kernels.Clear();
            SavePipelineCache();
            foreach (var t in _unused.Values) t.Dispose();
            _unused.Clear();
            if (PipelineCache.Handle != 0) Vk.DestroyPipelineCache(Device, PipelineCache, null);
            (Allocator ?? _allocatorForCleanup)?.Dispose();
            var pool = CommandPool.Handle != 0 ? CommandPool : _commandPoolForCleanup;
            if (pool.Handle != 0) Vk.DestroyCommandPool(Device, pool, null);
            if (_ownsDevice) Vk.DestroyDevice(Device, null);
        }
        if (Instance.Handle != 0)
        {
            if (_messenger.Handle != 0)
            {
                var destroy = (delegate* unmanaged<Instance, DebugUtilsMessengerEXT, AllocationCallbacks*, void>)
                    (nint)Vk.GetInstanceProcAddr(Instance, "vkDestroyDebugUtilsMessengerEXT").Handle;
                if (destroy != null) destroy(Instance, _messenger, null);
            }
            if (_ownsDevice) Vk.DestroyInstance(Instance, null);
        }
        if (_selfHandle.IsAllocated) _selfHandle.Free();
    }
}
