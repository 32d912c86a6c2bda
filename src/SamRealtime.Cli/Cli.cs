using System.CommandLine;
using System.CommandLine.Help;
using System.Runtime.InteropServices;
using SamRealtime.Vulkan;

namespace SamRealtime.Cli;

/// <summary>A user error: printed as one line, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>
/// The contract every command keeps: a usage error (from the parser or found by the command) is one line
/// <c>samrt: ...</c> on stderr, nothing on stdout, exit code 2; <c>--help</c> prints help and exits 0; an interrupted
/// run exits 130.
/// </summary>
internal static class Cli
{
    public const int UsageError = 2, Interrupted = 130;

    /// <summary>Parses and runs; replaces System.CommandLine's help-page-and-exit-1 on a parse error.</summary>
    public static int Invoke(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0 && parse.Action is not HelpAction)
        {
            var command = parse.CommandResult.Command;
            return Fail($"{parse.Errors[0].Message.TrimEnd('.')} (see samrt{(command is RootCommand ? "" : " " + command.Name)} --help)");
        }
        // Commands handle SIGINT/SIGTERM themselves where they have something to finish (StopSignal).
        return parse.Invoke(new InvocationConfiguration { ProcessTerminationTimeout = null });
    }

    /// <summary>Runs a command body: user errors and environment problems become one line on stderr and exit code 2.</summary>
    public static int Run(Func<int> body)
    {
        try { return body(); }
        catch (Exception e) when (e is UsageException or VulkanException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            return Fail(e.Message);
        }
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"samrt: {message.TrimEnd('.')}");
        return UsageError;
    }
}

/// <summary>
/// Turns SIGINT (Ctrl-C) and SIGTERM into a flag a long loop polls, so it can stop between frames and finish its
/// outputs (close the video, write the JSON) instead of dying with half-written files.
/// </summary>
internal sealed class StopSignal : IDisposable
{
    private readonly PosixSignalRegistration[] _registrations;
    private volatile bool _requested;

    public StopSignal()
    {
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle), PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle)];
    }

    public bool Requested => _requested;

    private void Handle(PosixSignalContext context)
    {
        // A second signal while the first is being honoured ends the process the default way.
        if (_requested) return;
        context.Cancel = true;
        _requested = true;
    }

    public void Dispose()
    {
        foreach (var r in _registrations) r.Dispose();
    }
}
