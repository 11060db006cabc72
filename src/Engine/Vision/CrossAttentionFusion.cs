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
/// </summary>
internal sealed unsafe class CrossAttentionFusion : IFusionStep
{
    private readonly FusionLayerWeights[] _weights; // indexed by decoder layer; Q == null where the layer has no fusion
    private readonly float[]?[] _kv;                // per layer: [M, 2D], k then v per row
    private readonly int _rows, _d, _heads;
    private readonly float _eps;
    private readonly float[] _u, _q, _attn, _f, _cat, _gate;

    public CrossAttentionFusion(FusionLayerWeights[] weights, ReadOnlySpan<float> visual, int rows, TextConfig text, int heads, int maxTokens, WorkerPool pool)
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
        _u = new float[maxTokens * _d];
        _q = new float[maxTokens * _d];
        _attn = new float[maxTokens * _d];
        _f = new float[maxTokens * _d];
        _cat = new float[maxTokens * 2 * _d];
        _gate = new float[maxTokens * _d];
    }

    public bool AppliesTo(int layer) => layer < _kv.Length && _kv[layer] is not null;

    public void Apply(int layer, Span<float> x, int tokens, WorkerPool pool)
    {
        int D = _d, T = tokens;
        ref readonly var w = ref _weights[layer];
        var u = _u.AsSpan(0, T * D);
        var q = _q.AsSpan(0, T * D);
        var f = _f.AsSpan(0, T * D);
        var cat = _cat.AsSpan(0, T * 2 * D);
        var gate = _gate.AsSpan(0, T * D);

        RmsNorm.Forward(x[..(T * D)], new ReadOnlySpan<float>(w.Norm, D), _eps, u, T);
        MatMul.Multiply(u, T, D, w.Q, D, q, pool);
        fixed (float* pq = _q, pkv = _kv[layer], pa = _attn)
            DenseAttention.Forward(pq, T, D, pkv, pkv + D, _rows, 2 * D, _heads, D / _heads, pa, D, pool);
        MatMul.Multiply(_attn.AsSpan(0, T * D), T, D, w.Out, D, f, pool);
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
