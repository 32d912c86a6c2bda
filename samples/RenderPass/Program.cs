using SamRealtime.Capture;
using SamRealtime.Samples.RenderPass;

try
{
    var options = SampleOptions.Parse(args);
    if (options.Help)
    {
        Console.WriteLine(SampleOptions.Usage);
        return 0;
    }
    return Sample.Run(options, Console.Out);
}
catch (Exception e) when (e is UsageException or CaptureException or FileNotFoundException or DirectoryNotFoundException)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
