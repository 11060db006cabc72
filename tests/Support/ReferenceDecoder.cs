namespace OpenAutoGlm.Tests.Support;

/// <summary>What the naive reference needs to know about an HF decoder checkpoint.</summary>
public sealed record ReferenceConfig
{
    public required int Vocab { get; init; }
    public required int Hidden { get; init; }
    public required int Intermediate { get; init; }
    public required int Layers { get; init; }
    public required int Heads { get; init; }
    public required int KvHeads { get; init; }
    public required int HeadDim { get; init; }
    public double RmsEps { get; init; } = 1e-5;
    public double RopeTheta { get; init; } = 10000;
    public double PartialRotaryFactor { get; init; } = 1.0;
    /// <summary>GLM: adjacent pairs (2i, 2i+1); otherwise rotate-half.</summary>
    public bool InterleavedRope { get; init; }
    /// <summary>GLM: one <c>mlp.gate_up_proj</c> instead of gate_proj + up_proj.</summary>
    public bool FusedGateUp { get; init; }
    /// <summary>GLM-4-0414 post_self_attn_layernorm / post_mlp_layernorm.</summary>
    public bool SandwichNorms { get; init; }
    public bool Tied { get; init; }
}

/// <summary>
/// A deliberately plain, double-precision forward over HF tensor names and HF semantics, written separately from the engine
/// (no fused tensors, no KV cache, no SIMD): the independent twin the engine is checked against.
/// Matrices are rounded to FP16 first, as the converted model stores them.
/// </summary>
public sealed class ReferenceDecoder(ReferenceConfig c, IReadOnlyDictionary<string, float[]> hf)
{
    private double[] W(string name, bool roundToHalf = true)
    {
        var src = hf.TryGetValue(name, out var v) ? v : throw new KeyNotFoundException($"reference: missing tensor {name}");
        var r = new double[src.Length];
        for (int i = 0; i < r.Length; i++) r[i] = roundToHalf ? (double)(float)(Half)src[i] : src[i];
        return r;
    }

    private double[]? Maybe(string name, bool roundToHalf = false) => hf.ContainsKey(name) ? W(name, roundToHalf) : null;

    /// <summary>Logits [T, V] for every position of <paramref name="ids"/>.</summary>
    public double[][] Forward(IReadOnlyList<int> ids) => Forward(ids, afterAttention: null, out _);

    /// <summary>
    /// Logits [T, V]; <paramref name="afterAttention"/> (layer, residual rows) runs after each layer's attention residual add,
    /// where the fusion step sits; <paramref name="finalHidden"/> is the last layer's residual stream.
    /// </summary>
    public double[][] Forward(IReadOnlyList<int> ids, Action<int, double[][]>? afterAttention, out double[][] finalHidden,
        Func<int, double[]?>? embeddingAt = null)
    {
        int T = ids.Count, D = c.Hidden, d = c.HeadDim, H = c.Heads, Hkv = c.KvHeads;
        var emb = W("model.embed_tokens.weight");
        var x = new double[T][];
        for (int t = 0; t < T; t++) x[t] = embeddingAt?.Invoke(t) ?? emb.AsSpan(ids[t] * D, D).ToArray();

        for (int l = 0; l < c.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            var wq = W(p + "self_attn.q_proj.weight"); var wk = W(p + "self_attn.k_proj.weight");
            var wv = W(p + "self_attn.v_proj.weight"); var wo = W(p + "self_attn.o_proj.weight");
            var bq = Maybe(p + "self_attn.q_proj.bias"); var bk = Maybe(p + "self_attn.k_proj.bias");
            var bv = Maybe(p + "self_attn.v_proj.bias"); var bo = Maybe(p + "self_attn.o_proj.bias");
            var inNorm = W(p + "input_layernorm.weight", false);
            var postNorm = W(p + "post_attention_layernorm.weight", false);

            var q = new double[T][]; var k = new double[T][]; var v = new double[T][];
            for (int t = 0; t < T; t++)
            {
                var a = RmsNorm(x[t], inNorm);
                q[t] = Linear(a, wq, bq, H * d); k[t] = Linear(a, wk, bk, Hkv * d); v[t] = Linear(a, wv, bv, Hkv * d);
                Rope(q[t], H, t); Rope(k[t], Hkv, t);
            }
            for (int t = 0; t < T; t++)
            {
                var o = new double[H * d];
                for (int h = 0; h < H; h++)
                {
                    int kh = h / (H / Hkv);
                    var s = new double[t + 1];
                    double max = double.NegativeInfinity;
                    for (int j = 0; j <= t; j++)
                    {
                        double dot = 0;
                        for (int i = 0; i < d; i++) dot += q[t][h * d + i] * k[j][kh * d + i];
                        s[j] = dot / Math.Sqrt(d);
                        max = Math.Max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j <= t; j++) { s[j] = Math.Exp(s[j] - max); sum += s[j]; }
                    for (int j = 0; j <= t; j++)
                        for (int i = 0; i < d; i++) o[h * d + i] += s[j] / sum * v[j][kh * d + i];
                }
                var attnOut = Linear(o, wo, bo, D);
                if (c.SandwichNorms) attnOut = RmsNorm(attnOut, W(p + "post_self_attn_layernorm.weight", false));
                for (int i = 0; i < D; i++) x[t][i] += attnOut[i];
            }
            afterAttention?.Invoke(l, x);
            double[] gate, up;
            for (int t = 0; t < T; t++)
            {
                var m = RmsNorm(x[t], postNorm);
                if (c.FusedGateUp)
                {
                    var gu = Linear(m, W(p + "mlp.gate_up_proj.weight"), null, 2 * c.Intermediate);
                    gate = gu[..c.Intermediate]; up = gu[c.Intermediate..];
                }
                else
                {
                    gate = Linear(m, W(p + "mlp.gate_proj.weight"), null, c.Intermediate);
                    up = Linear(m, W(p + "mlp.up_proj.weight"), null, c.Intermediate);
                }
                var act = new double[c.Intermediate];
                for (int i = 0; i < act.Length; i++) act[i] = gate[i] / (1 + Math.Exp(-gate[i])) * up[i];
                var down = Linear(act, W(p + "mlp.down_proj.weight"), null, D);
                if (c.SandwichNorms) down = RmsNorm(down, W(p + "post_mlp_layernorm.weight", false));
                for (int i = 0; i < D; i++) x[t][i] += down[i];
            }
        }
        finalHidden = x;
        var finalNorm = W("model.norm.weight", false);
        var head = c.Tied || !hf.ContainsKey("lm_head.weight") ? emb : W("lm_head.weight");
        var logits = new double[T][];
        for (int t = 0; t < T; t++) logits[t] = Linear(RmsNorm(x[t], finalNorm), head, null, c.Vocab);
        return logits;
    }

    public double[] RmsNorm(double[] x, double[] w)
    {
        double ss = 0;
        foreach (var e in x) ss += e * e;
        double inv = 1 / Math.Sqrt(ss / x.Length + c.RmsEps);
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = w[i] * x[i] * inv;
        return y;
    }

    private static double[] Linear(double[] x, double[] w, double[]? b, int outDim) => ReferenceMath.Linear(x, w, b, outDim);

    private void Rope(double[] v, int heads, int pos)
    {
        int d = c.HeadDim, r = (int)(d * c.PartialRotaryFactor), half = r / 2;
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++)
            {
                double theta = pos * Math.Pow(c.RopeTheta, -2.0 * i / r);
                int a = h * d + (c.InterleavedRope ? 2 * i : i), b = h * d + (c.InterleavedRope ? 2 * i + 1 : i + half);
                double x0 = v[a], x1 = v[b];
                v[a] = x0 * Math.Cos(theta) - x1 * Math.Sin(theta);
                v[b] = x1 * Math.Cos(theta) + x0 * Math.Sin(theta);
            }
    }
}
