using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Engine.Serving;
using OpenAutoGlm.Engine.Vision;
using OpenAutoGlm.Tests.Support;

using static OpenAutoGlm.Tests.Serving.BatchSteps;

namespace OpenAutoGlm.Tests.Serving;

/// <summary>The committed open_autoglm smoke model, loaded once for the class.</summary>
public sealed class DemoSmokeFixture : IDisposable
{
    public AutoGlmModel Model { get; } = AutoGlmModel.Load(Path.Combine(SharedModels.RepositoryRoot, "tests", "Data", "demo-smoke"), new ModelOptions { Threads = 2 });

    public void Dispose() => Model.Dispose();
}

/// <summary>Image requests in the batch engine against single-stream multimodal generation, for cross-attention fusion and token insertion.</summary>
public sealed class MultimodalBatchTests(DemoSmokeFixture fixture) : IClassFixture<DemoSmokeFixture>
{
    private static readonly string Examples = Path.Combine(SharedModels.RepositoryRoot, "examples");
    private AutoGlmModel Demo => fixture.Model;

    private static ImageInput Example(string name) => ImageInput.FromFile(Path.Combine(Examples, name));

    /// <summary>A prompt of exactly <paramref name="length"/> ids (the encoded text, cut or padded with id 5).</summary>
    private int[] Prompt(string text, int length)
    {
        var ids = Demo.Encode(text).ToList();
        while (ids.Count < length) ids.Add(5);
        return [.. ids.Take(length)];
    }

    [Theory]
    [InlineData("shapes_plain.png", false)]
    [InlineData("chart.png", true)]
    public void AnImageRequestAloneMatchesMultimodalGenerate(string image, bool preset)
    {
        var prompt = Demo.Encode("What colour is the circle in the picture?");
        var options = new GenerationOptions { MaxNewTokens = 10, Seed = 11 };
        var imageOptions = new ImageRequestOptions { UseDecodingPreset = preset };
        var expected = Demo.Generate(prompt, [Example(image)], options, imageOptions);

        using var engine = new BatchEngine(Demo, new BatchEngineOptions { BlockSize = 4, MaxRunning = 4 });
        var r = engine.Submit(prompt, [Example(image)], options, imageOptions);
        RunToEnd(engine);
        Assert.Equal(expected.Generation.Ids, Ids(r));
        Assert.Equal(expected.Generation.Text, Finished(r).Text);
        Assert.Equal(expected.Generation.PromptTokens, Finished(r).PromptTokens);
        var details = Assert.IsType<BatchImageDetails>(r.ImageDetails);
        Assert.Equal(expected.Options, details.Options);
        Assert.Equal(expected.Instruction?.TaskClass, details.Instruction?.TaskClass);
        Assert.Equal(expected.Images, details.Images);
        Assert.Equal(expected.Imputed, details.Imputed);
        Assert.Equal(0, engine.Cache.UsedBlocks);
    }

    [Fact]
    public void ImageAndTextRequestsInOneBatchEachMatchTheirSingleStreamRun()
    {
        var options = new GenerationOptions { MaxNewTokens = 12, Seed = 3, StopAtEndOfSequence = false };
        var noPreset = new ImageRequestOptions { UseDecodingPreset = false };
        var cases = new (int[] Prompt, ImageInput[] Images)[]
        {
            (Demo.Encode("Describe the image."), [Example("shapes_plain.png")]),
            (Demo.Encode("Tell me a story about a cat."), []),
            (Demo.Encode("Which bar is highest?"), [Example("chart.png")]),
            (Demo.Encode("Compare the two pictures."), [Example("shapes_textured.png"), Example("chart_wide.png")]),
            (Demo.Encode("Describe the image."), [Example("blank.png")]),
            (Demo.Encode("Describe the image."), [Example("plate.png")]),
        };
        var expected = cases.Select(c => c.Images.Length == 0
            ? Demo.Generate(c.Prompt, options).Ids
            : Demo.Generate(c.Prompt, c.Images, options, noPreset).Generation.Ids).ToArray();

        using var engine = new BatchEngine(Demo, new BatchEngineOptions { BlockSize = 4, MaxRunning = 8 });
        var requests = cases.Select(c => c.Images.Length == 0 ? engine.Submit(c.Prompt, options) : engine.Submit(c.Prompt, c.Images, options, noPreset)).ToArray();
        RunToEnd(engine);
        for (int i = 0; i < cases.Length; i++) Assert.Equal(expected[i], Ids(requests[i]));
        Assert.True(engine.Stats.Steps < 12 + cases.Length, "the requests ran together");
        Assert.Equal(0, engine.Cache.UsedBlocks);
    }

    [Fact]
    public void BlocksAreSharedOnlyBetweenRequestsWithTheSameImages()
    {
        // 16 ids: reuse leaves a 4-row chunk to compute, as the whole-prompt prefill of the single-stream run is tiled too.
        var prompt = Prompt("Please describe what you see in this picture in detail.", 16);
        var options = new GenerationOptions { MaxNewTokens = 6, StopAtEndOfSequence = false };
        var noPreset = new ImageRequestOptions { UseDecodingPreset = false };
        using var engine = new BatchEngine(Demo, new BatchEngineOptions { BlockSize = 4, MaxRunning = 4 });

        int[] Run(ImageInput[] images)
        {
            var r = images.Length == 0 ? engine.Submit(prompt, options) : engine.Submit(prompt, images, options, noPreset);
            RunToEnd(engine);
            return Ids(r);
        }

        var first = Run([Example("shapes_plain.png")]);
        Assert.Equal(0, engine.Stats.PrefixHitTokens);
        Assert.Equal(Demo.Generate(prompt, [Example("shapes_plain.png")], options, noPreset).Generation.Ids, first);

        // the same image (another ImageInput over the same bytes) and the same prompt: its blocks are reused
        var again = Run([ImageInput.FromBytes(File.ReadAllBytes(Path.Combine(Examples, "shapes_plain.png")))]);
        Assert.Equal(12, engine.Stats.PrefixHitTokens);
        Assert.Equal(first, again);

        // another image, or none: the same tokens, but not the same K/V
        var chart = Run([Example("chart.png")]);
        Assert.Equal(12, engine.Stats.PrefixHitTokens);
        Assert.Equal(Demo.Generate(prompt, [Example("chart.png")], options, noPreset).Generation.Ids, chart);
        var text = Run([]);
        Assert.Equal(12, engine.Stats.PrefixHitTokens);
        Assert.Equal(Demo.Generate(prompt, options).Ids, text);

        // two images in the other order fuse differently
        Run([Example("shapes_plain.png"), Example("chart.png")]);
        long hits = engine.Stats.PrefixHitTokens;
        Run([Example("chart.png"), Example("shapes_plain.png")]);
        Assert.Equal(hits, engine.Stats.PrefixHitTokens);
        Assert.Equal(0, engine.Cache.UsedBlocks);
    }

    [Fact]
    public async Task CancelledAndFinishedImageRequestsReleaseEveryBlock()
    {
        var options = new GenerationOptions { MaxNewTokens = 30, StopAtEndOfSequence = false, Seed = 9 };
        // A pool too small for everything at once: admission waits and sequences get preempted and recomputed.
        using var engine = new BatchEngine(Demo, new BatchEngineOptions { BlockSize = 4, MaxRunning = 4, KvBlocks = 24 });
        var prompt = Demo.Encode("Describe the image.");
        var requests = new List<BatchRequest>();
        string[] images = ["shapes_plain.png", "chart.png", "plate.png", "shapes_textured.png"];
        for (int i = 0; i < 8; i++)
            requests.Add(i % 3 == 2 ? engine.Submit(prompt, options) : engine.Submit(prompt, [Example(images[i % images.Length])], options));
        requests[7].Cancel(); // still waiting
        for (int i = 0; i < 5; i++) engine.Step();
        requests[0].Cancel(); // running
        requests[4].Cancel();
        RunToEnd(engine);
        foreach (int i in new[] { 0, 4, 7 })
        {
            Assert.True(requests[i].Result.IsCanceled);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => { await foreach (var _ in requests[i].Tokens.ReadAllAsync()) { } });
        }
        // Recomputed rows may take another kernel path in the fusion's attention than when they were decoded, so only the lengths are compared.
        for (int i = 0; i < 8; i++)
            if (i is not (0 or 4 or 7)) Assert.Equal(30, Ids(requests[i]).Length);
        Assert.True(engine.Stats.Preemptions > 0);
        Assert.Equal(0, engine.Cache.UsedBlocks);
        Assert.Equal(0, engine.Stats.Running);
        Assert.Equal(0, engine.Stats.Waiting);
    }

    [Fact]
    public async Task TheAsyncMethodsTakeImages()
    {
        var prompt = Demo.Encode("Which bar is highest?");
        var options = new GenerationOptions { MaxNewTokens = 8, Seed = 5 };
        var expected = Demo.Generate(prompt, [Example("chart.png")], options);
        using var engine = new BatchEngine(Demo);
        var result = await engine.GenerateAsync(prompt, [Example("chart.png")], options);
        Assert.Equal(expected.Generation.Ids, result.Ids);
        var streamed = new List<int>();
        await foreach (var token in engine.GenerateStreamingAsync(prompt, [Example("chart.png")], options))
            if (token.Id >= 0) streamed.Add(token.Id);
        Assert.Equal(expected.Generation.Ids, streamed);
        await Assert.ThrowsAsync<ImageInputException>(() => engine.GenerateAsync(prompt, [ImageInput.FromBytes([1, 2, 3])], options));
        Assert.Equal(0, engine.Cache.UsedBlocks);
    }
}

/// <summary>Token insertion (a tiny LLaVA, ids only) in the batch engine.</summary>
public sealed class LlavaBatchTests
{
    private static TinyModel Llava() => new(new TinyCheckpointSpec { Architecture = TinyCheckpoint.LlavaArchitecture, Seed = 23, EosTokenIds = [] });

    private static ImageInput Noise(int seed)
    {
        var rgb = new byte[3 * 16 * 16];
        new Random(seed).NextBytes(rgb);
        return ImageInput.FromRgb(rgb, 16, 16);
    }

    [Fact]
    public void ImageRequestsAloneAndMixedMatchGenerate()
    {
        using var m = Llava();
        var model = m.Model;
        int img = model.Manifest.Llava!.ImageTokenId;
        var options = new GenerationOptions { MaxNewTokens = 8 };
        var cases = new (int[] Prompt, ImageInput[] Images)[]
        {
            ([1, 17, img, 5, 88, img, 9], [Noise(1), Noise(2)]),
            ([1, 17, 5, 88, 9, 30, 31], []),
            ([1, img, 30], [Noise(3)]),
            ([1, 40, 41, 42, img, 43], [Noise(1)]),
        };
        var expected = cases.Select(c => c.Images.Length == 0 ? model.Generate(c.Prompt, options).Ids : model.Generate(c.Prompt, c.Images, options).Generation.Ids).ToArray();

        using (var alone = new BatchEngine(model, new BatchEngineOptions { BlockSize = 4 }))
        {
            var r = alone.Submit(cases[0].Prompt, cases[0].Images, options);
            RunToEnd(alone);
            Assert.Equal(expected[0], Ids(r));
            Assert.Equal(7 - 2 + 32, Finished(r).PromptTokens);
            Assert.All(r.ImageDetails!.Images, i => Assert.Equal(16, i.Tokens));
        }

        using var engine = new BatchEngine(model, new BatchEngineOptions { BlockSize = 4, MaxRunning = 4 });
        var requests = cases.Select(c => c.Images.Length == 0 ? engine.Submit(c.Prompt, options) : engine.Submit(c.Prompt, c.Images, options)).ToArray();
        RunToEnd(engine);
        for (int i = 0; i < cases.Length; i++) Assert.Equal(expected[i], Ids(requests[i]));
        Assert.Equal(0, engine.Cache.UsedBlocks);
        Assert.Throws<ArgumentException>(() => engine.Submit([1, 4], [Noise(1)], options));
    }

    [Fact]
    public void TheTextBeforeTheFirstImageIsSharedAndTheImageRowsOnlyWithTheSameImage()
    {
        using var m = Llava();
        var model = m.Model;
        int img = model.Manifest.Llava!.ImageTokenId;
        var options = new GenerationOptions { MaxNewTokens = 5 };
        int[] text = [1, 17, 5, 88, 9, 30, 31, 32];   // two blocks of 4
        int[] prompt = [.. text, img, 40, 41];          // 8 + 16 + 2 = 26 positions
        using var engine = new BatchEngine(model, new BatchEngineOptions { BlockSize = 4, MaxRunning = 4 });

        int[] Run(int[] ids, ImageInput[] images)
        {
            var r = images.Length == 0 ? engine.Submit(ids, options) : engine.Submit(ids, images, options);
            RunToEnd(engine);
            var expected = images.Length == 0 ? model.Generate(ids, options).Ids : model.Generate(ids, images, options).Generation.Ids;
            Assert.Equal(expected, Ids(r));
            return Ids(r);
        }

        Run(prompt, [Noise(1)]);
        Assert.Equal(0, engine.Stats.PrefixHitTokens);
        Run(prompt, [Noise(1)]);                        // same image: every full block but the last (one token is always computed)
        Assert.Equal(24, engine.Stats.PrefixHitTokens);
        Run(prompt, [Noise(2)]);                        // another image: only the text before it
        Assert.Equal(24 + 8, engine.Stats.PrefixHitTokens);
        Run([.. text, 40, 41, 42, 43], []);             // text only: the same text blocks, not the image positions
        Assert.Equal(24 + 8 + 8, engine.Stats.PrefixHitTokens);
        Assert.Equal(0, engine.Cache.UsedBlocks);
    }
}
