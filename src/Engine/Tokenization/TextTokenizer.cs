using System.Text.Json;

namespace OpenAutoGlm.Engine.Tokenization;

/// <summary>
/// A BPE tokenizer loaded from a Hugging Face <c>tokenizer.json</c>: byte-level BPE (GPT-2, Qwen2, GLM-4, Llama-3)
/// and SentencePiece-style BPE with byte fallback (Llama-1/2, Mistral). Features it cannot reproduce faithfully
/// are rejected with <see cref="NotSupportedException"/>; malformed files with <see cref="InvalidDataException"/>.
/// Thread-safe for concurrent Encode/Decode.
/// </summary>
public sealed class TextTokenizer
{
    private static readonly HashSet<string> KnownEosTokens = new(StringComparer.Ordinal)
    {
        "</s>", "<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|end|>", "<eos>", "<end_of_turn>",
        "<|user|>", "<|observation|>", "<|eom_id|>",
    };

    private static readonly string[] KnownBosTokens = ["<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>"];

    private readonly BpeModel _model;
    private readonly TextNormalizer? _normalizer;
    private readonly PreTokenizer? _preTokenizer;
    private readonly AddedTokenMatcher _rawMatcher;
    private readonly AddedTokenMatcher _normalizedMatcher;
    private readonly string?[] _idToToken;
    private readonly bool[] _isSpecial;
    private readonly Dictionary<string, int> _addedByContent;
    private readonly int[] _prefix;
    private readonly int[] _suffix;

    private TextTokenizer(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException("tokenizer.json: the root must be a JSON object.");
        }
        if (TokenizerJsonReader.IsNull(root, "model", out var model) || model.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException("tokenizer.json: \"model\" is missing.");
        }
        string type = TokenizerJsonReader.GetString(model, "type") ?? (model.TryGetProperty("merges", out _) ? "BPE" : "(none)");
        if (type != "BPE")
        {
            throw new NotSupportedException($"tokenizer.json: model type '{type}' is not supported (only BPE).");
        }
        if (model.TryGetProperty("dropout", out var dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() > 0)
        {
            throw new NotSupportedException("tokenizer.json: BPE dropout is not supported.");
        }
        foreach (string name in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
        {
            if (!string.IsNullOrEmpty(TokenizerJsonReader.GetString(model, name)))
            {
                throw new NotSupportedException($"tokenizer.json: BPE {name} is not supported.");
            }
        }
        if (!model.TryGetProperty("vocab", out var vocabJson) || vocabJson.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException("tokenizer.json: model.vocab is missing or not an object.");
        }
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        int maxId = -1;
        foreach (var p in vocabJson.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
            {
                throw new InvalidDataException($"tokenizer.json: model.vocab entry '{p.Name}' has no valid id.");
            }
            vocab[p.Name] = id;
            maxId = Math.Max(maxId, id);
        }
        _model = new BpeModel(
            vocab,
            TokenizerJsonReader.Merges(model),
            TokenizerJsonReader.GetString(model, "unk_token"),
            TokenizerJsonReader.GetBool(model, "fuse_unk", false),
            TokenizerJsonReader.GetBool(model, "byte_fallback", false),
            TokenizerJsonReader.GetBool(model, "ignore_merges", false));

        var added = new List<AddedToken>();
        if (!TokenizerJsonReader.IsNull(root, "added_tokens", out var addedJson))
        {
            if (addedJson.ValueKind != JsonValueKind.Array)
            {
                throw new InvalidDataException("tokenizer.json: added_tokens must be an array.");
            }
            foreach (var t in addedJson.EnumerateArray())
            {
                if (!t.TryGetProperty("id", out var idJson) || !idJson.TryGetInt32(out int id) || id < 0 || TokenizerJsonReader.GetString(t, "content") is not string content)
                {
                    throw new InvalidDataException("tokenizer.json: an added_tokens entry needs \"id\" and \"content\".");
                }
                bool special = TokenizerJsonReader.GetBool(t, "special", false);
                added.Add(new AddedToken(id, content, special,
                    TokenizerJsonReader.GetBool(t, "single_word", false),
                    TokenizerJsonReader.GetBool(t, "lstrip", false),
                    TokenizerJsonReader.GetBool(t, "rstrip", false),
                    TokenizerJsonReader.GetBool(t, "normalized", !special)));
                maxId = Math.Max(maxId, id);
            }
        }
        AddedTokens = added;
        _addedByContent = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var t in added)
        {
            _addedByContent[t.Content] = t.Id;
        }

        _normalizer = TokenizerJsonReader.IsNull(root, "normalizer", out var n) ? null : TokenizerJsonReader.Normalizer(n);
        _preTokenizer = TokenizerJsonReader.IsNull(root, "pre_tokenizer", out var pt) ? null : TokenizerJsonReader.PreTokenizer(pt);
        Decoder = TokenizerJsonReader.IsNull(root, "decoder", out var d) ? null : TokenizerJsonReader.Decoder(d);
        // Added tokens with normalized=true are matched after normalization (only meaningful when there is a normalizer).
        _rawMatcher = new AddedTokenMatcher(added.Where(t => !t.Normalized || _normalizer is null));
        _normalizedMatcher = new AddedTokenMatcher(_normalizer is null ? [] : added.Where(t => t.Normalized));

        _idToToken = new string?[maxId + 1];
        _isSpecial = new bool[maxId + 1];
        foreach (var (token, id) in vocab)
        {
            _idToToken[id] = token;
        }
        foreach (var t in added)
        {
            _idToToken[t.Id] = t.Content;
            _isSpecial[t.Id] = t.Special;
        }

        var (prefix, suffix) = TokenizerJsonReader.IsNull(root, "post_processor", out var pp)
            ? ([], [])
            : TokenizerJsonReader.PostProcessor(pp, TokenToId);
        foreach (int id in prefix.Concat(suffix))
        {
            if (id < 0 || id >= _idToToken.Length || _idToToken[id] is null)
            {
                throw new InvalidDataException($"tokenizer.json: post_processor adds token id {id}, which is not in the vocabulary.");
            }
        }
        _prefix = prefix.ToArray();
        _suffix = suffix.ToArray();

        BosId = _prefix.Length > 0 ? _prefix[0] : KnownBosTokens.Select(TokenToId).FirstOrDefault(id => id is not null);
        EosCandidateIds = added.Where(t => t.Special && KnownEosTokens.Contains(t.Content)).Select(t => t.Id).Distinct().ToArray();
        IsByteLevel = _preTokenizer?.IsByteLevel ?? false;
    }

    /// <summary>Loads a tokenizer.json file.</summary>
    public static TextTokenizer FromFile(string tokenizerJsonPath)
    {
        using var stream = File.OpenRead(tokenizerJsonPath);
        using var doc = JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 256 });
        return new TextTokenizer(doc.RootElement);
    }

    /// <summary>Loads tokenizer.json content.</summary>
    public static TextTokenizer FromJson(string json)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"tokenizer.json: not valid JSON ({e.Message}).", e);
        }
        using (doc)
        {
            return new TextTokenizer(doc.RootElement);
        }
    }

    /// <summary>One past the largest token id (model vocabulary and added tokens).</summary>
    public int VocabSize => _idToToken.Length;

    /// <summary>The beginning-of-sequence id: the first token the post-processor prepends, else a conventionally named BOS token.</summary>
    public int? BosId { get; }

    /// <summary>Whether <see cref="Encode"/> with <c>addSpecialTokens</c> prepends tokens (usually BOS).</summary>
    public bool AddsBos => _prefix.Length > 0;

    /// <summary>Ids the post-processor puts before the text when special tokens are added.</summary>
    public IReadOnlyList<int> SpecialPrefixIds => _prefix;

    /// <summary>Ids the post-processor puts after the text when special tokens are added.</summary>
    public IReadOnlyList<int> SpecialSuffixIds => _suffix;

    /// <summary>
    /// Special added tokens whose names conventionally end a generation (<c>&lt;/s&gt;</c>, <c>&lt;|endoftext|&gt;</c>,
    /// <c>&lt;|user|&gt;</c>, ...). A heuristic: a model's generation_config/config eos_token_id is authoritative.
    /// </summary>
    public IReadOnlyList<int> EosCandidateIds { get; }

    /// <summary>The added_tokens entries, in file order.</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; }

    /// <summary>Whether the pre-tokenizer maps text to the GPT-2 byte-level alphabet.</summary>
    public bool IsByteLevel { get; }

    internal TokenDecoder? Decoder { get; }

    /// <summary>The token string for an id (added token content or model vocabulary entry), or null.</summary>
    public string? IdToToken(int id) => id >= 0 && id < _idToToken.Length ? _idToToken[id] : null;

    /// <summary>The id of a token string (added tokens first, then the model vocabulary), or null.</summary>
    public int? TokenToId(string token) =>
        _addedByContent.TryGetValue(token, out int a) ? a : _model.Vocab.TryGetValue(token, out int m) ? m : null;

    /// <summary>Whether <paramref name="id"/> is an added token marked special.</summary>
    public bool IsSpecial(int id) => id >= 0 && id < _isSpecial.Length && _isSpecial[id];

    /// <summary>
    /// Encodes text. Added tokens in the text are always recognized; <paramref name="addSpecialTokens"/> controls only
    /// the post-processor's prefix/suffix (e.g. BOS). Pass false for an already rendered chat template.
    /// </summary>
    public int[] Encode(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        if (addSpecialTokens)
        {
            ids.AddRange(_prefix);
        }
        var rawParts = new List<(string Text, int Offset, AddedToken? Token)>();
        _rawMatcher.Split(text, 0, rawParts);
        var normParts = new List<(string Text, int Offset, AddedToken? Token)>();
        foreach (var (segment, offset, token) in rawParts)
        {
            if (token is not null)
            {
                ids.Add(token.Id);
                continue;
            }
            string normalized = _normalizer?.Normalize(segment) ?? segment;
            normParts.Clear();
            _normalizedMatcher.Split(normalized, offset, normParts);
            bool first = true;
            foreach (var (piece, _, inner) in normParts)
            {
                if (inner is not null)
                {
                    ids.Add(inner.Id);
                }
                else
                {
                    EncodePiece(piece, offset == 0 && first, ids);
                }
                first = false;
            }
        }
        if (addSpecialTokens)
        {
            ids.AddRange(_suffix);
        }
        return ids.ToArray();
    }

    private void EncodePiece(string piece, bool atOrigin, List<int> ids)
    {
        if (_preTokenizer is null)
        {
            _model.EncodeWord(piece, ids);
            return;
        }
        foreach (var word in _preTokenizer.Apply([piece], atOrigin))
        {
            _model.EncodeWord(word, ids);
        }
    }

    /// <summary>Decodes ids to text through the tokenizer.json decoder (HF semantics).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is not in the vocabulary.</exception>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        var tokens = new List<string>(ids.Length);
        foreach (int id in ids)
        {
            string token = TokenOrThrow(id);
            if (skipSpecialTokens && _isSpecial[id])
            {
                continue;
            }
            tokens.Add(token);
        }
        if (Decoder is null)
        {
            return string.Join(' ', tokens);
        }
        return string.Concat(Decoder.DecodeChain(tokens));
    }

    internal string TokenOrThrow(int id)
    {
        if (id < 0 || id >= _idToToken.Length || _idToToken[id] is not string token)
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, $"Token id {id} is not in the vocabulary (size {_idToToken.Length}).");
        }
        return token;
    }

    /// <summary>Starts incremental decoding for one generation.</summary>
    public StreamingDecoder CreateStreamingDecoder(bool skipSpecialTokens = false) => new(this, skipSpecialTokens);
}
