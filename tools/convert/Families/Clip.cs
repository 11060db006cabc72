using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Convert.Families;

/// <summary>
/// CLIPModel: dual encoders without a decoder. <see cref="ResolveText"/> describes the text tower (LayerNorm, learned positions,
/// causal attention, quick_gelu MLP) in the manifest's text section; every tensor comes from <see cref="ExtraRecipes"/>.
/// Absent fields take CLIPTextConfig's and CLIPVisionConfig's defaults.
/// </summary>
public sealed class Clip : DecoderFamily
{
    // CLIPImageProcessor's defaults
    private static readonly float[] ClipMean = [0.48145466f, 0.4578275f, 0.40821073f];
    private static readonly float[] ClipStd = [0.26862954f, 0.26130258f, 0.27577711f];

    /// <summary>The eos_token_id of original CLIP configs, which Transformers reads as "pool at the highest token id".</summary>
    private const int LegacyEosTokenId = 2;

    public override string Architecture => Architectures.Clip;
    protected override bool QkvBias(HfConfig config) => true;

    public override int? DefaultField(string name) => name switch
    {
        "bos_token_id" => 49406,
        "eos_token_id" => 49407,
        _ => null,
    };

    public override TextConfig ResolveText(HfConfig config, bool tiedEmbeddings, ICollection<string> warnings)
    {
        int hidden = config.GetInt("hidden_size", 512), heads = config.GetInt("num_attention_heads", 8);
        if (heads <= 0 || hidden % heads != 0)
            throw new InvalidModelException($"{config.Source}: text hidden_size {hidden} is not a multiple of num_attention_heads {heads}.");
        int headDim = hidden / heads;
        return new TextConfig
        {
            VocabSize = config.GetInt("vocab_size", 49408),
            HiddenSize = hidden,
            IntermediateSize = config.GetInt("intermediate_size", 2048),
            NumLayers = config.GetInt("num_hidden_layers", 12),
            NumHeads = heads,
            NumKvHeads = heads,
            HeadDim = headDim,
            RotaryDim = headDim - headDim % 2, // unused: CLIP has learned positions; kept valid for the manifest check
            MaxPositionEmbeddings = config.GetInt("max_position_embeddings", 77),
            HiddenAct = config.GetString("hidden_act") ?? ActivationNames.QuickGelu,
            QkvBias = true,
            OutputBias = true,
        };
    }

    /// <summary>None: the text tower's tensors are not a decoder's.</summary>
    public override IReadOnlyList<TensorRecipe> Recipes(TextConfig text, string decoderPrefix = "model.", string head = "lm_head.weight") => [];

    public override void CompleteManifest(ModelManifest manifest, HfConfig config, IReadOnlyDictionary<string, SafetensorInfo> tensors)
    {
        var vc = config.GetSection("vision_config") ?? throw new InvalidModelException($"{config.Source}: CLIPModel needs a vision_config.");
        var tc = config.GetSection("text_config");
        int eos = tc?.GetInt("eos_token_id") ?? DefaultField("eos_token_id")!.Value;
        manifest.Clip = new ClipConfig
        {
            Vision = new VisionConfig
            {
                HiddenSize = vc.GetInt("hidden_size", 768),
                IntermediateSize = vc.GetInt("intermediate_size", 3072),
                NumLayers = vc.GetInt("num_hidden_layers", 12),
                NumHeads = vc.GetInt("num_attention_heads", 12),
                PatchSize = vc.GetInt("patch_size", 32),
                BaseImageSize = vc.GetInt("image_size", 224),
                LayerNormEps = vc.GetDouble("layer_norm_eps", 1e-5),
                HiddenAct = vc.GetString("hidden_act") ?? ActivationNames.QuickGelu,
                ImageMean = ClipMean,
                ImageStd = ClipStd,
            },
            TextLayerNormEps = tc?.GetDouble("layer_norm_eps") ?? 1e-5,
            ProjectionDim = config.GetInt("projection_dim", 512),
            PoolingTokenId = eos == LegacyEosTokenId ? null : eos,
        };
    }

    public override IReadOnlyList<TensorRecipe> ExtraRecipes(ModelManifest manifest, IReadOnlyDictionary<string, SafetensorInfo> tensors)
    {
        var clip = manifest.Clip!;
        var v = clip.Vision;
        var text = manifest.Text;
        const string Vision = "vision_model.", Text = "text_model.";
        long dv = v.HiddenSize, p = v.PatchSize, d = text.HiddenSize, e = clip.ProjectionDim;
        bool scalarScale = tensors.TryGetValue("logit_scale", out var scale) && scale.Shape.Length == 0;
        var sources = new Dictionary<string, SourceTensor[]>(StringComparer.Ordinal)
        {
            [TensorNames.VisionPatchEmbed] = [new(Vision + "embeddings.patch_embedding.weight", [dv, 3, p, p])],
            [TensorNames.VisionClassEmbed] = [new(Vision + "embeddings.class_embedding", [dv])],
            [TensorNames.VisionPosEmbed] = [new(Vision + "embeddings.position_embedding.weight", [(long)v.BaseGrid * v.BaseGrid + 1, dv])],
            [TensorNames.VisionPreNorm] = [new(Vision + "pre_layrnorm.weight", [dv])],
            [TensorNames.VisionPreNormBias] = [new(Vision + "pre_layrnorm.bias", [dv])],
            [TensorNames.VisionPostNorm] = [new(Vision + "post_layernorm.weight", [dv])],
            [TensorNames.VisionPostNormBias] = [new(Vision + "post_layernorm.bias", [dv])],
            [TensorNames.TextTowerTokenEmbed] = [new(Text + "embeddings.token_embedding.weight", [text.VocabSize, d])],
            [TensorNames.TextTowerPosEmbed] = [new(Text + "embeddings.position_embedding.weight", [text.MaxPositionEmbeddings, d])],
            [TensorNames.TextTowerFinalNorm] = [new(Text + "final_layer_norm.weight", [d])],
            [TensorNames.TextTowerFinalNormBias] = [new(Text + "final_layer_norm.bias", [d])],
            [TensorNames.RetrievalImageProj] = [new("visual_projection.weight", [e, dv])],
            [TensorNames.RetrievalTextProj] = [new("text_projection.weight", [e, d])],
            [TensorNames.RetrievalLogitScale] = [new("logit_scale", scalarScale ? [] : [1])], // a scalar in CLIPModel
        };
        for (int i = 0; i < v.NumLayers; i++) AddBlock(sources, TensorNames.VisionBlock(i), $"{Vision}encoder.layers.{i}.", dv, v.IntermediateSize);
        for (int i = 0; i < text.NumLayers; i++) AddBlock(sources, TensorNames.TextTowerBlock(i), $"{Text}encoder.layers.{i}.", d, text.IntermediateSize);
        return TensorLayout.Clip(text, clip).Select(spec => new TensorRecipe(spec, sources[spec.Name])).ToArray();
    }

    /// <summary>One CLIPEncoderLayer: q|k|v fused into one matrix and one bias.</summary>
    private static void AddBlock(Dictionary<string, SourceTensor[]> sources, LayerNormBlockNames to, string from, long w, long f)
    {
        sources[to.Norm1] = [new(from + "layer_norm1.weight", [w])];
        sources[to.Norm1Bias] = [new(from + "layer_norm1.bias", [w])];
        sources[to.Qkv] = [new(from + "self_attn.q_proj.weight", [w, w]), new(from + "self_attn.k_proj.weight", [w, w]), new(from + "self_attn.v_proj.weight", [w, w])];
        sources[to.QkvBias] = [new(from + "self_attn.q_proj.bias", [w]), new(from + "self_attn.k_proj.bias", [w]), new(from + "self_attn.v_proj.bias", [w])];
        sources[to.Out] = [new(from + "self_attn.out_proj.weight", [w, w])];
        sources[to.OutBias] = [new(from + "self_attn.out_proj.bias", [w])];
        sources[to.Norm2] = [new(from + "layer_norm2.weight", [w])];
        sources[to.Norm2Bias] = [new(from + "layer_norm2.bias", [w])];
        sources[to.Up] = [new(from + "mlp.fc1.weight", [f, w])];
        sources[to.UpBias] = [new(from + "mlp.fc1.bias", [f])];
        sources[to.Down] = [new(from + "mlp.fc2.weight", [w, f])];
        sources[to.DownBias] = [new(from + "mlp.fc2.bias", [w])];
    }
}
