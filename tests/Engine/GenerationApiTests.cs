using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Tests.Support;

namespace OpenAutoGlm.Tests.Engine;

public sealed class TinyLlamaFixture : IDisposable
{
    public TinyModel Tiny { get; } = new(new TinyCheckpointSpec { Seed = 21, EosTokenIds = [2], MaxPositionEmbeddings = 64 });
    public AutoGlmModel Model => Tiny.Model;
    public void Dispose() => Tiny.Dispose();
}

public class GenerationApiTests(TinyLlamaFixture fixture) : IClassFixture<TinyLlamaFixture>
{
    private AutoGlmModel Model => fixture.Model;
    private static readonly int[] Prompt = [1, 10, 20, 30];

    [Fact]
    public void SameSeedSameTokens_OtherSeedOtherTokens()
    {
        GenerationOptions O(ulong seed) => new() { MaxNewTokens = 24, Temperature = 1.3f, TopK = 40, Seed = seed, StopAtEndOfSequence = false };
        var a = Model.Generate(Prompt, O(123)).Ids;
        Assert.Equal(a, Model.Generate(Prompt, O(123)).Ids);
        Assert.NotEqual(a, Model.Generate(Prompt, O(124)).Ids);
    }

    [Fact]
    public void InvalidTokenIdIsRejectedWithItsIndex()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Model.Generate([1, 5, 97]));
        Assert.Contains("97", e.Message);
        Assert.Contains("index 2", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Model.ComputeLogits([-1]));
    }

    [Fact]
    public void PromptLongerThanTheContextIsAClearErrorOrTruncated()
    {
        var longPrompt = Enumerable.Range(0, 80).Select(i => 3 + i % 90).ToArray();
        var e = Assert.Throws<PromptTooLongException>(() => Model.Generate(longPrompt));
        Assert.Equal(80, e.PromptTokens);
        Assert.Equal(64, e.ContextLength);
        var r = Model.Generate(longPrompt, new GenerationOptions { TruncatePrompt = true, MaxNewTokens = 5, StopAtEndOfSequence = false });
        Assert.Equal(63, r.PromptTokens);
        Assert.Single(r.Ids);
        Assert.Equal(FinishReason.Length, r.FinishReason);
    }

    [Fact]
    public void MaxNewTokensIsClampedToTheContext()
    {
        var r = Model.Generate(Enumerable.Repeat(7, 60).ToArray(), new GenerationOptions { MaxNewTokens = 50, StopAtEndOfSequence = false });
        Assert.Equal(4, r.Ids.Length);
    }

    [Fact]
    public void StopTokenEndsGenerationAndIsNotReturned()
    {
        var free = Model.Generate(Prompt, new GenerationOptions { MaxNewTokens = 10, StopAtEndOfSequence = false });
        int stop = free.Ids[3];
        int firstIndex = Array.IndexOf(free.Ids, stop);
        var r = Model.Generate(Prompt, new GenerationOptions { MaxNewTokens = 10, StopTokenIds = [stop] });
        Assert.Equal(FinishReason.StopToken, r.FinishReason);
        Assert.Equal(free.Ids[..firstIndex], r.Ids);
    }

    [Fact]
    public async Task StreamingYieldsTheSameTokensAsGenerate()
    {
        var options = new GenerationOptions { MaxNewTokens = 16, StopAtEndOfSequence = false };
        var ids = new List<int>();
        await foreach (var t in Model.GenerateStreamingAsync(Prompt, options))
            if (t.Id >= 0) ids.Add(t.Id);
        Assert.Equal(Model.Generate(Prompt, options).Ids, ids);
    }

    [Fact]
    public async Task CancellationStopsAStream()
    {
        using var cts = new CancellationTokenSource();
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in Model.GenerateStreamingAsync(Prompt, new GenerationOptions { MaxNewTokens = 50, StopAtEndOfSequence = false }, cts.Token))
                if (++seen == 3) cts.Cancel();
        });
        Assert.Equal(3, seen);
    }

    [Fact]
    public void TwoThreadsGenerateOnOneModelAtOnce()
    {
        var options = new GenerationOptions { MaxNewTokens = 20, Temperature = 0.9f, Seed = 77, StopAtEndOfSequence = false };
        var expectedA = Model.Generate(Prompt, options).Ids;
        var expectedB = Model.Generate([1, 50, 60], options).Ids;
        var results = new int[8][];
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
            results[i] = Model.Generate(i % 2 == 0 ? Prompt : [1, 50, 60], options).Ids);
        for (int i = 0; i < 8; i++) Assert.Equal(i % 2 == 0 ? expectedA : expectedB, results[i]);
    }

    [Fact]
    public void TimingsAreReported()
    {
        var r = Model.Generate(Prompt, new GenerationOptions { MaxNewTokens = 8, StopAtEndOfSequence = false });
        Assert.Equal(4, r.PromptTokens);
        Assert.True(r.TimeToFirstTokenMs > 0);
        Assert.True(r.PrefillTokensPerSecond > 0);
        Assert.True(r.DecodeTokensPerSecond > 0);
    }

    [Fact]
    public void TextPromptWithoutTokenizerIsAClearError()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Model.Generate("hello"));
        Assert.Contains("without a tokenizer", e.Message);
    }
}
