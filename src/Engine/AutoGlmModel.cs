using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using OpenAutoGlm.Engine.Architectures;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Engine.Tokenization;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Engine;

/// <summary>How a model is loaded.</summary>
public sealed record ModelOptions
{
    /// <summary>Worker threads per generation (the calling thread included). Default: all cores.</summary>
    public int Threads { get; init; } = Environment.ProcessorCount;
    /// <summary>Verify every tensor's checksum at load (reads the whole file once).</summary>
    public bool VerifyChecksums { get; init; }
    /// <summary>Largest number of prompt tokens run in one forward step; longer prompts are prefilled in chunks.</summary>
    public int PrefillChunk { get; init; } = 256;
    /// <summary>Context length override (at most the model's max_position_embeddings).</summary>
    public int? ContextLength { get; init; }
    /// <summary>"cpu" (default), "cuda", "cuda:N", "cuda-emu" (the CUDA kernels run on the CPU) or "auto" (CUDA when usable, else CPU).</summary>
    public string Device { get; init; } = "cpu";
    /// <summary>Receives one-line notices such as the CPU fallback of "auto".</summary>
    public Action<string>? Log { get; init; }
    /// <summary>Mapped (default: no copy) or read into transparent huge pages for faster CPU decoding (Linux; falls back to mapped).</summary>
    public WeightResidency Weights { get; init; } = WeightResidency.Mapped;
    /// <summary>
    /// Whether the CPU decoder repacks its matrices at load for the packed kernels (<see cref="Kernels.Cpu.PackedMatMul"/>:
    /// one weight stream per matrix, the same bits for a row at every batch size; the same bytes again in memory). Null
    /// (default): where they measured faster than the row-major kernels, i.e. with AVX-512; false keeps the row-major
    /// kernels reading the mapped file.
    /// </summary>
    public bool? PackWeights { get; init; }
}

/// <summary>
/// A loaded model: memory-mapped weights, tokenizer and the CPU decoder. Thread-safe: each concurrent generation
/// takes its own activation buffers, worker threads and KV cache from a pool, so several threads may generate at once.
/// </summary>
public sealed partial class AutoGlmModel : IDisposable
{
    private readonly ModelFile _file;
    private readonly TextDecoder? _decoder; // null for CLIP, which has no decoder
    private readonly Backends.CudaTextDecoder? _cuda;
    private readonly ModelOptions _options;
    private readonly ConcurrentBag<Session> _idle = [];
    private readonly ConcurrentBag<Kernels.Cpu.WorkerPool> _idlePools = [];
    private readonly int[] _endOfSequence;
    private readonly Lazy<Constraints.TokenTrie> _constraintTrie;
    private readonly Lazy<Chat.TokenizerChatConfig?> _chatConfig;
    private int _disposed;

    private AutoGlmModel(ModelFile file, TextTokenizer? tokenizer, ModelOptions options, Backends.CudaTextDecoder? cuda)
    {
        _file = file;
        _options = options;
        Tokenizer = tokenizer;
        _decoder = file.Manifest.Clip is null ? new TextDecoder(file, options.PackWeights ?? Kernels.Cpu.PackedMatMul.FasterHere) : null;
        _cuda = cuda;
        var text = file.Manifest.Text;
        ContextLength = Math.Min(options.ContextLength ?? text.MaxPositionEmbeddings, text.MaxPositionEmbeddings);
        _endOfSequence = file.Manifest.Tokens.Eos;
        _multimodal = file.Manifest.Multimodal is null ? null : new Vision.MultimodalModel(file);
        _llavaTower = file.Manifest.Llava is { } llava ? new Vision.VisionEncoder(file, llava, text.HiddenSize) : null;
        _clip = file.Manifest.Clip is null ? null : new Vision.ClipModel(file);
        // The CPU decoder's matrices are repacked now, so the first request does not wait for it; a GPU model packs them
        // only if a CPU path is used.
        if (_decoder is not null && cuda is null) WithPool(pool => { _decoder.EnsurePacked(pool); return 0; });
        _constraintTrie = new(BuildConstraintTrie);
        _chatConfig = new(() => Chat.TokenizerChatConfig.Load(ReadBeside(file.Manifest.TokenizerConfigFile), ReadBeside(file.Manifest.ChatTemplateFile)));
    }

    private string? ReadBeside(string? name) => name is null ? null : File.ReadAllText(Path.Combine(_file.Directory, name));

    /// <summary>The checkpoint's chat template (from tokenizer_config.json or chat_template.jinja), or null when it has none.</summary>
    public Chat.TokenizerChatConfig? ChatConfig => _chatConfig.Value;

    /// <summary>
    /// The prompt ids of a conversation rendered by the checkpoint's chat template, ready for the assistant's turn (the template
    /// writes its own BOS, so none is added). Throws when the model has no tokenizer or no chat template.
    /// </summary>
    public int[] EncodeChat(IReadOnlyList<Chat.ChatMessage> messages)
    {
        if (Tokenizer is not { } tokenizer) throw new InvalidOperationException("This model was converted without a tokenizer.");
        if (ChatConfig is not { } chat) throw new InvalidOperationException("This model has no chat template (tokenizer_config.json or chat_template.jinja).");
        return tokenizer.Encode(chat.Render(messages, addGenerationPrompt: true), addSpecialTokens: false);
    }

    /// <summary>End-of-sequence ids from the checkpoint.</summary>
    internal int[] EndOfSequenceIds => _endOfSequence;

    internal TextDecoder Decoder => _decoder ?? throw new NotSupportedException(
        $"The model in '{_file.Directory}' ({Manifest.Architecture}) has no decoder: it embeds images and texts (EmbedImage, EmbedText, Similarity) but cannot generate or compute logits.");

    internal ModelOptions Options => _options;

    /// <summary>Each token's decoded text for schema-constrained decoding, built on first use and shared by every generation.</summary>
    internal Constraints.TokenTrie ConstraintTrie => _constraintTrie.Value;

    private Constraints.TokenTrie BuildConstraintTrie()
    {
        var tokenizer = RequireTokenizer();
        // A token's text as it appears mid-output: decoded after an anchor token, since decoders such as Metaspace
        // strip the leading space of a sequence's first token.
        int? anchor = tokenizer.TokenToId("a");
        string anchorText = anchor is int a ? tokenizer.Decode([a]) : "";
        var texts = new string[VocabSize];
        for (int id = 0; id < texts.Length; id++)
        {
            // Special tokens never appear inside the document; a token that decodes to part of a UTF-8 sequence cannot be checked alone.
            if (id >= tokenizer.VocabSize || tokenizer.IdToToken(id) is null || tokenizer.IsSpecial(id)) { texts[id] = ""; continue; }
            string text = anchor is int x && tokenizer.Decode([x, id]) is { } pair && pair.StartsWith(anchorText, StringComparison.Ordinal)
                ? pair[anchorText.Length..]
                : tokenizer.Decode([id]);
            texts[id] = text.Contains('\uFFFD') ? "" : text;
        }
        return new Constraints.TokenTrie(texts);
    }

    /// <summary>Loads a converted model directory (model.json + weights.bin + tokenizer).</summary>
    public static AutoGlmModel Load(string directory, ModelOptions? options = null)
    {
        options ??= new ModelOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Threads, 1, nameof(options.Threads));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.PrefillChunk, 1, nameof(options.PrefillChunk));
        var file = ModelFile.Open(directory, options.VerifyChecksums, options.Weights);
        if (options.Weights == WeightResidency.HugePages && file.Residency != WeightResidency.HugePages)
            options.Log?.Invoke("huge pages are not available here; the weights stay memory-mapped.");
        try
        {
            var manifest = file.Manifest;
            TextTokenizer? tokenizer = manifest.TokenizerFile is { } tf ? TextTokenizer.FromFile(Path.Combine(directory, tf)) : null;
            var cuda = Backends.DeviceSelection.Open(file, options.Device, options.Log);
            return new AutoGlmModel(file, tokenizer, options, cuda);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public ModelManifest Manifest => _file.Manifest;

    /// <summary>Null when the model was converted without a tokenizer: generate from ids then.</summary>
    public TextTokenizer? Tokenizer { get; }

    /// <summary>Positions a sequence may hold (prompt plus generated tokens).</summary>
    public int ContextLength { get; }

    public int VocabSize => _file.Manifest.Text.VocabSize;

    /// <summary>Where the forward passes run: "cpu", "cuda" or "cuda-emu".</summary>
    public string Device => _cuda?.DeviceName ?? "cpu";

    /// <summary>Whether the CPU decoder runs on packed copies of its matrices (<see cref="ModelOptions.PackWeights"/>).</summary>
    public bool PacksWeights => _decoder?.Packs ?? false;

    /// <summary>Weight bytes one decode step reads: the numerator of the memory-bandwidth bound.</summary>
    public long WeightBytesPerToken => Decoder.WeightBytesPerToken;

    /// <summary>Matrix-product FLOPs of a prefill of <paramref name="tokens"/> tokens: every layer for each, the LM head for the last.</summary>
    public double MatmulFlops(int tokens) => Decoder.MatmulFlops(tokens);

    /// <summary>Tokenizes a prompt as the checkpoint's tokenizer does (BOS added when its post-processor adds one).</summary>
    public int[] Encode(string text) => RequireTokenizer().Encode(text);

    public string Decode(ReadOnlySpan<int> ids) => RequireTokenizer().Decode(ids);

    public GenerationResult Generate(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
        => Generate(Encode(prompt), options, cancellationToken);

    public GenerationResult Generate(IReadOnlyList<int> promptIds, GenerationOptions? options = null, CancellationToken cancellationToken = default)
        => Generate(promptIds, options, onToken: null, cancellationToken);

    /// <summary>Generates, calling <paramref name="onToken"/> for each token as it is produced, and returns the whole result with timings.</summary>
    public GenerationResult Generate(IReadOnlyList<int> promptIds, GenerationOptions? options, Action<GeneratedToken>? onToken, CancellationToken cancellationToken = default)
    {
        var run = new GenerationRun(this, promptIds, options ?? new GenerationOptions(), fusion: null);
        foreach (var token in run.Steps(cancellationToken)) onToken?.Invoke(token);
        return run.Result();
    }

    /// <summary>Streams tokens as they are produced. Cancelling stops at the next token with <see cref="OperationCanceledException"/>.</summary>
    public IAsyncEnumerable<GeneratedToken> GenerateStreamingAsync(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
        => GenerateStreamingAsync(Encode(prompt), options, cancellationToken);

    public async IAsyncEnumerable<GeneratedToken> GenerateStreamingAsync(IReadOnlyList<int> promptIds, GenerationOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var run = new GenerationRun(this, promptIds, options ?? new GenerationOptions(), fusion: null);
        if (run.IsBeamSearch) throw new NotSupportedException("Beam search returns whole hypotheses: use Generate.");
        await Task.Yield(); // the forward passes run off the caller's synchronization context
        foreach (var token in run.Steps(cancellationToken))
            yield return token;
    }

    /// <summary>Logits of the last position, or [ids.Count, V] row-major for every position.</summary>
    public float[] ComputeLogits(IReadOnlyList<int> ids, bool allPositions = false) => ComputeLogits(ids, allPositions, fusion: null);

    private float[] ComputeLogits(IReadOnlyList<int> ids, bool allPositions, IFusionStep? fusion)
    {
        ValidateIds(ids);
        if (ids.Count == 0) throw new ArgumentException("At least one token id is needed.", nameof(ids));
        if (ids.Count > ContextLength) throw new PromptTooLongException(ids.Count, ContextLength);
        var session = Rent(ids.Count);
        try
        {
            int V = VocabSize;
            var result = new float[(allPositions ? ids.Count : 1) * V];
            int done = 0;
            var buffer = new int[Math.Min(ids.Count, session.MaxTokens)];
            while (done < ids.Count)
            {
                int n = Math.Min(session.MaxTokens, ids.Count - done);
                for (int i = 0; i < n; i++) buffer[i] = ids[done + i];
                bool last = done + n == ids.Count;
                session.Forward(buffer.AsSpan(0, n), allPositions, fusion);
                if (allPositions) session.Logits.AsSpan(0, n * V).CopyTo(result.AsSpan(done * V));
                else if (last) session.Logits.AsSpan(0, V).CopyTo(result);
                done += n;
            }
            return result;
        }
        finally { Return(session); }
    }

    private TextTokenizer RequireTokenizer() => Tokenizer ??
        throw new InvalidOperationException($"The model in '{_file.Directory}' was converted without a tokenizer: pass token ids instead of text.");

    internal void ValidateIds(IReadOnlyList<int> ids)
    {
        int v = VocabSize;
        for (int i = 0; i < ids.Count; i++)
            if ((uint)ids[i] >= (uint)v)
                throw new ArgumentOutOfRangeException(nameof(ids), ids[i], $"Token id {ids[i]} at index {i} is outside the vocabulary [0, {v}).");
    }

    private Session Rent(int capacity)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (!_idle.TryTake(out var s))
            s = _cuda is not null ? new CudaSession(_cuda.CreateSession(_options.PrefillChunk), _options.Threads) : NewCpuSession();
        s.Begin(capacity);
        return s;
    }

    /// <summary>A CPU session whatever the device: the vision encoder and the retrieval heads run on the CPU.</summary>
    private CpuSession RentCpu(int capacity)
    {
        if (_cuda is null) return (CpuSession)Rent(capacity);
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        var s = NewCpuSession();
        s.Begin(capacity);
        return s;
    }

    /// <summary>Runs <paramref name="work"/> on an idle worker pool (CLIP's encoders need threads but no decoder session).</summary>
    private T WithPool<T>(Func<Kernels.Cpu.WorkerPool, T> work)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (!_idlePools.TryTake(out var pool)) pool = new Kernels.Cpu.WorkerPool(_options.Threads);
        try { return work(pool); }
        finally
        {
            if (_disposed != 0) pool.Dispose();
            else _idlePools.Add(pool);
        }
    }

    private CpuSession NewCpuSession()
    {
        var text = _file.Manifest.Text;
        return new CpuSession(Decoder, new RunState(text, _options.PrefillChunk, _options.Threads), new KvCache(text.NumLayers, text.NumKvHeads, text.HeadDim));
    }

    private void Return(Session s)
    {
        s.End();
        // the idle pool holds sessions of the model's own device only
        if (_disposed != 0 || (_cuda is not null && s is CpuSession)) s.Dispose();
        else _idle.Add(s);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        while (_idle.TryTake(out var s)) s.Dispose();
        while (_idlePools.TryTake(out var pool)) pool.Dispose();
        _cuda?.Dispose();
        _decoder?.Dispose();
        _file.Dispose();
    }

    /// <summary>Buffers, threads and one KV-cache sequence owned by one generation at a time.</summary>
    private abstract class Session : IDisposable
    {
        public abstract int MaxTokens { get; }
        /// <summary>[rows, V] logits of the last Forward.</summary>
        public abstract float[] Logits { get; }
        public abstract void Begin(int capacity);
        public abstract void End();
        public abstract void Forward(ReadOnlySpan<int> ids, bool allPositions, IFusionStep? fusion = null);
        public abstract void Dispose();
    }

    private sealed class CpuSession(TextDecoder decoder, RunState state, KvCache cache) : Session
    {
        private int _sequence = -1;
        public RunState State => state;
        public KvCacheView View => new(cache, _sequence);
        public override int MaxTokens => state.MaxTokens;
        public override float[] Logits => state.Logits;
        public override void Begin(int capacity) => _sequence = cache.AddSequence(capacity);
        public override void End()
        {
            if (_sequence >= 0) cache.RemoveSequence(_sequence);
            _sequence = -1;
        }
        public override void Forward(ReadOnlySpan<int> ids, bool allPositions, IFusionStep? fusion = null) =>
            decoder.Forward(state, new KvCacheView(cache, _sequence), ids, allPositions, fusion);
        public override void Dispose() => state.Dispose();
    }

    /// <summary>A decoder session on the CUDA backend; image fusion steps run on the CPU with a pool made on first use.</summary>
    private sealed class CudaSession(Backends.CudaTextDecoder.Session session, int threads) : Session
    {
        private Kernels.Cpu.WorkerPool? _fusionPool;
        public override int MaxTokens => session.MaxTokens;
        public override float[] Logits => session.Logits;
        public override void Begin(int capacity) => session.Begin(capacity);
        public override void End() => session.End();
        public override void Forward(ReadOnlySpan<int> ids, bool allPositions, IFusionStep? fusion = null)
        {
            if (fusion is not null) _fusionPool ??= new Kernels.Cpu.WorkerPool(threads);
            session.Forward(ids, allPositions, fusion, _fusionPool);
        }
        public override void Dispose()
        {
            session.Dispose();
            _fusionPool?.Dispose();
        }
    }

    /// <summary>One generation: prefill, then sample/forward until a stop condition. Steps() yields each token.</summary>
    private sealed class GenerationRun
    {
        private readonly AutoGlmModel _model;
        private readonly GenerationOptions _options;
        private readonly IFusionStep? _fusion;
        private readonly int[] _prompt;
        private TokenSelector? _selector;
        private IReadOnlyList<BeamResult>? _beams;
        private double _ttftMs, _prefillSeconds, _decodeSeconds;

        public bool IsBeamSearch => _options.NumBeams > 1;

        public GenerationRun(AutoGlmModel model, IReadOnlyList<int> promptIds, GenerationOptions options, IFusionStep? fusion)
        {
            _ = model.Decoder; // fails before any work on a model without a decoder
            _fusion = fusion;
            _prompt = model.PreparePrompt(promptIds, options);
            _model = model;
            _options = options;
        }

        public IEnumerable<GeneratedToken> Steps(CancellationToken ct)
        {
            var model = _model;
            int maxNew = Math.Min(_options.MaxNewTokens, model.ContextLength - _prompt.Length);
            if (maxNew <= 0) yield break;
            if (_options.NumBeams > 1)
            {
                foreach (var token in BeamSteps(maxNew, ct)) yield return token;
                yield break;
            }
            var session = model.Rent(_prompt.Length + maxNew);
            try
            {
                var selector = _selector = new TokenSelector(model, _options, _prompt, maxNew);
                var clock = Stopwatch.StartNew();

                for (int done = 0; done < _prompt.Length; done += session.MaxTokens)
                {
                    ct.ThrowIfCancellationRequested();
                    int n = Math.Min(session.MaxTokens, _prompt.Length - done);
                    session.Forward(_prompt.AsSpan(done, n), allPositions: false, _fusion);
                }
                _prefillSeconds = clock.Elapsed.TotalSeconds;
                var one = new int[1];

                while (true)
                {
                    ct.ThrowIfCancellationRequested();
                    var token = selector.Next(session.Logits.AsSpan(0, model.VocabSize));
                    if (selector.Generated.Count <= 1 && _ttftMs == 0) _ttftMs = clock.Elapsed.TotalMilliseconds;
                    if (token is not { } t) break;
                    yield return t;
                    if (selector.Finished) break;
                    one[0] = t.Id;
                    var t0 = clock.Elapsed.TotalSeconds;
                    session.Forward(one, allPositions: false, _fusion);
                    _decodeSeconds += clock.Elapsed.TotalSeconds - t0;
                }
                string tail = selector.FlushTail();
                if (tail.Length > 0) yield return new GeneratedToken(-1, tail);
            }
            finally { model.Return(session); }
        }

        /// <summary>Beam search over KV-cached sequences; yields the best hypothesis' text once the search is over.</summary>
        private IEnumerable<GeneratedToken> BeamSteps(int maxNew, CancellationToken ct)
        {
            var model = _model;
            var eos = new List<int>(_options.StopTokenIds);
            if (_options.StopAtEndOfSequence) eos.AddRange(model._endOfSequence);
            var search = new BeamSearchOptions
            {
                NumBeams = _options.NumBeams,
                MaxNewTokens = maxNew,
                LengthPenalty = _options.LengthPenalty,
                NumReturnSequences = _options.NumBeams,
                EosTokenIds = eos,
            };
            var clock = Stopwatch.StartNew();
            IReadOnlyList<BeamHypothesis> hypotheses;
            using (var sequences = new BeamSequences(model, _options.NumBeams, _prompt.Length + maxNew))
                hypotheses = BeamSearch.Run(ids => { ct.ThrowIfCancellationRequested(); return sequences.LogitsOf(ids); }, _prompt, search);
            _ttftMs = clock.Elapsed.TotalMilliseconds;
            _beams = hypotheses.Select(h => new BeamResult(h.Tokens, model.Tokenizer?.Decode(h.Tokens) ?? "", h.Score,
                h.EndToken is null ? FinishReason.Length : FinishReason.StopToken)).ToArray();
            foreach (int id in _beams[0].Ids) yield return new GeneratedToken(id, "");
            if (_beams[0].Text.Length > 0) yield return new GeneratedToken(-1, _beams[0].Text);
        }

        public GenerationResult Result()
        {
            if (_beams is { } beams)
                return new GenerationResult
                {
                    Ids = beams[0].Ids, Text = beams[0].Text, PromptTokens = _prompt.Length, FinishReason = beams[0].FinishReason,
                    TimeToFirstTokenMs = _ttftMs, PrefillTokensPerSecond = 0, DecodeTokensPerSecond = 0, Beams = beams,
                };
            var selector = _selector;
            int generated = selector?.Generated.Count ?? 0;
            return new GenerationResult
            {
                Ids = selector is null ? [] : [.. selector.Generated],
                Text = selector?.Text ?? "",
                PromptTokens = _prompt.Length,
                FinishReason = selector?.FinishReason ?? FinishReason.Length,
                TimeToFirstTokenMs = _ttftMs,
                PrefillTokensPerSecond = _prefillSeconds > 0 ? _prompt.Length / _prefillSeconds : 0,
                DecodeTokensPerSecond = _decodeSeconds > 0 ? (generated - 1) / _decodeSeconds : 0,
                LogProbs = selector?.LogProbs,
                Confidence = selector?.Confidence ?? 1,
            };
        }
    }

    /// <summary>Validates a request and returns the prompt ids that fit the context (the most recent ones when truncating).</summary>
    internal int[] PreparePrompt(IReadOnlyList<int> promptIds, GenerationOptions options)
    {
        options.Validate();
        ValidateIds(promptIds);
        if (promptIds.Count == 0) throw new ArgumentException("The prompt has no tokens.", nameof(promptIds));
        if (options.StopStrings.Count > 0 && Tokenizer is null)
            throw new InvalidOperationException("Stop strings need a tokenizer; this model has none.");
        if (options.JsonSchema is not null && Tokenizer is null)
            throw new InvalidOperationException("A JSON schema needs a tokenizer; this model has none.");
        int keep = promptIds.Count;
        if (keep >= ContextLength)
        {
            if (!options.TruncatePrompt) throw new PromptTooLongException(promptIds.Count, ContextLength);
            keep = ContextLength - 1; // keep the most recent tokens and room for one new token
        }
        var prompt = new int[keep];
        for (int i = 0; i < keep; i++) prompt[i] = promptIds[promptIds.Count - keep + i];
        return prompt;
    }

    /// <summary>
    /// Next-token logits for beam search from a small set of KV-cached sequences: each call extends the cached sequence
    /// sharing the longest prefix, forking (copying) it first when that sequence already serves another beam of this step.
    /// </summary>
    private sealed class BeamSequences : IDisposable
    {
        private readonly AutoGlmModel _model;
        private readonly RunState _state;   // beam search runs on the CPU decoder, whatever the model's device
        private readonly KvCache _cache;
        private readonly List<int>[] _tokens;
        private readonly int[] _ids;
        private readonly long[] _lastUse;
        private readonly int[] _chunk;
        private long _clock;

        public BeamSequences(AutoGlmModel model, int beams, int capacity)
        {
            _model = model;
            var c = model.Manifest.Text;
            _state = new RunState(c, model._options.PrefillChunk, model._options.Threads);
            _cache = new KvCache(c.NumLayers, c.NumKvHeads, c.HeadDim);
            int count = 2 * beams; // beams of this step plus those of the previous one
            _tokens = new List<int>[count];
            _ids = new int[count];
            _lastUse = new long[count];
            for (int i = 0; i < count; i++)
            {
                _tokens[i] = [];
                _ids[i] = _cache.AddSequence(capacity);
            }
            _chunk = new int[_state.MaxTokens];
        }

        public float[] LogitsOf(IReadOnlyList<int> sequence)
        {
            _clock++;
            int length = sequence.Count;
            int source = -1, sourceCommon = -1;
            for (int i = 0; i < _tokens.Length; i++)
            {
                int common = CommonPrefix(_tokens[i], sequence);
                if (common > sourceCommon) { source = i; sourceCommon = common; }
            }
            int target = source;
            // A sequence as long as this one was produced in this step for another beam: keep it, work on a copy.
            if (_tokens[source].Count >= length)
            {
                target = -1;
                for (int i = 0; i < _tokens.Length; i++)
                    if (_tokens[i].Count < length && (target < 0 || _lastUse[i] < _lastUse[target])) target = i;
                if (target < 0) throw new InvalidOperationException("No free beam sequence.");
                Copy(source, target, sourceCommon);
            }
            int keep = Math.Min(sourceCommon, length - 1);
            _cache.Truncate(_ids[target], keep);
            var tokens = _tokens[target];
            tokens.RemoveRange(keep, tokens.Count - keep);
            var state = _state;
            var view = new KvCacheView(_cache, _ids[target]);
            while (tokens.Count < length)
            {
                int n = Math.Min(_chunk.Length, length - tokens.Count);
                for (int i = 0; i < n; i++) _chunk[i] = sequence[tokens.Count + i];
                _model.Decoder.Forward(state, view, _chunk.AsSpan(0, n), allPositions: false);
                for (int i = 0; i < n; i++) tokens.Add(_chunk[i]);
            }
            _lastUse[target] = _clock;
            return state.Logits.AsSpan(0, _model.VocabSize).ToArray();
        }

        private void Copy(int source, int target, int length)
        {
            int layers = _model.Manifest.Text.NumLayers;
            for (int l = 0; l < layers; l++)
            {
                Array.Copy(_cache.Keys(_ids[source], l), _cache.Keys(_ids[target], l), _cache.Keys(_ids[source], l).Length);
                Array.Copy(_cache.Values(_ids[source], l), _cache.Values(_ids[target], l), _cache.Values(_ids[source], l).Length);
            }
            _cache.Truncate(_ids[target], 0);
            _cache.Advance(_ids[target], length);
            _tokens[target].Clear();
            for (int i = 0; i < length; i++) _tokens[target].Add(_tokens[source][i]);
        }

        private static int CommonPrefix(List<int> a, IReadOnlyList<int> b)
        {
            int n = Math.Min(a.Count, b.Count), i = 0;
            while (i < n && a[i] == b[i]) i++;
            return i;
        }

        public void Dispose() => _state.Dispose();
    }
}

/// <summary>A prompt that does not fit the model's context.</summary>
public sealed class PromptTooLongException(int promptTokens, int contextLength)
    : Exception($"The prompt has {promptTokens} tokens but the context holds {contextLength} (prompt plus at least one generated token). Shorten it or set TruncatePrompt.")
{
    public int PromptTokens { get; } = promptTokens;
    public int ContextLength { get; } = contextLength;
}
