using SamRealtime.Capture.Live;
using Xunit;

namespace SamRealtime.Tests.Live;

/// <summary>The parts of <c>samrt live</c> that need neither a GPU nor a display: scripts, their pacing, and the
/// window's mapping of mouse positions and key codes.</summary>
public sealed class LiveScriptTests
{
    [Fact]
    public void ScriptLinesBecomeEventsInOrder()
    {
        var events = LiveScript.Parse(
        [
            "# comment",
            "frame 0 click 500 375 +",
            "",
            "frame 0 click 12.5 7 -   # trailing comment",
            "frame 2 click 3 4",
            "frame 2 key n",
            "frame 5 key space",
            "frame 5 key ESC",
            "frame 6 key q",
        ], "s.txt");
        Assert.Equal(
        [
            new ScriptEvent(0, new ClickEvent(500, 375, true), 2),
            new ScriptEvent(0, new ClickEvent(12.5f, 7, false), 4),
            new ScriptEvent(2, new ClickEvent(3, 4, true), 5),
            new ScriptEvent(2, new KeyEvent('n'), 6),
            new ScriptEvent(5, new KeyEvent(' '), 7),
            new ScriptEvent(5, new KeyEvent(KeyEvent.Escape), 8),
            new ScriptEvent(6, new KeyEvent('q'), 9),
        ], events);
    }

    [Theory]
    [InlineData("fram 0 key n", "expected 'frame K")]
    [InlineData("frame x key n", "frame 'x' is not a frame index")]
    [InlineData("frame -1 key n", "is not a frame index")]
    [InlineData("frame 1 key", "expected 'key C'")]
    [InlineData("frame 1 key z", "unknown key 'z'")]
    [InlineData("frame 1 key nn", "unknown key 'nn'")]
    [InlineData("frame 1 click 10", "expected 'click X Y [+|-]'")]
    [InlineData("frame 1 click 10 abc", "X and Y must be non-negative numbers")]
    [InlineData("frame 1 click 10 -5", "X and Y must be non-negative numbers")]
    [InlineData("frame 1 click 10 5 *", "'*' is not + or -")]
    [InlineData("frame 1 tap 10 5", "unknown event 'tap'")]
    public void BadLinesNameTheFileAndLine(string bad, string why)
    {
        var e = Assert.Throws<LiveScriptException>(() => LiveScript.Parse(["frame 0 key n", "# fine", bad], "my.script"));
        Assert.StartsWith("my.script line 3: ", e.Message);
        Assert.Contains(why, e.Message);
    }

    [Fact]
    public void FramesMustNotGoBackwards()
    {
        var e = Assert.Throws<LiveScriptException>(() => LiveScript.Parse(["frame 3 key n", "frame 2 key s"], "s"));
        Assert.Equal("s line 2: frame 2 comes after frame 3: 'frame 2 key s'", e.Message);
    }

    [Fact]
    public void PlayerPostsEachFramesEventsAndHoldsTheStreamUntilThen()
    {
        var player = new ScriptPlayer(LiveScript.Parse(["frame 0 key n", "frame 0 key s", "frame 2 key c", "frame 9 key q"], "s"));
        var posted = new List<LiveEvent>();
        Assert.Empty(player.Pump(null, false, posted.Add));                 // nothing on screen yet
        Assert.Empty(posted);
        Assert.False(player.MayAdvance(0));
        player.Pump(0, false, posted.Add);
        Assert.Equal([new KeyEvent('n'), new KeyEvent('s')], posted);
        Assert.True(player.MayAdvance(0));
        Assert.True(player.MayAdvance(1));
        Assert.False(player.MayAdvance(2));
        player.Pump(1, false, posted.Add);
        Assert.Equal(2, posted.Count);
        player.Pump(2, false, posted.Add);
        Assert.Equal(3, posted.Count);
        Assert.False(player.Done);
        // The stream ended on frame 4: frame 9's event is posted there, and reported as late.
        var late = player.Pump(4, true, posted.Add);
        Assert.Equal(9, Assert.Single(late).Frame);
        Assert.Equal(new KeyEvent('q'), posted[^1]);
        Assert.True(player.Done);
    }

    [Fact]
    public void WindowPixelsMapToImagePixelsAndKeysToSessionKeys()
    {
        Assert.Equal((500f, 375f), LiveWindow.ToImage(500, 375, 1.0));
        // Shown at 2/3: window pixel 333 covers image pixels 499.75 ± 0.75.
        var (x, y) = LiveWindow.ToImage(333, 250, 2.0 / 3);
        Assert.Equal(499.75, x, 3);
        Assert.Equal(375.25, y, 3);
        Assert.Equal((0.5f, 0.5f), LiveWindow.ToImage(0, 0, 0.5));
        Assert.Equal('q', LiveWindow.KeyOf('q'));
        Assert.Equal('n', LiveWindow.KeyOf('N'));
        Assert.Equal(KeyEvent.Escape, LiveWindow.KeyOf(27));
        Assert.Equal(' ', LiveWindow.KeyOf(32));
        Assert.Equal('3', LiveWindow.KeyOf('3'));
        Assert.Null(LiveWindow.KeyOf(-1));
        Assert.Null(LiveWindow.KeyOf('x'));
        Assert.Null(LiveWindow.KeyOf('0'));
    }
}
