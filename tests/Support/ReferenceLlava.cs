using OpenAutoGlm.Kernels.Cpu.Reference;

namespace OpenAutoGlm.Tests.Support;

/// <summary>
/// Double-precision LLaVA-1.5 over HF tensor names: CLIP tower (class token, pre-LayerNorm, hidden state of layer −2, CLS
/// dropped), two-layer GELU projector, and the decoder with each placeholder expanded to the image's rows.
/// </summary>
public sealed class ReferenceLlava(TinyCheckpointSpec spec, IReadOnlyDictionary<string, float[]> hf, ReferenceDecoder decoder)
{
    private readonly TinyVisionSpec _v = spec.Vision;
    private string Tower => (spec.LlavaNewLayout ? "model." : "") + "vision_tower.vision_model.";
    private string Projector => (spec.LlavaNewLayout ? "model." : "") + "multi_modal_projector.";
    public int ImageToken => spec.VocabSize - 1;

    private double[] W(string name, bool matrix = true) => hf[name].Select(x => matrix ? (double)(float)(Half)x : x).ToArray();

    private double[] LayerNorm(double[] x, string prefix) =>
        ReferenceMath.LayerNorm(x, W(prefix + ".weight", false), W(prefix + ".bias", false), _v.LayerNormEps);

    private static double[] Linear(double[] x, double[] w, double[]? b, int outDim) => ReferenceMath.Linear(x, w, b, outDim);

    /// <summary>Projected rows [G²][D] of an image already at the crop size.</summary>
    public double[][] Encode(byte[] rgb)
    {
        int side = _v.BaseImageSize, p = _v.PatchSize, g = side / p, dv = _v.HiddenSize, H = _v.NumHeads, hd = dv / H, D = spec.HiddenSize;
        var pos = W(Tower + "embeddings.position_embedding.weight", false);
        var x = ReferenceMath.ClipEmbeddings(rgb, side, p, dv, W(Tower + "embeddings.patch_embedding.weight"), W(Tower + "embeddings.class_embedding", false));
        for (int t = 0; t < x.Length; t++)
        {
            for (int k = 0; k < dv; k++) x[t][k] += pos[t * dv + k];
            x[t] = LayerNorm(x[t], Tower + "pre_layrnorm");
        }
        // hidden_states[-2]: the output of all blocks but the last
        for (int l = 0; l < _v.NumLayers - 1; l++)
        {
            string b = $"{Tower}encoder.layers.{l}.";
            var normed = x.Select(r => LayerNorm(r, b + "layer_norm1")).ToArray();
            var q = normed.Select(r => Linear(r, W(b + "self_attn.q_proj.weight"), W(b + "self_attn.q_proj.bias", false), dv)).ToArray();
            var k = normed.Select(r => Linear(r, W(b + "self_attn.k_proj.weight"), W(b + "self_attn.k_proj.bias", false), dv)).ToArray();
            var v = normed.Select(r => Linear(r, W(b + "self_attn.v_proj.weight"), W(b + "self_attn.v_proj.bias", false), dv)).ToArray();
            for (int t = 0; t < x.Length; t++)
            {
                var o = new double[dv];
                for (int h = 0; h < H; h++)
                {
                    var s = new double[x.Length];
                    for (int j = 0; j < s.Length; j++)
                    {
                        for (int i = 0; i < hd; i++) s[j] += q[t][h * hd + i] * k[j][h * hd + i];
                        s[j] /= Math.Sqrt(hd);
                    }
                    double max = s.Max(), sum = 0;
                    for (int j = 0; j < s.Length; j++) { s[j] = Math.Exp(s[j] - max); sum += s[j]; }
                    for (int j = 0; j < s.Length; j++)
                        for (int i = 0; i < hd; i++) o[h * hd + i] += s[j] / sum * v[j][h * hd + i];
                }
                var proj = Linear(o, W(b + "self_attn.out_proj.weight"), W(b + "self_attn.out_proj.bias", false), dv);
                for (int i = 0; i < dv; i++) x[t][i] += proj[i];
            }
            for (int t = 0; t < x.Length; t++)
            {
                var hidden = Linear(LayerNorm(x[t], b + "layer_norm2"), W(b + "mlp.fc1.weight"), W(b + "mlp.fc1.bias", false), _v.IntermediateSize)
                    .Select(e => VisionOpsReference.Activation("quick_gelu", e)).ToArray();
                var down = Linear(hidden, W(b + "mlp.fc2.weight"), W(b + "mlp.fc2.bias", false), dv);
                for (int i = 0; i < dv; i++) x[t][i] += down[i];
            }
        }
        return x.Skip(1).Select(r =>
        {
            var h = Linear(r, W(Projector + "linear_1.weight"), W(Projector + "linear_1.bias", false), D).Select(e => VisionOpsReference.Activation("gelu", e)).ToArray();
            return Linear(h, W(Projector + "linear_2.weight"), W(Projector + "linear_2.bias", false), D);
        }).ToArray();
    }

    /// <summary>Logits [T'][V] over the expanded prompt.</summary>
    public double[][] Forward(IReadOnlyList<int> ids, IReadOnlyList<byte[]> images)
    {
        var expanded = new List<int>();
        var rows = new List<double[]?>();
        int image = 0;
        foreach (int id in ids)
        {
            if (id != ImageToken) { expanded.Add(id); rows.Add(null); continue; }
            foreach (var r in Encode(images[image++])) { expanded.Add(id); rows.Add(r); }
        }
        return decoder.Forward(expanded, null, out _, t => rows[t]);
    }
}
