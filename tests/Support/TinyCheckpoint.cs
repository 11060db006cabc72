using System.Text.Json.Nodes;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Tests.Support;

/// <summary>What <see cref="TinyCheckpoint.Write"/> writes. Defaults give a 2-layer GQA model small enough for any test.</summary>
public sealed record TinyCheckpointSpec
{
    /// <summary>Hugging Face architecture string: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, GlmForCausalLM, Glm4ForCausalLM.</summary>
    public string Architecture { get; init; } = "LlamaForCausalLM";
    public int VocabSize { get; init; } = 97;
    public int HiddenSize { get; init; } = 48;
    public int NumHeads { get; init; } = 4;
    public int NumKvHeads { get; init; } = 2;
    /// <summary>Written as <c>head_dim</c>; null leaves it out of config.json (hidden / heads).</summary>
    public int? HeadDim { get; init; } = 12;
    public int IntermediateSize { get; init; } = 80;
    public int NumLayers { get; init; } = 2;
    public double RmsNormEps { get; init; } = 1e-5;
    public double RopeTheta { get; init; } = 10000.0;
    public int MaxPositionEmbeddings { get; init; } = 128;
    public int BosTokenId { get; init; } = 1;
    public int[] EosTokenIds { get; init; } = [2];
    /// <summary><c>attention_bias</c> in config.json; null uses the family default (Glm: true, Llama: false; Qwen2 always has q/k/v bias).</summary>
    public bool? AttentionBias { get; init; }
    /// <summary>tie_word_embeddings: true and no lm_head.weight.</summary>
    public bool Tied { get; init; }
    public SafetensorsDType DType { get; init; } = SafetensorsDType.F32;
    /// <summary>Split the tensors over two shards with model.safetensors.index.json.</summary>
    public bool Sharded { get; init; }
    public int Seed { get; init; } = 1;
    /// <summary>A tokenizer.json to copy beside the checkpoint.</summary>
    public string? TokenizerJsonPath { get; init; }
    /// <summary>More files written beside config.json (e.g. tokenizer_config.json), by file name.</summary>
    public IReadOnlyDictionary<string, string> ExtraFiles { get; init; } = new Dictionary<string, string>();
    /// <summary>HF tensor names to leave out.</summary>
    public IReadOnlyCollection<string> Omit { get; init; } = [];
    /// <summary>Changes a tensor's values (by HF name) before they are stored.</summary>
    public Action<string, float[]>? EditTensor { get; init; }
    /// <summary>Changes config.json before it is written.</summary>
    public Action<JsonObject>? EditConfig { get; init; }

    /// <summary>LlavaForConditionalGeneration: the newer model.language_model / model.vision_tower / lm_head layout instead of the classic one.</summary>
    public bool LlavaNewLayout { get; init; }

    /// <summary>Vision encoder, fusion and heads of <c>OpenAutoGlmForConditionalGeneration</c> (also the CLIP sizes of LLaVA); ignored by text families.</summary>
    public TinyVisionSpec Vision { get; init; } = new();
}

/// <summary>The multimodal part of a tiny open_autoglm checkpoint.</summary>
public sealed record TinyVisionSpec
{
    public int HiddenSize { get; init; } = 32;
    public int IntermediateSize { get; init; } = 64;
    public int NumLayers { get; init; } = 2;
    public int NumHeads { get; init; } = 4;
    public int PatchSize { get; init; } = 4;
    public int BaseImageSize { get; init; } = 16;
    public double LayerNormEps { get; init; } = 1e-6;
    public string HiddenAct { get; init; } = "gelu";
    public string ProjectorHiddenAct { get; init; } = "gelu";
    public double[] ImageMean { get; init; } = [0.48, 0.46, 0.41];
    public double[] ImageStd { get; init; } = [0.27, 0.26, 0.28];
    public int[] Sizes { get; init; } = [8, 16, 24];
    public double[] Thresholds { get; init; } = [0.3, 0.7];
    public int[] FusionLayers { get; init; } = [1];
    public int CrossAttentionHeads { get; init; } = 4;
    /// <summary>0 writes no imputer.</summary>
    public int ImputerWidth { get; init; } = 24;
    /// <summary>0 writes no retrieval heads.</summary>
    public int RetrievalWidth { get; init; } = 16;
    public string[] InstructionClasses { get; init; } = ["chat", "ui_action", "ocr"];
    public bool TaskHead { get; init; } = true;
    /// <summary>Written as a scalar [] instead of [1].</summary>
    public bool ScalarLogitScale { get; init; }
}

/// <summary>Writes random Hugging Face-layout checkpoints for every supported decoder family, seeded by tensor name.</summary>
public static class TinyCheckpoint
{
    /// <summary>Writes config.json and the safetensors file(s) into <paramref name="dir"/>; returns each tensor's values as stored (after dtype rounding), by HF name.</summary>
    public static IReadOnlyDictionary<string, float[]> Write(string dir, TinyCheckpointSpec spec)
    {
        Directory.CreateDirectory(dir);
        var shapes = TensorShapes(spec);
        var values = new Dictionary<string, float[]>(StringComparer.Ordinal);
        var entries = new List<SafetensorsEntry>();
        foreach (var (name, shape) in shapes)
        {
            if (spec.Omit.Contains(name)) continue;
            var data = RandomValues(name, shape, spec.Seed);
            spec.EditTensor?.Invoke(name, data);
            var entry = SafetensorsEntry.FromSingle(name, shape, data, spec.DType);
            entries.Add(entry);
            values[name] = RoundTrip(data, spec.DType);
        }

        if (spec.Sharded)
        {
            int half = entries.Count / 2;
            var shards = new[] { ("model-00001-of-00002.safetensors", entries[..half]), ("model-00002-of-00002.safetensors", entries[half..]) };
            var weightMap = new JsonObject();
            foreach (var (file, shardEntries) in shards)
            {
                SafetensorsWriter.Write(Path.Combine(dir, file), shardEntries, new Dictionary<string, string> { ["format"] = "pt" });
                foreach (var e in shardEntries) weightMap[e.Name] = file;
            }
            var index = new JsonObject
            {
                ["metadata"] = new JsonObject { ["total_size"] = entries.Sum(e => (long)e.Data.Length) },
                ["weight_map"] = weightMap,
            };
            File.WriteAllText(Path.Combine(dir, SafetensorsCheckpoint.IndexFileName), index.ToJsonString());
        }
        else
        {
            SafetensorsWriter.Write(Path.Combine(dir, SafetensorsCheckpoint.SingleFileName), entries, new Dictionary<string, string> { ["format"] = "pt" });
        }

        var config = Config(spec);
        spec.EditConfig?.Invoke(config);
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        if (spec.TokenizerJsonPath is not null) File.Copy(spec.TokenizerJsonPath, Path.Combine(dir, "tokenizer.json"));
        foreach (var (name, content) in spec.ExtraFiles) File.WriteAllText(Path.Combine(dir, name), content);
        return values;
    }

    /// <summary>The HF tensors of <paramref name="spec"/>'s family, with shapes, in checkpoint order.</summary>
    public static List<(string Name, long[] Shape)> TensorShapes(TinyCheckpointSpec spec)
    {
        if (spec.Architecture == ClipArchitecture) return ClipShapes(spec);
        var (qkvBias, outputBias, fusedGateUp, sandwich) = Flags(spec);
        long d = spec.HiddenSize, v = spec.VocabSize, ff = spec.IntermediateSize;
        long headDim = spec.HeadDim ?? spec.HiddenSize / spec.NumHeads;
        long q = spec.NumHeads * headDim, kv = spec.NumKvHeads * headDim;

        var shapes = new List<(string, long[])> { ("model.embed_tokens.weight", [v, d]) };
        for (int i = 0; i < spec.NumLayers; i++)
        {
            string p = $"model.layers.{i}.";
            shapes.Add((p + "input_layernorm.weight", [d]));
            shapes.Add((p + "self_attn.q_proj.weight", [q, d]));
            shapes.Add((p + "self_attn.k_proj.weight", [kv, d]));
            shapes.Add((p + "self_attn.v_proj.weight", [kv, d]));
            if (qkvBias)
            {
                shapes.Add((p + "self_attn.q_proj.bias", [q]));
                shapes.Add((p + "self_attn.k_proj.bias", [kv]));
                shapes.Add((p + "self_attn.v_proj.bias", [kv]));
            }
            shapes.Add((p + "self_attn.o_proj.weight", [d, q]));
            if (outputBias) shapes.Add((p + "self_attn.o_proj.bias", [d]));
            if (sandwich) shapes.Add((p + "post_self_attn_layernorm.weight", [d]));
            shapes.Add((p + "post_attention_layernorm.weight", [d]));
            if (fusedGateUp)
            {
                shapes.Add((p + "mlp.gate_up_proj.weight", [2 * ff, d]));
            }
            else
            {
                shapes.Add((p + "mlp.gate_proj.weight", [ff, d]));
                shapes.Add((p + "mlp.up_proj.weight", [ff, d]));
            }
            shapes.Add((p + "mlp.down_proj.weight", [d, ff]));
            if (sandwich) shapes.Add((p + "post_mlp_layernorm.weight", [d]));
        }
        shapes.Add(("model.norm.weight", [d]));
        if (!spec.Tied) shapes.Add(("lm_head.weight", [v, d]));
        if (spec.Architecture == OpenAutoGlmArchitecture) AddMultimodalShapes(spec, shapes);
        if (spec.Architecture == LlavaArchitecture) return LlavaShapes(spec, shapes);
        return shapes;
    }

    public const string OpenAutoGlmArchitecture = "OpenAutoGlmForConditionalGeneration";
    public const string LlavaArchitecture = "LlavaForConditionalGeneration";
    /// <summary>CLIPModel: text tower from the decoder sizes (vocab, hidden, heads, MLP, layers, max positions), vision tower from
    /// <see cref="TinyCheckpointSpec.Vision"/>, projection_dim = its retrieval width, text eos_token_id = EosTokenIds[0].</summary>
    public const string ClipArchitecture = "CLIPModel";

    private static List<(string, long[])> ClipShapes(TinyCheckpointSpec spec)
    {
        var vs = spec.Vision;
        long d = spec.HiddenSize, dv = vs.HiddenSize, p = vs.PatchSize, grid = vs.BaseImageSize / vs.PatchSize, e = vs.RetrievalWidth;
        var shapes = new List<(string, long[])>();
        void Layers(string prefix, int layers, long w, long f)
        {
            for (int i = 0; i < layers; i++)
            {
                string b = $"{prefix}encoder.layers.{i}.";
                foreach (var m in new[] { "q", "k", "v", "out" }) { shapes.Add((b + $"self_attn.{m}_proj.weight", [w, w])); shapes.Add((b + $"self_attn.{m}_proj.bias", [w])); }
                shapes.Add((b + "layer_norm1.weight", [w])); shapes.Add((b + "layer_norm1.bias", [w]));
                shapes.Add((b + "mlp.fc1.weight", [f, w])); shapes.Add((b + "mlp.fc1.bias", [f]));
                shapes.Add((b + "mlp.fc2.weight", [w, f])); shapes.Add((b + "mlp.fc2.bias", [w]));
                shapes.Add((b + "layer_norm2.weight", [w])); shapes.Add((b + "layer_norm2.bias", [w]));
            }
        }
        shapes.Add(("text_model.embeddings.token_embedding.weight", [spec.VocabSize, d]));
        shapes.Add(("text_model.embeddings.position_embedding.weight", [spec.MaxPositionEmbeddings, d]));
        Layers("text_model.", spec.NumLayers, d, spec.IntermediateSize);
        shapes.Add(("text_model.final_layer_norm.weight", [d])); shapes.Add(("text_model.final_layer_norm.bias", [d]));
        shapes.Add(("vision_model.embeddings.class_embedding", [dv]));
        shapes.Add(("vision_model.embeddings.patch_embedding.weight", [dv, 3, p, p]));
        shapes.Add(("vision_model.embeddings.position_embedding.weight", [grid * grid + 1, dv]));
        shapes.Add(("vision_model.pre_layrnorm.weight", [dv])); shapes.Add(("vision_model.pre_layrnorm.bias", [dv]));
        Layers("vision_model.", vs.NumLayers, dv, vs.IntermediateSize);
        shapes.Add(("vision_model.post_layernorm.weight", [dv])); shapes.Add(("vision_model.post_layernorm.bias", [dv]));
        shapes.Add(("visual_projection.weight", [e, dv]));
        shapes.Add(("text_projection.weight", [e, d]));
        shapes.Add(("logit_scale", []));
        return shapes;
    }

    private static JsonObject ClipConfig(TinyCheckpointSpec spec)
    {
        var vs = spec.Vision;
        return new JsonObject
        {
            ["architectures"] = new JsonArray(ClipArchitecture),
            ["model_type"] = "clip",
            ["projection_dim"] = vs.RetrievalWidth,
            ["text_config"] = new JsonObject
            {
                ["model_type"] = "clip_text_model",
                ["vocab_size"] = spec.VocabSize, ["hidden_size"] = spec.HiddenSize, ["intermediate_size"] = spec.IntermediateSize,
                ["num_hidden_layers"] = spec.NumLayers, ["num_attention_heads"] = spec.NumHeads, ["max_position_embeddings"] = spec.MaxPositionEmbeddings,
                ["hidden_act"] = "quick_gelu", ["layer_norm_eps"] = spec.RmsNormEps,
                ["bos_token_id"] = spec.BosTokenId, ["eos_token_id"] = spec.EosTokenIds[0], ["pad_token_id"] = 0,
            },
            ["vision_config"] = new JsonObject
            {
                ["model_type"] = "clip_vision_model",
                ["hidden_size"] = vs.HiddenSize, ["intermediate_size"] = vs.IntermediateSize, ["num_hidden_layers"] = vs.NumLayers,
                ["num_attention_heads"] = vs.NumHeads, ["patch_size"] = vs.PatchSize, ["image_size"] = vs.BaseImageSize,
                ["layer_norm_eps"] = vs.LayerNormEps, ["hidden_act"] = "quick_gelu",
            },
        };
    }

    /// <summary>The HF name of a Llama-layout decoder tensor (model.*, lm_head.weight) in <paramref name="spec"/>'s checkpoint.</summary>
    public static string DecoderName(TinyCheckpointSpec spec, string llamaName)
    {
        if (spec.Architecture != LlavaArchitecture) return llamaName;
        if (llamaName == "lm_head.weight") return spec.LlavaNewLayout ? llamaName : "language_model.lm_head.weight";
        return (spec.LlavaNewLayout ? "model.language_model." : "language_model.model.") + llamaName["model.".Length..];
    }

    private static List<(string, long[])> LlavaShapes(TinyCheckpointSpec spec, List<(string Name, long[] Shape)> decoder)
    {
        var shapes = decoder.Select(t => (DecoderName(spec, t.Name), t.Shape)).ToList();
        var vs = spec.Vision;
        string tower = (spec.LlavaNewLayout ? "model." : "") + "vision_tower.vision_model.", projector = (spec.LlavaNewLayout ? "model." : "") + "multi_modal_projector.";
        long d = spec.HiddenSize, dv = vs.HiddenSize, fv = vs.IntermediateSize, p = vs.PatchSize, grid = vs.BaseImageSize / vs.PatchSize;
        shapes.Add((tower + "embeddings.patch_embedding.weight", [dv, 3, p, p]));
        shapes.Add((tower + "embeddings.class_embedding", [dv]));
        shapes.Add((tower + "embeddings.position_embedding.weight", [grid * grid + 1, dv]));
        shapes.Add((tower + "pre_layrnorm.weight", [dv])); shapes.Add((tower + "pre_layrnorm.bias", [dv]));
        for (int i = 0; i < vs.NumLayers; i++)
        {
            string b = $"{tower}encoder.layers.{i}.";
            foreach (var m in new[] { "q", "k", "v", "out" }) { shapes.Add((b + $"self_attn.{m}_proj.weight", [dv, dv])); shapes.Add((b + $"self_attn.{m}_proj.bias", [dv])); }
            shapes.Add((b + "layer_norm1.weight", [dv])); shapes.Add((b + "layer_norm1.bias", [dv]));
            shapes.Add((b + "mlp.fc1.weight", [fv, dv])); shapes.Add((b + "mlp.fc1.bias", [fv]));
            shapes.Add((b + "mlp.fc2.weight", [dv, fv])); shapes.Add((b + "mlp.fc2.bias", [dv]));
            shapes.Add((b + "layer_norm2.weight", [dv])); shapes.Add((b + "layer_norm2.bias", [dv]));
        }
        shapes.Add((tower + "post_layernorm.weight", [dv])); shapes.Add((tower + "post_layernorm.bias", [dv]));
        shapes.Add((projector + "linear_1.weight", [d, dv])); shapes.Add((projector + "linear_1.bias", [d]));
        shapes.Add((projector + "linear_2.weight", [d, d])); shapes.Add((projector + "linear_2.bias", [d]));
        return shapes;
    }

    private static void AddMultimodalShapes(TinyCheckpointSpec spec, List<(string, long[])> shapes)
    {
        var vs = spec.Vision;
        long d = spec.HiddenSize, dv = vs.HiddenSize, fv = vs.IntermediateSize, p = vs.PatchSize, grid = vs.BaseImageSize / vs.PatchSize;
        shapes.Add(("vision.patch_embed.weight", [dv, 3 * p * p]));
        shapes.Add(("vision.patch_embed.bias", [dv]));
        shapes.Add(("vision.pos_embed", [grid * grid, dv]));
        for (int i = 0; i < vs.NumLayers; i++)
        {
            string b = $"vision.layers.{i}.";
            shapes.Add((b + "norm1.weight", [dv])); shapes.Add((b + "norm1.bias", [dv]));
            shapes.Add((b + "attn.qkv.weight", [3 * dv, dv])); shapes.Add((b + "attn.qkv.bias", [3 * dv]));
            shapes.Add((b + "attn.proj.weight", [dv, dv])); shapes.Add((b + "attn.proj.bias", [dv]));
            shapes.Add((b + "norm2.weight", [dv])); shapes.Add((b + "norm2.bias", [dv]));
            shapes.Add((b + "mlp.fc1.weight", [fv, dv])); shapes.Add((b + "mlp.fc1.bias", [fv]));
            shapes.Add((b + "mlp.fc2.weight", [dv, fv])); shapes.Add((b + "mlp.fc2.bias", [dv]));
        }
        shapes.Add(("vision.post_norm.weight", [dv])); shapes.Add(("vision.post_norm.bias", [dv]));
        shapes.Add(("projector.fc1.weight", [d, dv])); shapes.Add(("projector.fc1.bias", [d]));
        shapes.Add(("projector.fc2.weight", [d, d])); shapes.Add(("projector.fc2.bias", [d]));
        foreach (int f in vs.FusionLayers)
        {
            string b = $"model.layers.{f}.";
            shapes.Add((b + "cross_attn_norm.weight", [d]));
            foreach (var m in new[] { "q", "k", "v", "o" }) shapes.Add((b + $"cross_attn.{m}_proj.weight", [d, d]));
            shapes.Add((b + "fusion_gate.weight", [d, 2 * d])); shapes.Add((b + "fusion_gate.bias", [d]));
        }
        if (vs.ImputerWidth > 0)
        {
            long di = vs.ImputerWidth;
            shapes.Add(("imputer.fc1.weight", [di, d])); shapes.Add(("imputer.fc1.bias", [di]));
            shapes.Add(("imputer.fc2.weight", [d, di])); shapes.Add(("imputer.fc2.bias", [d]));
        }
        if (vs.RetrievalWidth > 0)
        {
            shapes.Add(("retrieval.image_proj.weight", [vs.RetrievalWidth, d]));
            shapes.Add(("retrieval.text_proj.weight", [vs.RetrievalWidth, d]));
            shapes.Add(("retrieval.logit_scale", vs.ScalarLogitScale ? [] : [1]));
        }
        if (vs.TaskHead)
        {
            shapes.Add(("task_head.weight", [vs.InstructionClasses.Length, d]));
            shapes.Add(("task_head.bias", [vs.InstructionClasses.Length]));
        }
    }

    private static (bool QkvBias, bool OutputBias, bool FusedGateUp, bool SandwichNorms) Flags(TinyCheckpointSpec spec) => spec.Architecture switch
    {
        "LlamaForCausalLM" or "MistralForCausalLM" or OpenAutoGlmArchitecture or LlavaArchitecture => (spec.AttentionBias ?? false, spec.AttentionBias ?? false, false, false),
        "Qwen2ForCausalLM" => (true, false, false, false),
        "GlmForCausalLM" => (spec.AttentionBias ?? true, false, true, false),
        "Glm4ForCausalLM" => (spec.AttentionBias ?? true, false, true, true),
        _ => throw new ArgumentException($"TinyCheckpoint has no layout for '{spec.Architecture}'."),
    };

    private static JsonObject Config(TinyCheckpointSpec spec)
    {
        if (spec.Architecture == OpenAutoGlmArchitecture) return MultimodalConfig(spec);
        if (spec.Architecture == LlavaArchitecture) return LlavaConfig(spec);
        if (spec.Architecture == ClipArchitecture) return ClipConfig(spec);
        return TextConfig(spec);
    }

    private static JsonObject LlavaConfig(TinyCheckpointSpec spec)
    {
        var text = TextConfig(spec with { Architecture = "LlamaForCausalLM" });
        text.Remove("architectures");
        text["model_type"] = "llama";
        var vs = spec.Vision;
        return new JsonObject
        {
            ["architectures"] = new JsonArray(LlavaArchitecture),
            ["model_type"] = "llava",
            ["text_config"] = text,
            ["vision_config"] = new JsonObject
            {
                ["model_type"] = "clip_vision_model",
                ["hidden_size"] = vs.HiddenSize, ["intermediate_size"] = vs.IntermediateSize, ["num_hidden_layers"] = vs.NumLayers,
                ["num_attention_heads"] = vs.NumHeads, ["patch_size"] = vs.PatchSize, ["image_size"] = vs.BaseImageSize,
                ["layer_norm_eps"] = vs.LayerNormEps, ["hidden_act"] = "quick_gelu",
            },
            ["image_token_index"] = spec.VocabSize - 1,
            ["vision_feature_layer"] = -2,
            ["vision_feature_select_strategy"] = "default",
            ["projector_hidden_act"] = "gelu",
            ["tie_word_embeddings"] = spec.Tied,
        };
    }

    /// <summary>open_autoglm keeps the decoder in text_config and the rest at the top level (ARCHITECTURE.md §7).</summary>
    private static JsonObject MultimodalConfig(TinyCheckpointSpec spec)
    {
        var text = TextConfig(spec with { Architecture = "LlamaForCausalLM" });
        text.Remove("architectures");
        text["model_type"] = "llama";
        var vs = spec.Vision;
        text["fusion_layers"] = new JsonArray(vs.FusionLayers.Select(l => (JsonNode)l).ToArray());
        text["cross_attention_heads"] = vs.CrossAttentionHeads;
        var presets = new JsonObject();
        for (int i = 0; i < vs.InstructionClasses.Length; i++)
            presets[vs.InstructionClasses[i]] = i switch
            {
                0 => new JsonObject { ["temperature"] = 0.7, ["top_p"] = 0.9 },
                1 => new JsonObject { ["temperature"] = 0.0, ["max_new_tokens"] = 5 },
                _ => new JsonObject { ["repetition_penalty"] = 1.1, ["top_k"] = 5 },
            };
        return new JsonObject
        {
            ["architectures"] = new JsonArray(OpenAutoGlmArchitecture),
            ["model_type"] = "open_autoglm",
            ["text_config"] = text,
            ["vision_config"] = new JsonObject
            {
                ["hidden_size"] = vs.HiddenSize, ["intermediate_size"] = vs.IntermediateSize, ["num_hidden_layers"] = vs.NumLayers,
                ["num_attention_heads"] = vs.NumHeads, ["patch_size"] = vs.PatchSize, ["base_image_size"] = vs.BaseImageSize,
                ["layer_norm_eps"] = vs.LayerNormEps, ["hidden_act"] = vs.HiddenAct,
                ["image_mean"] = new JsonArray(vs.ImageMean.Select(x => (JsonNode)x).ToArray()),
                ["image_std"] = new JsonArray(vs.ImageStd.Select(x => (JsonNode)x).ToArray()),
            },
            ["projector_hidden_act"] = vs.ProjectorHiddenAct,
            ["adaptive_resolution"] = new JsonObject
            {
                ["sizes"] = new JsonArray(vs.Sizes.Select(x => (JsonNode)x).ToArray()),
                ["thresholds"] = new JsonArray(vs.Thresholds.Select(x => (JsonNode)x).ToArray()),
                ["gradient_scale"] = 1.0,
            },
            ["min_image_confidence"] = 0.1,
            ["instruction_classes"] = new JsonArray(vs.InstructionClasses.Select(x => (JsonNode)x).ToArray()),
            ["decoding_presets"] = presets,
            ["tie_word_embeddings"] = spec.Tied,
        };
    }

    private static JsonObject TextConfig(TinyCheckpointSpec spec)
    {
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray(spec.Architecture),
            ["model_type"] = spec.Architecture.Replace("ForCausalLM", "").ToLowerInvariant(),
            ["vocab_size"] = spec.VocabSize,
            ["hidden_size"] = spec.HiddenSize,
            ["intermediate_size"] = spec.IntermediateSize,
            ["num_hidden_layers"] = spec.NumLayers,
            ["num_attention_heads"] = spec.NumHeads,
            ["num_key_value_heads"] = spec.NumKvHeads,
            ["hidden_act"] = "silu",
            ["rms_norm_eps"] = spec.RmsNormEps,
            ["rope_theta"] = spec.RopeTheta,
            ["max_position_embeddings"] = spec.MaxPositionEmbeddings,
            ["tie_word_embeddings"] = spec.Tied,
            ["bos_token_id"] = spec.BosTokenId,
            ["eos_token_id"] = spec.EosTokenIds.Length == 1 ? spec.EosTokenIds[0] : new JsonArray(spec.EosTokenIds.Select(id => (JsonNode)id).ToArray()),
            ["torch_dtype"] = spec.DType switch { SafetensorsDType.F16 => "float16", SafetensorsDType.BF16 => "bfloat16", _ => "float32" },
        };
        if (spec.HeadDim is int headDim) config["head_dim"] = headDim;
        if (spec.AttentionBias is bool bias) config["attention_bias"] = bias;
        return config;
    }

    /// <summary>Deterministic per tensor: norms near 1, everything else small and centred on 0.</summary>
    private static float[] RandomValues(string name, long[] shape, int seed)
    {
        var random = new Random(unchecked((int)Fnv1a(name) ^ seed));
        var data = new float[TensorShape.ElementCount(shape, name)];
        bool isNorm = name.EndsWith("norm.weight", StringComparison.Ordinal) || name.EndsWith("norm1.weight", StringComparison.Ordinal)
            || name.EndsWith("norm2.weight", StringComparison.Ordinal) || name.EndsWith("layrnorm.weight", StringComparison.Ordinal);
        for (int i = 0; i < data.Length; i++)
        {
            float u = (float)(random.NextDouble() * 2 - 1);
            data[i] = isNorm ? 1f + 0.1f * u : 0.5f * u;
        }
        return data;
    }

    private static float[] RoundTrip(float[] data, SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.F16 => data.Select(x => (float)(Half)x).ToArray(),
        SafetensorsDType.BF16 => data.Select(x => HalfConversion.BFloat16ToSingle(HalfConversion.SingleToBFloat16(x))).ToArray(),
        _ => (float[])data.Clone(),
    };

    private static uint Fnv1a(string text)
    {
        uint hash = 2166136261;
        foreach (char c in text) hash = (hash ^ c) * 16777619;
        return hash;
    }
}
