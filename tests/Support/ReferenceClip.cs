using OpenAutoGlm.Kernels.Cpu.Reference;

namespace OpenAutoGlm.Tests.Support;

/// <summary>
/// Double-precision CLIPModel over HF tensor names, written as Transformers' CLIPModel reads: vision tower (class token,
/// pre-LayerNorm, every block, post-LayerNorm on the class row) → visual_projection; text tower (token + position embeddings,
/// causal blocks, final_layer_norm) pooled at the eos position → text_projection; both normalized; exp(logit_scale)·cos.
/// Matrices are rounded to FP16 as the converter stores them.
/// </summary>
public sealed class ReferenceClip(TinyCheckpointSpec spec, IReadOnlyDictionary<string, float[]> hf)
{
    private readonly TinyVisionSpec _v = spec.Vision;

    private double[] W(string name, bool matrix = true) => hf[name].Select(x => matrix ? (double)(float)(Half)x : x).ToArray();

    private double[] LayerNorm(double[] x, string prefix, double eps) =>
        ReferenceMath.LayerNorm(x, W(prefix + ".weight", false), W(prefix + ".bias", false), eps);

    /// <summary>One CLIPEncoderLayer over every row of x, in place; with <paramref name="causal"/> row t attends to rows 0..t.</summary>
    private void Block(double[][] x, string b, int heads, int mlpWidth, double eps, bool causal)
    {
        int w = x[0].Length, hd = w / heads;
        double[] Linear(double[] r, string name, int outDim) => ReferenceMath.Linear(r, W(name + ".weight"), W(name + ".bias", false), outDim);
        var normed = x.Select(r => LayerNorm(r, b + "layer_norm1", eps)).ToArray();
        var q = normed.Select(r => Linear(r, b + "self_attn.q_proj", w)).ToArray();
        var k = normed.Select(r => Linear(r, b + "self_attn.k_proj", w)).ToArray();
        var v = normed.Select(r => Linear(r, b + "self_attn.v_proj", w)).ToArray();
        var attended = new double[x.Length][];
        for (int t = 0; t < x.Length; t++)
        {
            int seen = causal ? t + 1 : x.Length;
            var o = new double[w];
            for (int h = 0; h < heads; h++)
            {
                var s = new double[seen];
                for (int j = 0; j < seen; j++)
                {
                    for (int i = 0; i < hd; i++) s[j] += q[t][h * hd + i] * k[j][h * hd + i];
                    s[j] /= Math.Sqrt(hd);
                }
                double max = s.Max(), sum = 0;
                for (int j = 0; j < seen; j++) { s[j] = Math.Exp(s[j] - max); sum += s[j]; }
                for (int j = 0; j < seen; j++)
                    for (int i = 0; i < hd; i++) o[h * hd + i] += s[j] / sum * v[j][h * hd + i];
            }
            attended[t] = Linear(o, b + "self_attn.out_proj", w);
        }
        for (int t = 0; t < x.Length; t++)
            for (int i = 0; i < w; i++) x[t][i] += attended[t][i];
        for (int t = 0; t < x.Length; t++)
        {
            var hidden = Linear(LayerNorm(x[t], b + "layer_norm2", eps), b + "mlp.fc1", mlpWidth)
                .Select(e => VisionOpsReference.Activation("quick_gelu", e)).ToArray();
            var down = Linear(hidden, b + "mlp.fc2", w);
            for (int i = 0; i < w; i++) x[t][i] += down[i];
        }
    }

    private static double[] Normalize(double[] z)
    {
        double norm = Math.Sqrt(z.Sum(e => e * e));
        return z.Select(e => e / norm).ToArray();
    }

    /// <summary>z_img of an image already at the crop size (RGB bytes).</summary>
    public double[] EmbedImage(byte[] rgb)
    {
        const string Tower = "vision_model.";
        int side = _v.BaseImageSize, p = _v.PatchSize, g = side / p, dv = _v.HiddenSize;
        var pos = W(Tower + "embeddings.position_embedding.weight", false);
        var x = ReferenceMath.ClipEmbeddings(rgb, side, p, dv, W(Tower + "embeddings.patch_embedding.weight"), W(Tower + "embeddings.class_embedding", false));
        for (int t = 0; t < x.Length; t++)
        {
            for (int k = 0; k < dv; k++) x[t][k] += pos[t * dv + k];
            x[t] = LayerNorm(x[t], Tower + "pre_layrnorm", _v.LayerNormEps);
        }
        for (int l = 0; l < _v.NumLayers; l++) Block(x, $"{Tower}encoder.layers.{l}.", _v.NumHeads, _v.IntermediateSize, _v.LayerNormEps, causal: false);
        var pooled = LayerNorm(x[0], Tower + "post_layernorm", _v.LayerNormEps);
        return Normalize(ReferenceMath.Linear(pooled, W("visual_projection.weight"), null, _v.RetrievalWidth));
    }

    /// <summary>The pooling position: the highest id when eos_token_id is 2 (original CLIP), else the first eos.</summary>
    public int PoolingPosition(IReadOnlyList<int> ids)
    {
        int eos = spec.EosTokenIds[0];
        if (eos == 2) return ids.Select((id, i) => (id, i)).MaxBy(p => p.id).i; // MaxBy keeps the first of equal ids, as argmax
        int first = ids.ToList().IndexOf(eos);
        return Math.Max(first, 0);
    }

    /// <summary>z_txt of a token sequence.</summary>
    public double[] EmbedText(IReadOnlyList<int> ids)
    {
        const string Tower = "text_model.";
        int d = spec.HiddenSize;
        var tokens = W(Tower + "embeddings.token_embedding.weight");
        var pos = W(Tower + "embeddings.position_embedding.weight", false);
        var x = ids.Select((id, t) => Enumerable.Range(0, d).Select(i => tokens[id * d + i] + pos[t * d + i]).ToArray()).ToArray();
        for (int l = 0; l < spec.NumLayers; l++) Block(x, $"{Tower}encoder.layers.{l}.", spec.NumHeads, spec.IntermediateSize, spec.RmsNormEps, causal: true);
        var pooled = LayerNorm(x[PoolingPosition(ids)], Tower + "final_layer_norm", spec.RmsNormEps);
        return Normalize(ReferenceMath.Linear(pooled, W("text_projection.weight"), null, _v.RetrievalWidth));
    }

    public double Similarity(double[] image, double[] text) => Math.Exp(hf["logit_scale"][0]) * image.Zip(text, (a, b) => a * b).Sum();
}
