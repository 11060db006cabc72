using OpenAutoGlm.Engine.Generation;
using Xunit;

namespace OpenAutoGlm.Tests.Generation;

public sealed class BeamSearchTests
{
    private const int Vocab = 5;
    private static readonly int[] Prompt = [3, 1];

    /// <summary>A deterministic toy model: logits from a seeded hash of the whole sequence.</summary>
    private static float[] ToyLogits(IReadOnlyList<int> sequence, ulong seed)
    {
        ulong h = seed ^ 0xcbf29ce484222325UL;
        foreach (int t in sequence) h = (h ^ (ulong)(t + 1)) * 0x100000001b3UL;
        var logits = new float[Vocab];
        for (int v = 0; v < Vocab; v++)
        {
            h ^= h >> 29;
            h *= 0xbf58476d1ce4e5b9UL;
            h ^= h >> 32;
            logits[v] = (float)((h >> 11) * (1.0 / (1UL << 53)) * 6 - 3);
        }
        return logits;
    }

    private static double LogProb(IReadOnlyList<int> sequence, int token, ulong seed)
    {
        var l = ToyLogits(sequence, seed);
        double max = l.Max();
        return l[token] - (max + Math.Log(l.Sum(x => Math.Exp(x - max))));
    }

    /// <summary>Every continuation of up to <paramref name="depth"/> tokens that a beam search could return, scored the same way.</summary>
    private static (int[] Tokens, double Score) BruteForceBest(int depth, ulong seed, int[] eos, float lengthPenalty)
    {
        (int[], double) best = ([], double.NegativeInfinity);
        void Visit(List<int> sequence, double sum)
        {
            int generated = sequence.Count - Prompt.Length;
            for (int v = 0; v < Vocab; v++)
            {
                double s = sum + LogProb(sequence, v, seed);
                bool isEos = eos.Contains(v);
                if (isEos || generated + 1 == depth)
                {
                    double score = s / Math.Pow(generated + 1, lengthPenalty);
                    int[] tokens = [.. sequence.Skip(Prompt.Length), .. isEos ? Array.Empty<int>() : [v]];
                    if (score > best.Item2) best = (tokens, score);
                }
                if (!isEos && generated + 1 < depth) Visit([.. sequence, v], s);
            }
        }
        Visit([.. Prompt], 0);
        return best;
    }

    [Theory]
    [InlineData(1UL, new int[0], 1.0f)]
    [InlineData(2UL, new int[0], 1.0f)]
    [InlineData(3UL, new[] { 4 }, 1.0f)]
    [InlineData(4UL, new[] { 0, 4 }, 0.5f)]
    [InlineData(5UL, new[] { 2 }, 2.0f)]
    public void FullWidthFindsTheExactBest(ulong seed, int[] eos, float lengthPenalty)
    {
        const int depth = 4;
        var result = BeamSearch.Run(s => ToyLogits(s, seed), Prompt, new BeamSearchOptions
        {
            NumBeams = 625, // Vocab^depth: nothing is ever pruned
            MaxNewTokens = depth,
            EosTokenIds = eos,
            LengthPenalty = lengthPenalty,
            EarlyStopping = BeamEarlyStopping.Never,
        });
        var (tokens, score) = BruteForceBest(depth, seed, eos, lengthPenalty);
        Assert.Equal(tokens, result[0].Tokens);
        Assert.Equal(score, result[0].Score, 9);
    }

    [Theory]
    [InlineData(11UL, 1, 1, BeamEarlyStopping.Heuristic, 1.0f)]
    [InlineData(12UL, 2, 2, BeamEarlyStopping.Heuristic, 1.0f)]
    [InlineData(13UL, 3, 2, BeamEarlyStopping.Stop, 1.0f)]
    [InlineData(14UL, 3, 3, BeamEarlyStopping.Never, 1.5f)]
    [InlineData(15UL, 4, 1, BeamEarlyStopping.Heuristic, 0.0f)]
    [InlineData(16UL, 2, 1, BeamEarlyStopping.Never, -1.0f)]
    [InlineData(17UL, 5, 5, BeamEarlyStopping.Heuristic, 1.0f)]
    public void NarrowBeamsMatchAStraightforwardImplementation(ulong seed, int beams, int returns, BeamEarlyStopping stopping, float lengthPenalty)
    {
        var options = new BeamSearchOptions
        {
            NumBeams = beams,
            NumReturnSequences = returns,
            MaxNewTokens = 6,
            EosTokenIds = [1],
            EarlyStopping = stopping,
            LengthPenalty = lengthPenalty,
        };
        var actual = BeamSearch.Run(s => ToyLogits(s, seed), Prompt, options);
        var expected = PlainBeamSearch(seed, options);
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Tokens, actual[i].Tokens);
            Assert.Equal(expected[i].Score, actual[i].Score, 9);
            Assert.Equal(expected[i].Finished, actual[i].EndToken is not null);
        }
    }

    [Fact]
    public void ReturnsRequestedCountBestFirst()
    {
        var result = BeamSearch.Run(s => ToyLogits(s, 9), Prompt, new BeamSearchOptions { NumBeams = 4, NumReturnSequences = 3, MaxNewTokens = 5 });
        Assert.Equal(3, result.Count);
        Assert.True(result[0].Score >= result[1].Score && result[1].Score >= result[2].Score);
        Assert.All(result, h => Assert.Equal(5, h.Tokens.Length));
    }

    /// <summary>
    /// HF's algorithm written out directly: score every (beam, token), sort all of them, walk the ranking;
    /// finished hypotheses in a list trimmed to the best NumBeams.
    /// </summary>
    private static List<(int[] Tokens, double Score, bool Finished)> PlainBeamSearch(ulong seed, BeamSearchOptions o)
    {
        var beams = Enumerable.Range(0, o.NumBeams).Select(b => (Tokens: new List<int>(), Sum: b == 0 ? 0.0 : -1e9)).ToList();
        var hyps = new List<(int[] Tokens, double Score, bool Finished)>();
        double Penalized(double sum, int length) => sum / Math.Pow(length, o.LengthPenalty);
        void AddHypothesis(int[] tokens, double sum, int length, bool finished)
        {
            hyps.Add((tokens, Penalized(sum, length), finished));
            hyps = hyps.OrderByDescending(h => h.Score).Take(o.NumBeams).ToList();
        }
        bool done = false;
        for (int step = 1; step <= o.MaxNewTokens && !done; step++)
        {
            var candidates = new List<(int Beam, int Token, double Sum)>();
            for (int b = 0; b < beams.Count; b++)
                for (int v = 0; v < Vocab; v++)
                    candidates.Add((b, v, beams[b].Sum + LogProb([.. Prompt, .. beams[b].Tokens], v, seed)));
            var top = candidates.OrderByDescending(c => c.Sum).ThenBy(c => c.Beam * Vocab + c.Token)
                .Take(Math.Max(2, 1 + o.EosTokenIds.Count) * o.NumBeams).ToList();
            var next = new List<(List<int>, double)>();
            for (int rank = 0; rank < top.Count && next.Count < o.NumBeams; rank++)
            {
                var (b, v, sum) = top[rank];
                if (o.EosTokenIds.Contains(v))
                {
                    if (rank < o.NumBeams) AddHypothesis([.. beams[b].Tokens], sum, step, true);
                }
                else next.Add(([.. beams[b].Tokens, v], sum));
            }
            if (hyps.Count >= o.NumBeams)
            {
                double worst = hyps.Min(h => h.Score);
                int length = o.EarlyStopping == BeamEarlyStopping.Never && o.LengthPenalty > 0 ? o.MaxNewTokens : step;
                done = o.EarlyStopping == BeamEarlyStopping.Stop || worst >= Penalized(top[0].Sum, length);
            }
            beams = next;
        }
        if (!done)
            foreach (var (tokens, sum) in beams) AddHypothesis([.. tokens], sum, tokens.Count, false);
        return hyps.Take(o.NumReturnSequences).ToList();
    }
}
