using OpenAutoGlm.Engine.Generation;

namespace OpenAutoGlm.Tests.Engine;

public class SamplerTests
{
    private static float[] Logits(params float[] v) => v;

    [Fact]
    public void GreedyPicksTheFirstMaximum()
    {
        var s = new Sampler(5, new GenerationOptions());
        Assert.Equal(3, s.Sample(Logits(0.1f, 2f, -1f, 3f, 3f), []));
    }

    [Fact]
    public void RepetitionPenaltyFollowsHfSigns()
    {
        var s = new Sampler(3, new GenerationOptions { RepetitionPenalty = 2f });
        var l = Logits(4f, -1f, 3.5f);
        s.Sample(l, [0, 1, 0]);
        Assert.Equal([2f, -2f, 3.5f], l);
    }

    [Fact]
    public void SameSeedSameDraws_DifferentSeedDifferentDraws()
    {
        var logits = new float[50];
        for (int i = 0; i < logits.Length; i++) logits[i] = MathF.Sin(i);
        int[] Draw(ulong seed)
        {
            var s = new Sampler(logits.Length, new GenerationOptions { Temperature = 1.5f, Seed = seed });
            var r = new int[40];
            for (int i = 0; i < r.Length; i++) r[i] = s.Sample((float[])logits.Clone(), []);
            return r;
        }
        Assert.Equal(Draw(7), Draw(7));
        Assert.NotEqual(Draw(7), Draw(8));
    }

    [Fact]
    public void TopKKeepsOnlyTheKBest()
    {
        var logits = Logits(5f, 4.9f, 4.8f, 4.7f, 0f, 0f);
        var s = new Sampler(6, new GenerationOptions { Temperature = 5f, TopK = 2, Seed = 1 });
        var seen = new HashSet<int>();
        for (int i = 0; i < 300; i++) seen.Add(s.Sample((float[])logits.Clone(), []));
        Assert.Equal([0, 1], seen.Order());
    }

    [Fact]
    public void TopPKeepsTheSmallestSetReachingP()
    {
        // probabilities ≈ 0.5, 0.3, 0.2 (logits are their logs): top-p 0.7 keeps ids 0 and 1 only
        var logits = Logits(MathF.Log(0.5f), MathF.Log(0.3f), MathF.Log(0.2f));
        var s = new Sampler(3, new GenerationOptions { Temperature = 1f, TopP = 0.7f, Seed = 3 });
        var counts = new int[3];
        for (int i = 0; i < 4000; i++) counts[s.Sample((float[])logits.Clone(), [])]++;
        Assert.Equal(0, counts[2]);
        Assert.InRange(counts[0] / 4000.0, 0.5 / 0.8 - 0.04, 0.5 / 0.8 + 0.04);
    }

    [Fact]
    public void MinPDropsUnlikelyTokens()
    {
        var logits = Logits(MathF.Log(0.6f), MathF.Log(0.35f), MathF.Log(0.05f));
        var s = new Sampler(3, new GenerationOptions { Temperature = 1f, MinP = 0.1f, Seed = 5 });
        var counts = new int[3];
        for (int i = 0; i < 3000; i++) counts[s.Sample((float[])logits.Clone(), [])]++;
        Assert.Equal(0, counts[2]);
        Assert.True(counts[1] > 800);
    }

    [Fact]
    public void DrawFrequenciesFollowTheSoftmax()
    {
        var logits = Logits(0f, 1f, 2f);
        var s = new Sampler(3, new GenerationOptions { Temperature = 1f, Seed = 11 });
        var counts = new int[3];
        const int n = 20000;
        for (int i = 0; i < n; i++) counts[s.Sample((float[])logits.Clone(), [])]++;
        double z = 1 + Math.E + Math.E * Math.E;
        Assert.InRange(counts[2] / (double)n, Math.E * Math.E / z - 0.015, Math.E * Math.E / z + 0.015);
        Assert.InRange(counts[0] / (double)n, 1 / z - 0.015, 1 / z + 0.015);
    }

    [Theory]
    [InlineData(-1f, 1f, 1f, 0f, 1f)]
    [InlineData(0f, 0f, 1f, 0f, 1f)]
    [InlineData(0f, 1.5f, 1f, 0f, 1f)]
    [InlineData(0f, 1f, 1f, 2f, 1f)]
    [InlineData(0f, 1f, 1f, 0f, 0f)]
    public void InvalidOptionsAreRejected(float temperature, float topP, float unused, float minP, float penalty)
    {
        _ = unused;
        var o = new GenerationOptions { Temperature = temperature, TopP = topP, MinP = minP, RepetitionPenalty = penalty };
        Assert.Throws<ArgumentOutOfRangeException>(o.Validate);
    }
}

public class StopStringMatcherTests
{
    [Fact]
    public void HoldsBackAPossibleStopPrefixAndCutsAtTheStop()
    {
        var m = new StopStringMatcher(["END"]);
        var text = new System.Text.StringBuilder();
        Assert.False(m.Push("hello E", text, out var r1));
        Assert.Equal("hello ", r1);
        Assert.False(m.Push("N", text, out var r2));
        Assert.Equal("", r2);
        Assert.True(m.Push("D tail", text, out var r3));
        Assert.Equal("", r3);
        Assert.Equal("hello ", text.ToString());
    }

    [Fact]
    public void ReleasesHeldTextWhenTheStopDoesNotMaterialize()
    {
        var m = new StopStringMatcher(["END"]);
        var text = new System.Text.StringBuilder();
        m.Push("x E", text, out _);
        m.Push("Nx", text, out var r);
        Assert.Equal("ENx", r);
        Assert.Equal("", m.Finish("", text));
        Assert.Equal("x ENx", text.ToString());
    }
}

public class KvCacheTests
{
    [Fact]
    public void SequencesKeepTheirOwnLengthsAndSlotsAreReused()
    {
        var cache = new KvCache(layers: 2, kvHeads: 2, headDim: 3);
        int a = cache.AddSequence(4), b = cache.AddSequence(10);
        var k = new float[] { 1, 2, 3, 4, 5, 6 };
        cache.Write(a, 1, 0, 1, k, k, 6);
        cache.Advance(a, 1);
        cache.Advance(b, 7);
        Assert.Equal(1, cache.Length(a));
        Assert.Equal(7, cache.Length(b));
        // head 1 of position 0 sits at (1·capacity + 0)·headDim
        Assert.Equal([4f, 5f, 6f], cache.Keys(a, 1).AsSpan(12, 3).ToArray());
        Assert.Throws<InvalidOperationException>(() => cache.Advance(a, 4));
        cache.RemoveSequence(a);
        Assert.Throws<ArgumentOutOfRangeException>(() => cache.Length(a));
        Assert.Equal(a, cache.AddSequence(2));
        Assert.Equal(2, cache.SequenceCount);
    }
}
