using System.CommandLine;
using SamRealtime.Vulkan;

namespace SamRealtime.Cli;

internal static class InfoCommand
{
    public static Command Create()
    {
        var cmd = new Command("info", "List Vulkan devices with the limits and features the kernels size themselves from");
        cmd.SetAction(_ =>
        {
            try
            {
                var devices = GpuContext.ListDevices();
                if (devices.Count == 0)
                {
                    Console.Error.WriteLine("No Vulkan device found. On Debian: apt-get install mesa-vulkan-drivers");
                    return 2;
                }
                string? chosen = null;
                try
                {
                    using var ctx = new GpuContext(new GpuOptions { PipelineCacheDirectory = "" });
                    chosen = ctx.Info.Name;
                }
                catch (VulkanException) { }
                foreach (var d in devices)
                {
                    Console.WriteLine($"[{d.Index}] {d.Name}{(d.Name == chosen ? "  (selected)" : "")}");
                    Console.WriteLine($"    type {d.TypeName}, Vulkan {d.ApiVersion}, vendor 0x{d.VendorId:x4}, driver {d.DriverVersion}");
                    Console.WriteLine($"    compute queue: {(d.HasComputeQueue ? "yes" : "no")}, device-local memory {d.DeviceLocalBytes >> 20} MiB");
                    Console.WriteLine($"    shared memory {d.MaxComputeSharedMemorySize} B, workgroup invocations {d.MaxComputeWorkGroupInvocations}, " +
                                      $"size {string.Join("x", d.MaxComputeWorkGroupSize)}, count {string.Join("x", d.MaxComputeWorkGroupCount)}");
                    Console.WriteLine($"    subgroup size {d.SubgroupSize} (arithmetic: {d.SubgroupArithmetic}), push constants {d.MaxPushConstantsSize} B");
                    Console.WriteLine($"    storage buffer range {d.MaxStorageBufferRange} B, texel buffer elements {d.MaxTexelBufferElements}");
                    Console.WriteLine($"    fp16: 16-bit storage {d.StorageBuffer16Bit}, shaderFloat16 {d.ShaderFloat16}; " +
                                      $"timestamps {(d.TimestampsOnCompute ? $"{d.TimestampPeriodNs} ns/tick" : "no")}");
                }
                Console.WriteLine("Select with --device/SAMRT_DEVICE=<index or name>.");
                return 0;
            }
            catch (VulkanException e)
            {
                Console.Error.WriteLine(e.Message);
                return 2;
            }
        });
        return cmd;
    }
}
