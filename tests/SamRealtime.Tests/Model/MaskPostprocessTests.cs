using SamRealtime.Model;
using Xunit;

namespace SamRealtime.Tests.Model;

/// <summary>The generator's CPU steps on hand-made inputs whose answers follow from segment-anything's amg.py,
/// torchvision's nms and pycocotools, worked out by hand.</summary>
public sealed class MaskPostprocessTests
{
    private static byte[] Mask(int w, int h, Func<int, int, bool> set)
    {
        var m = new byte[w * h];
        for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) m[y * w + x] = set(x, y) ? (byte)255 : (byte)0;
        return m;
    }

    [Fact]
    public void RleRunsAreColumnMajorAndStartWithZeros()
    {
        // 2 rows x 3 columns:  0 1 0 / 1 1 0. Column-major: 0,1 | 1,1 | 0,0 -> runs 1 zero, 3 ones, 2 zeros.
        var m = new byte[] { 0, 255, 0, 255, 255, 0 };
        var rle = MaskRle.Encode(m, 3, 2);
        Assert.Equal([1, 3, 2], rle.Counts);
        Assert.Equal(3, rle.Area);
        Assert.Equal("132", rle.ToCocoString());
        // First pixel set: the zero run is empty.
        Assert.Equal([0, 1, 5], MaskRle.Encode(new byte[] { 1, 0, 0, 0, 0, 0 }, 3, 2).Counts);
        Assert.Equal([6], MaskRle.Encode(new byte[6], 3, 2).Counts);
    }

    [Fact]
    public void CocoStringMatchesPycocotoolsByHand()
    {
        // 5 rows x 15 columns; column-major index k = x*5 + y; set for k in [3, 53) and [73, 75): runs 3, 50, 20, 2.
        var m = Mask(15, 5, (x, y) => x * 5 + y is >= 3 and < 53 or >= 73);
        var rle = MaskRle.Encode(m, 15, 5);
        Assert.Equal([3, 50, 20, 2], rle.Counts);
        // rleToString: 3 -> '3'; 50 -> groups 18|0x20 = 50 -> 'b' and 1 -> '1'; 20 -> 0x10 set so a second group
        // follows: 20|0x20 = 52 -> 'd' (52 + 48), 0 '0'; the fourth run is stored as 2 - 50 = -48 -> groups 16|0x20 = 48 '`', 30 'N'.
        Assert.Equal("3b1d0`N", rle.ToCocoString());
        var back = MaskRle.FromCocoString("3b1d0`N", 5, 15);
        Assert.Equal(rle.Counts, back.Counts);
        Assert.Equal(m, back.Decode());
        // Runs 0, 40, 5, 100: 0 '0'; 40 -> 8|0x20 'X', 1 '1'; 5 '5'; 100 - 40 = 60 -> 28|0x20 'l', 1 '1'.
        Assert.Equal("0X15l1", new MaskRle(1, 145, [0, 40, 5, 100]).ToCocoString());
    }

    [Fact]
    public void RleRoundTripsRandomMasks()
    {
        var rng = new Random(3);
        foreach (var (w, h) in new[] { (1, 1), (7, 3), (31, 17), (64, 1), (1, 50) })
        for (int trial = 0; trial < 5; trial++)
        {
            double p = rng.NextDouble();
            var m = Mask(w, h, (_, _) => rng.NextDouble() < p);
            var rle = MaskRle.Encode(m, w, h);
            Assert.Equal(m, rle.Decode());
            Assert.Equal(m.Count(v => v != 0), rle.Area);
            Assert.Equal(rle.Counts, MaskRle.FromCocoString(rle.ToCocoString(), h, w).Counts);
        }
        Assert.Throws<InvalidDataException>(() => MaskRle.FromCocoString("3b1", 5, 15));    // runs do not cover the mask
        Assert.Throws<InvalidDataException>(() => MaskRle.FromCocoString("3b", 5, 15));     // ends inside a number
    }

    [Fact]
    public void BoxIsInclusiveAndZeroWhenEmpty()
    {
        var m = Mask(20, 10, (x, y) => (x == 3 && y == 2) || (x == 11 && y == 7));
        Assert.Equal(new PixelBox(3, 2, 11, 7), MaskPostprocess.Box(m, 20, 10));
        Assert.Equal((3, 2, 8, 5), MaskPostprocess.Box(m, 20, 10).Xywh);
        Assert.Equal(default, MaskPostprocess.Box(new byte[200], 20, 10));
    }

    [Fact]
    public void NmsKeepsTheBestOfOverlappingBoxes()
    {
        PixelBox[] boxes = [new(0, 0, 10, 10), new(1, 0, 11, 10), new(20, 20, 30, 30), new(0, 0, 10, 5)];
        // IoU(0,1) = 90/110 = 0.818; IoU(0,3) = 50/100 = 0.5; box 2 is apart.
        Assert.Equal(90.0 / 110, MaskPostprocess.BoxIou(boxes[0], boxes[1]), 12);
        Assert.Equal([1, 3, 2], MaskPostprocess.Nms(boxes, [0.8f, 0.9f, 0.5f, 0.7f], 0.7));   // in score order; IoU(1,3) = 45/105
        Assert.Equal([1, 2], MaskPostprocess.Nms(boxes, [0.8f, 0.9f, 0.5f, 0.7f], 0.4));
        Assert.Equal([0, 3, 2], MaskPostprocess.Nms(boxes, [0.9f, 0.8f, 0.5f, 0.7f], 0.7));
        // Equal scores: the lower index first.
        Assert.Equal([0, 2, 3], MaskPostprocess.Nms(boxes, [1f, 1f, 1f, 1f], 0.7));
    }

    [Fact]
    public void CropEdgeTestIgnoresImageEdges()
    {
        var crop = (0, 0, 500, 400);   // a top-left crop of a 1000x800 image: its right and bottom sides are inside
        Assert.True(MaskPostprocess.NearCropEdge(new PixelBox(100, 100, 485, 200), crop, 1000, 800));
        Assert.False(MaskPostprocess.NearCropEdge(new PixelBox(0, 0, 200, 200), crop, 1000, 800));      // image corner
        Assert.False(MaskPostprocess.NearCropEdge(new PixelBox(100, 100, 479, 379), crop, 1000, 800));  // 21 px inside
        Assert.True(MaskPostprocess.NearCropEdge(new PixelBox(100, 100, 300, 380), crop, 1000, 800));   // 20 px: isclose
        Assert.False(MaskPostprocess.NearCropEdge(new PixelBox(0, 0, 999, 799), (0, 0, 1000, 800), 1000, 800));
    }

    [Fact]
    public void CropBoxesAndGridsFollowAmg()
    {
        // 1072x603, one layer: overlap int(512/1500 * 603) = 205, crop 639x404, origins (0, 434) x (0, 199).
        var boxes = MaskPostprocess.CropBoxes(1072, 603, 1, 512.0 / 1500);
        Assert.Equal([(0, 0, 1072, 603, 0), (0, 0, 639, 404, 1), (0, 199, 639, 603, 1), (434, 0, 1072, 404, 1), (434, 199, 1072, 603, 1)], boxes);
        var grid = MaskPostprocess.PointGrid(4);
        Assert.Equal(16, grid.Length);
        Assert.Equal((0.125, 0.125), grid[0]);
        Assert.Equal((0.375, 0.125), grid[1]);    // x fastest
        Assert.Equal((0.875, 0.875), grid[15]);
        Assert.Equal([(0.5, 0.5)], MaskPostprocess.PointGrid(1));
        Assert.Equal([64, 16, 4], MaskPostprocess.LayerGrids(8, 2, 2).Select(g => g.Length));
    }

    [Fact]
    public void SmallHolesAndIslandsAreRemoved()
    {
        const int w = 30, h = 20;
        // A 12x12 square with a 2x2 hole, and a 2x2 island far from it (diagonal contact counts: 8-connectivity).
        var m = Mask(w, h, (x, y) => (x is >= 2 and < 14 && y is >= 2 and < 14 && !(x is 6 or 7 && y is 6 or 7)) || (x is 20 or 21 && y is 5 or 6));
        var holes = (byte[])m.Clone();
        Assert.True(MaskPostprocess.RemoveSmallRegions(holes, w, h, 5, holes: true));
        Assert.Equal(144 + 4, holes.Count(v => v != 0));
        var islands = (byte[])holes.Clone();
        Assert.True(MaskPostprocess.RemoveSmallRegions(islands, w, h, 5, holes: false));
        Assert.Equal(144, islands.Count(v => v != 0));
        Assert.Equal(new PixelBox(2, 2, 13, 13), MaskPostprocess.Box(islands, w, h));
        // Nothing below the area: unchanged.
        var same = (byte[])m.Clone();
        Assert.False(MaskPostprocess.RemoveSmallRegions(same, w, h, 4, holes: false));
        Assert.Equal(m, same);
        // Every island small: the largest stays.
        var two = Mask(w, h, (x, y) => (x < 3 && y < 3) || (x == 20 && y == 10));
        Assert.True(MaskPostprocess.RemoveSmallRegions(two, w, h, 100, holes: false));
        Assert.Equal(9, two.Count(v => v != 0));
        // A pixel touching the square only at a corner is part of it (8-connected), so it is not an island.
        var corner = Mask(w, h, (x, y) => (x is >= 2 and < 14 && y is >= 2 and < 14) || (x == 14 && y == 14));
        Assert.False(MaskPostprocess.RemoveSmallRegions(corner, w, h, 5, holes: false));
    }
}
