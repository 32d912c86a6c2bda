using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using SamRealtime.Tests.Weights;

namespace SamRealtime.Tests.Live;

/// <summary>A private virtual X server for one test. Missing Xvfb fails the test (never skips it): the live window
/// must really be created somewhere.</summary>
internal sealed class Xvfb : IDisposable
{
    private readonly Process _process;

    public string Display { get; }

    private Xvfb(Process process, string display)
    {
        _process = process;
        Display = display;
    }

    public static Xvfb Start(int width = 1280, int height = 1024)
    {
        var exe = new[] { "/usr/bin/Xvfb", "/usr/local/bin/Xvfb" }.FirstOrDefault(File.Exists)
                  ?? throw new InvalidOperationException(
                      "Xvfb is not installed: the live window tests need a virtual X server. Install xvfb " +
                      "(sudo apt-get install xvfb, or ./build.sh setup).");
        // -displayfd: the server picks a free display and writes its number once it accepts connections.
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-displayfd", "1", "-screen", "0", $"{width}x{height}x24", "-nolisten", "tcp" }) psi.ArgumentList.Add(a);
        var p = Process.Start(psi) ?? throw new InvalidOperationException("Xvfb did not start");
        p.ErrorDataReceived += (_, _) => { };
        p.BeginErrorReadLine();
        var line = p.StandardOutput.ReadLineAsync();
        if (!line.Wait(TimeSpan.FromSeconds(20)) || !int.TryParse(line.Result, out int n))
        {
            try { p.Kill(); } catch (InvalidOperationException) { }
            throw new InvalidOperationException("Xvfb started but reported no display within 20 s");
        }
        return new Xvfb(p, ":" + n);
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited) _process.Kill();
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }
}

/// <summary>Runs the built <c>samrt</c> as a child process, collecting its output line by line as it comes.</summary>
internal sealed class SamrtProcess : IDisposable
{
    private readonly Process _process;
    private readonly BlockingCollection<string> _lines = new();
    private readonly List<string> _all = new();
    private readonly List<string> _err = new();
    private bool _disposed;

    public static string Dll
    {
        get
        {
            // Built next to the tests by the solution build (and by the test project's reference on the CLI).
            string config = typeof(SamrtProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
            var path = Path.Combine(ModelFiles.RepoRoot, "src", "SamRealtime.Cli", "bin", config, "net10.0", "samrt.dll");
            if (!File.Exists(path)) throw new FileNotFoundException($"{path} is missing: build the solution first", path);
            return path;
        }
    }

    /// <param name="executable">null: the solution's build through <c>dotnet</c>; else a samrt to run directly (an
    /// installed tool).</param>
    /// <param name="environment">Variables to set, or to remove where the value is null.</param>
    public SamrtProcess(IEnumerable<string> args, string? display, string? executable = null,
                        IReadOnlyDictionary<string, string?>? environment = null, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(executable ?? "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? ModelFiles.RepoRoot,
        };
        if (executable is null) psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (display is null) psi.Environment.Remove("DISPLAY");
        else psi.Environment["DISPLAY"] = display;
        psi.Environment.Remove("WAYLAND_DISPLAY");
        // Validation messages (when SAMRT_VALIDATION=1 is inherited) go to stderr, where the tests look for them.
        psi.Environment["SAMRT_VALIDATION_PRINT"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
            if (value is null) psi.Environment.Remove(name);
            else psi.Environment[name] = value;
        _process = Process.Start(psi) ?? throw new InvalidOperationException("dotnet did not start");
        _process.OutputDataReceived += (_, e) =>
        {
            lock (_all)
            {
                // After Dispose (a killed process still flushing) there is no one left to read.
                if (_disposed) return;
                if (e.Data is null) { _lines.CompleteAdding(); return; }
                _all.Add(e.Data);
                _lines.Add(e.Data);
            }
        };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_err) _err.Add(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public IReadOnlyList<string> Stdout { get { lock (_all) return _all.ToArray(); } }
    public IReadOnlyList<string> Stderr { get { lock (_err) return _err.ToArray(); } }

    /// <summary>The next stdout line matching <paramref name="match"/>, skipping the others; fails after
    /// <paramref name="timeout"/> or when the process ends first.</summary>
    public string WaitFor(Func<string, bool> match, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) throw Fail($"no {what} within {timeout.TotalSeconds:F0} s");
            try
            {
                if (_lines.TryTake(out var line, left) && match(line)) return line;
            }
            catch (InvalidOperationException) { throw Fail($"samrt ended before {what}"); }
            if (_lines.IsCompleted) throw Fail($"samrt ended before {what}");
        }
    }

    /// <summary>Waits for the exit code; kills the process (and fails) after <paramref name="timeout"/>.</summary>
    public int Wait(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            _process.Kill(entireProcessTree: true);
            throw Fail($"samrt did not exit within {timeout.TotalSeconds:F0} s");
        }
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public Exception Fail(string why) =>
        new Xunit.Sdk.XunitException($"{why}\nstdout:\n{string.Join("\n", Stdout)}\nstderr:\n{string.Join("\n", Stderr)}");

    public void Dispose()
    {
        try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { }
        lock (_all) _disposed = true;
        _process.Dispose();
        _lines.Dispose();
    }
}
