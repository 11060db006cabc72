using OpenAutoGlm.Engine.Architectures;
using OpenAutoGlm.Kernels.Cuda;
using OpenAutoGlm.Kernels.Ops;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Engine.Backends;

/// <summary>
/// The Llama-family decoder on a CUDA backend (a GPU, or the same kernels under CPU emulation): the graph of
/// <see cref="Architectures.TextDecoder"/> built from the NVRTC-compiled ops. Weights are uploaded once into one pool per
/// model (matrices FP16; norm weights FP16 because the norm kernels read them so; biases FP32); each session owns its
/// activations and an FP16 KV cache. Launches are serialized: one stream, one forward at a time.
/// </summary>
internal sealed class CudaTextDecoder : IDisposable
{
    private readonly IKernelBackend _backend;
    private readonly DevicePool _weights;
    private readonly Layer[] _layers;
    private readonly DevicePtr _embedding, _head, _outputNorm, _ropeFrequencies;
    private readonly Lock _launchLock = new();

    public TextConfig Config { get; }
    public string DeviceName => _backend.Name;

    public CudaTextDecoder(ModelFile file, IKernelBackend backend)
    {
        var c = file.Manifest.Text;
        if (c.HeadDim is not (32 or 64 or 96 or 128 or 256))
            throw new NotSupportedException($"The CUDA attention kernels are built for head_dim 32, 64, 96, 128 or 256 (model has {c.HeadDim}); use the CPU backend.");
        Config = c;
        _backend = backend;
        _weights = new DevicePool(backend.Memory, "weights");
        try
        {
            DevicePtr Matrix(string name) => _weights.Upload(file.GetHalf(name));
            DevicePtr Norm(string name)
            {
                var src = file.GetSingle(name);
                var half = new Half[src.Length];
                for (int i = 0; i < src.Length; i++) half[i] = (Half)src[i];
                return _weights.Upload<Half>(half);
            }
            DevicePtr Bias(string name) => _weights.Upload(file.GetSingle(name));

            _embedding = Matrix(TensorNames.TokenEmbedding);
            _head = c.TiedEmbeddings ? _embedding : Matrix(TensorNames.Output);
            _outputNorm = Norm(TensorNames.OutputNorm);
            // The CPU decoder's table, rope_scaling applied, so both backends rotate by the same angles.
            _ropeFrequencies = _weights.Upload<float>(Architectures.TextDecoder.RopeFrequencies(c));
            _layers = new Layer[c.NumLayers];
            for (int i = 0; i < c.NumLayers; i++)
                _layers[i] = new Layer
                {
                    AttnNorm = Norm(TensorNames.AttnNorm(i)),
                    Qkv = Matrix(TensorNames.AttnQkv(i)),
                    QkvBias = c.QkvBias ? Bias(TensorNames.AttnQkvBias(i)) : default,
                    Out = Matrix(TensorNames.AttnOut(i)),
                    OutBias = c.OutputBias ? Bias(TensorNames.AttnOutBias(i)) : default,
                    AttnPostNorm = c.SandwichNorms ? Norm(TensorNames.AttnPostNorm(i)) : default,
                    FfnNorm = Norm(TensorNames.FfnNorm(i)),
                    GateUp = Matrix(TensorNames.FfnGateUp(i)),
                    Down = Matrix(TensorNames.FfnDown(i)),
                    FfnPostNorm = c.SandwichNorms ? Norm(TensorNames.FfnPostNorm(i)) : default,
                };
        }
        catch
        {
            _weights.Dispose();
            throw;
        }
    }

    public Session CreateSession(int maxTokens) => new(this, maxTokens);

    public void Dispose() => _weights.Dispose();

    private struct Layer
    {
        public DevicePtr AttnNorm, Qkv, QkvBias, Out, OutBias, AttnPostNorm, FfnNorm, GateUp, Down, FfnPostNorm;
    }

    /// <summary>Activation buffers and one KV-cache sequence on the device, for one generation at a time.</summary>
    internal sealed class Session : IDisposable
    {
        private readonly CudaTextDecoder _d;
        private readonly DevicePool _pool;
        private readonly DeviceBuffer _x, _norm, _q, _k, _v, _attn, _proj, _gateUp, _act, _ids, _positions, _decodeScratch, _halfScratch;
        private DeviceBuffer? _logits;
        private DeviceBuffer[] _keys = [], _values = [];
        // The decode step as one recorded graph (captured at the second decode step, once every kernel is compiled), with
        // its own logits row; rebuilt when the KV cache is reallocated.
        private IKernelGraph? _decodeGraph;
        private DeviceBuffer? _graphLogits;
        private bool _decodeWarm, _graphFailed;
        private readonly DeviceBuffer _lengthChunk;
        private readonly int[] _hostLengthChunk = new int[2];

        /// <summary>The graph's decode-attention split count: fixed for the cache, each split's share set per step.</summary>
        private int GraphSplits => AttentionDecode.ChooseSplits(_d.Config.NumKvHeads, _capacity);
        private int _capacity, _length;
        private int[] _hostPositions;
        private float[] _hostX = [];

        public Session(CudaTextDecoder decoder, int maxTokens)
        {
            _d = decoder;
            var c = decoder.Config;
            MaxTokens = maxTokens;
            _pool = new DevicePool(decoder._backend.Memory, "session");
            long T = maxTokens;
            _x = _pool.Allocate<float>(T * c.HiddenSize);                      // [T, D] residual stream
            _norm = _pool.Allocate<float>(T * c.HiddenSize);                   // [T, D]
            _q = _pool.Allocate<float>(T * c.NumHeads * c.HeadDim);            // [T, H, d]
            _k = _pool.Allocate<float>(T * c.NumKvHeads * c.HeadDim);          // [T, H_kv, d]
            _v = _pool.Allocate<float>(T * c.NumKvHeads * c.HeadDim);          // [T, H_kv, d]
            _attn = _pool.Allocate<float>(T * c.NumHeads * c.HeadDim);         // [T, H·d]
            _proj = _pool.Allocate<float>(T * c.HiddenSize);                   // [T, D]
            _gateUp = _pool.Allocate<float>(T * 2 * c.IntermediateSize);       // [T, 2I]
            _act = _pool.Allocate<float>(T * c.IntermediateSize);              // [T, I]
            _ids = _pool.Allocate<int>(T);
            _positions = _pool.Allocate<int>(T);
            _lengthChunk = _pool.Allocate<int>(2);
            _decodeScratch = _pool.Allocate<float>(AttentionDecode.ScratchFloats(c.NumHeads, c.HeadDim));
            long widest = Math.Max(Math.Max(c.HiddenSize, c.IntermediateSize), c.NumHeads * c.HeadDim);
            _halfScratch = _pool.Allocate<Half>(T * widest);                  // FP16 copy of a GEMM input for cuBLAS
            _hostPositions = new int[maxTokens];
            Logits = new float[c.VocabSize];
        }

        public int MaxTokens { get; }
        public int Length => _length;
        public float[] Logits { get; private set; }

        public void Begin(int capacity)
        {
            var c = _d.Config;
            if (capacity > _capacity)
            {
                DropGraph();
                foreach (var b in _keys) b.Dispose();
                foreach (var b in _values) b.Dispose();
                _keys = new DeviceBuffer[c.NumLayers];
                _values = new DeviceBuffer[c.NumLayers];
                for (int l = 0; l < c.NumLayers; l++)
                {
                    _keys[l] = _pool.Allocate<Half>((long)c.NumKvHeads * capacity * c.HeadDim);   // [H_kv, capacity, d]
                    _values[l] = _pool.Allocate<Half>((long)c.NumKvHeads * capacity * c.HeadDim);
                }
                _capacity = capacity;
            }
            _length = 0;
        }

        public void End() => _length = 0;

        /// <summary>
        /// Runs <paramref name="ids"/> after the cached positions; Logits receives the last row (or every row). A fusion step
        /// (images) runs on the CPU with <paramref name="pool"/>: the residual stream comes to the host for it where it
        /// applies (the token embeddings, each fusion layer) and goes back, so the decoder's own work stays on the device.
        /// </summary>
        public void Forward(ReadOnlySpan<int> ids, bool allPositions, IFusionStep? fusion = null, Kernels.Cpu.WorkerPool? pool = null)
        {
            if (fusion is not null && pool is null) throw new ArgumentNullException(nameof(pool), "A fusion step needs a CPU worker pool.");
            lock (_d._launchLock) Run(ids, allPositions, fusion, pool);
        }

        /// <summary>The residual stream x[T, D] on the host, for a CPU fusion step; <see cref="UploadX"/> sends it back.</summary>
        private Span<float> DownloadX(int T)
        {
            int n = T * _d.Config.HiddenSize;
            if (_hostX.Length < n) _hostX = new float[n];
            _d._backend.Synchronize();
            _x.Download<float>(_hostX.AsSpan(0, n));
            return _hostX.AsSpan(0, n);
        }

        private void UploadX(int T) => _x.Upload<float>(_hostX.AsSpan(0, T * _d.Config.HiddenSize));

        private void Run(ReadOnlySpan<int> ids, bool allPositions, IFusionStep? fusion, Kernels.Cpu.WorkerPool? pool)
        {
            var c = _d.Config;
            var B = _d._backend;
            int T = ids.Length;
            int startPos = _length;
            if (T > MaxTokens) throw new ArgumentException($"At most {MaxTokens} tokens per forward step, got {T}.", nameof(ids));
            if (startPos + T > _capacity) throw new InvalidOperationException($"KV cache is full: {startPos + T} > capacity {_capacity}.");

            _ids.Upload(ids);
            for (int t = 0; t < T; t++) _hostPositions[t] = startPos + t;
            _positions.Upload<int>(_hostPositions.AsSpan(0, T));

            if (T == 1 && fusion is null && UseGraphs && !_graphFailed && _decodeWarm)
            {
                if (_decodeGraph is null) CaptureDecode();
                if (_decodeGraph is not null)
                {
                    _hostLengthChunk[0] = startPos + 1;
                    _hostLengthChunk[1] = AttentionDecode.Chunk(startPos + 1, GraphSplits);
                    _lengthChunk.Upload<int>(_hostLengthChunk);
                    _decodeGraph.Launch();
                    GraphReplays++;
                    B.Synchronize();
                    _graphLogits!.Download<float>(Logits.AsSpan(0, c.VocabSize));
                    _length += 1;
                    return;
                }
            }

            int first = allPositions ? 0 : T - 1, rows = T - first;
            int V = c.VocabSize;
            if (_logits is null || _logits.Bytes < 4L * rows * V)
            {
                _logits?.Dispose();
                _logits = _pool.Allocate<float>((long)rows * V);
            }
            Launches(T, startPos, fusion, pool, first, _logits, devicePositions: false);
            B.Synchronize();
            if (Logits.Length < rows * V) Logits = new float[rows * V];
            _logits.Download<float>(Logits.AsSpan(0, rows * V));
            _length += T;
            if (T == 1) _decodeWarm = true;
        }

        /// <summary>
        /// Whether decode steps replay a captured graph (default; OPENAUTOGLM_CUDA_GRAPHS=0 launches every kernel one by one,
        /// for comparison or debugging).
        /// </summary>
        internal bool UseGraphs { get; set; } = Environment.GetEnvironmentVariable("OPENAUTOGLM_CUDA_GRAPHS") != "0";

        /// <summary>Decode steps served by replaying the captured graph.</summary>
        internal int GraphReplays { get; private set; }

        /// <summary>
        /// Records one decode step: every kernel reads the token id and its position from the device buffers uploaded before
        /// each replay, attention runs a fixed split count sized for the whole cache, and the logits land in a buffer of
        /// their own. A failed capture leaves the session on plain launches.
        /// </summary>
        private void CaptureDecode()
        {
            var B = _d._backend;
            _graphLogits ??= _pool.Allocate<float>(_d.Config.VocabSize);
            B.BeginCapture();
            try
            {
                Launches(1, _length, null, null, 0, _graphLogits, devicePositions: true);
            }
            catch (Exception e) when (e is CudaException or InvalidOperationException or ArgumentException)
            {
                // The plain launches below then run this step (and report the error if it is not about capturing).
                try { B.EndCapture().Dispose(); } catch (Exception) { }
                _graphFailed = true;
                return;
            }
            try
            {
                _decodeGraph = B.EndCapture();
            }
            catch (CudaException)
            {
                _graphFailed = true;
            }
        }

        private void DropGraph()
        {
            _decodeGraph?.Dispose();
            _decodeGraph = null;
        }

        /// <summary>Enqueues one forward pass of <paramref name="T"/> tokens (ids and positions already on the device).</summary>
        private void Launches(int T, int startPos, IFusionStep? fusion, Kernels.Cpu.WorkerPool? pool, int first, DevicePtr logits, bool devicePositions)
        {
            var c = _d.Config;
            var B = _d._backend;
            int D = c.HiddenSize, H = c.NumHeads, Hkv = c.NumKvHeads, d = c.HeadDim, I = c.IntermediateSize;
            float eps = (float)c.RmsNormEps, scale = 1f / MathF.Sqrt(d);
            var mode = c.RopeLayout == RopeLayouts.Interleaved ? RopeMode.Interleaved : RopeMode.RotateHalf;
            DevicePtr positions = devicePositions ? _positions.Ptr : default;

            Embedding.Gather(B, _d._embedding, _ids, _x, T, c.VocabSize, D);
            if (fusion is not null)
            {
                fusion.OnEmbeddings(DownloadX(T), T, startPos);
                UploadX(T);
            }

            DevicePtr residual = default;
            for (int layer = 0; layer < _d._layers.Length; layer++)
            {
                ref readonly var w = ref _d._layers[layer];
                RmsNorm.Run(B, _x, residual, w.AttnNorm, _norm, T, D, eps);
                // q, k and v come from row blocks of the fused [q | k | v] weight
                MatMul(_norm, w.Qkv, _q, T, H * d, D);
                MatMul(_norm, w.Qkv.Offset(2L * H * d * D), _k, T, Hkv * d, D);
                MatMul(_norm, w.Qkv.Offset(2L * (H + Hkv) * d * D), _v, T, Hkv * d, D);
                if (!w.QkvBias.IsNull)
                {
                    BiasAdd.Run(B, _q, w.QkvBias, T, H * d);
                    BiasAdd.Run(B, _k, w.QkvBias.Offset(4L * H * d), T, Hkv * d);
                    BiasAdd.Run(B, _v, w.QkvBias.Offset(4L * (H + Hkv) * d), T, Hkv * d);
                }
                Rope.Apply(B, _q, _positions, _d._ropeFrequencies, T, H, d, c.RotaryDim, mode);
                Rope.Apply(B, _k, _positions, _d._ropeFrequencies, T, Hkv, d, c.RotaryDim, mode);
                KvCache.Store(B, _k, _keys[layer], T, Hkv, d, _capacity, startPos, positions);
                KvCache.Store(B, _v, _values[layer], T, Hkv, d, _capacity, startPos, positions);
                if (T == 1 && devicePositions)
                    AttentionDecode.Run(B, _q, _keys[layer], _values[layer], _decodeScratch, _attn, H, Hkv, d, _capacity, _capacity, scale, GraphSplits, _lengthChunk);
                else if (T == 1)
                    AttentionDecode.Run(B, _q, _keys[layer], _values[layer], _decodeScratch, _attn, H, Hkv, d, startPos + 1, _capacity, scale);
                else
                    AttentionPrefill.Run(B, _q, _keys[layer], _values[layer], _attn, T, H, Hkv, d, startPos + T, _capacity, startPos, scale, causal: true);
                MatMul(_attn, w.Out, _proj, T, D, H * d);
                if (!w.OutBias.IsNull) BiasAdd.Run(B, _proj, w.OutBias, T, D);
                if (!w.AttnPostNorm.IsNull) RmsNorm.Run(B, _proj, default, w.AttnPostNorm, _proj, T, D, eps);

                RmsNorm.Run(B, _x, _proj, w.FfnNorm, _norm, T, D, eps);
                if (fusion is not null && fusion.AppliesTo(layer))
                {
                    // The norm above folded the attention output into x; fuse on the host, then normalize the fused stream.
                    fusion.Apply(layer, DownloadX(T), T, pool!);
                    UploadX(T);
                    RmsNorm.Run(B, _x, default, w.FfnNorm, _norm, T, D, eps);
                }
                MatMul(_norm, w.GateUp, _gateUp, T, 2 * I, D);
                Activations.SwiGlu(B, _gateUp, _gateUp.Ptr.Offset(4L * I), _act, T, I, 2 * I, I);
                MatMul(_act, w.Down, _proj, T, D, I);
                if (!w.FfnPostNorm.IsNull) RmsNorm.Run(B, _proj, default, w.FfnPostNorm, _proj, T, D, eps);
                residual = _proj;
            }
            RmsNorm.Run(B, _x, residual, _d._outputNorm, _norm, T, D, eps);
            MatMul(_norm.Ptr.Offset(4L * first * D), _d._head, logits, T - first, c.VocabSize, D);
        }

        /// <summary>y[rows, n] = x[rows, k] · Wᵀ: GEMV for one row (FP32 input), GEMM otherwise.</summary>
        private void MatMul(DevicePtr x, DevicePtr w, DevicePtr y, int rows, int n, int k)
        {
            if (rows == 1) Gemv.Run(_d._backend, w, x, y, n, k);
            else Gemm.Run(_d._backend, x, w, y, rows, n, k, halfScratch: _halfScratch);
        }

        public void Dispose()
        {
            DropGraph();
            _pool.Dispose();
        }
    }
}
