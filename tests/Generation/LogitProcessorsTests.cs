using OpenAutoGlm.Engine.Generation;
using Xunit;

namespace OpenAutoGlm.Tests.Generation;

public sealed class LogitProcessorsTests
{
    [Fact]
    public void FrequencyAndPresencePenaltiesFollowOpenAi()
    {
        float[] logits = [1f, 2f, 3f, 4f];
        var counts = new int[4];
        LogitProcessors.ApplyFrequencyPresencePenalty(logits, [2, 0, 2, 2], frequency: 0.5f, presence: 0.25f, counts);
        Assert.Equal([1f - 0.5f - 0.25f, 2f, 3f - 1.5f - 0.25f, 4f], logits);
        Assert.All(counts, c => Assert.Equal(0, c));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(300)]
    [InlineData(32000)]
    public void LogProbabilityMatchesTheDoublePrecisionLogSumExp(int vocab)
    {
        var rng = new Random(vocab);
        var logits = Enumerable.Range(0, vocab).Select(_ => (float)(rng.NextDouble() * 30 - 15)).ToArray();
        if (vocab > 2) logits[vocab / 2] = float.NegativeInfinity;
        double max = logits.Max();
        double logSum = max + Math.Log(logits.Sum(l => Math.Exp(l - max)));
        for (int id = 0; id < vocab; id += Math.Max(1, vocab / 5))
            if (!float.IsNegativeInfinity(logits[id]))
                Assert.Equal(logits[id] - logSum, LogitProcessors.LogProbability(logits, id), 1e-5); // FP32 result: ~2e-6 ulp at 20
    }

    [Fact]
    public void TopLogProbsAreSortedLogSoftmaxValues()
    {
        float[] logits = [0.5f, 3f, -1f, 3f, 2f];
        var dest = new (int id, float logprob)[3];
        Assert.Equal(3, LogitProcessors.TopLogProbs(logits, 3, dest));
        double logSum = Math.Log(logits.Sum(l => Math.Exp(l)));
        Assert.Equal([1, 3, 4], dest.Select(d => d.id));
        for (int i = 0; i < 3; i++) Assert.Equal(logits[dest[i].id] - logSum, dest[i].logprob, 5);
        Assert.Equal(dest[0].logprob, LogitProcessors.LogProbability(logits, 1), 6);
        Assert.Equal(2, LogitProcessors.TopLogProbs([1f, 2f], 5, new (int, float)[5]));
    }

    [Fact]
    public void TopLogProbsMatchesFullSortOnRandomRows()
    {
        var rng = new Random(3);
        for (int trial = 0; trial < 50; trial++)
        {
            var logits = Enumerable.Range(0, 1 + rng.Next(200)).Select(_ => (float)(rng.NextDouble() * 20 - 10)).ToArray();
            int k = 1 + rng.Next(20);
            var dest = new (int id, float logprob)[k];
            int n = LogitProcessors.TopLogProbs(logits, k, dest);
            var expected = logits.Select((l, i) => (l, i)).OrderByDescending(x => x.l).ThenBy(x => x.i).Take(k).Select(x => x.i).ToArray();
            Assert.Equal(expected, dest.Take(n).Select(d => d.id));
        }
    }
}
