using OpenAutoGlm.Engine.Architectures;
using OpenAutoGlm.Kernels.Cpu;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Engine.Vision;

/// <summary>Pointers to one fusion layer's weights (ARCHITECTURE.md §3).</summary>
internal unsafe struct FusionLayerWeights
{
    public float* Norm, GateBias;
    public Half* Q, Kv, Out, Gate;
}

/// <summary>
/// The fusion step of one request: cross-attention from the token stream to the visual rows, mixed in by a sigmoid gate.
/// <code>
/// u = RMSNorm(h);  f = o(softmax(q(u)·Kᵀ/√(D/H_x))·V);  g = σ([f ; h]·W_gᵀ + b_g);  h = g⊙f + (1−g)⊙h
/// </code>
/// K and V depend only on the images, so they are computed once here and reused for every prefill chunk and decoded token.
/// The per-call buffers belong to the calling thread, not to the request, so a request waiting in a batch queue holds only its K/V.
/// </summary>
internal sealed unsafe class CrossAttentionFusion : IFusionStep
{
    private readonly FusionLayerWeights[] _weights; // indexed by decoder layer; Q == null where the layer has no fusion
    private readonly float[]?[] _kv;                // per layer: [M, 2D], k then v per row
    private readonly int _rows, _d, _heads;
    private readonly float _eps;

    [ThreadStatic] private static float[]? t_scratch;

    public CrossAttentionFusion(FusionLayerWeights[] weights, ReadOnlySpan<float> visual, int rows, TextConfig text, int heads, WorkerPool pool)
    {
        _weights = weights;
        _rows = rows;
        _d = text.HiddenSize;
        _heads = heads;
        _eps = (float)text.RmsNormEps;
        _kv = new float[weights.Length][];
        for (int l = 0; l < weights.Length; l++)
        {
            if (weights[l].Q == null) continue;
            _kv[l] = new float[rows * 2 * _d];
            MatMul.Multiply(visual, rows, _d, weights[l].Kv, 2 * _d, _kv[l], pool);
        }
    }

    public bool AppliesTo(int layer) => layer < _kv.Length && _kv[layer] is not null;

    public void Apply(int layer, Span<float> x, int tokens, WorkerPool pool)
    {
        int D = _d, T = tokens;
        ref readonly var w = ref _weights[layer];
        // [u | q | attn | f | gate | cat (2 rows wide)], each T·D
        if (t_scratch is null || t_scratch.Length < 7 * T * D) t_scratch = new float[7 * T * D];
        var scratch = t_scratch;
        var u = scratch.AsSpan(0, T * D);
        var q = scratch.AsSpan(T * D, T * D);
        var attn = scratch.AsSpan(2 * T * D, T * D);
        var f = scratch.AsSpan(3 * T * D, T * D);
        var gate = scratch.AsSpan(4 * T * D, T * D);
        var cat = scratch.AsSpan(5 * T * D, T * 2 * D);

        RmsNorm.Forward(x[..(T * D)], new ReadOnlySpan<float>(w.Norm, D), _eps, u, T);
        MatMul.Multiply(u, T, D, w.Q, D, q, pool);
        fixed (float* pq = q, pkv = _kv[layer], pa = attn)
            DenseAttention.Forward(pq, T, D, pkv, pkv + D, _rows, 2 * D, _heads, D / _heads, pa, D, pool);
        MatMul.Multiply(attn, T, D, w.Out, D, f, pool);
        for (int t = 0; t < T; t++)
        {
            f.Slice(t * D, D).CopyTo(cat.Slice(t * 2 * D, D));
            x.Slice(t * D, D).CopyTo(cat.Slice(t * 2 * D + D, D));
        }
        MatMul.Multiply(cat, T, 2 * D, w.Gate, D, gate, pool);
        VectorOps.AddBias(gate, T, new ReadOnlySpan<float>(w.GateBias, D));
        VisionActivations.Sigmoid(gate);
        for (int i = 0; i < T * D; i++) x[i] += gate[i] * (f[i] - x[i]);
    }
}
