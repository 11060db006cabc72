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
}
