using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Engine.Serving;
using OpenAutoGlm.Tests.Engine;
using OpenAutoGlm.Tests.Support;
using static OpenAutoGlm.Tests.Serving.BatchSteps;

namespace OpenAutoGlm.Tests.Serving;

public sealed class BatchEngineTests(TinyLlamaFixture fixture) : IClassFixture<TinyLlamaFixture>
{
    private AutoGlmModel Model => fixture.Model;
    private static readonly BatchEngineOptions Small = new() { BlockSize = 4, MaxRunning = 6 };

    /// <summary>Runs one request alone through a fresh engine.</summary>
    private int[] Solo(int[] prompt, GenerationOptions options)
    {
        using var engine = new BatchEngine(Model, Small);
        var r = engine.Submit(prompt, options);
        for (int guard = 0; engine.Step(); guard++) Assert.True(guard < 10_000, "the engine does not finish");
        return Ids(r);
    }

    [Fact]
    public void ASingleRequestMatchesGenerate()
    {
        var options = new GenerationOptions { MaxNewTokens = 20, StopAtEndOfSequence = false };
        int[] prompt = [1, 10, 20, 30, 40, 50, 60];
        Assert.Equal(Model.Generate(prompt, options).Ids, Solo(prompt, options));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RandomArrivalsAndCancellations_KeepEveryInvariant(int seed)
    {
        var rng = new Random(seed);
        // A pool too small for every request at once: admission waits and running sequences get preempted.
        using var engine = new BatchEngine(Model, Small with { KvBlocks = 30 });
        int[][] prefixes = [[1, 5, 6, 7, 8, 9, 10, 11], [1, 40, 41, 42, 43]];
        var requests = new List<(BatchRequest Request, int[] Prompt, GenerationOptions Options)>();
        var cancelled = new HashSet<BatchRequest>();
        int submitted = 0, steps = 0;
        while (submitted < 14 || engine.Step())
        {
            if (submitted < 14 && rng.Next(3) == 0)
            {
                var prompt = prefixes[rng.Next(2)].Concat(Enumerable.Range(0, rng.Next(0, 20)).Select(_ => 3 + rng.Next(90))).ToArray();
                var options = new GenerationOptions
                {
                    MaxNewTokens = 1 + rng.Next(20), StopAtEndOfSequence = rng.Next(2) == 0,
                    Temperature = rng.Next(3) == 0 ? 0.8f : 0f, Seed = (ulong)rng.Next(),
                };
                requests.Add((engine.Submit(prompt, options), prompt, options));
                submitted++;
            }
            if (requests.Count > 0 && rng.Next(12) == 0)
            {
                var victim = requests[rng.Next(requests.Count)].Request;
                if (!victim.Result.IsCompleted && cancelled.Add(victim)) victim.Cancel();
            }
            if (submitted < 14) engine.Step();
            Assert.True(++steps < 10_000, "the engine does not finish");
        }
        RunToEnd(engine);

        foreach (var (request, prompt, options) in requests)
        {
            Assert.True(request.Result.IsCompleted);
            if (request.Result.IsCanceled)
            {
                Assert.Contains(request, cancelled);
                continue;
            }
            Assert.Equal(Solo(prompt, options), Ids(request));
        }
        var stats = engine.Stats;
        Assert.Equal(0, stats.Running);
        Assert.Equal(0, stats.Waiting);
        Assert.Equal(0, stats.UsedBlocks);
        Assert.Equal(engine.Cache.BlockCount, stats.AvailableBlocks);
        Assert.True(stats.PrefixHitTokens > 0);
    }

    [Fact]
    public void ARequestsLogProbabilitiesAreBitIdenticalAloneAndInABatch()
    {
        // Every row-wise step gives a row the same bits whatever the other rows (the packed matrix products at every row
        // count, paged attention as the contiguous kernel), so batching changes not just no token but no bit: the
        // log-probabilities of a request are equal alone through Generate, alone on the engine and among other requests.
        // Packed matrices forced on: by default they are used only where they are faster (AVX-512).
        using var tiny = new TinyModel(fixture.Tiny.Spec, new ModelOptions { Threads = 2, PackWeights = true });
        var options = new GenerationOptions { MaxNewTokens = 12, StopAtEndOfSequence = false, LogProbs = true };
        int[] prompt = [1, 10, 20, 30, 40, 50, 60];
        float[] LogProbs(GenerationResult r) => [.. r.LogProbs!.Select(t => t.LogProb)];
        var alone = LogProbs(tiny.Model.Generate(prompt, options));
        using var engine = new BatchEngine(tiny.Model, Small);
        var others = Enumerable.Range(0, 5).Select(i => engine.Submit([1, .. Enumerable.Range(3 + 7 * i, 3 + i)], options with { MaxNewTokens = 4 + 3 * i })).ToArray();
        engine.Step();
        var request = engine.Submit(prompt, options);
        RunToEnd(engine);
        Assert.Equal(alone, LogProbs(Finished(request)));
        Assert.All(others, o => Assert.True(o.Result.IsCompletedSuccessfully));
    }

    [Fact]
    public void PreemptionRecomputesWithoutChangingTheOutput()
    {
        var options = new GenerationOptions { MaxNewTokens = 24, StopAtEndOfSequence = false };
        int[][] prompts = [[1, 10, 11, 12], [1, 20, 21, 22], [1, 30, 31, 32]];
        using var engine = new BatchEngine(Model, Small with { KvBlocks = 14 });
        var requests = prompts.Select(p => engine.Submit(p, options)).ToArray();
        RunToEnd(engine);
        Assert.True(engine.Stats.Preemptions > 0);
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(Solo(prompts[i], options), Ids(requests[i]));
        Assert.Equal(0, engine.Stats.UsedBlocks);
    }

    [Fact]
    public void ASharedPromptPrefixReusesCachedBlocks()
    {
        var options = new GenerationOptions { MaxNewTokens = 5, StopAtEndOfSequence = false };
        int[] first = [1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
        int[] second = [.. first[..16], 60, 61];
        using var engine = new BatchEngine(Model, Small);
        engine.Submit(first, options);
        RunToEnd(engine);
        Assert.Equal(0, engine.Stats.PrefixHitTokens);
        Assert.True(engine.Stats.CachedBlocks >= 4);
        var r = engine.Submit(second, options);
        RunToEnd(engine);
        Assert.Equal(16, engine.Stats.PrefixHitTokens);
        Assert.Equal(Solo(second, options), Ids(r));
    }

    [Fact]
    public async Task CancellingOneRequestFreesItsBlocksAndLeavesTheOthersRunning()
    {
        var options = new GenerationOptions { MaxNewTokens = 30, StopAtEndOfSequence = false };
        using var engine = new BatchEngine(Model, Small);
        var a = engine.Submit([1, 10, 20, 30, 40], options);
        var b = engine.Submit([1, 11, 21, 31], options);
        for (int i = 0; i < 4; i++) engine.Step();
        Assert.True(engine.BlocksOf(a) > 0);
        a.Cancel();
        engine.Step();
        Assert.Equal(0, engine.BlocksOf(a));
        Assert.Equal(engine.BlocksOf(b), engine.Stats.UsedBlocks);
        Assert.True(a.Result.IsCanceled);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => { await foreach (var _ in a.Tokens.ReadAllAsync()) { } });
        RunToEnd(engine);
        Assert.Equal(Solo([1, 11, 21, 31], options), Ids(b));
        Assert.Equal(0, engine.Stats.UsedBlocks);
    }

    [Fact]
    public void AFullQueueIsAClearBackPressureSignal()
    {
        using var engine = new BatchEngine(Model, Small with { MaxWaiting = 2 });
        engine.Submit([1, 2, 3]);
        engine.Submit([1, 2, 3]);
        var e = Assert.Throws<EngineBusyException>(() => engine.Submit([1, 2, 3]));
        Assert.Equal(2, e.Waiting);
        Assert.Throws<ArgumentException>(() => new BatchEngine(Model, Small with { KvBlocks = 2 }).Submit([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
    }

    [Fact]
    public async Task ConcurrentStreamsEachGetTheirOwnTokens()
    {
        var options = new GenerationOptions { MaxNewTokens = 12, StopAtEndOfSequence = false };
        int[][] prompts = [[1, 10], [1, 20, 21], [1, 30, 31, 32], [1, 40]];
        using var engine = new BatchEngine(Model, Small);
        var streams = prompts.Select(async p =>
        {
            var ids = new List<int>();
            await foreach (var t in engine.GenerateStreamingAsync(p, options))
                if (t.Id >= 0) ids.Add(t.Id);
            return ids.ToArray();
        }).ToArray();
        var results = await Task.WhenAll(streams);
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(Model.Generate(prompts[i], options).Ids, results[i]);
    }

    [Fact]
    public async Task CancellingAStreamOnTheBackgroundLoopReleasesItsBlocks()
    {
        using var engine = new BatchEngine(Model, Small);
        using var cts = new CancellationTokenSource();
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in engine.GenerateStreamingAsync([1, 10, 20], new GenerationOptions { MaxNewTokens = 50, StopAtEndOfSequence = false }, cts.Token))
                if (++seen == 3) cts.Cancel();
        });
        Assert.Equal(3, seen);
        for (int i = 0; i < 200 && engine.Stats.UsedBlocks > 0; i++) await Task.Delay(10);
        Assert.Equal(0, engine.Stats.UsedBlocks);
        Assert.Throws<InvalidOperationException>(() => engine.Step());
    }
}
