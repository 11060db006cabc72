using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Bench;

/// <summary>
/// Writes a random Llama-shaped model straight into the converted format, for benchmarks of shapes no checkpoint here has
/// (e.g. the 125M reference shape). Values are seeded uniform noise with the usual 0.02 scale; the text is meaningless.
/// </summary>
public static class SyntheticModel
{
    public sealed record Shape(int Vocab, int Dim, int Layers, int Heads, int KvHeads, int Ffn, int Context);

    public static readonly IReadOnlyDictionary<string, Shape> Presets = new Dictionary<string, Shape>
    {
        ["tiny"] = new(Vocab: 256, Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, Ffn: 160, Context: 512),
        ["llama-125m"] = new(Vocab: 32000, Dim: 768, Layers: 12, Heads: 12, KvHeads: 4, Ffn: 2048, Context: 2048),
    };

    public static void Write(string directory, Shape s, ulong seed = 1)
    {
        int headDim = s.Dim / s.Heads, qkv = (s.Heads + 2 * s.KvHeads) * headDim;
        var rng = seed | 1;
        using var w = new ModelWriter(directory);
        void Matrix(string name, int rows, int cols)
        {
            var v = new Half[(long)rows * cols];
            for (long i = 0; i < v.Length; i++)
            {
                rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
                v[i] = (Half)(((rng >> 40) / (float)(1 << 24) - 0.5f) * 0.04f);
            }
            w.Add(name, [rows, cols], v);
        }
        void Ones(string name) => w.Add(name, [s.Dim], Enumerable.Repeat(1f, s.Dim).ToArray());

        Matrix(TensorNames.TokenEmbedding, s.Vocab, s.Dim);
        for (int l = 0; l < s.Layers; l++)
        {
            Ones(TensorNames.AttnNorm(l));
            Matrix(TensorNames.AttnQkv(l), qkv, s.Dim);
            Matrix(TensorNames.AttnOut(l), s.Dim, s.Heads * headDim);
            Ones(TensorNames.FfnNorm(l));
            Matrix(TensorNames.FfnGateUp(l), 2 * s.Ffn, s.Dim);
            Matrix(TensorNames.FfnDown(l), s.Dim, s.Ffn);
        }
        Ones(TensorNames.OutputNorm);
        Matrix(TensorNames.Output, s.Vocab, s.Dim);
        w.Finish(new ModelManifest
        {
            Architecture = Architectures.Llama,
            SourceArchitecture = "synthetic",
            Text = new TextConfig
            {
                VocabSize = s.Vocab, HiddenSize = s.Dim, IntermediateSize = s.Ffn, NumLayers = s.Layers, NumHeads = s.Heads,
                NumKvHeads = s.KvHeads, HeadDim = headDim, RotaryDim = headDim, MaxPositionEmbeddings = s.Context,
            },
            Tokens = new SpecialTokens { Bos = 1, Eos = [2] },
        }, tokenizerSource: null);
    }
}
