using OpenAutoGlm.Kernels.Cpu;

namespace OpenAutoGlm.Engine.Generation;

/// <summary>
/// Picks the next token from logits: repetition penalty, then temperature, top-k, top-p, min-p (HF order), then a draw.
/// Buffers are sized once per vocabulary; nothing is allocated per token.
/// </summary>
public sealed class Sampler
{
    private readonly GenerationOptions _options;
    private readonly int[] _candidates;     // [V] candidate ids, sorted by logit when needed
    private readonly float[] _probs;        // [V] probabilities of the candidates, same order
    private readonly int[] _seenStamp;      // [V] last penalty pass that touched the id
    private int _stamp;
    private Xoshiro256 _rng;

    public Sampler(int vocabSize, GenerationOptions options)
    {
        _options = options;
        _candidates = new int[vocabSize];
        _probs = new float[vocabSize];
        _seenStamp = new int[vocabSize];
        _rng = new Xoshiro256(options.Seed ?? (ulong)Random.Shared.NextInt64());
    }

    /// <summary>Picks a token; <paramref name="logits"/> is modified in place. <paramref name="history"/> feeds the repetition penalty.</summary>
    public int Sample(Span<float> logits, ReadOnlySpan<int> history)
    {
        if (_options.RepetitionPenalty != 1f) ApplyRepetitionPenalty(logits, history, _options.RepetitionPenalty);
        if (_options.IsGreedy) return VectorOps.ArgMax(logits);

        int count = SelectCandidates(logits);
        float maxLogit = logits[_candidates[0]];
        float invT = 1f / _options.Temperature;
        float sum = 0f;
        for (int i = 0; i < count; i++)
        {
            float p = MathF.Exp((logits[_candidates[i]] - maxLogit) * invT);
            _probs[i] = p;
            sum += p;
        }
        // Top-p over the sorted candidates: the smallest prefix whose mass reaches P (at least one token).
        if (_options.TopP < 1f)
        {
            float target = _options.TopP * sum, acc = 0f;
            for (int i = 0; i < count; i++)
            {
                acc += _probs[i];
                if (acc >= target) { count = i + 1; sum = acc; break; }
            }
        }
        // Min-p: relative to the most likely token (index 0, probability mass _probs[0]).
        if (_options.MinP > 0f)
        {
            float floor = _options.MinP * _probs[0];
            int kept = 1;
            while (kept < count && _probs[kept] >= floor) kept++;
            if (kept < count)
            {
                sum = 0f;
                for (int i = 0; i < kept; i++) sum += _probs[i];
                count = kept;
            }
        }
        float r = (float)(_rng.NextDouble() * sum);
        for (int i = 0; i < count; i++)
        {
            r -= _probs[i];
            if (r < 0f) return _candidates[i];
        }
        return _candidates[count - 1];
    }

    /// <summary>Fills _candidates[0..count) with ids ordered by descending logit, restricted to top-k when set.</summary>
    private int SelectCandidates(ReadOnlySpan<float> logits)
    {
        int v = logits.Length;
        int k = _options.TopK > 0 ? Math.Min(_options.TopK, v) : v;
        float maxLogit = logits[VectorOps.ArgMax(logits)];
        // exp(-(30 / T)) relative mass is below float resolution: such tokens never win a draw, so skip sorting them.
        float cutoff = maxLogit - 30f * _options.Temperature;
        int count = 0;
        for (int i = 0; i < v; i++)
            if (logits[i] >= cutoff) _candidates[count++] = i;
        var ids = _candidates.AsSpan(0, count);
        var keys = _probs.AsSpan(0, count);
        for (int i = 0; i < count; i++) keys[i] = -logits[ids[i]];
        keys.Sort(ids); // stable order is not needed: equal logits are equally likely
        return Math.Min(k, count);
    }

    private void ApplyRepetitionPenalty(Span<float> logits, ReadOnlySpan<int> history, float penalty)
    {
        _stamp++;
        foreach (int id in history)
        {
            if (_seenStamp[id] == _stamp) continue;
            _seenStamp[id] = _stamp;
            float l = logits[id];
            logits[id] = l > 0 ? l / penalty : l * penalty;
        }
    }
}

/// <summary>xoshiro256** seeded through SplitMix64: a documented generator, so seeded output is stable across runtimes.</summary>
internal struct Xoshiro256
{
    private ulong _s0, _s1, _s2, _s3;

    public Xoshiro256(ulong seed)
    {
        _s0 = SplitMix(ref seed); _s1 = SplitMix(ref seed); _s2 = SplitMix(ref seed); _s3 = SplitMix(ref seed);
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));
}
