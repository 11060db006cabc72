using OpenAutoGlm.Kernels.Cpu.Reference;

namespace OpenAutoGlm.Tests.Support;

/// <summary>
/// Double-precision twin of the native Open-AutoGLM parts over HF tensor names (ARCHITECTURE.md §1.7–§6): patchify of an
/// image already R×R, ViT, projector, fusion step, imputer and heads. Matrices are rounded to FP16 as the converted model stores them.
/// </summary>
public sealed class ReferenceMultimodal(TinyCheckpointSpec spec, IReadOnlyDictionary<string, float[]> hf, ReferenceDecoder decoder)
{
    private readonly TinyVisionSpec _v = spec.Vision;

    private double[] W(string name, bool matrix = true)
    {
        var src = hf[name];
        var r = new double[src.Length];
        for (int i = 0; i < r.Length; i++) r[i] = matrix ? (float)(Half)src[i] : src[i];
        return r;
    }

    private double[] LayerNorm(double[] x, string prefix) =>
        ReferenceMath.LayerNorm(x, W(prefix + ".weight", false), W(prefix + ".bias", false), _v.LayerNormEps);

    private static double[] Linear(double[] x, double[] w, double[]? b, int outDim) => ReferenceMath.Linear(x, w, b, outDim);

    /// <summary>Patch vectors of an R×R RGB image, indexed ch·p·p + i·p + j.</summary>
    public double[][] Patches(byte[] rgb, int side)
    {
        int p = _v.PatchSize, g = side / p;
        var patches = new double[g * g][];
        for (int pr = 0; pr < g; pr++)
            for (int pc = 0; pc < g; pc++)
            {
                var v = new double[3 * p * p];
                for (int ch = 0; ch < 3; ch++)
                    for (int i = 0; i < p; i++)
                        for (int j = 0; j < p; j++)
                        {
                            int y = pr * p + i, x = pc * p + j;
                            v[ch * p * p + i * p + j] = (rgb[3 * (y * side + x) + ch] / 255.0 - (float)_v.ImageMean[ch]) / (float)_v.ImageStd[ch];
                        }
                patches[pr * g + pc] = v;
            }
        return patches;
    }

    /// <summary>F.interpolate(mode="bilinear", align_corners=False) of the G×G table to g×g.</summary>
    private double[][] PositionTable(int g)
    {
        int G = _v.BaseImageSize / _v.PatchSize, dv = _v.HiddenSize;
        var table = W("vision.pos_embed", false);
        var result = new double[g * g][];
        (int Lo, int Hi, double Frac) Source(int i)
        {
            double s = Math.Max((double)G / g * (i + 0.5) - 0.5, 0);
            int lo = Math.Min((int)Math.Floor(s), G - 1);
            return (lo, Math.Min(lo + 1, G - 1), s - lo);
        }
        for (int r = 0; r < g; r++)
            for (int c = 0; c < g; c++)
            {
                var (r0, r1, fr) = Source(r);
                var (c0, c1, fc) = Source(c);
                var row = new double[dv];
                for (int k = 0; k < dv; k++)
                    row[k] = (1 - fr) * (1 - fc) * table[(r0 * G + c0) * dv + k] + (1 - fr) * fc * table[(r0 * G + c1) * dv + k]
                           + fr * (1 - fc) * table[(r1 * G + c0) * dv + k] + fr * fc * table[(r1 * G + c1) * dv + k];
                result[r * g + c] = row;
            }
        return result;
    }

    /// <summary>V' rows [N][D] of one image given as R×R pixels.</summary>
    public double[][] Encode(byte[] rgb, int side)
    {
        int dv = _v.HiddenSize, fv = _v.IntermediateSize, H = _v.NumHeads, hd = dv / H, D = spec.HiddenSize, g = side / _v.PatchSize;
        var patches = Patches(rgb, side);
        int n = patches.Length;
        var pe = PositionTable(g);
        var x = new double[n][];
        for (int t = 0; t < n; t++)
        {
            x[t] = Linear(patches[t], W("vision.patch_embed.weight"), W("vision.patch_embed.bias", false), dv);
            for (int k = 0; k < dv; k++) x[t][k] += pe[t][k];
        }
        for (int l = 0; l < _v.NumLayers; l++)
        {
            string p = $"vision.layers.{l}.";
            var qkv = x.Select(row => Linear(LayerNorm(row, p + "norm1"), W(p + "attn.qkv.weight"), W(p + "attn.qkv.bias", false), 3 * dv)).ToArray();
            for (int t = 0; t < n; t++)
            {
                var o = new double[dv];
                for (int h = 0; h < H; h++)
                {
                    var s = new double[n];
                    for (int j = 0; j < n; j++)
                    {
                        double dot = 0;
                        for (int i = 0; i < hd; i++) dot += qkv[t][h * hd + i] * qkv[j][dv + h * hd + i];
                        s[j] = dot / Math.Sqrt(hd);
                    }
                    Softmax(s);
                    for (int j = 0; j < n; j++)
                        for (int i = 0; i < hd; i++) o[h * hd + i] += s[j] * qkv[j][2 * dv + h * hd + i];
                }
                var proj = Linear(o, W(p + "attn.proj.weight"), W(p + "attn.proj.bias", false), dv);
                for (int k = 0; k < dv; k++) x[t][k] += proj[k];
            }
            for (int t = 0; t < n; t++)
            {
                var hidden = Linear(LayerNorm(x[t], p + "norm2"), W(p + "mlp.fc1.weight"), W(p + "mlp.fc1.bias", false), fv)
                    .Select(e => VisionOpsReference.Activation(_v.HiddenAct, e)).ToArray();
                var down = Linear(hidden, W(p + "mlp.fc2.weight"), W(p + "mlp.fc2.bias", false), dv);
                for (int k = 0; k < dv; k++) x[t][k] += down[k];
            }
        }
        return x.Select(row =>
        {
            var h1 = Linear(LayerNorm(row, "vision.post_norm"), W("projector.fc1.weight"), W("projector.fc1.bias", false), D)
                .Select(e => VisionOpsReference.Activation(_v.ProjectorHiddenAct, e)).ToArray();
            return Linear(h1, W("projector.fc2.weight"), W("projector.fc2.bias", false), D);
        }).ToArray();
    }

    /// <summary>ē over every prompt id.</summary>
    public double[] MeanEmbedding(IReadOnlyList<int> ids)
    {
        int D = spec.HiddenSize;
        var emb = W("model.embed_tokens.weight");
        var mean = new double[D];
        foreach (int id in ids)
            for (int i = 0; i < D; i++) mean[i] += emb[id * D + i] / ids.Count;
        return mean;
    }

    public double[] Impute(double[] meanEmbedding)
    {
        var h = Linear(meanEmbedding, W("imputer.fc1.weight"), W("imputer.fc1.bias", false), _v.ImputerWidth).Select(e => Math.Max(e, 0)).ToArray();
        return Linear(h, W("imputer.fc2.weight"), W("imputer.fc2.bias", false), spec.HiddenSize);
    }

    public double[] ClassProbabilities(double[] meanEmbedding)
    {
        var logits = Linear(meanEmbedding, W("task_head.weight"), W("task_head.bias", false), _v.InstructionClasses.Length);
        Softmax(logits);
        return logits;
    }

    /// <summary>Logits [T][V] with the fusion step over <paramref name="visual"/> rows (none: plain decoder).</summary>
    public double[][] Forward(IReadOnlyList<int> ids, double[][] visual) =>
        decoder.Forward(ids, visual.Length == 0 ? null : (layer, x) => Fuse(layer, x, visual), out _);

    private void Fuse(int layer, double[][] x, double[][] visual)
    {
        if (!_v.FusionLayers.Contains(layer)) return;
        int D = spec.HiddenSize, H = _v.CrossAttentionHeads, hd = D / H;
        string p = $"model.layers.{layer}.";
        var k = visual.Select(v => Linear(v, W(p + "cross_attn.k_proj.weight"), null, D)).ToArray();
        var v = visual.Select(v => Linear(v, W(p + "cross_attn.v_proj.weight"), null, D)).ToArray();
        foreach (var h in x)
        {
            var q = Linear(decoder.RmsNorm(h, W(p + "cross_attn_norm.weight", false)), W(p + "cross_attn.q_proj.weight"), null, D);
            var o = new double[D];
            for (int head = 0; head < H; head++)
            {
                var s = new double[visual.Length];
                for (int j = 0; j < s.Length; j++)
                {
                    double dot = 0;
                    for (int i = 0; i < hd; i++) dot += q[head * hd + i] * k[j][head * hd + i];
                    s[j] = dot / Math.Sqrt(hd);
                }
                Softmax(s);
                for (int j = 0; j < s.Length; j++)
                    for (int i = 0; i < hd; i++) o[head * hd + i] += s[j] * v[j][head * hd + i];
            }
            var f = Linear(o, W(p + "cross_attn.o_proj.weight"), null, D);
            var gate = Linear([.. f, .. h], W(p + "fusion_gate.weight"), W(p + "fusion_gate.bias", false), D);
            for (int i = 0; i < D; i++)
            {
                double g = 1 / (1 + Math.Exp(-gate[i]));
                h[i] = g * f[i] + (1 - g) * h[i];
            }
        }
    }

    public double[] ImageEmbedding(double[][] projected)
    {
        int D = spec.HiddenSize;
        var mean = new double[D];
        foreach (var row in projected) for (int i = 0; i < D; i++) mean[i] += row[i] / projected.Length;
        return Normalize(Linear(mean, W("retrieval.image_proj.weight"), null, _v.RetrievalWidth));
    }

    public double[] TextEmbedding(IReadOnlyList<int> ids)
    {
        decoder.Forward(ids, null, out var hidden);
        int D = spec.HiddenSize;
        var mean = new double[D];
        foreach (var row in hidden)
        {
            var n = decoder.RmsNorm(row, W("model.norm.weight", false));
            for (int i = 0; i < D; i++) mean[i] += n[i] / hidden.Length;
        }
        return Normalize(Linear(mean, W("retrieval.text_proj.weight"), null, _v.RetrievalWidth));
    }

    public double LogitScale => hf["retrieval.logit_scale"][0];

    private static double[] Normalize(double[] z)
    {
        double norm = Math.Max(Math.Sqrt(z.Sum(e => e * e)), 1e-12);
        return z.Select(e => e / norm).ToArray();
    }

    private static void Softmax(double[] s)
    {
        double max = s.Max(), sum = 0;
        for (int j = 0; j < s.Length; j++) { s[j] = Math.Exp(s[j] - max); sum += s[j]; }
        for (int j = 0; j < s.Length; j++) s[j] /= sum;
    }
}
