using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Convert.Families;

/// <summary>
/// LlavaForConditionalGeneration (LLaVA-1.5): a Llama decoder plus a CLIP vision tower and a two-layer projector. Both tensor
/// layouts are read: the classic llava-hf one (<c>language_model.model.*</c>, <c>vision_tower.*</c>, <c>multi_modal_projector.*</c>)
/// and the newer one (<c>model.language_model.*</c>, <c>model.vision_tower.*</c>, <c>model.multi_modal_projector.*</c>, <c>lm_head</c>).
/// </summary>
public sealed class Llava : DecoderFamily
{
    // CLIPImageProcessor's defaults, which LLaVA-1.5 uses
    private static readonly float[] ClipMean = [0.48145466f, 0.4578275f, 0.40821073f];
    private static readonly float[] ClipStd = [0.26862954f, 0.26130258f, 0.27577711f];

    public override string Architecture => Architectures.Llava;
    protected override bool QkvBias(HfConfig config) => config.GetBool("attention_bias", false);
    protected override bool OutputBias(HfConfig config) => config.GetBool("attention_bias", false);

    /// <summary>LlamaConfig's defaults: llava-hf configs list only the text_config fields that differ from them.</summary>
    public override int? DefaultField(string name) => name switch
    {
        "hidden_size" => 4096,
        "intermediate_size" => 11008,
        "num_hidden_layers" => 32,
        "num_attention_heads" => 32,
        "vocab_size" => 32000,
        "bos_token_id" => 1,
        "eos_token_id" => 2,
        _ => null,
    };

    private static bool NewLayout(IReadOnlyDictionary<string, SafetensorInfo> tensors) => tensors.Keys.Any(k => k.StartsWith("model.language_model.", StringComparison.Ordinal));

    public override (string DecoderPrefix, string Head) TensorPrefixes(IReadOnlyDictionary<string, SafetensorInfo> tensors) =>
        NewLayout(tensors) ? ("model.language_model.", "lm_head.weight") : ("language_model.model.", "language_model.lm_head.weight");

    public override void CompleteManifest(ModelManifest manifest, HfConfig config, IReadOnlyDictionary<string, SafetensorInfo> tensors)
    {
        // absent CLIP fields take CLIPVisionConfig's defaults
        var vc = config.GetSection("vision_config") ?? throw new InvalidModelException($"{config.Source}: llava needs a vision_config.");
        int layers = vc.GetInt("num_hidden_layers", 12);
        int featureLayer = config.GetInt("vision_feature_layer", -2);
        int run = featureLayer < 0 ? layers + 1 + featureLayer : featureLayer;
        if (run < 0 || run > layers) throw new InvalidModelException($"{config.Source}: vision_feature_layer {featureLayer} does not exist in {layers} layers.");
        string strategy = config.GetString("vision_feature_select_strategy") ?? "default";
        if (strategy is not ("default" or "full")) throw new InvalidModelException($"{config.Source}: vision_feature_select_strategy '{strategy}' is not default or full.");
        manifest.Llava = new LlavaConfig
        {
            Vision = new VisionConfig
            {
                HiddenSize = vc.GetInt("hidden_size", 768),
                IntermediateSize = vc.GetInt("intermediate_size", 3072),
                NumLayers = layers,
                NumHeads = vc.GetInt("num_attention_heads", 12),
                PatchSize = vc.GetInt("patch_size", 32),
                BaseImageSize = vc.GetInt("image_size", 224),
                LayerNormEps = vc.GetDouble("layer_norm_eps", 1e-5),
                HiddenAct = vc.GetString("hidden_act") ?? ActivationNames.QuickGelu,
                ImageMean = ClipMean,
                ImageStd = ClipStd,
            },
            ProjectorHiddenAct = config.GetString("projector_hidden_act") ?? ActivationNames.Gelu,
            FeatureLayers = run,
            ImageTokenId = config.GetInt("image_token_index") ?? config.GetInt("image_token_id") ?? 32000,
            KeepClassToken = strategy == "full",
        };
    }

    public override IReadOnlyList<TensorRecipe> ExtraRecipes(ModelManifest manifest, IReadOnlyDictionary<string, SafetensorInfo> tensors)
    {
        var llava = manifest.Llava!;
        var v = llava.Vision;
        bool newLayout = NewLayout(tensors);
        string tower = (newLayout ? "model." : "") + "vision_tower.vision_model.", projector = (newLayout ? "model." : "") + "multi_modal_projector.";
        long dv = v.HiddenSize, p = v.PatchSize;
        var sources = new Dictionary<string, SourceTensor[]>(StringComparer.Ordinal)
        {
            [TensorNames.VisionPatchEmbed] = [new(tower + "embeddings.patch_embedding.weight", [dv, 3, p, p])],
            [TensorNames.VisionClassEmbed] = [new(tower + "embeddings.class_embedding", [dv])],
            [TensorNames.VisionPosEmbed] = [new(tower + "embeddings.position_embedding.weight", [(long)v.BaseGrid * v.BaseGrid + 1, dv])],
            [TensorNames.VisionPreNorm] = [new(tower + "pre_layrnorm.weight", [dv])],
            [TensorNames.VisionPreNormBias] = [new(tower + "pre_layrnorm.bias", [dv])],
            [TensorNames.ProjectorFc1] = [new(projector + "linear_1.weight", [manifest.Text.HiddenSize, dv])],
            [TensorNames.ProjectorFc1Bias] = [new(projector + "linear_1.bias", [manifest.Text.HiddenSize])],
            [TensorNames.ProjectorFc2] = [new(projector + "linear_2.weight", [manifest.Text.HiddenSize, manifest.Text.HiddenSize])],
            [TensorNames.ProjectorFc2Bias] = [new(projector + "linear_2.bias", [manifest.Text.HiddenSize])],
        };
        for (int i = 0; i < llava.FeatureLayers; i++)
        {
            string b = $"{tower}encoder.layers.{i}.";
            long fv = v.IntermediateSize;
            sources[TensorNames.VisionNorm1(i)] = [new(b + "layer_norm1.weight", [dv])];
            sources[TensorNames.VisionNorm1Bias(i)] = [new(b + "layer_norm1.bias", [dv])];
            sources[TensorNames.VisionQkv(i)] = [new(b + "self_attn.q_proj.weight", [dv, dv]), new(b + "self_attn.k_proj.weight", [dv, dv]), new(b + "self_attn.v_proj.weight", [dv, dv])];
            sources[TensorNames.VisionQkvBias(i)] = [new(b + "self_attn.q_proj.bias", [dv]), new(b + "self_attn.k_proj.bias", [dv]), new(b + "self_attn.v_proj.bias", [dv])];
            sources[TensorNames.VisionAttnOut(i)] = [new(b + "self_attn.out_proj.weight", [dv, dv])];
            sources[TensorNames.VisionAttnOutBias(i)] = [new(b + "self_attn.out_proj.bias", [dv])];
            sources[TensorNames.VisionNorm2(i)] = [new(b + "layer_norm2.weight", [dv])];
            sources[TensorNames.VisionNorm2Bias(i)] = [new(b + "layer_norm2.bias", [dv])];
            sources[TensorNames.VisionFfnUp(i)] = [new(b + "mlp.fc1.weight", [fv, dv])];
            sources[TensorNames.VisionFfnUpBias(i)] = [new(b + "mlp.fc1.bias", [fv])];
            sources[TensorNames.VisionFfnDown(i)] = [new(b + "mlp.fc2.weight", [dv, fv])];
            sources[TensorNames.VisionFfnDownBias(i)] = [new(b + "mlp.fc2.bias", [dv])];
        }
        return TensorLayout.Llava(manifest.Text, llava).Select(spec => new TensorRecipe(spec, sources[spec.Name])).ToArray();
    }
}
