using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using OpenAutoGlm.Engine.Architectures;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Engine.Vision;

namespace OpenAutoGlm.Engine.Serving;

/// <summary>How a <see cref="BatchEngine"/> shares the machine between requests.</summary>
public sealed record BatchEngineOptions
{
    /// <summary>Positions per KV block.</summary>
    public int BlockSize { get; init; } = 16;
    /// <summary>Blocks in the KV pool; null sizes it for <see cref="MaxRunning"/> sequences of the full context.</summary>
    public int? KvBlocks { get; init; }
    /// <summary>Most sequences in one forward step (each decoding sequence takes one row of the step).</summary>
    public int MaxRunning { get; init; } = 16;
    /// <summary>Most requests queued for admission; beyond it <see cref="BatchEngine.Submit"/> throws <see cref="EngineBusyException"/>.</summary>
    public int MaxWaiting { get; init; } = 1024;
}

/// <summary>Counters of a <see cref="BatchEngine"/>, read between steps.</summary>
public readonly record struct BatchEngineStats(int Running, int Waiting, int UsedBlocks, int AvailableBlocks, int CachedBlocks,
    long PrefixHitTokens, long Preemptions, long Steps);

/// <summary>The request queue is full: retry later (HTTP 429 / 503 territory).</summary>
public sealed class EngineBusyException(int waiting)
    : Exception($"{waiting} requests are already waiting for admission; retry later.")
{
    public int Waiting { get; } = waiting;
}

/// <summary>One submitted request: its token stream, final result and a way to cancel it.</summary>
public sealed class BatchRequest
{
    private readonly BatchEngine _engine;
    internal readonly Channel<GeneratedToken> Channel = System.Threading.Channels.Channel.CreateUnbounded<GeneratedToken>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    internal readonly TaskCompletionSource<GenerationResult> Completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal BatchRequest(BatchEngine engine, long id)
    {
        _engine = engine;
        Id = id;
    }

    public long Id { get; }

    /// <summary>What preprocessing decided for a request submitted with images (null for text-only requests).</summary>
    public BatchImageDetails? ImageDetails { get; internal init; }

    /// <summary>Tokens as they are produced; completes when the request finishes, with <see cref="OperationCanceledException"/> when cancelled.</summary>
    public ChannelReader<GeneratedToken> Tokens => Channel.Reader;

    /// <summary>The whole result once the request has finished.</summary>
    public Task<GenerationResult> Result => Completion.Task;

    /// <summary>Stops the request; its KV blocks are released before the engine's next forward step.</summary>
    public void Cancel() => _engine.Cancel(this);
}

/// <summary>The image side of a batched request, as <see cref="MultimodalGenerationResult"/> reports it for single-stream generation.</summary>
/// <param name="Options">The options generation runs with: the caller's, with unset fields filled from the instruction class's preset.</param>
public sealed record BatchImageDetails(IReadOnlyList<ImageReport> Images, bool Imputed, InstructionChoice? Instruction, GenerationOptions Options, double VisionMs);

/// <summary>
/// Continuous batching: requests join and leave at any step; each step runs one forward pass over every active sequence
/// (prefill chunks and decode tokens together, concatenated without padding) and streams each sampled token to its request.
/// KV lives in a <see cref="PagedKvCache"/>: admission waits for free blocks (FIFO), a running sequence that cannot grow
/// preempts the most recently admitted one (which later recomputes its tokens), and full blocks are shared between
/// requests with a common prefix. Per-row math does not depend on the batch, so at temperature 0 a request's output is
/// the same alone or batched. Either drive it with <see cref="Step"/> from one thread, or use the async methods, which
/// run the steps on a background thread.
/// </summary>
public sealed class BatchEngine : IDisposable
{
    private readonly AutoGlmModel _model;
    private readonly BatchEngineOptions _options;
    private readonly RunState _state;
    private readonly PagedKvCache _cache;
    private readonly ConcurrentQueue<Sequence> _submitted = new();
    private readonly ConcurrentQueue<BatchRequest> _cancelled = new();
    private readonly LinkedList<Sequence> _waiting = new();
    private readonly List<Sequence> _running = [];
    private readonly Dictionary<BatchRequest, Sequence> _byRequest = [];
    private readonly List<BatchSegment> _segments = [];
    private readonly List<Sequence> _scheduled = [];
    private readonly List<Sequence> _order = [];
    private readonly int[] _ids;
    private readonly AutoResetEvent _wake = new(false);
    private Thread? _loop;
    private volatile bool _disposed;
    private long _nextId, _prefixHitTokens, _preemptions, _steps;
    private int _waitingCount;

    public BatchEngine(AutoGlmModel model, BatchEngineOptions? options = null)
    {
        _model = model;
        _options = options ??= new BatchEngineOptions();
        int maxTokens = model.Options.PrefillChunk;
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxRunning, 1, nameof(options.MaxRunning));
        if (options.MaxRunning > maxTokens)
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxRunning, $"MaxRunning must be at most the model's PrefillChunk ({maxTokens}).");
        var c = model.Manifest.Text;
        int blocksPerSequence = (model.ContextLength + options.BlockSize - 1) / options.BlockSize;
        _cache = new PagedKvCache(c.NumLayers, c.NumKvHeads, c.HeadDim, options.BlockSize, options.KvBlocks ?? blocksPerSequence * options.MaxRunning);
        _state = new RunState(c, maxTokens, model.Options.Threads);
        _ids = new int[maxTokens];
    }

    public PagedKvCache Cache => _cache;

    public BatchEngineStats Stats => new(_running.Count, Volatile.Read(ref _waitingCount), _cache.UsedBlocks, _cache.AvailableBlocks,
        _cache.CachedBlocks, _prefixHitTokens, _preemptions, _steps);

    /// <summary>Queues a request. Thread-safe.</summary>
    /// <exception cref="EngineBusyException">The admission queue is full.</exception>
    /// <exception cref="PromptTooLongException">The prompt does not fit the context (and TruncatePrompt is off).</exception>
    public BatchRequest Submit(IReadOnlyList<int> promptIds, GenerationOptions? options = null) => Submit(promptIds, options, visual: null, details: null);

    /// <summary>
    /// Queues a request with images. The images are decoded, encoded and projected here, on the caller's thread, exactly as
    /// <see cref="AutoGlmModel.Generate(IReadOnlyList{int}, IReadOnlyList{ImageInput}, GenerationOptions?, ImageRequestOptions?, Action{GeneratedToken}?, CancellationToken)"/>
    /// prepares them (instruction preset included); the request then joins the batch like any other, its rows fused with its own
    /// images only. Thread-safe.
    /// </summary>
    /// <exception cref="EngineBusyException">The admission queue is full.</exception>
    /// <exception cref="ImageInputException">An image cannot be decoded.</exception>
    public BatchRequest Submit(IReadOnlyList<int> promptIds, IReadOnlyList<ImageInput> images, GenerationOptions? options = null, ImageRequestOptions? imageOptions = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (options?.NumBeams > 1) throw new NotSupportedException("Beam search is not batched: use AutoGlmModel.Generate.");
        var (visual, effective) = _model.PrepareForBatch(promptIds, images, options, imageOptions);
        return Submit(visual.Ids, effective, visual, new BatchImageDetails(visual.Reports, visual.Imputed, visual.Instruction, effective, visual.VisionMs));
    }

    private BatchRequest Submit(IReadOnlyList<int> promptIds, GenerationOptions? options, AutoGlmModel.VisualRequest? visual, BatchImageDetails? details)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        options ??= new GenerationOptions();
        if (options.NumBeams > 1) throw new NotSupportedException("Beam search is not batched: use AutoGlmModel.Generate.");
        var prompt = _model.PreparePrompt(promptIds, options);
        int maxNew = Math.Min(options.MaxNewTokens, _model.ContextLength - prompt.Length);
        int blocksNeeded = (prompt.Length + maxNew + _cache.BlockSize - 1) / _cache.BlockSize;
        if (blocksNeeded > _cache.BlockCount)
            throw new ArgumentException($"The request needs {blocksNeeded} KV blocks; the pool has {_cache.BlockCount}.", nameof(promptIds));
        if (Interlocked.Increment(ref _waitingCount) > _options.MaxWaiting)
        {
            Interlocked.Decrement(ref _waitingCount);
            throw new EngineBusyException(_options.MaxWaiting);
        }
        var request = new BatchRequest(this, Interlocked.Increment(ref _nextId)) { ImageDetails = details };
        var selector = new TokenSelector(_model, options, prompt, Math.Max(maxNew, 0));
        if (maxNew <= 0)
        {
            Interlocked.Decrement(ref _waitingCount);
            request.Channel.Writer.TryComplete();
            request.Completion.TrySetResult(new GenerationResult
            {
                Ids = [], Text = "", PromptTokens = prompt.Length, FinishReason = FinishReason.Length,
                TimeToFirstTokenMs = 0, PrefillTokensPerSecond = 0, DecodeTokensPerSecond = 0,
            });
            return request;
        }
        var prefix = visual?.Fusion is null ? null : visual.Prefix;
        _submitted.Enqueue(new Sequence(request, selector, prompt)
        {
            Fusion = visual?.Fusion, Prefix = prefix, LastHash = prefix?.Root ?? PagedKvCache.RootHash,
        });
        _wake.Set();
        return request;
    }

    internal void Cancel(BatchRequest request)
    {
        _cancelled.Enqueue(request);
        _wake.Set();
    }

    /// <summary>Streams a request's tokens; starts the background loop. Cancelling the token (or leaving the loop early) cancels the request.</summary>
    public async IAsyncEnumerable<GeneratedToken> GenerateStreamingAsync(IReadOnlyList<int> promptIds, GenerationOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await foreach (var token in Stream(Submit(promptIds, options), cancellationToken).ConfigureAwait(false)) yield return token;
    }

    /// <summary>Runs a request to the end on the background loop.</summary>
    public Task<GenerationResult> GenerateAsync(IReadOnlyList<int> promptIds, GenerationOptions? options = null, CancellationToken cancellationToken = default)
        => Complete(Submit(promptIds, options), cancellationToken);

    /// <summary>Streams a request with images (encoded off the caller's thread before it queues); see <see cref="Submit(IReadOnlyList{int}, IReadOnlyList{ImageInput}, GenerationOptions?, ImageRequestOptions?)"/>.</summary>
    public async IAsyncEnumerable<GeneratedToken> GenerateStreamingAsync(IReadOnlyList<int> promptIds, IReadOnlyList<ImageInput> images,
        GenerationOptions? options = null, ImageRequestOptions? imageOptions = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var request = await Task.Run(() => Submit(promptIds, images, options, imageOptions), cancellationToken).ConfigureAwait(false);
        await foreach (var token in Stream(request, cancellationToken).ConfigureAwait(false)) yield return token;
    }

    /// <summary>Runs a request with images to the end on the background loop.</summary>
    public async Task<GenerationResult> GenerateAsync(IReadOnlyList<int> promptIds, IReadOnlyList<ImageInput> images, GenerationOptions? options = null,
        ImageRequestOptions? imageOptions = null, CancellationToken cancellationToken = default)
    {
        var request = await Task.Run(() => Submit(promptIds, images, options, imageOptions), cancellationToken).ConfigureAwait(false);
        return await Complete(request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The result of a submitted request; cancelling the token cancels the request.</summary>
    private async Task<GenerationResult> Complete(BatchRequest request, CancellationToken cancellationToken)
    {
        Start();
        using var registration = cancellationToken.Register(request.Cancel);
        return await request.Result.ConfigureAwait(false);
    }

    /// <summary>The tokens of a submitted request as <see cref="GenerateStreamingAsync(IReadOnlyList{int}, GenerationOptions?, CancellationToken)"/> streams them.</summary>
    private async IAsyncEnumerable<GeneratedToken> Stream(BatchRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Start();
        using var registration = cancellationToken.Register(request.Cancel);
        bool finished = false;
        try
        {
            await foreach (var token in request.Tokens.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
            {
                // Tokens may already be buffered: a cancelled caller gets none of them.
                cancellationToken.ThrowIfCancellationRequested();
                yield return token;
            }
            finished = true;
        }
        finally
        {
            if (!finished) request.Cancel();
        }
    }

    /// <summary>Starts the background thread that runs the steps (the async methods start it); <see cref="Step"/> is refused from then on.</summary>
    public void Start()
    {
        if (_loop is not null) return;
        lock (_running)
        {
            if (_loop is not null) return;
            var thread = new Thread(Loop) { IsBackground = true, Name = "autoglm-batch" };
            thread.Start();
            _loop = thread;
        }
    }

    private void Loop()
    {
        while (!_disposed)
        {
            bool worked;
            try { worked = StepCore(); }
            catch (Exception e)
            {
                FailAll(e);
                worked = false;
            }
            if (!worked) _wake.WaitOne(100);
        }
        FailAll(new ObjectDisposedException(nameof(BatchEngine)));
    }

    /// <summary>
    /// Admits, schedules and runs one forward step, then samples and streams a token for every sequence whose prompt is done.
    /// Returns false when there was nothing to do. Call from one thread, and not once the async methods started the loop.
    /// </summary>
    public bool Step()
    {
        if (_loop is not null) throw new InvalidOperationException("The background loop is running this engine.");
        return StepCore();
    }

    private bool StepCore()
    {
        DrainQueues();
        Admit();
        if (_running.Count == 0) return false;
        int tokens = Schedule();
        if (_segments.Count == 0) return false;
        int rows = _model.Decoder.ForwardBatch(_state, _cache, _ids.AsSpan(0, tokens), CollectionsMarshal.AsSpan(_segments));
        _steps++;
        int row = 0;
        int vocab = _model.VocabSize;
        for (int i = 0; i < _scheduled.Count; i++)
        {
            var seq = _scheduled[i];
            var seg = _segments[i];
            seq.Computed += seg.Count;
            PublishFullBlocks(seq);
            if (!seg.WantsLogits) continue;
            var token = seq.Selector.Next(_state.Logits.AsSpan(row++ * vocab, vocab));
            if (seq.FirstTokenMs == 0) seq.FirstTokenMs = seq.Clock.Elapsed.TotalMilliseconds;
            if (token is { } t)
            {
                seq.Request.Channel.Writer.TryWrite(t);
                seq.Tokens.Add(t.Id);
                if (seq.Tokens.Count >= _model.ContextLength) seq.Selector.Stop();
            }
            if (seq.Selector.Finished) Retire(seq, cancelled: false);
        }
        Debug.Assert(row == rows, "every logits row was sampled");
        return true;
    }

    private void DrainQueues()
    {
        while (_submitted.TryDequeue(out var seq))
        {
            _waiting.AddLast(seq);
            _byRequest[seq.Request] = seq;
        }
        while (_cancelled.TryDequeue(out var request))
            if (_byRequest.TryGetValue(request, out var seq)) Retire(seq, cancelled: true);
    }

    /// <summary>FIFO admission while the pool can hold the whole of the next request's known tokens.</summary>
    private void Admit()
    {
        while (_waiting.First is { } node && _running.Count < _options.MaxRunning)
        {
            var seq = node.Value;
            var tokens = seq.HashIds(0, seq.Tokens.Count);
            // Reuse cached full blocks of the prefix, but always leave one token to compute: its logits are needed.
            int reused = _cache.AcquirePrefix(tokens, (tokens.Length - 1) / _cache.BlockSize, seq.Blocks, out seq.LastHash, seq.Root);
            int needed = (tokens.Length + _cache.BlockSize - 1) / _cache.BlockSize - reused;
            if (needed > _cache.AvailableBlocks)
            {
                ReleaseBlocks(seq);
                break;
            }
            for (int i = 0; i < needed; i++)
            {
                _cache.TryAllocate(out int block);
                seq.Blocks.Add(block);
            }
            seq.Computed = reused * _cache.BlockSize;
            seq.Published = reused;
            _prefixHitTokens += seq.Computed;
            _waiting.RemoveFirst();
            Interlocked.Decrement(ref _waitingCount);
            _running.Add(seq);
        }
    }

    /// <summary>Decode tokens first (one row each), then prefill chunks in admission order, within the step's token budget.</summary>
    private int Schedule()
    {
        _segments.Clear();
        _scheduled.Clear();
        int budget = _state.MaxTokens, used = 0;
        for (int pass = 0; pass < 2; pass++)
        {
            // A snapshot: preemption below removes sequences from _running while we walk it.
            _order.Clear();
            _order.AddRange(_running);
            foreach (var seq in _order)
            {
                if (used >= budget) break;
                if (!_running.Contains(seq)) continue;
                int pending = seq.Tokens.Count - seq.Computed;
                if (pass == 0 ? pending != 1 : pending <= 1) continue;
                int count = Math.Min(pending, budget - used);
                // False when seq itself was preempted, or every other sequence already takes part in this step.
                if (!EnsureBlocks(seq, seq.Computed + count)) continue;
                for (int k = 0; k < count; k++) _ids[used + k] = seq.Tokens[seq.Computed + k];
                _segments.Add(new BatchSegment(used, count, seq.Computed, seq.BlockTable(), seq.Computed + count == seq.Tokens.Count, seq.Fusion));
                _scheduled.Add(seq);
                used += count;
            }
        }
        return used;
    }

    /// <summary>Gives <paramref name="seq"/> blocks for <paramref name="positions"/> positions, preempting later-admitted sequences when the pool is dry.</summary>
    private bool EnsureBlocks(Sequence seq, int positions)
    {
        while (seq.Blocks.Count * _cache.BlockSize < positions)
        {
            if (_cache.TryAllocate(out int block))
            {
                seq.Blocks.Add(block);
                continue;
            }
            // Preempt the most recently admitted sequence that is not already part of this step.
            Sequence? victim = null;
            for (int i = _running.Count - 1; i >= 0 && victim is null; i--)
                if (!_scheduled.Contains(_running[i])) victim = _running[i];
            if (victim is null) return false;
            Preempt(victim);
            if (victim == seq) return false;
        }
        return true;
    }

    /// <summary>Frees a running sequence's blocks and sends it back to the head of the queue; it recomputes its tokens when readmitted.</summary>
    private void Preempt(Sequence seq)
    {
        _running.Remove(seq);
        ReleaseBlocks(seq);
        seq.Computed = 0;
        seq.Published = 0;
        _waiting.AddFirst(seq);
        Interlocked.Increment(ref _waitingCount);
        _preemptions++;
    }

    private void PublishFullBlocks(Sequence seq)
    {
        while ((seq.Published + 1) * _cache.BlockSize <= seq.Computed)
        {
            seq.LastHash = _cache.Publish(seq.Blocks[seq.Published], seq.LastHash, seq.HashIds(seq.Published * _cache.BlockSize, _cache.BlockSize));
            seq.Published++;
        }
    }

    private void ReleaseBlocks(Sequence seq)
    {
        foreach (int block in seq.Blocks) _cache.Release(block);
        seq.Blocks.Clear();
        seq.LastHash = seq.Root;
    }

    private void Retire(Sequence seq, bool cancelled)
    {
        if (!_running.Remove(seq) && _waiting.Remove(seq)) Interlocked.Decrement(ref _waitingCount);
        ReleaseBlocks(seq);
        _byRequest.Remove(seq.Request);
        var request = seq.Request;
        if (cancelled)
        {
            var e = new OperationCanceledException("The request was cancelled.");
            request.Channel.Writer.TryComplete(e);
            request.Completion.TrySetCanceled();
            return;
        }
        string tail = seq.Selector.FlushTail();
        if (tail.Length > 0) request.Channel.Writer.TryWrite(new GeneratedToken(-1, tail));
        request.Channel.Writer.TryComplete();
        double seconds = seq.Clock.Elapsed.TotalSeconds;
        request.Completion.TrySetResult(new GenerationResult
        {
            Ids = [.. seq.Selector.Generated],
            Text = seq.Selector.Text,
            PromptTokens = seq.PromptLength,
            FinishReason = seq.Selector.FinishReason,
            TimeToFirstTokenMs = seq.FirstTokenMs,
            PrefillTokensPerSecond = seq.FirstTokenMs > 0 ? seq.PromptLength / (seq.FirstTokenMs / 1000) : 0,
            DecodeTokensPerSecond = seconds * 1000 > seq.FirstTokenMs ? (seq.Selector.Generated.Count - 1) / (seconds - seq.FirstTokenMs / 1000) : 0,
            LogProbs = seq.Selector.LogProbs,
            Confidence = seq.Selector.Confidence,
        });
    }

    private void FailAll(Exception e)
    {
        while (_submitted.TryDequeue(out var seq)) _byRequest[seq.Request] = seq;
        foreach (var seq in _byRequest.Values.ToArray())
        {
            _running.Remove(seq);
            _waiting.Remove(seq);
            ReleaseBlocks(seq);
            seq.Request.Channel.Writer.TryComplete(e);
            seq.Request.Completion.TrySetException(e);
        }
        _byRequest.Clear();
        Volatile.Write(ref _waitingCount, 0);
    }

    /// <summary>Blocks a request holds now (shared ones included).</summary>
    internal int BlocksOf(BatchRequest request) => _byRequest.TryGetValue(request, out var seq) ? seq.Blocks.Count : 0;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _wake.Set();
        if (_loop is { } loop) loop.Join();
        else FailAll(new ObjectDisposedException(nameof(BatchEngine)));
        _state.Dispose();
        _wake.Dispose();
    }

    /// <summary>A request inside the engine: its known tokens (prompt, then generated), how many have K/V cached, and its block table.</summary>
    private sealed class Sequence(BatchRequest request, TokenSelector selector, int[] prompt)
    {
        public readonly BatchRequest Request = request;
        public readonly TokenSelector Selector = selector;
        public readonly List<int> Tokens = [.. prompt];
        public readonly int PromptLength = prompt.Length;
        public readonly List<int> Blocks = [];
        public readonly Stopwatch Clock = Stopwatch.StartNew();
        public int Computed;
        public int Published;
        public ulong LastHash = PagedKvCache.RootHash;
        public double FirstTokenMs;
        /// <summary>The request's images, mixed into its rows only; null for text.</summary>
        public IFusionStep? Fusion;
        /// <summary>How the images enter the block hashes; null for text.</summary>
        public ImagePrefixKey? Prefix;
        private int[] _table = [];
        private int[] _hashIds = [];

        public ulong Root => Prefix?.Root ?? PagedKvCache.RootHash;

        /// <summary>The ids the block hashes read for positions start.. (the tokens, with image positions replaced by their pseudo-ids).</summary>
        public ReadOnlySpan<int> HashIds(int start, int count)
        {
            var tokens = CollectionsMarshal.AsSpan(Tokens);
            if (Prefix?.PositionIds is null) return tokens.Slice(start, count);
            if (_hashIds.Length < count) _hashIds = new int[Math.Max(count, 2 * _hashIds.Length)];
            var ids = _hashIds.AsSpan(0, count);
            Prefix.Fill(tokens, start, ids);
            return ids;
        }

        /// <summary>The block table as an array for the decoder; reallocated only when the sequence grows a block.</summary>
        public int[] BlockTable()
        {
            if (_table.Length != Blocks.Count) _table = [.. Blocks];
            else for (int i = 0; i < _table.Length; i++) _table[i] = Blocks[i];
            return _table;
        }
    }
}
