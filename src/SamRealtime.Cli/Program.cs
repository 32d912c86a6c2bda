using System.CommandLine;
using SamRealtime.Cli;

var root = new RootCommand("samrt: Segment Anything on Vulkan compute shaders");
root.Subcommands.Add(InfoCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(SegmentCommand.Create());
root.Subcommands.Add(EverythingCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(TrackCommand.Create());
root.Subcommands.Add(LiveCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
return Cli.Invoke(root, args);
