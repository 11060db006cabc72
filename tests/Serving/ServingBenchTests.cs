using System.Text.Json;
using OpenAutoGlm.Cli;
using OpenAutoGlm.Tests.Support;

namespace OpenAutoGlm.Tests.Serving;

public sealed class ServingBenchTests
{
    [Fact]
    public void ReportsThroughputAndLatencyPercentiles()
    {
        using var tiny = new TinyModel(new TinyCheckpointSpec { Seed = 3, MaxPositionEmbeddings = 64 });
        var r = ServingBench.Run(tiny.ModelDirectory, threads: 1, concurrency: 3, requestCount: 6, maxPrompt: 12, maxOutput: 8, seed: 7);
        Assert.Equal(6, r.Requests);
        Assert.True(r.OutputTokens >= 6);
        Assert.True(r.TotalTokensPerSecond > 0);
        Assert.InRange(r.TtftP50Ms, 0, r.TtftP99Ms);
        Assert.InRange(r.ItlP50Ms, 0, r.ItlP99Ms);
        Assert.Equal(r, ServingBench.Run(tiny.ModelDirectory, 1, 3, 6, 12, 8, 7) with
        {
            Seconds = r.Seconds, TtftP50Ms = r.TtftP50Ms, TtftP99Ms = r.TtftP99Ms, ItlP50Ms = r.ItlP50Ms, ItlP99Ms = r.ItlP99Ms,
        });
    }

    [Theory]
    [InlineData("16", new[] { 16 })]
    [InlineData("1,4,16,64", new[] { 1, 4, 16, 64 })]
    [InlineData(" 2 , 8 ", new[] { 2, 8 })]
    public void ParsesConcurrencyLists(string text, int[] expected) => Assert.Equal(expected, ServingBench.ParseLevels(text));

    [Theory]
    [InlineData("")]
    [InlineData("0")]
    [InlineData("4,x")]
    [InlineData("-1,2")]
    public void RejectsBadConcurrencyLists(string text) => Assert.Throws<ArgumentException>(() => ServingBench.ParseLevels(text));

    [Fact]
    public void SweepReportsEveryLevelAsAnArrayOfObjectsWithTheSingleLevelKeys()
    {
        using var tiny = new TinyModel(new TinyCheckpointSpec { Seed = 3, MaxPositionEmbeddings = 64 });
        var reports = ServingBench.Sweep(tiny.ModelDirectory, threads: 1, levels: [1, 2], requestCount: null, maxPrompt: 8, maxOutput: 4, seed: 7);
        Assert.Equal([1, 2], reports.Select(r => r.Concurrency));
        // Every level serves the same requests (the highest level's default count), so the throughputs compare.
        Assert.Equal([8, 8], reports.Select(r => r.Requests));
        Assert.Equal(reports[0].PromptTokens, reports[1].PromptTokens);
        Assert.Equal(reports[0].OutputTokens, reports[1].OutputTokens);
        Assert.All(reports, r => Assert.Equal(0, r.PrefixHitTokens));

        string[] keys = ["concurrency", "total_tokens_per_s", "ttft_p50_ms", "ttft_p99_ms", "itl_p50_ms", "itl_p99_ms"];
        using var stream = new MemoryStream();
        ServingBench.WriteJson(stream, reports);
        using var sweep = JsonDocument.Parse(stream.ToArray());
        Assert.Equal(JsonValueKind.Array, sweep.RootElement.ValueKind);
        Assert.Equal(2, sweep.RootElement.GetArrayLength());
        foreach (var level in sweep.RootElement.EnumerateArray())
            foreach (string key in keys) Assert.True(level.TryGetProperty(key, out _), key);
        Assert.Equal(2, sweep.RootElement[1].GetProperty("concurrency").GetInt32());

        using var single = new MemoryStream();
        ServingBench.WriteJson(single, reports[..1]);
        using var one = JsonDocument.Parse(single.ToArray());
        Assert.Equal(JsonValueKind.Object, one.RootElement.ValueKind);
        foreach (string key in keys) Assert.True(one.RootElement.TryGetProperty(key, out _), key);
    }

    [Fact]
    public void DefaultRequestsAreFourPerClientUpTo128() => Assert.Equal([4, 64, 128], new[] { 1, 16, 64 }.Select(ServingBench.DefaultRequests));

    [Fact]
    public void CachedPrefixMakesTheFirstTokenFaster()
    {
        using var tiny = new TinyModel(new TinyCheckpointSpec { Seed = 3, MaxPositionEmbeddings = 512 });
        var r = ServingBench.Prefix(tiny.ModelDirectory, threads: 1, prefixTokens: 384, suffixTokens: 4, runs: 3, seed: 5);
        Assert.Equal(384, r.PrefixHitTokens);
        Assert.True(r.Speedup > 1, $"cold {r.ColdTtftMs} ms, warm {r.WarmTtftMs} ms");
    }

    [Fact]
    public void PrefixMustLeaveRoomInTheContext()
    {
        using var tiny = new TinyModel(new TinyCheckpointSpec { Seed = 3, MaxPositionEmbeddings = 64 });
        Assert.Throws<ArgumentException>(() => ServingBench.Prefix(tiny.ModelDirectory, 1, prefixTokens: 60, suffixTokens: 4, runs: 1, seed: 5));
    }
}
