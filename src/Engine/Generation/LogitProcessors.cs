namespace OpenAutoGlm.Engine.Generation;

/// <summary>Logit adjustments and log-probability reports that work on one vocabulary row without allocating.</summary>
public static class LogitProcessors
{
    /// <summary>
    /// OpenAI frequency/presence penalties: logit[id] −= frequency·count(id) + presence·(count(id) &gt; 0), counts over <paramref name="generated"/>.
    /// </summary>
    /// <param name="countsScratch">One zeroed int per vocabulary id; left zeroed again on return.</param>
    public static void ApplyFrequencyPresencePenalty(Span<float> logits, ReadOnlySpan<int> generated, float frequency, float presence, Span<int> countsScratch)
    {
        if (frequency == 0f && presence == 0f) return;
        if (countsScratch.Length < logits.Length) throw new ArgumentException("The counts scratch must cover the vocabulary.", nameof(countsScratch));
        foreach (int id in generated) countsScratch[id]++;
        // Each id is penalized once, at its first occurrence, and its count cleared for the next call.
        foreach (int id in generated)
        {
            int count = countsScratch[id];
            if (count == 0) continue;
            logits[id] -= frequency * count + presence;
            countsScratch[id] = 0;
        }
    }

    /// <summary>log_softmax(logits)[id]: the log-probability of one token.</summary>
    public static float LogProbability(ReadOnlySpan<float> logits, int id) => (float)(logits[id] - LogSumExp(logits));

    /// <summary>
    /// The <paramref name="k"/> most likely tokens with their log-probabilities, most likely first (ties: lower id first).
    /// Returns how many entries of <paramref name="dest"/> were written: min(k, vocabulary, dest.Length).
    /// </summary>
    public static int TopLogProbs(ReadOnlySpan<float> logits, int k, Span<(int id, float logprob)> dest)
    {
        int n = Math.Min(Math.Min(k, logits.Length), dest.Length);
        if (n <= 0) return 0;
        int count = 0;
        // Insertion into a sorted prefix: k is small (OpenAI allows up to 20), so this beats sorting the vocabulary.
        for (int id = 0; id < logits.Length; id++)
        {
            float l = logits[id];
            if (count == n && !(l > dest[n - 1].logprob)) continue;
            int i = count < n ? count++ : n - 1;
            while (i > 0 && l > dest[i - 1].logprob)
            {
                dest[i] = dest[i - 1];
                i--;
            }
            dest[i] = (id, l);
        }
        double logSum = LogSumExp(logits);
        for (int i = 0; i < n; i++) dest[i].logprob = (float)(dest[i].logprob - logSum);
        return n;
    }

    private static double LogSumExp(ReadOnlySpan<float> logits) => Kernels.Cpu.VectorOps.LogSumExp(logits);
}
