using System.Text;
using OpenAutoGlm.Engine.Constraints;
using OpenAutoGlm.Engine.Tokenization;

namespace OpenAutoGlm.Engine.Generation;

/// <summary>
/// One generation's decoding state between forward passes: turns a logits row into the next token
/// (frequency/presence penalties, schema mask, sampler), records log-probabilities and confidence, and decides when to stop.
/// Shared by the single-sequence run and the batch engine so both pick tokens identically. Buffers are sized once per generation.
/// </summary>
internal sealed class TokenSelector
{
    private readonly GenerationOptions _options;
    private readonly Sampler _sampler;
    private readonly int[] _endOfSequence;
    private readonly TextTokenizer? _tokenizer;
    private readonly StreamingDecoder? _streaming;
    private readonly StopStringMatcher _stopText;
    private readonly IOutputConstraint? _constraint;
    private readonly IReadOnlyList<string>? _tokenTexts;
    private readonly bool[]? _allowed;
    private readonly int[] _history;     // prompt then generated ids: the repetition penalty's window
    private readonly int _promptLength;
    private readonly int _maxNewTokens;
    private readonly int[]? _counts;     // zeroed scratch for the frequency/presence penalty
    private readonly float[] _raw;       // logits as the model produced them, for log-probabilities
    private readonly (int id, float logprob)[] _top;
    private readonly List<int> _generated = [];
    private readonly StringBuilder _text = new();
    private readonly List<TokenLogProb>? _logProbs;
    private double _probabilitySum;

    public TokenSelector(AutoGlmModel model, GenerationOptions options, ReadOnlySpan<int> prompt, int maxNewTokens)
    {
        _options = options;
        int vocab = model.VocabSize;
        _sampler = new Sampler(vocab, options);
        _endOfSequence = model.EndOfSequenceIds;
        _tokenizer = model.Tokenizer;
        _streaming = _tokenizer?.CreateStreamingDecoder();
        _stopText = new StopStringMatcher(options.StopStrings);
        if (options.JsonSchema is { } schema)
        {
            var trie = model.ConstraintTrie;
            _tokenTexts = trie.TokenTexts;
            _constraint = new TokenConstraint<JsonSchemaConstraint>(new JsonSchemaConstraint(schema), trie, _endOfSequence);
            _allowed = new bool[vocab];
        }
        _promptLength = prompt.Length;
        _maxNewTokens = maxNewTokens;
        _history = new int[prompt.Length + maxNewTokens];
        prompt.CopyTo(_history);
        if (options.FrequencyPenalty != 0f || options.PresencePenalty != 0f) _counts = new int[vocab];
        _raw = new float[vocab];
        _top = new (int, float)[Math.Max(1, options.TopLogProbs)];
        if (options.LogProbs) _logProbs = [];
    }

    public IReadOnlyList<int> Generated => _generated;
    public string Text => _text.ToString();
    public FinishReason FinishReason { get; private set; } = FinishReason.Length;
    public bool Finished { get; private set; }
    public IReadOnlyList<TokenLogProb>? LogProbs => _logProbs;
    /// <summary>Mean probability of the generated tokens under the raw logits.</summary>
    public double Confidence => _generated.Count == 0 ? 1 : _probabilitySum / _generated.Count;

    /// <summary>
    /// Picks the next token from <paramref name="logits"/> (modified in place). Returns null when generation ended
    /// without a new token (a stop token); <see cref="Finished"/> tells whether another forward pass is wanted.
    /// </summary>
    public GeneratedToken? Next(Span<float> logits)
    {
        if (Finished) throw new InvalidOperationException("This generation has finished.");
        logits.CopyTo(_raw);
        var generated = _history.AsSpan(_promptLength, _generated.Count);
        if (_counts is not null) LogitProcessors.ApplyFrequencyPresencePenalty(logits, generated, _options.FrequencyPenalty, _options.PresencePenalty, _counts);
        if (_constraint is not null) MaskDisallowed(logits);
        int token = _sampler.Sample(logits, _history.AsSpan(0, _promptLength + _generated.Count));

        if (IsStopToken(token))
        {
            FinishReason = FinishReason.StopToken;
            Finished = true;
            return null;
        }
        if (_constraint is not null && !_constraint.TryAdvance(_tokenTexts![token]))
            throw new InvalidOperationException($"Token {token} was sampled outside the schema's allowed set.");
        float logProb = LogitProcessors.LogProbability(_raw, token);
        _probabilitySum += Math.Exp(logProb);
        if (_logProbs is not null) _logProbs.Add(LogProbEntry(token, logProb));
        _history[_promptLength + _generated.Count] = token;
        _generated.Add(token);

        string delta = _streaming?.Append(token) ?? "";
        if (_stopText.Push(delta, _text, out var released))
        {
            FinishReason = FinishReason.StopString;
            Finished = true;
        }
        else if (_generated.Count >= _maxNewTokens) Finished = true;
        return new GeneratedToken(token, released);
    }

    /// <summary>Ends the generation early (context full); further calls to <see cref="Next"/> are refused.</summary>
    public void Stop() => Finished = true;

    /// <summary>Text still held back by the streaming decoder or a possible stop string; call once, after the last token.</summary>
    public string FlushTail()
    {
        if (FinishReason == FinishReason.StopString || _streaming is null) return "";
        return _stopText.Finish(_streaming.Flush(), _text);
    }

    private void MaskDisallowed(Span<float> logits)
    {
        _constraint!.AllowedTokens(_allowed);
        bool any = false;
        for (int i = 0; i < logits.Length; i++)
        {
            if (!_allowed![i]) logits[i] = float.NegativeInfinity;
            else any = true;
        }
        if (!any) throw new InvalidOperationException("No token of the vocabulary can continue the JSON document.");
    }

    private TokenLogProb LogProbEntry(int token, float logProb)
    {
        int n = _options.TopLogProbs > 0 ? LogitProcessors.TopLogProbs(_raw, _options.TopLogProbs, _top) : 0;
        var top = new (int, string, float)[n];
        for (int i = 0; i < n; i++) top[i] = (_top[i].id, TokenText(_top[i].id), _top[i].logprob);
        return new TokenLogProb(token, TokenText(token), logProb, top);
    }

    private string TokenText(int id) => _tokenizer is not null && id < _tokenizer.VocabSize ? _tokenizer.Decode([id]) : "";

    private bool IsStopToken(int token)
    {
        // Under a schema the end token is only allowed once the document is complete, and then it ends it.
        if ((_options.StopAtEndOfSequence || _constraint is not null) && Array.IndexOf(_endOfSequence, token) >= 0) return true;
        for (int i = 0; i < _options.StopTokenIds.Count; i++)
            if (_options.StopTokenIds[i] == token) return true;
        return false;
    }
}
