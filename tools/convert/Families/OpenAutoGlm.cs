using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Convert.Families;

/// <summary>
/// Native Open-AutoGLM (<c>model_type: "open_autoglm"</c>): a Llama decoder (<c>attention_bias</c> covers q/k/v/o) plus a ViT,
/// a projector, fusion layers and optional imputer, retrieval and task heads (ARCHITECTURE.md §7).
/// </summary>
public sealed class OpenAutoGlm : DecoderFamily
{
    public override string Architecture => Architectures.OpenAutoGlm;
    protected override bool QkvBias(HfConfig config) => config.GetBool("attention_bias", false);
    protected override bool OutputBias(HfConfig config) => config.GetBool("attention_bias", false);

    public override void CompleteManifest(ModelManifest manifest, HfConfig config, IReadOnlyDictionary<string, SafetensorInfo> tensors) =>
        manifest.Multimodal = Resolve(config, manifest.Text, tensors);

    public override IReadOnlyList<TensorRecipe> ExtraRecipes(ModelManifest manifest, IReadOnlyDictionary<string, SafetensorInfo> tensors) =>
        Recipes(manifest.Text, manifest.Multimodal!, tensors);

    private static MultimodalConfig Resolve(HfConfig config, TextConfig text, IReadOnlyDictionary<string, SafetensorInfo> tensors)
    {
        var vc = config.GetSection("vision_config") ?? throw new InvalidModelException($"{config.Source}: open_autoglm needs a vision_config.");
        int patch = vc.RequireInt("patch_size");
        var vision = new VisionConfig
        {
            HiddenSize = vc.RequireInt("hidden_size"),
            IntermediateSize = vc.RequireInt("intermediate_size"),
            NumLayers = vc.RequireInt("num_hidden_layers"),
            NumHeads = vc.RequireInt("num_attention_heads"),
            PatchSize = patch,
            BaseImageSize = vc.GetInt("base_image_size") ?? vc.GetInt("image_size") ?? throw new InvalidModelException($"{vc.Source}: required field 'base_image_size' is missing."),
            LayerNormEps = vc.GetDouble("layer_norm_eps") ?? 1e-6,
            HiddenAct = vc.GetString("hidden_act") ?? ActivationNames.Gelu,
            ImageMean = Triple(vc, "image_mean"),
            ImageStd = Triple(vc, "image_std"),
        };

        var ar = config.GetSection("adaptive_resolution");
        var resolution = new AdaptiveResolution();
        if (ar is not null)
        {
            resolution.Sizes = (ar.GetIntList("sizes") ?? resolution.Sizes);
            resolution.Thresholds = ar.GetDoubleList("thresholds") ?? resolution.Thresholds;
            resolution.GradientScale = ar.GetDouble("gradient_scale") ?? 1.0;
        }

        var classes = config.GetStringList("instruction_classes") ?? [];
        var presets = new Dictionary<string, DecodingPreset>(StringComparer.Ordinal);
        if (config.GetSection("decoding_presets") is { } ps)
            foreach (string name in ps.Keys)
            {
                var p = ps.GetSection(name)!;
                presets[name] = new DecodingPreset
                {
                    Temperature = (float?)p.GetDouble("temperature"),
                    TopK = p.GetInt("top_k"),
                    TopP = (float?)p.GetDouble("top_p"),
                    RepetitionPenalty = (float?)p.GetDouble("repetition_penalty"),
                    NumBeams = p.GetInt("num_beams"),
                    MaxNewTokens = p.GetInt("max_new_tokens"),
                };
            }

        bool hasTaskHead = tensors.ContainsKey("task_head.weight");
        if (hasTaskHead && classes.Length == 0) throw new InvalidModelException($"{config.Source}: the checkpoint has a task_head but no instruction_classes.");
        return new MultimodalConfig
        {
            Vision = vision,
            ProjectorHiddenAct = config.GetString("projector_hidden_act") ?? ActivationNames.Gelu,
            FusionLayers = config.GetIntList("fusion_layers") ?? [],
            CrossAttentionHeads = config.GetInt("cross_attention_heads") ?? text.NumHeads,
            AdaptiveResolution = resolution,
            MinImageConfidence = config.GetDouble("min_image_confidence") ?? 0.1,
            InstructionClasses = classes,
            DecodingPresets = presets,
            ImputerWidth = tensors.TryGetValue("imputer.fc1.weight", out var imp) && imp.Shape.Length == 2 ? (int)imp.Shape[0] : 0,
            RetrievalWidth = tensors.TryGetValue("retrieval.image_proj.weight", out var rp) && rp.Shape.Length == 2 ? (int)rp.Shape[0] : 0,
            HasTaskHead = hasTaskHead,
        };
    }

    private static IReadOnlyList<TensorRecipe> Recipes(TextConfig text, MultimodalConfig mm, IReadOnlyDictionary<string, SafetensorInfo> tensors)
    {
        // The canonical layout is the one place shapes live; this table only says which HF tensors fill each entry, in row order.
        var sources = new Dictionary<string, string[]>(StringComparer.Ordinal)
        {
            [TensorNames.VisionPatchEmbed] = ["vision.patch_embed.weight"],
            [TensorNames.VisionPatchEmbedBias] = ["vision.patch_embed.bias"],
            [TensorNames.VisionPosEmbed] = ["vision.pos_embed"],
            [TensorNames.VisionPostNorm] = ["vision.post_norm.weight"],
            [TensorNames.VisionPostNormBias] = ["vision.post_norm.bias"],
            [TensorNames.ProjectorFc1] = ["projector.fc1.weight"],
            [TensorNames.ProjectorFc1Bias] = ["projector.fc1.bias"],
            [TensorNames.ProjectorFc2] = ["projector.fc2.weight"],
            [TensorNames.ProjectorFc2Bias] = ["projector.fc2.bias"],
            [TensorNames.ImputerFc1] = ["imputer.fc1.weight"],
            [TensorNames.ImputerFc1Bias] = ["imputer.fc1.bias"],
            [TensorNames.ImputerFc2] = ["imputer.fc2.weight"],
            [TensorNames.ImputerFc2Bias] = ["imputer.fc2.bias"],
            [TensorNames.RetrievalImageProj] = ["retrieval.image_proj.weight"],
            [TensorNames.RetrievalTextProj] = ["retrieval.text_proj.weight"],
            [TensorNames.RetrievalLogitScale] = ["retrieval.logit_scale"],
            [TensorNames.TaskHead] = ["task_head.weight"],
            [TensorNames.TaskHeadBias] = ["task_head.bias"],
        };
        for (int i = 0; i < mm.Vision.NumLayers; i++)
        {
            string p = $"vision.layers.{i}.";
            sources[TensorNames.VisionNorm1(i)] = [p + "norm1.weight"];
            sources[TensorNames.VisionNorm1Bias(i)] = [p + "norm1.bias"];
            sources[TensorNames.VisionNorm2(i)] = [p + "norm2.weight"];
            sources[TensorNames.VisionNorm2Bias(i)] = [p + "norm2.bias"];
            sources[TensorNames.VisionQkv(i)] = [p + "attn.qkv.weight"];
            sources[TensorNames.VisionQkvBias(i)] = [p + "attn.qkv.bias"];
            sources[TensorNames.VisionAttnOut(i)] = [p + "attn.proj.weight"];
            sources[TensorNames.VisionAttnOutBias(i)] = [p + "attn.proj.bias"];
            sources[TensorNames.VisionFfnUp(i)] = [p + "mlp.fc1.weight"];
            sources[TensorNames.VisionFfnUpBias(i)] = [p + "mlp.fc1.bias"];
            sources[TensorNames.VisionFfnDown(i)] = [p + "mlp.fc2.weight"];
            sources[TensorNames.VisionFfnDownBias(i)] = [p + "mlp.fc2.bias"];
        }
        foreach (int f in mm.FusionLayers)
        {
            string p = $"model.layers.{f}.";
            sources[TensorNames.CrossAttnNorm(f)] = [p + "cross_attn_norm.weight"];
            sources[TensorNames.CrossAttnQ(f)] = [p + "cross_attn.q_proj.weight"];
            sources[TensorNames.CrossAttnKv(f)] = [p + "cross_attn.k_proj.weight", p + "cross_attn.v_proj.weight"];
            sources[TensorNames.CrossAttnOut(f)] = [p + "cross_attn.o_proj.weight"];
            sources[TensorNames.FusionGate(f)] = [p + "fusion_gate.weight"];
            sources[TensorNames.FusionGateBias(f)] = [p + "fusion_gate.bias"];
        }

        var recipes = new List<TensorRecipe>();
        foreach (var spec in TensorLayout.Multimodal(text, mm))
        {
            var names = sources[spec.Name];
            long rows = spec.Shape[0] / names.Length;
            var parts = names.Select(n => new SourceTensor(n, spec.Shape.Length == 1 ? [rows] : [rows, .. spec.Shape[1..]])).ToArray();
            // logit_scale is stored as [1] or as a scalar []
            if (spec.Name == TensorNames.RetrievalLogitScale && tensors.TryGetValue(names[0], out var scale) && scale.Shape.Length == 0)
                parts = [new SourceTensor(names[0], [])];
            recipes.Add(new TensorRecipe(spec, parts));
        }
        return recipes;
    }

    private static float[] Triple(HfConfig config, string name)
    {
        var values = config.GetDoubleList(name) ?? throw new InvalidModelException($"{config.Source}: required field '{name}' is missing.");
        if (values.Length != 3) throw new InvalidModelException($"{config.Source}: '{name}' has {values.Length} values; it needs 3 (R, G, B).");
        return values.Select(v => (float)v).ToArray();
    }
}
