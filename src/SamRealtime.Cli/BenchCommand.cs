using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using SamRealtime.Vulkan;

namespace SamRealtime.Cli;

internal static class BenchCommand
{
    public static Command Create()
    {
        var cmd = new Command("bench", "Time the engine; prints JSON");
        var runs = new Option<int>("--runs") { Description = "Timed runs per measurement (median reported)", DefaultValueFactory = _ => 5 };
        var device = new Option<string?>("--device") { Description = "Vulkan device index or name substring" };
        var kernels = new Command("kernels", "Per-kernel GPU time and GFLOP/s (or GB/s) on SAM's shapes");
        kernels.Options.Add(runs);
        kernels.Options.Add(device);
        kernels.SetAction(r =>
        {
            try
            {
                using var ctx = new GpuContext(new GpuOptions { Device = r.GetValue(device) });
                var result = KernelBench.Run(ctx, Math.Max(1, r.GetValue(runs)));
                Console.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                return 0;
            }
            catch (VulkanException e)
            {
                Console.Error.WriteLine(e.Message);
                return 2;
            }
        });
        cmd.Subcommands.Add(kernels);
        cmd.Subcommands.Add(EverythingBench.Create());
        cmd.Subcommands.Add(OneShotBench.Create());
        cmd.Subcommands.Add(OneShotBench.CreateOrt());

        var models = new ModelOptions();
        var image = new Option<string?>("--image") { Description = "Image (default: the truck example)" };
        var threads = new Option<int>("--ort-threads") { Description = "ONNX Runtime intra-op threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        foreach (var o in new Option[] { image, threads, runs }) cmd.Options.Add(o);
        models.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(() =>
        {
            var result = ModelBench.Run(models.Directory(r), r.GetValue(image) ?? Path.Combine(AppContext.BaseDirectory, "data", "truck.jpg"),
                                        Math.Max(1, r.GetValue(runs)), models.Gpu(r),
                                        Math.Max(1, r.GetValue(threads)));
            Console.WriteLine(result.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }));
        return cmd;
    }
}

/// <summary>Median GPU time (timestamp queries) of each kernel family on a shape the model really runs.</summary>
internal static class KernelBench
{
    public static JsonObject Run(GpuContext ctx, int runs)
    {
        var cases = new JsonArray();
        foreach (var c in KernelCases.All(ctx))
        {
            using (c)
            {
                // The first dispatch of a pipeline includes llvmpipe's JIT: warm up before timing.
                Time(ctx, c);
                var times = Enumerable.Range(0, runs).Select(_ => Time(ctx, c)).Order().ToArray();
                double ms = times[times.Length / 2];
                var o = new JsonObject
                {
                    ["kernel"] = c.Name,
                    ["shape"] = c.Shape,
                    ["median_ms"] = Math.Round(ms, 3),
                };
                if (c.Flops > 0) o["gflops"] = Math.Round(c.Flops / (ms * 1e6), 2);
                if (c.Bytes > 0) o["gbytes_per_s"] = Math.Round(c.Bytes / (ms * 1e6), 2);
                cases.Add(o);
            }
        }
        return new JsonObject
        {
            ["device"] = ctx.Info.Name,
            ["runs"] = runs,
            ["kernels"] = cases,
        };
    }

    private static double Time(GpuContext ctx, KernelCase c)
    {
        using var cs = ctx.BeginCommands(profile: true);
        c.Record(cs);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        cs.Submit();
        sw.Stop();
        return cs.Profiling ? cs.Timings.Sum(t => t.Milliseconds) : sw.Elapsed.TotalMilliseconds;
    }
}
