using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Bench;

/// <summary>
/// Writes a random model straight into the converted format, for benchmarks of shapes no checkpoint here has (e.g. the 125M
/// reference shape, or a ViT-B/16 vision tower). Matrices are seeded uniform noise with the usual 0.02 scale, norm weights
/// ones, other F32 tensors (biases, position tables) zeros; the text is meaningless.
/// </summary>
public static class SyntheticModel
{
    /// <param name="Vision">A ViT, projector and fusion layers on top (architecture open_autoglm); null for a plain Llama.</param>
    public sealed record Shape(int Vocab, int Dim, int Layers, int Heads, int KvHeads, int Ffn, int Context, VisionShape? Vision = null);

    /// <summary>A pre-LayerNorm ViT at one fixed resolution, and the decoder layers that fuse its rows.</summary>
    public sealed record VisionShape(int Dim, int Layers, int Heads, int Ffn, int Patch, int ImageSize, int[] FusionLayers);

    public static readonly IReadOnlyDictionary<string, Shape> Presets = new Dictionary<string, Shape>
    {
        ["tiny"] = new(Vocab: 256, Dim: 64, Layers: 2, Heads: 4, KvHeads: 2, Ffn: 160, Context: 512),
        ["llama-125m"] = new(Vocab: 32000, Dim: 768, Layers: 12, Heads: 12, KvHeads: 4, Ffn: 2048, Context: 2048),
        // ViT-B/16 at 224×224 (196 patches) on a small 8-layer decoder with two fusion layers
        ["open-autoglm-vitb16"] = new(Vocab: 32000, Dim: 512, Layers: 8, Heads: 8, KvHeads: 4, Ffn: 1536, Context: 2048,
            new VisionShape(Dim: 768, Layers: 12, Heads: 12, Ffn: 3072, Patch: 16, ImageSize: 224, FusionLayers: [3, 7])),
    };

    public static void Write(string directory, Shape s, ulong seed = 1)
    {
        int headDim = s.Dim / s.Heads;
        var manifest = new ModelManifest
        {
            Architecture = s.Vision is null ? Architectures.Llama : Architectures.OpenAutoGlm,
            SourceArchitecture = "synthetic",
            Text = new TextConfig
            {
                VocabSize = s.Vocab, HiddenSize = s.Dim, IntermediateSize = s.Ffn, NumLayers = s.Layers, NumHeads = s.Heads,
                NumKvHeads = s.KvHeads, HeadDim = headDim, RotaryDim = headDim, MaxPositionEmbeddings = s.Context,
            },
            Tokens = new SpecialTokens { Bos = 1, Eos = [2] },
            Multimodal = s.Vision is not { } v ? null : new MultimodalConfig
            {
                Vision = new VisionConfig
                {
                    HiddenSize = v.Dim, IntermediateSize = v.Ffn, NumLayers = v.Layers, NumHeads = v.Heads, PatchSize = v.Patch, BaseImageSize = v.ImageSize,
                },
                FusionLayers = v.FusionLayers,
                CrossAttentionHeads = s.Heads,
                AdaptiveResolution = new AdaptiveResolution { Sizes = [v.ImageSize], Thresholds = [] },
                MinImageConfidence = -1, // every image is encoded, whatever its statistics
            },
        };

        var rng = seed | 1;
        using var w = new ModelWriter(directory);
        foreach (var spec in TensorLayout.Required(manifest))
        {
            long count = spec.Shape.Aggregate(1L, (a, b) => a * b);
            if (spec.DType == TensorDTypes.F16)
            {
                var values = new Half[count];
                for (long i = 0; i < values.Length; i++)
                {
                    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
                    values[i] = (Half)(((rng >> 40) / (float)(1 << 24) - 0.5f) * 0.04f);
                }
                w.Add(spec.Name, spec.Shape, values);
            }
            else w.Add(spec.Name, spec.Shape, Enumerable.Repeat(IsNormWeight(spec.Name) ? 1f : 0f, (int)count).ToArray());
        }
        w.Finish(manifest, tokenizerSource: null);
    }

    private static bool IsNormWeight(string name) =>
        name.EndsWith("norm", StringComparison.Ordinal) || name.EndsWith("_ln", StringComparison.Ordinal) || name.EndsWith(".ln1", StringComparison.Ordinal)
        || name.EndsWith(".ln2", StringComparison.Ordinal);
}
