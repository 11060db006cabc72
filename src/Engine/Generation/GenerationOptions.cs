namespace OpenAutoGlm.Engine.Generation;

/// <summary>How to pick tokens and when to stop. Defaults: greedy (temperature 0), 256 new tokens.</summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 256;
    /// <summary>0 means greedy (argmax).</summary>
    public float Temperature { get; init; }
    /// <summary>Keep the K most likely tokens; 0 disables.</summary>
    public int TopK { get; init; }
    /// <summary>Keep the smallest set whose probability reaches P; 1 disables.</summary>
    public float TopP { get; init; } = 1f;
    /// <summary>Drop tokens whose probability is below MinP × the top probability; 0 disables.</summary>
    public float MinP { get; init; }
    /// <summary>HF-style: logits of already-seen tokens are divided (if positive) or multiplied (if negative) by this; 1 disables.</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    /// <summary>Same seed, same options, same prompt ⇒ same output. Null picks a random seed.</summary>
    public ulong? Seed { get; init; }
    /// <summary>Extra stop token ids, on top of the model's end-of-sequence ids.</summary>
    public IReadOnlyList<int> StopTokenIds { get; init; } = [];
    /// <summary>Generation ends when the text contains one of these; the stop string is not returned.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];
    /// <summary>Stop at the model's end-of-sequence ids (default true).</summary>
    public bool StopAtEndOfSequence { get; init; } = true;
    /// <summary>When the prompt does not fit the context: false (default) throws, true keeps the last tokens that fit.</summary>
    public bool TruncatePrompt { get; init; }
    /// <summary>OpenAI semantics: logit −= FrequencyPenalty × (times the token was generated); 0 disables.</summary>
    public float FrequencyPenalty { get; init; }
    /// <summary>OpenAI semantics: logit −= PresencePenalty once the token has been generated; 0 disables.</summary>
    public float PresencePenalty { get; init; }
    /// <summary>Report each generated token's log-probability (of the raw logits, before penalties and temperature).</summary>
    public bool LogProbs { get; init; }
    /// <summary>With <see cref="LogProbs"/>: also report the N most likely alternatives per position (0–20).</summary>
    public int TopLogProbs { get; init; }
    /// <summary>Constrain the output to JSON matching this schema (needs a tokenizer); end-of-sequence only once the document is complete.</summary>
    public Constraints.JsonSchema? JsonSchema { get; init; }
    /// <summary>More than 1 runs beam search (deterministic; sampling settings are ignored) and returns every beam, best first.</summary>
    public int NumBeams { get; init; } = 1;
    /// <summary>Beam search: hypotheses score (sum of log-probabilities) / length^LengthPenalty.</summary>
    public float LengthPenalty { get; init; } = 1f;

    public bool IsGreedy => Temperature <= 0f;

    internal void Validate()
    {
        if (MaxNewTokens < 0) throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "MaxNewTokens must be ≥ 0.");
        if (!(Temperature >= 0f) || float.IsInfinity(Temperature)) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "Temperature must be a finite value ≥ 0.");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "TopK must be ≥ 0.");
        if (!(TopP > 0f && TopP <= 1f)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "TopP must be in (0, 1].");
        if (!(MinP >= 0f && MinP <= 1f)) throw new ArgumentOutOfRangeException(nameof(MinP), MinP, "MinP must be in [0, 1].");
        if (!(RepetitionPenalty > 0f) || float.IsInfinity(RepetitionPenalty)) throw new ArgumentOutOfRangeException(nameof(RepetitionPenalty), RepetitionPenalty, "RepetitionPenalty must be a finite value > 0.");
        if (!float.IsFinite(FrequencyPenalty) || Math.Abs(FrequencyPenalty) > 2f) throw new ArgumentOutOfRangeException(nameof(FrequencyPenalty), FrequencyPenalty, "FrequencyPenalty must be in [-2, 2].");
        if (!float.IsFinite(PresencePenalty) || Math.Abs(PresencePenalty) > 2f) throw new ArgumentOutOfRangeException(nameof(PresencePenalty), PresencePenalty, "PresencePenalty must be in [-2, 2].");
        if (TopLogProbs < 0 || TopLogProbs > 20) throw new ArgumentOutOfRangeException(nameof(TopLogProbs), TopLogProbs, "TopLogProbs must be in [0, 20].");
        if (NumBeams < 1) throw new ArgumentOutOfRangeException(nameof(NumBeams), NumBeams, "NumBeams must be ≥ 1.");
        if (NumBeams > 1 && JsonSchema is not null) throw new NotSupportedException("Beam search with a JSON schema is not supported.");
        if (!float.IsFinite(LengthPenalty)) throw new ArgumentOutOfRangeException(nameof(LengthPenalty), LengthPenalty, "LengthPenalty must be finite.");
        foreach (var s in StopStrings)
            if (string.IsNullOrEmpty(s)) throw new ArgumentException("Stop strings must not be empty.", nameof(StopStrings));
    }
}

/// <summary>Why generation ended.</summary>
public enum FinishReason
{
    /// <summary>MaxNewTokens reached, or the context is full.</summary>
    Length,
    /// <summary>An end-of-sequence or stop token id was sampled.</summary>
    StopToken,
    /// <summary>A stop string appeared in the text.</summary>
    StopString,
}

/// <summary>One step of a streamed generation.</summary>
/// <param name="Id">The sampled token id.</param>
/// <param name="Text">Text released at this step (may be empty while a UTF-8 sequence or a possible stop string is incomplete).</param>
public readonly record struct GeneratedToken(int Id, string Text);

/// <summary>A finished generation with its timings.</summary>
public sealed record GenerationResult
{
    /// <summary>Generated ids, prompt excluded, stop token excluded.</summary>
    public required int[] Ids { get; init; }
    public required string Text { get; init; }
    public required int PromptTokens { get; init; }
    public required FinishReason FinishReason { get; init; }
    public required double TimeToFirstTokenMs { get; init; }
    public required double PrefillTokensPerSecond { get; init; }
    public required double DecodeTokensPerSecond { get; init; }
    /// <summary>Per generated token, when <see cref="GenerationOptions.LogProbs"/> was set; otherwise null.</summary>
    public IReadOnlyList<TokenLogProb>? LogProbs { get; init; }
    /// <summary>Mean probability of the generated tokens under the raw logits (1 when nothing was generated).</summary>
    public double Confidence { get; init; } = 1;
    /// <summary>Beam search only: every returned hypothesis, best first (the first is also <see cref="Ids"/>/<see cref="Text"/>).</summary>
    public IReadOnlyList<BeamResult>? Beams { get; init; }
}

/// <summary>One generated token's log-probability and the most likely alternatives at its position, most likely first.</summary>
public sealed record TokenLogProb(int Id, string Text, float LogProb, IReadOnlyList<(int Id, string Text, float LogProb)> Top);

/// <summary>One beam-search hypothesis: its tokens (end token excluded), text and length-penalized score.</summary>
public sealed record BeamResult(int[] Ids, string Text, double Score, FinishReason FinishReason);
