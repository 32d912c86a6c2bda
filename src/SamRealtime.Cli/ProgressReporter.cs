using System.Diagnostics;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace SamRealtime.Cli;

/// <summary>
/// Progress of a long job on stderr (stdout stays for results): a live bar with done/total, rate and ETA on a
/// terminal, a plain line every few seconds otherwise (CI logs, pipes), so neither a log nor a person is left guessing.
/// </summary>
internal sealed class ProgressReporter
{
    private static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(5);

    private readonly string _title, _unit;
    private readonly int? _total;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private ProgressTask? _task;
    private TimeSpan? _lastLine;
    private int _done;

    private ProgressReporter(string title, string unit, int? total)
    {
        _title = title;
        _unit = unit;
        _total = total;
    }

    /// <summary>Runs <paramref name="body"/> with a reporter for <paramref name="total"/> <paramref name="unit"/>
    /// (null: unknown, e.g. a camera) and returns what it returns.</summary>
    public static T Run<T>(string title, string unit, int? total, Func<ProgressReporter, T> body)
    {
        var reporter = new ProgressReporter(title, unit, total);
        if (Console.IsErrorRedirected || Environment.GetEnvironmentVariable("TERM") == "dumb")
        {
            try { return body(reporter); }
            finally { reporter.Line("", force: true); }
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new CountColumn(unit),
                     new RateColumn(unit), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                reporter._task = ctx.AddTask(Markup.Escape(title), maxValue: total ?? 1);
                reporter._task.IsIndeterminate = total is null;
                return body(reporter);
            });
    }

    /// <summary>One more unit done; <paramref name="status"/> is a short note on it (shown after the title).</summary>
    public void Advance(string status)
    {
        _done++;
        if (_task is { } t)
        {
            t.Description = Markup.Escape(string.IsNullOrEmpty(status) ? _title : $"{_title} {status}");
            t.Increment(1);
        }
        else Line(status, force: false);
    }

    private void Line(string status, bool force)
    {
        var now = _clock.Elapsed;
        if (!force && _lastLine is { } last && now - last < PlainInterval) return;
        _lastLine = now;
        double rate = _done / Math.Max(now.TotalSeconds, 1e-9);
        var count = _total is int n ? $"{_done}/{n}" : $"{_done}";
        var eta = _total is int m && rate > 0 && _done < m ? $", ETA {Format(TimeSpan.FromSeconds((m - _done) / rate))}" : "";
        Console.Error.WriteLine($"{_title}: {count} {_unit}, {rate:F2} {_unit}/s{eta}{(status.Length > 0 ? ", " + status : "")}");
    }

    private static string Format(TimeSpan t) => t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss") : t.ToString(@"m\:ss");

    private sealed class CountColumn(string unit) : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(task.IsIndeterminate ? $"{task.Value:F0} {unit}" : $"{task.Value:F0}/{task.MaxValue:F0} {unit}");
    }

    private sealed class RateColumn(string unit) : ProgressColumn
    {
        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(task.Speed is double s ? $"{s:F2} {unit}/s" : $"- {unit}/s");
    }
}
