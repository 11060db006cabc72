using OpenAutoGlm.Kernels.Cpu;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Engine.Architectures;

/// <summary>
/// The Llama-family decoder on the CPU: Llama, Mistral, Qwen2, GLM-4 and GLM-4-0414 differ only in flags the converter
/// resolved (q/k/v bias, rotary layout and width, sandwich norms, tied head), so one graph serves them all.
/// <code>
/// x = embed(ids)
/// per layer: x += [post_norm](o(attn(rope(qkv(rms(x))))));  x += [post_norm](down(silu(gate(rms(x))) ⊙ up(rms(x))))
/// logits = head(rms(x))
/// </code>
/// Norms, biases and the embedding table stay in the memory-mapped file (this class holds pointers into it). The matrices of
/// the products (QKV, O, gate/up, down, head) are either read there by the row-major kernels (<see cref="MatMul"/>) or, when
/// packing is on, repacked once for <see cref="PackedMatMul"/> (<see cref="EnsurePacked"/>), which reads each of them as one
/// stream and gives a row the same bits at every batch size.
/// </summary>
internal sealed unsafe partial class TextDecoder : IDisposable
{
    private readonly Layer[] _layers;
    private readonly Half* _embedding;  // [V, D]
    private readonly Half* _headSource; // [V, D], the embedding when tied
    private readonly float* _outputNorm;// [D]
    private readonly float[] _invFreq;  // [rotaryDim / 2]
    private readonly Lock _packLock = new();
    private volatile PackedWeights? _packed;
    private bool _disposed;

    public TextConfig Config { get; }

    /// <summary>Whether the products run on packed copies of the matrices (<see cref="PackedMatMul"/>) rather than the mapped file.</summary>
    public bool Packs { get; }
    public int QkvWidth { get; }        // (H + 2·H_kv)·d

    public TextDecoder(ModelFile file, bool pack)
    {
        Packs = pack;
        Config = file.Manifest.Text;
        var c = Config;
        QkvWidth = (c.NumHeads + 2 * c.NumKvHeads) * c.HeadDim;
        _embedding = (Half*)file.GetPointer(TensorNames.TokenEmbedding);
        _headSource = c.TiedEmbeddings ? _embedding : (Half*)file.GetPointer(TensorNames.Output);
        _outputNorm = (float*)file.GetPointer(TensorNames.OutputNorm);
        _invFreq = RopeFrequencies(c);
        _layers = new Layer[c.NumLayers];
        for (int i = 0; i < c.NumLayers; i++)
        {
            _layers[i] = new Layer
            {
                AttnNorm = (float*)file.GetPointer(TensorNames.AttnNorm(i)),
                QkvSource = (Half*)file.GetPointer(TensorNames.AttnQkv(i)),
                QkvBias = c.QkvBias ? (float*)file.GetPointer(TensorNames.AttnQkvBias(i)) : null,
                OutSource = (Half*)file.GetPointer(TensorNames.AttnOut(i)),
                OutBias = c.OutputBias ? (float*)file.GetPointer(TensorNames.AttnOutBias(i)) : null,
                AttnPostNorm = c.SandwichNorms ? (float*)file.GetPointer(TensorNames.AttnPostNorm(i)) : null,
                FfnNorm = (float*)file.GetPointer(TensorNames.FfnNorm(i)),
                GateUpSource = (Half*)file.GetPointer(TensorNames.FfnGateUp(i)),
                DownSource = (Half*)file.GetPointer(TensorNames.FfnDown(i)),
                FfnPostNorm = c.SandwichNorms ? (float*)file.GetPointer(TensorNames.FfnPostNorm(i)) : null,
            };
        }
    }

    /// <summary>
    /// With <see cref="Packs"/>, repacks the matrices for <see cref="PackedMatMul"/> on first call (thread-safe; later calls return at once). The model
    /// calls it at load when the CPU runs the decoder, so the first request does not pay for it; with a GPU backend it runs
    /// only if a CPU path (batch serving, a fallback) is used.
    /// </summary>
    public void EnsurePacked(WorkerPool pool)
    {
        if (Packs) _ = Packed(pool);
    }

    private PackedWeights Packed(WorkerPool pool)
    {
        if (_packed is { } packed) return packed;
        lock (_packLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _packed ??= PackedWeights.Create(_layers, _headSource, Config, QkvWidth, pool);
        }
    }

    public void Dispose()
    {
        lock (_packLock)
        {
            _disposed = true;
            _packed?.Dispose();
            _packed = null;
        }
    }

    /// <summary>The decoder's matrices in the packed layout; disposing frees them.</summary>
    private sealed class PackedWeights : IDisposable
    {
        private PackedWeights(int layers) => Layers = new LayerMatrices[layers];

        public LayerMatrices[] Layers { get; }
        public PackedMatrix? Head { get; private set; }

        public static PackedWeights Create(Layer[] layers, Half* head, TextConfig c, int qkvWidth, WorkerPool pool)
        {
            int D = c.HiddenSize, I = c.IntermediateSize, attnWidth = c.NumHeads * c.HeadDim;
            var packed = new PackedWeights(layers.Length);
            try
            {
                for (int l = 0; l < layers.Length; l++)
                {
                    ref readonly var w = ref layers[l];
                    ref var m = ref packed.Layers[l];
                    m.Qkv = PackedMatrix.Pack(w.QkvSource, qkvWidth, D, pool);
                    m.Out = PackedMatrix.Pack(w.OutSource, D, attnWidth, pool);
                    m.GateUp = PackedMatrix.Pack(w.GateUpSource, 2 * I, D, pool);
                    m.Down = PackedMatrix.Pack(w.DownSource, D, I, pool);
                }
                packed.Head = PackedMatrix.Pack(head, c.VocabSize, D, pool);
                return packed;
            }
            catch
            {
                packed.Dispose();
                throw;
            }
        }

        public void Dispose()
        {
            foreach (var m in Layers)
            {
                m.Qkv?.Dispose();
                m.Out?.Dispose();
                m.GateUp?.Dispose();
                m.Down?.Dispose();
            }
            Head?.Dispose();
        }
    }

    private struct LayerMatrices
    {
        public PackedMatrix? Qkv, Out, GateUp, Down;
    }

    /// <summary>Bytes of weights one decode step reads (every matrix once, plus the head), for the bandwidth bound.</summary>
    public long WeightBytesPerToken => 2 * (LayerWeights + HeadWeights);

    private long LayerWeights
    {
        get
        {
            var c = Config;
            long perLayer = (long)QkvWidth * c.HiddenSize + (long)c.HiddenSize * c.NumHeads * c.HeadDim
                + 3L * c.IntermediateSize * c.HiddenSize;
            return perLayer * c.NumLayers;
        }
    }

    private long HeadWeights => (long)Config.VocabSize * Config.HiddenSize;

    /// <summary>
    /// FLOPs of the matrix products of a prefill of <paramref name="tokens"/> tokens (2 per multiply-add), for the FMA bound:
    /// every layer's products for each token, the head for the last token only (the one whose logits a prefill computes).
    /// </summary>
    public double MatmulFlops(int tokens) => 2.0 * ((double)LayerWeights * tokens + HeadWeights);

    /// <summary>
    /// Runs <paramref name="ids"/> (at most <see cref="RunState.MaxTokens"/>) at positions Length(seq).. of the cache, stores their K/V,
    /// and writes logits of the last token (or of every token when <paramref name="allPositions"/>) to state.Logits.
    /// </summary>
    public void Forward(RunState s, KvCacheView cache, ReadOnlySpan<int> ids, bool allPositions, IFusionStep? fusion = null)
    {
        var c = Config;
        int T = ids.Length, D = c.HiddenSize;
        int startPos = cache.Length;
        if (T > s.MaxTokens) throw new ArgumentException($"At most {s.MaxTokens} tokens per forward step, got {T}.", nameof(ids));
        var pool = s.Pool;

        Embedding.Gather(_embedding, D, ids, s.X.AsSpan(0, T * D));
        fusion?.OnEmbeddings(s.X.AsSpan(0, T * D), T, startPos);
        for (int t = 0; t < T; t++) FillRotaryRow(s, t, startPos + t);
        var attention = new ContiguousAttention(cache, startPos, T, c);
        RunLayers(s, T, ref attention, fusion);
        cache.Advance(T);

        int first = allPositions ? 0 : T - 1, rows = T - first;
        var norm = s.Norm.AsSpan(0, rows * D);
        RmsNorm.Forward(s.X.AsSpan(first * D, rows * D), new ReadOnlySpan<float>(_outputNorm, D), (float)c.RmsNormEps, norm, rows);
        Head(norm, rows, s.LogitsFor(rows), pool);
    }

    /// <summary>logits[rows, V] = norm[rows, D] · headᵀ, packed or row-major.</summary>
    private void Head(ReadOnlySpan<float> norm, int rows, Span<float> logits, WorkerPool pool)
    {
        if (Packs) PackedMatMul.Multiply(norm, rows, Packed(pool).Head!, logits, pool);
        else MatMul.Multiply(norm, rows, Config.HiddenSize, _headSource, Config.VocabSize, logits, pool);
    }

    /// <summary>y[rows, n] = x[rows, k] · wᵀ for one layer matrix: its packed copy, or the row-major source in the file.</summary>
    private static void Product(ReadOnlySpan<float> x, int rows, PackedMatrix? packed, Half* source, int k, int n, Span<float> y, WorkerPool pool)
    {
        if (packed is not null) PackedMatMul.Multiply(x, rows, packed, y, pool);
        else MatMul.Multiply(x, rows, k, source, n, y, pool);
    }

    /// <summary>The layer stack over T rows of s.X (rotary tables already filled per row); attention is the only step that needs to know which sequence a row belongs to.</summary>
    private void RunLayers<TAttention>(RunState s, int T, ref TAttention attention, IFusionStep? fusion)
        where TAttention : struct, IAttentionStep, allows ref struct
    {
        var c = Config;
        int D = c.HiddenSize, H = c.NumHeads, Hkv = c.NumKvHeads, d = c.HeadDim, I = c.IntermediateSize, half = _invFreq.Length;
        float eps = (float)c.RmsNormEps;
        bool interleaved = c.RopeLayout == RopeLayouts.Interleaved;
        var pool = s.Pool;
        var x = s.X.AsSpan(0, T * D);
        var norm = s.Norm.AsSpan(0, T * D);
        var qkv = s.Qkv.AsSpan(0, T * QkvWidth);
        var q = s.Q.AsSpan(0, T * H * d);
        var attn = s.Attn.AsSpan(0, T * H * d);
        var proj = s.Proj.AsSpan(0, T * D);
        var gateUp = s.GateUp.AsSpan(0, T * 2 * I);
        var act = s.Act.AsSpan(0, T * I);
        var matrices = Packs ? Packed(pool).Layers : null;

        for (int l = 0; l < _layers.Length; l++)
        {
            ref readonly var w = ref _layers[l];
            var m = matrices is null ? default : matrices[l];
            // attention block
            RmsNorm.Forward(x, new ReadOnlySpan<float>(w.AttnNorm, D), eps, norm, T);
            Product(norm, T, m.Qkv, w.QkvSource, D, QkvWidth, qkv, pool);
            if (w.QkvBias != null) VectorOps.AddBias(qkv, T, new ReadOnlySpan<float>(w.QkvBias, QkvWidth));
            for (int t = 0; t < T; t++)
            {
                var row = qkv.Slice(t * QkvWidth, QkvWidth);
                var cos = s.Cos.AsSpan(t * half, half);
                var sin = s.Sin.AsSpan(t * half, half);
                Rope.Apply(row[..(H * d)], H, d, c.RotaryDim, interleaved, cos, sin);
                Rope.Apply(row.Slice(H * d, Hkv * d), Hkv, d, c.RotaryDim, interleaved, cos, sin);
                row[..(H * d)].CopyTo(q.Slice(t * H * d, H * d));
            }
            attention.Run(l, qkv, q, attn, pool);
            Product(attn, T, m.Out, w.OutSource, H * d, D, proj, pool);
            if (w.OutBias != null) VectorOps.AddBias(proj, T, new ReadOnlySpan<float>(w.OutBias, D));
            if (w.AttnPostNorm != null) RmsNorm.Forward(proj, new ReadOnlySpan<float>(w.AttnPostNorm, D), eps, proj, T);
            VectorOps.Add(x, proj);
            if (fusion is not null && fusion.AppliesTo(l)) fusion.Apply(l, x, T, pool);

            // MLP block
            RmsNorm.Forward(x, new ReadOnlySpan<float>(w.FfnNorm, D), eps, norm, T);
            Product(norm, T, m.GateUp, w.GateUpSource, D, 2 * I, gateUp, pool);
            Activations.SwiGlu(gateUp, T, I, act);
            Product(act, T, m.Down, w.DownSource, I, D, proj, pool);
            if (w.FfnPostNorm != null) RmsNorm.Forward(proj, new ReadOnlySpan<float>(w.FfnPostNorm, D), eps, proj, T);
            VectorOps.Add(x, proj);
        }
    }

    /// <summary>cos/sin of row <paramref name="row"/> at <paramref name="position"/>: fp32 angle position · inv_freq, as HF computes it.</summary>
    private void FillRotaryRow(RunState s, int row, int position)
    {
        int half = _invFreq.Length;
        for (int i = 0; i < half; i++)
        {
            float angle = position * _invFreq[i];
            s.Cos[row * half + i] = MathF.Cos(angle);
            s.Sin[row * half + i] = MathF.Sin(angle);
        }
    }

    /// <summary>One layer's attention: store the new rows' K/V (from the rotated qkv rows) and attend from q into attn.</summary>
    private interface IAttentionStep
    {
        void Run(int layer, Span<float> qkv, Span<float> q, Span<float> attn, WorkerPool pool);
    }

    /// <summary>One sequence whose K/V are contiguous per head.</summary>
    private readonly struct ContiguousAttention(KvCacheView cache, int startPos, int tokens, TextConfig c) : IAttentionStep
    {
        public void Run(int layer, Span<float> qkv, Span<float> q, Span<float> attn, WorkerPool pool)
        {
            int H = c.NumHeads, Hkv = c.NumKvHeads, d = c.HeadDim, width = (H + 2 * Hkv) * d;
            cache.Write(layer, startPos, tokens, qkv[(H * d)..], qkv[((H + Hkv) * d)..], width);
            Attention.Causal(q, tokens, startPos, cache.Keys(layer), cache.Values(layer), cache.Capacity, H, Hkv, d, attn, pool);
        }
    }

    /// <summary>Base frequencies θ^(−2i/r), then the checkpoint's rope_scaling (linear or llama3).</summary>
    internal static float[] RopeFrequencies(TextConfig c)
    {
        var f = Rope.InverseFrequencies(c.RotaryDim, c.RopeTheta);
        if (c.RopeScaling is not { } sc) return f;
        switch (sc.Type)
        {
            case "linear":
                for (int i = 0; i < f.Length; i++) f[i] = (float)(f[i] / sc.Factor);
                break;
            case "llama3":
                double lowWavelen = sc.OriginalMaxPositionEmbeddings / sc.LowFreqFactor;
                double highWavelen = sc.OriginalMaxPositionEmbeddings / sc.HighFreqFactor;
                for (int i = 0; i < f.Length; i++)
                {
                    double wavelen = 2 * Math.PI / f[i];
                    if (wavelen < highWavelen) continue;
                    if (wavelen > lowWavelen) { f[i] = (float)(f[i] / sc.Factor); continue; }
                    double smooth = (sc.OriginalMaxPositionEmbeddings / wavelen - sc.LowFreqFactor) / (sc.HighFreqFactor - sc.LowFreqFactor);
                    f[i] = (float)((1 - smooth) * f[i] / sc.Factor + smooth * f[i]);
                }
                break;
            default:
                throw new InvalidModelException($"Unsupported rope_scaling type '{sc.Type}' (supported: linear, llama3).");
        }
        return f;
    }

    private struct Layer
    {
        public float* AttnNorm, QkvBias, OutBias, AttnPostNorm, FfnNorm, FfnPostNorm;
        public Half* QkvSource, OutSource, GateUpSource, DownSource;   // row-major in the file
    }
}

/// <summary>Mixes extra context into the residual stream after a layer's attention block (native Open-AutoGLM fusion layers).</summary>
internal interface IFusionStep
{
    bool AppliesTo(int layer);

    /// <summary>May replace rows of the token embeddings ([tokens, D], positions startPos..) before layer 0 (token-insertion models).</summary>
    void OnEmbeddings(Span<float> x, int tokens, int startPos) { }

    /// <summary>Updates <paramref name="x"/> ([tokens, D] residual stream) in place.</summary>
    void Apply(int layer, Span<float> x, int tokens, WorkerPool pool);
}

/// <summary>One sequence of a <see cref="Generation.KvCache"/>, as the decoder sees it.</summary>
internal readonly struct KvCacheView(Generation.KvCache cache, int sequence)
{
    public int Length => cache.Length(sequence);
    public int Capacity => cache.Capacity(sequence);
    public float[] Keys(int layer) => cache.Keys(sequence, layer);
    public float[] Values(int layer) => cache.Values(sequence, layer);
    public void Write(int layer, int startPos, int tokens, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int rowStride)
        => cache.Write(sequence, layer, startPos, tokens, k, v, rowStride);
    public void Advance(int tokens) => cache.Advance(sequence, tokens);
}
