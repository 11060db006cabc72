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
}

/// <summary>
/// A loaded model: memory-mapped weights, tokenizer and the CPU decoder. Thread-safe: each concurrent generation
/// takes its own activation buffers, worker threads and KV cache from a pool, so several threads may generate at once.
/// </summary>
public sealed partial class AutoGlmModel : IDisposable
{
    private readonly ModelFile _file;
    private readonly TextDecoder _decoder;
    private readonly ModelOptions _options;
    private readonly ConcurrentBag<Session> _idle = [];
    private readonly int[] _endOfSequence;
    private int _disposed;

    private AutoGlmModel(ModelFile file, TextTokenizer? tokenizer, ModelOptions options)
    {
        _file = file;
        _options = options;
        Tokenizer = tokenizer;
        _decoder = new TextDecoder(file);
        var text = file.Manifest.Text;
        ContextLength = Math.Min(options.ContextLength ?? text.MaxPositionEmbeddings, text.MaxPositionEmbeddings);
        _endOfSequence = file.Manifest.Tokens.Eos;
        _multimodal = file.Manifest.Multimodal is null ? null : new Vision.MultimodalModel(file);
        _llavaTower = file.Manifest.Llava is { } llava ? new Vision.VisionEncoder(file, llava, text.HiddenSize) : null;
    }

    /// <summary>Loads a converted model directory (model.json + weights.bin + tokenizer).</summary>
    public static AutoGlmModel Load(string directory, ModelOptions? options = null)
    {
        options ??= new ModelOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Threads, 1, nameof(options.Threads));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.PrefillChunk, 1, nameof(options.PrefillChunk));
        var file = ModelFile.Open(directory, options.VerifyChecksums);
        try
        {
            var manifest = file.Manifest;
            TextTokenizer? tokenizer = manifest.TokenizerFile is { } tf ? TextTokenizer.FromFile(Path.Combine(directory, tf)) : null;
            return new AutoGlmModel(file, tokenizer, options);
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

    /// <summary>Weight bytes one decode step reads: the numerator of the memory-bandwidth bound.</summary>
    public long WeightBytesPerToken => _decoder.WeightBytesPerToken;

    /// <summary>Matrix-product FLOPs of a forward over <paramref name="tokens"/> tokens.</summary>
    public double MatmulFlops(int tokens) => _decoder.MatmulFlops(tokens);

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
            var buffer = new int[Math.Min(ids.Count, session.State.MaxTokens)];
            while (done < ids.Count)
            {
                int n = Math.Min(session.State.MaxTokens, ids.Count - done);
                for (int i = 0; i < n; i++) buffer[i] = ids[done + i];
                bool last = done + n == ids.Count;
                _decoder.Forward(session.State, session.View, buffer.AsSpan(0, n), allPositions, fusion);
                if (allPositions) session.State.Logits.AsSpan(0, n * V).CopyTo(result.AsSpan(done * V));
                else if (last) session.State.Logits.AsSpan(0, V).CopyTo(result);
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
            s = new Session(new RunState(_file.Manifest.Text, _options.PrefillChunk, _options.Threads),
                new KvCache(_file.Manifest.Text.NumLayers, _file.Manifest.Text.NumKvHeads, _file.Manifest.Text.HeadDim));
        s.Begin(capacity);
        return s;
    }

    private void Return(Session s)
    {
        s.End();
        if (_disposed != 0) s.State.Dispose();
        else _idle.Add(s);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        while (_idle.TryTake(out var s)) s.State.Dispose();
        _file.Dispose();
    }

    /// <summary>Buffers, threads and one KV-cache sequence owned by one generation at a time.</summary>
    private sealed class Session(RunState state, KvCache cache)
    {
        public RunState State { get; } = state;
        private int _sequence = -1;
        public KvCacheView View => new(cache, _sequence);
        public void Begin(int capacity) => _sequence = cache.AddSequence(capacity);
        public void End()
        {
            if (_sequence >= 0) cache.RemoveSequence(_sequence);
            _sequence = -1;
        }
    }

    /// <summary>One generation: prefill, then sample/forward until a stop condition. Steps() yields each token.</summary>
    private sealed class GenerationRun
    {
        private readonly AutoGlmModel _model;
        private readonly GenerationOptions _options;
        private readonly IFusionStep? _fusion;
        private readonly int[] _prompt;
        private readonly List<int> _generated = [];
        private readonly System.Text.StringBuilder _text = new();
        private FinishReason _finish = FinishReason.Length;
        private double _ttftMs, _prefillSeconds, _decodeSeconds;

        public GenerationRun(AutoGlmModel model, IReadOnlyList<int> promptIds, GenerationOptions options, IFusionStep? fusion)
        {
            _fusion = fusion;
            options.Validate();
            model.ValidateIds(promptIds);
            if (promptIds.Count == 0) throw new ArgumentException("The prompt has no tokens.", nameof(promptIds));
            if (options.StopStrings.Count > 0 && model.Tokenizer is null)
                throw new InvalidOperationException("Stop strings need a tokenizer; this model has none.");
            int ctx = model.ContextLength;
            int keep = promptIds.Count;
            if (keep >= ctx)
            {
                if (!options.TruncatePrompt) throw new PromptTooLongException(promptIds.Count, ctx);
                keep = ctx - 1; // keep the most recent tokens and room for one new token
            }
            _prompt = new int[keep];
            for (int i = 0; i < keep; i++) _prompt[i] = promptIds[promptIds.Count - keep + i];
            _model = model;
            _options = options;
        }

        public IEnumerable<GeneratedToken> Steps(CancellationToken ct)
        {
            var model = _model;
            int maxNew = Math.Min(_options.MaxNewTokens, model.ContextLength - _prompt.Length);
            if (maxNew <= 0) yield break;
            var session = model.Rent(_prompt.Length + maxNew);
            try
            {
                var state = session.State;
                var sampler = new Sampler(model.VocabSize, _options);
                var history = new int[_prompt.Length + maxNew];
                _prompt.CopyTo(history, 0);
                var streaming = model.Tokenizer?.CreateStreamingDecoder();
                var stopText = new StopStringMatcher(_options.StopStrings);
                var clock = Stopwatch.StartNew();

                for (int done = 0; done < _prompt.Length; done += state.MaxTokens)
                {
                    ct.ThrowIfCancellationRequested();
                    int n = Math.Min(state.MaxTokens, _prompt.Length - done);
                    model._decoder.Forward(state, session.View, _prompt.AsSpan(done, n), allPositions: false, _fusion);
                }
                _prefillSeconds = clock.Elapsed.TotalSeconds;
                var one = new int[1];

                for (int step = 0; step < maxNew; step++)
                {
                    ct.ThrowIfCancellationRequested();
                    int token = sampler.Sample(state.Logits.AsSpan(0, model.VocabSize), history.AsSpan(0, _prompt.Length + step));
                    if (step == 0) _ttftMs = clock.Elapsed.TotalMilliseconds;
                    if (IsStopToken(token)) { _finish = FinishReason.StopToken; break; }
                    history[_prompt.Length + step] = token;
                    _generated.Add(token);
                    string delta = streaming?.Append(token) ?? "";
                    if (stopText.Push(delta, _text, out var released))
                    {
                        _finish = FinishReason.StopString;
                        yield return new GeneratedToken(token, released);
                        break;
                    }
                    yield return new GeneratedToken(token, released);
                    if (step + 1 == maxNew) break;
                    one[0] = token;
                    var t0 = clock.Elapsed.TotalSeconds;
                    model._decoder.Forward(state, session.View, one, allPositions: false, _fusion);
                    _decodeSeconds += clock.Elapsed.TotalSeconds - t0;
                }
                if (_finish != FinishReason.StopString && streaming is not null)
                {
                    string tail = stopText.Finish(streaming.Flush(), _text);
                    if (tail.Length > 0) yield return new GeneratedToken(-1, tail);
                }
            }
            finally { model.Return(session); }
        }

        private bool IsStopToken(int token)
        {
            if (_options.StopAtEndOfSequence && Array.IndexOf(_model._endOfSequence, token) >= 0) return true;
            for (int i = 0; i < _options.StopTokenIds.Count; i++)
                if (_options.StopTokenIds[i] == token) return true;
            return false;
        }

        public GenerationResult Result() => new()
        {
            Ids = [.. _generated],
            Text = _text.ToString(),
            PromptTokens = _prompt.Length,
            FinishReason = _finish,
            TimeToFirstTokenMs = _ttftMs,
            PrefillTokensPerSecond = _prefillSeconds > 0 ? _prompt.Length / _prefillSeconds : 0,
            DecodeTokensPerSecond = _decodeSeconds > 0 ? (_generated.Count - 1) / _decodeSeconds : 0,
        };
    }
}

/// <summary>A prompt that does not fit the model's context.</summary>
public sealed class PromptTooLongException(int promptTokens, int contextLength)
    : Exception($"The prompt has {promptTokens} tokens but the context holds {contextLength} (prompt plus at least one generated token). Shorten it or set TruncatePrompt.")
{
    public int PromptTokens { get; } = promptTokens;
    public int ContextLength { get; } = contextLength;
}
