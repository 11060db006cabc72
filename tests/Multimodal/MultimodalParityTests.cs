using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Engine.Vision;
using OpenAutoGlm.Tests.Support;

namespace OpenAutoGlm.Tests.Multimodal;

/// <summary>The engine's vision encoder, fusion step, imputer and heads against the double-precision reference.</summary>
public class MultimodalParityTests
{
    private static readonly int[] Prompt = [1, 17, 42, 5, 88, 23, 61, 9];

    private static TinyCheckpointSpec Spec(int seed = 7, TinyVisionSpec? vision = null) => new()
    {
        Architecture = TinyCheckpoint.OpenAutoGlmArchitecture, Seed = seed, EosTokenIds = [], Vision = vision ?? new TinyVisionSpec(),
    };

    private static byte[] Noise(int side, int seed)
    {
        var random = new Random(seed);
        var rgb = new byte[3 * side * side];
        random.NextBytes(rgb);
        return rgb;
    }

    /// <summary>Small variations around grey: valid (confidence ≈ 0.7) but low complexity.</summary>
    private static byte[] Calm(int side, int seed)
    {
        var random = new Random(seed);
        var rgb = new byte[3 * side * side];
        for (int i = 0; i < rgb.Length; i++) rgb[i] = (byte)(100 + random.Next(30));
        return rgb;
    }

    private static void AssertClose(float[] engine, double[][] reference) =>
        Assert.InRange(TinyModel.RelativeError(engine, reference), 0, 1e-3);

    [Theory]
    [InlineData(16)] // g = G: position table used as is
    [InlineData(8)]  // g < G: bilinear down
    [InlineData(24)] // g > G: bilinear up
    public void OneImageAtItsOwnSizeMatchesTheReference(int side)
    {
        using var m = new TinyModel(Spec());
        var rgb = Noise(side, side);
        var result = m.Model.ComputeLogits(Prompt, [ImageInput.FromRgb(rgb, side, side)], allPositions: true, new ImageRequestOptions { Resolution = side });
        var image = Assert.Single(result.Images);
        Assert.True(image.Valid);
        Assert.Equal(side, image.Resolution);
        Assert.Equal(side * side / 16, image.Tokens);
        Assert.False(result.Imputed);

        var reference = m.Multimodal.Forward(Prompt, m.Multimodal.Encode(rgb, side));
        AssertClose(result.Logits, reference);
        // the image changes the logits
        Assert.True(TinyModel.RelativeError(m.Model.ComputeLogits(Prompt, allPositions: true), reference) > 1e-3);
    }

    [Fact]
    public void SeveralImagesAtTheirOwnResolutionsAreConcatenatedInOrder()
    {
        using var m = new TinyModel(Spec(seed: 11));
        byte[] busy = Noise(24, 1), calm = Calm(8, 2);
        var result = m.Model.ComputeLogits(Prompt, [ImageInput.FromRgb(busy, 24, 24), ImageInput.FromRgb(calm, 8, 8)], allPositions: true);
        Assert.Equal([24, 8], result.Images.Select(i => i.Resolution));
        Assert.All(result.Images, i => Assert.True(i.Valid));
        var reference = m.Multimodal.Forward(Prompt, [.. m.Multimodal.Encode(busy, 24), .. m.Multimodal.Encode(calm, 8)]);
        AssertClose(result.Logits, reference);
    }

    [Fact]
    public void BlankImageTakesTheMissingModalityPath()
    {
        using var m = new TinyModel(Spec(seed: 12));
        var blank = new byte[3 * 16 * 16];
        Array.Fill(blank, (byte)128);
        var result = m.Model.ComputeLogits(Prompt, [ImageInput.FromRgb(blank, 16, 16)], allPositions: true);
        var image = Assert.Single(result.Images);
        Assert.False(image.Valid);
        Assert.Equal(0, image.Tokens);
        Assert.True(result.Imputed);
        var reference = m.Multimodal.Forward(Prompt, [m.Multimodal.Impute(m.Multimodal.MeanEmbedding(Prompt))]);
        AssertClose(result.Logits, reference);
        // no image at all is the same request
        Assert.Equal(result.Logits, m.Model.ComputeLogits(Prompt, [], allPositions: true).Logits);
    }

    [Fact]
    public void WithoutAnImputerAMissingImageSkipsFusion()
    {
        using var m = new TinyModel(Spec(seed: 13, new TinyVisionSpec { ImputerWidth = 0 }));
        var result = m.Model.ComputeLogits(Prompt, [], allPositions: true);
        Assert.False(result.Imputed);
        Assert.Equal(m.Model.ComputeLogits(Prompt, allPositions: true), result.Logits);
        AssertClose(result.Logits, m.Reference.Forward(Prompt));
    }

    [Fact]
    public void GreedyGenerationWithAnImageFollowsTheReference()
    {
        using var m = new TinyModel(Spec(seed: 14, new TinyVisionSpec { InstructionClasses = [], TaskHead = false }), new ModelOptions { Threads = 2, PrefillChunk = 3 });
        var rgb = Noise(16, 5);
        var result = m.Model.Generate(Prompt[..4], [ImageInput.FromRgb(rgb, 16, 16)], new GenerationOptions { MaxNewTokens = 6 },
            new ImageRequestOptions { Resolution = 16 });
        var visual = m.Multimodal.Encode(rgb, 16);
        var seq = Prompt[..4].ToList();
        for (int i = 0; i < 6; i++)
        {
            var last = m.Multimodal.Forward(seq, visual)[^1];
            seq.Add(Array.IndexOf(last, last.Max()));
        }
        Assert.Equal(seq[4..], result.Generation.Ids);
        Assert.Null(result.Instruction);
        Assert.True(result.VisionMs >= 0);
    }

    [Fact]
    public void RetrievalEmbeddingsMatchTheReference()
    {
        using var m = new TinyModel(Spec(seed: 15, new TinyVisionSpec { ScalarLogitScale = true }));
        var rgb = Noise(16, 9);
        var image = m.Model.EmbedImage(ImageInput.FromRgb(rgb, 16, 16), new ImageRequestOptions { Resolution = 16 });
        var text = m.Model.EmbedText(Prompt);
        var zi = m.Multimodal.ImageEmbedding(m.Multimodal.Encode(rgb, 16));
        var zt = m.Multimodal.TextEmbedding(Prompt);
        for (int i = 0; i < zi.Length; i++) Assert.Equal(zi[i], image.Embedding[i], 1e-4);
        for (int i = 0; i < zt.Length; i++) Assert.Equal(zt[i], text[i], 1e-4);
        double expected = Math.Exp(m.Multimodal.LogitScale) * zi.Zip(zt, (a, b) => a * b).Sum();
        Assert.Equal(expected, m.Model.Similarity(image.Embedding, text), 1e-4);
        Assert.True(image.Image.Valid);
    }

    [Fact]
    public void TaskHeadPicksThePresetAndExplicitOptionsWin()
    {
        using var m = new TinyModel(Spec(seed: 16));
        var choice = m.Model.ClassifyInstruction(Prompt)!;
        var reference = m.Multimodal.ClassProbabilities(m.Multimodal.MeanEmbedding(Prompt));
        for (int i = 0; i < reference.Length; i++) Assert.Equal(reference[i], choice.Probabilities![i], 1e-4);
        string expected = m.Spec.Vision.InstructionClasses[Array.IndexOf(reference, reference.Max())];
        Assert.Equal(expected, choice.TaskClass);

        var result = m.Model.Generate(Prompt, [], new GenerationOptions { TopP = 0.5f, Seed = 1, MaxNewTokens = 3 });
        Assert.Equal(expected, result.Instruction!.TaskClass);
        var preset = m.Model.Manifest.Multimodal!.DecodingPresets[expected];
        Assert.Same(preset, result.Instruction.Preset);
        Assert.Equal(0.5f, result.Options.TopP);                                      // explicit
        Assert.Equal(preset.Temperature ?? 0f, result.Options.Temperature);            // from the preset
        Assert.Equal(preset.TopK ?? 0, result.Options.TopK);
        Assert.Equal(3, result.Options.MaxNewTokens);                                 // explicit
    }

    [Fact]
    public void WithoutATaskHeadTheKeywordRuleFallsBackToTheFirstClass()
    {
        using var m = new TinyModel(Spec(seed: 17, new TinyVisionSpec { TaskHead = false }));
        var choice = m.Model.ClassifyInstruction(Prompt)!;
        Assert.Equal("chat", choice.TaskClass);
        Assert.Null(choice.Probabilities);
        Assert.Equal(0.7f, choice.Preset!.Temperature);
    }

    [Fact]
    public void UndecodableImagesAreErrorsAndTextModelsRefuseImages()
    {
        using var m = new TinyModel(Spec(seed: 18));
        Assert.Throws<ImageInputException>(() => m.Model.ComputeLogits(Prompt, [ImageInput.FromBytes([1, 2, 3, 4])]));
        using var text = new TinyModel(new TinyCheckpointSpec());
        Assert.False(text.Model.SupportsImages);
        Assert.Throws<InvalidOperationException>(() => text.Model.ComputeLogits(Prompt, [ImageInput.FromRgb(Noise(8, 1), 8, 8)]));
    }

    [Fact]
    public void ChunkedPrefillAndConcurrentRequestsReuseTheCrossAttentionCacheCorrectly()
    {
        var spec = Spec(seed: 19);
        using var whole = new TinyModel(spec);
        using var chunked = new TinyModel(spec, new ModelOptions { Threads = 1, PrefillChunk = 3 });
        byte[] a = Noise(16, 1), b = Noise(8, 2);
        var options = new ImageRequestOptions { Resolution = 16 };
        var expected = whole.Model.ComputeLogits(Prompt, [ImageInput.FromRgb(a, 16, 16)], true, options).Logits;
        var actual = chunked.Model.ComputeLogits(Prompt, [ImageInput.FromRgb(a, 16, 16)], true, options).Logits;
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-4f);

        var other = whole.Model.ComputeLogits(Prompt, [ImageInput.FromRgb(b, 8, 8)], true, new ImageRequestOptions { Resolution = 8 }).Logits;
        var results = new float[8][];
        Parallel.For(0, 8, i => results[i] = i % 2 == 0
            ? whole.Model.ComputeLogits(Prompt, [ImageInput.FromRgb(a, 16, 16)], true, options).Logits
            : whole.Model.ComputeLogits(Prompt, [ImageInput.FromRgb(b, 8, 8)], true, new ImageRequestOptions { Resolution = 8 }).Logits);
        for (int i = 0; i < 8; i++) Assert.Equal(i % 2 == 0 ? expected : other, results[i]);
    }

    [Fact]
    public async Task StreamingWithImagesYieldsTheSameTokens()
    {
        using var m = new TinyModel(Spec(seed: 20));
        var image = ImageInput.FromRgb(Noise(16, 3), 16, 16);
        var options = new GenerationOptions { MaxNewTokens = 5, Seed = 4 };
        var expected = m.Model.Generate(Prompt, [image], options).Generation.Ids;
        var streamed = new List<int>();
        await foreach (var t in m.Model.GenerateStreamingAsync(Prompt, [image], options))
            if (t.Id >= 0) streamed.Add(t.Id);
        Assert.Equal(expected, streamed);
    }
}
