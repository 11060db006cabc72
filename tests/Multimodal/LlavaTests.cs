using OpenAutoGlm.Convert;
using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Engine.Vision;
using OpenAutoGlm.Tests.Support;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Tests.Multimodal;

/// <summary>LLaVA-1.5 token insertion against the double-precision reference, for both tensor layouts.</summary>
public class LlavaTests
{
    private static TinyCheckpointSpec Spec(bool newLayout, int seed = 21) => new()
    {
        Architecture = TinyCheckpoint.LlavaArchitecture, LlavaNewLayout = newLayout, Seed = seed, EosTokenIds = [],
    };

    private static byte[] Noise(int w, int h, int seed)
    {
        var rgb = new byte[3 * w * h];
        new Random(seed).NextBytes(rgb);
        return rgb;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ImageRowsReplaceTheExpandedPlaceholders(bool newLayout)
    {
        using var m = new TinyModel(Spec(newLayout));
        Assert.Equal(Architectures.Llava, m.Model.Manifest.Architecture);
        Assert.Equal(1, m.Model.Manifest.Llava!.FeatureLayers);
        var reference = new ReferenceLlava(m.Spec, m.Tensors, m.Reference);
        int img = reference.ImageToken;
        int[] prompt = [1, 17, img, 5, 88, img, 9];
        byte[] a = Noise(16, 16, 1), b = Noise(16, 16, 2);
        var result = m.Model.ComputeLogits(prompt, [ImageInput.FromRgb(a, 16, 16), ImageInput.FromRgb(b, 16, 16)], allPositions: true);
        Assert.All(result.Images, i => Assert.Equal(16, i.Tokens));
        var expected = reference.Forward(prompt, [a, b]);
        Assert.Equal(expected.Length * m.Spec.VocabSize, result.Logits.Length);
        Assert.InRange(TinyModel.RelativeError(result.Logits, expected), 0, 1e-3);
    }

    [Fact]
    public void GreedyGenerationFollowsTheReferenceAndOtherShapesAreCropped()
    {
        using var m = new TinyModel(Spec(false, seed: 22), new ModelOptions { Threads = 2, PrefillChunk = 5 });
        var reference = new ReferenceLlava(m.Spec, m.Tensors, m.Reference);
        int img = reference.ImageToken;
        byte[] a = Noise(16, 16, 3);
        var result = m.Model.Generate([1, img, 30], [ImageInput.FromRgb(a, 16, 16)], new GenerationOptions { MaxNewTokens = 4 });
        var seq = new List<int> { 1, img, 30 };
        for (int i = 0; i < 4; i++)
        {
            var last = reference.Forward(seq, [a])[^1];
            seq.Add(Array.IndexOf(last, last.Max()));
        }
        Assert.Equal(seq[3..], result.Generation.Ids);
        Assert.Equal(18, result.Generation.PromptTokens);

        var wide = m.Model.ComputeLogits([img, 4], [ImageInput.FromRgb(Noise(40, 20, 4), 40, 20)]);
        Assert.Equal(16, Assert.Single(wide.Images).Resolution);
        Assert.Throws<ArgumentException>(() => m.Model.ComputeLogits([1, 4], [ImageInput.FromRgb(a, 16, 16)]));
    }

    [Fact]
    public void SparseLlavaTextConfigsTakeLlamaDefaults()
    {
        // llava-1.5-7b-hf lists only what differs from LlamaConfig
        var config = HfConfig.Parse("""
            {"architectures": ["LlavaForConditionalGeneration"], "image_token_index": 32000,
             "text_config": {"model_type": "llama", "max_position_embeddings": 4096, "rms_norm_eps": 1e-05, "vocab_size": 32064}}
            """, "config.json");
        var family = OpenAutoGlm.Convert.Families.FamilyRegistry.Find("LlavaForConditionalGeneration")!;
        var text = family.ResolveText(config, tiedEmbeddings: false, new List<string>());
        Assert.Equal((4096, 11008, 32, 32, 32, 32064), (text.HiddenSize, text.IntermediateSize, text.NumLayers, text.NumHeads, text.NumKvHeads, text.VocabSize));
        Assert.Equal(128, text.HeadDim);
        Assert.Equal(2, family.DefaultField("eos_token_id"));
    }
}
