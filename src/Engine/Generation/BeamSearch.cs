namespace OpenAutoGlm.Engine.Generation;

/// <summary>When beam search stops before MaxNewTokens, as HF's <c>early_stopping</c>.</summary>
public enum BeamEarlyStopping
{
    /// <summary>HF <c>False</c>: stop once no running beam can beat the worst kept hypothesis, judged at the current length.</summary>
    Heuristic,
    /// <summary>HF <c>True</c>: stop as soon as NumBeams hypotheses are finished.</summary>
    Stop,
    /// <summary>HF <c>"never"</c>: the same test as Heuristic, judged at the longest reachable length (with LengthPenalty &gt; 0).</summary>
    Never,
}

/// <summary>Beam search settings, with HF's meanings and defaults.</summary>
public sealed record BeamSearchOptions
{
    public int NumBeams { get; init; } = 4;
    public int MaxNewTokens { get; init; } = 256;
    /// <summary>A hypothesis scores (sum of token log-probabilities) / (generated length ^ LengthPenalty); the length counts the end token.</summary>
    public float LengthPenalty { get; init; } = 1f;
    public BeamEarlyStopping EarlyStopping { get; init; } = BeamEarlyStopping.Heuristic;
    /// <summary>How many hypotheses to return (at most NumBeams).</summary>
    public int NumReturnSequences { get; init; } = 1;
    /// <summary>Tokens that finish a hypothesis.</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(NumBeams, 1, nameof(NumBeams));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxNewTokens, 1, nameof(MaxNewTokens));
        if (NumReturnSequences < 1 || NumReturnSequences > NumBeams)
            throw new ArgumentOutOfRangeException(nameof(NumReturnSequences), NumReturnSequences, "NumReturnSequences must be in [1, NumBeams].");
        if (!float.IsFinite(LengthPenalty)) throw new ArgumentOutOfRangeException(nameof(LengthPenalty), LengthPenalty, "LengthPenalty must be finite.");
    }
}

/// <param name="Tokens">Generated tokens, prompt and end token excluded.</param>
/// <param name="Score">Length-penalized score the hypotheses are ranked by.</param>
/// <param name="EndToken">The end-of-sequence id that finished it; null when it ran to MaxNewTokens (or search stopped early).</param>
public sealed record BeamHypothesis(int[] Tokens, double Score, int? EndToken);

/// <summary>
/// Beam search with the semantics of HF transformers' BeamSearchScorer: log-softmax scores, the best
/// max(2, 1 + #eos)·NumBeams candidates per step, end tokens ranked below NumBeams ignored, finished hypotheses kept by
/// length-penalized score, running beams added at the end. The model is only a step function, so a KV-cache-backed one can be plugged in.
/// </summary>
public static class BeamSearch
{
    // HF starts every beam but the first at this score so that the first step expands a single beam.
    private const double InactiveBeamScore = -1e9;

    /// <param name="logitsOf">Next-token logits given the whole sequence (prompt followed by the tokens generated so far).</param>
    /// <returns>The best <see cref="BeamSearchOptions.NumReturnSequences"/> hypotheses, best first.</returns>
    public static IReadOnlyList<BeamHypothesis> Run(Func<IReadOnlyList<int>, float[]> logitsOf, IReadOnlyList<int> prompt, BeamSearchOptions options)
    {
        options.Validate();
        int numBeams = options.NumBeams;
        int keep = Math.Max(2, 1 + options.EosTokenIds.Count) * numBeams;
        var finished = new FinishedHypotheses(options);
        var beams = new List<(List<int> Sequence, double Score)>(numBeams);
        for (int b = 0; b < numBeams; b++) beams.Add((new List<int>(prompt), b == 0 ? 0 : InactiveBeamScore));
        var best = new PriorityQueue<(int Beam, int Token, double Score), (double Score, long Index)>(keep, CandidateOrder.Instance);
        double[]? logProbs = null;
        bool done = false;

        for (int step = 0; step < options.MaxNewTokens && !done; step++)
        {
            int generated = step + 1;
            best.Clear();
            for (int b = 0; b < numBeams; b++)
            {
                // All beams hold the prompt alone at the first step: one model call serves them all.
                if (step > 0 || b == 0) logProbs = LogSoftmax(logitsOf(beams[b].Sequence), logProbs);
                for (int v = 0; v < logProbs!.Length; v++)
                {
                    var priority = (beams[b].Score + logProbs[v], -((long)b * logProbs.Length + v));
                    if (best.Count < keep) best.Enqueue((b, v, priority.Item1), priority);
                    else if (best.TryPeek(out _, out var worst) && CandidateOrder.Instance.Compare(priority, worst) > 0)
                        best.EnqueueDequeue((b, v, priority.Item1), priority);
                }
            }
            var ranked = new (int Beam, int Token, double Score)[best.Count];
            for (int i = ranked.Length - 1; i >= 0; i--) ranked[i] = best.Dequeue();

            var next = new List<(List<int>, double)>(numBeams);
            for (int rank = 0; rank < ranked.Length && next.Count < numBeams; rank++)
            {
                var (b, token, score) = ranked[rank];
                var sequence = beams[b].Sequence;
                if (Contains(options.EosTokenIds, token))
                {
                    // An end token outside the top NumBeams candidates does not finish a hypothesis.
                    if (rank >= numBeams) continue;
                    finished.Add(sequence.Skip(prompt.Count).ToArray(), score, generated, token);
                }
                else next.Add(([.. sequence, token], score));
            }
            done = finished.IsDone(ranked[0].Score, generated);
            beams = next;
        }

        if (!done)
            foreach (var (sequence, score) in beams)
                finished.Add(sequence.Skip(prompt.Count).ToArray(), score, sequence.Count - prompt.Count, null);
        return finished.Best(options.NumReturnSequences);
    }

    private static bool Contains(IReadOnlyList<int> ids, int id)
    {
        for (int i = 0; i < ids.Count; i++)
            if (ids[i] == id) return true;
        return false;
    }

    /// <summary>log_softmax in double precision, into <paramref name="reuse"/> when it has the right size.</summary>
    private static double[] LogSoftmax(float[] logits, double[]? reuse)
    {
        var result = reuse is not null && reuse.Length == logits.Length ? reuse : new double[logits.Length];
        double max = double.NegativeInfinity;
        foreach (float l in logits) max = Math.Max(max, l);
        double sum = 0;
        foreach (float l in logits) sum += Math.Exp(l - max);
        double logSum = max + Math.Log(sum);
        for (int i = 0; i < logits.Length; i++) result[i] = logits[i] - logSum;
        return result;
    }

    /// <summary>Min-heap order: lower score first; among equal scores the later (beam, token) index goes first, so earlier ones are kept.</summary>
    private sealed class CandidateOrder : IComparer<(double Score, long Index)>
    {
        public static readonly CandidateOrder Instance = new();

        public int Compare((double Score, long Index) x, (double Score, long Index) y)
        {
            int c = x.Score.CompareTo(y.Score);
            return c != 0 ? c : x.Index.CompareTo(y.Index);
        }
    }

    /// <summary>HF's BeamHypotheses: the NumBeams best finished hypotheses by length-penalized score.</summary>
    private sealed class FinishedHypotheses(BeamSearchOptions options)
    {
        private readonly List<BeamHypothesis> _kept = [];
        private double _worstScore = 1e9;

        public void Add(int[] tokens, double sumLogProbs, int generatedLength, int? endToken)
        {
            double score = sumLogProbs / Math.Pow(generatedLength, options.LengthPenalty);
            if (_kept.Count >= options.NumBeams && score <= _worstScore) return;
            _kept.Add(new BeamHypothesis(tokens, score, endToken));
            if (_kept.Count > options.NumBeams)
            {
                int worst = 0;
                for (int i = 1; i < _kept.Count; i++)
                    if (_kept[i].Score < _kept[worst].Score) worst = i;
                _kept.RemoveAt(worst);
                _worstScore = _kept.Min(h => h.Score);
            }
            else _worstScore = Math.Min(score, _worstScore);
        }

        public bool IsDone(double bestRunningSum, int generatedLength)
        {
            if (_kept.Count < options.NumBeams) return false;
            if (options.EarlyStopping == BeamEarlyStopping.Stop) return true;
            int length = options.EarlyStopping == BeamEarlyStopping.Never && options.LengthPenalty > 0 ? options.MaxNewTokens : generatedLength;
            return _worstScore >= bestRunningSum / Math.Pow(length, options.LengthPenalty);
        }

        public IReadOnlyList<BeamHypothesis> Best(int count) => _kept.OrderByDescending(h => h.Score).Take(count).ToArray();
    }
}
