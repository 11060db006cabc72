using System.Numerics;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace OpenAutoGlm.Weights;

/// <summary>The <c>model.json</c> of a converted model directory: hyper-parameters, tensor index and special tokens.</summary>
public sealed class ModelManifest
{
    public const int CurrentFormatVersion = 1;
    public const string FileName = "model.json";
    public const string DefaultWeightsFile = "weights.bin";
    public const string DefaultTokenizerFile = "tokenizer.json";
    public const string DefaultTokenizerConfigFile = "tokenizer_config.json";
    public const string DefaultChatTemplateFile = "chat_template.jinja";
    public const int DefaultAlignment = 64;

    public int FormatVersion { get; set; } = CurrentFormatVersion;

    /// <summary>Engine architecture: one of <see cref="Architectures"/>.</summary>
    public string Architecture { get; set; } = "";

    /// <summary>The Hugging Face <c>architectures[0]</c> string the model was converted from.</summary>
    public string? SourceArchitecture { get; set; }

    public TextConfig Text { get; set; } = new();

    public SpecialTokens Tokens { get; set; } = new();

    /// <summary>Vision encoder, fusion layers and heads; present exactly for <see cref="Architectures.OpenAutoGlm"/>.</summary>
    public MultimodalConfig? Multimodal { get; set; }

    /// <summary>CLIP tower and projector; present exactly for <see cref="Architectures.Llava"/>.</summary>
    public LlavaConfig? Llava { get; set; }

    /// <summary>CLIP dual encoders; present exactly for <see cref="Architectures.Clip"/>.</summary>
    public ClipConfig? Clip { get; set; }

    /// <summary>Tokenizer file beside model.json (a Hugging Face <c>tokenizer.json</c>), or null to run from token ids.</summary>
    public string? TokenizerFile { get; set; }

    /// <summary>The checkpoint's <c>tokenizer_config.json</c> beside model.json (chat template, bos/eos strings), or null.</summary>
    public string? TokenizerConfigFile { get; set; }

    /// <summary>The checkpoint's <c>chat_template.jinja</c> beside model.json (newer checkpoints keep the template there), or null.</summary>
    public string? ChatTemplateFile { get; set; }

    /// <summary>Weights file beside model.json.</summary>
    public string WeightsFile { get; set; } = DefaultWeightsFile;

    /// <summary>Byte alignment of every tensor in the weights file.</summary>
    public int Alignment { get; set; } = DefaultAlignment;

    public List<TensorInfo> Tensors { get; set; } = [];

    /// <summary>Free-form provenance: converter version, source directory, clamped tensors.</summary>
    public Dictionary<string, string> Metadata { get; set; } = [];

    public TensorInfo? FindTensor(string name)
    {
        foreach (var t in Tensors)
            if (t.Name == name) return t;
        return null;
    }

    /// <summary>
    /// Checks the hyper-parameters and special tokens for consistency; <paramref name="source"/> names the file in messages.
    /// Tensors and files are checked by <see cref="ModelFile.Open"/>.
    /// </summary>
    public void Validate(string source)
    {
        void Require(bool condition, string problem)
        {
            if (!condition) throw new InvalidModelException($"{source}: {problem}");
        }

        Require(FormatVersion == CurrentFormatVersion, $"format version {FormatVersion}; this build reads version {CurrentFormatVersion}.");
        Require(Architectures.All.Contains(Architecture), $"unknown architecture '{Architecture}' (known: {string.Join(", ", Architectures.All)}).");
        Require(Alignment > 0 && BitOperations.IsPow2(Alignment), $"alignment {Alignment} is not a power of two.");

        var t = Text ?? throw new InvalidModelException($"{source}: no text configuration.");
        foreach (var (field, value) in new[]
                 {
                     ("vocab_size", t.VocabSize), ("hidden_size", t.HiddenSize), ("intermediate_size", t.IntermediateSize),
                     ("num_layers", t.NumLayers), ("num_heads", t.NumHeads), ("num_kv_heads", t.NumKvHeads), ("head_dim", t.HeadDim),
                     ("rotary_dim", t.RotaryDim), ("max_position_embeddings", t.MaxPositionEmbeddings),
                 })
            Require(value > 0, $"{field} is {value}; it must be positive.");
        Require(t.NumHeads % t.NumKvHeads == 0, $"num_heads {t.NumHeads} is not a multiple of num_kv_heads {t.NumKvHeads}.");
        Require((t.NumHeads + 2L * t.NumKvHeads) * t.HeadDim <= int.MaxValue && 2L * t.IntermediateSize <= int.MaxValue,
            "(num_heads + 2·num_kv_heads)·head_dim or 2·intermediate_size overflows.");
        Require(t.RotaryDim % 2 == 0 && t.RotaryDim <= t.HeadDim, $"rotary_dim {t.RotaryDim} must be even and at most head_dim {t.HeadDim}.");
        Require(RopeLayouts.All.Contains(t.RopeLayout), $"unknown rope_layout '{t.RopeLayout}' (known: {string.Join(", ", RopeLayouts.All)}).");
        Require(double.IsFinite(t.RopeTheta) && t.RopeTheta > 0, $"rope_theta {t.RopeTheta} must be positive.");
        Require(double.IsFinite(t.RmsNormEps) && t.RmsNormEps > 0, $"rms_norm_eps {t.RmsNormEps} must be positive.");
        if (t.RopeScaling is { } s)
        {
            Require(s.Type is RopeScaling.Linear or RopeScaling.Llama3, $"rope scaling type '{s.Type}' is not {RopeScaling.Linear} or {RopeScaling.Llama3}.");
            Require(double.IsFinite(s.Factor) && s.Factor > 0, $"rope scaling factor {s.Factor} must be positive.");
            if (s.Type == RopeScaling.Llama3)
                Require(s.LowFreqFactor > 0 && s.HighFreqFactor > s.LowFreqFactor && s.OriginalMaxPositionEmbeddings > 0,
                    "llama3 rope scaling needs 0 < low_freq_factor < high_freq_factor and a positive original_max_position_embeddings.");
        }

        Require((Architecture == Architectures.OpenAutoGlm) == (Multimodal is not null),
            $"architecture '{Architecture}' {(Multimodal is null ? "needs" : "must not have")} a multimodal section.");
        if (Multimodal is { } mm) ValidateMultimodal(mm, t, Require);
        Require((Architecture == Architectures.Llava) == (Llava is not null),
            $"architecture '{Architecture}' {(Llava is null ? "needs" : "must not have")} a llava section.");
        if (Llava is { } llava)
        {
            var v = llava.Vision ?? throw new InvalidModelException($"{source}: no llava vision configuration.");
            Require(v.HiddenSize > 0 && v.NumHeads > 0 && v.HiddenSize % v.NumHeads == 0 && v.IntermediateSize > 0 && v.PatchSize > 0
                && v.BaseImageSize > 0 && v.BaseImageSize % v.PatchSize == 0, "llava vision sizes must be positive, hidden_size a multiple of heads, image_size of patch_size.");
            Require(llava.FeatureLayers >= 0 && llava.FeatureLayers <= v.NumLayers, $"llava feature layers {llava.FeatureLayers} outside [0, {v.NumLayers}].");
            Require(llava.ImageTokenId >= 0 && llava.ImageTokenId < t.VocabSize, $"image token id {llava.ImageTokenId} is outside the vocabulary.");
            Require(ActivationNames.All.Contains(v.HiddenAct) && ActivationNames.All.Contains(llava.ProjectorHiddenAct), "unknown llava activation.");
            Require(v.ImageMean is { Length: 3 } && v.ImageStd is { Length: 3 } && v.ImageStd.All(x => x > 0), "llava image_mean/image_std need 3 values, std positive.");
        }

        Require((Architecture == Architectures.Clip) == (Clip is not null),
            $"architecture '{Architecture}' {(Clip is null ? "needs" : "must not have")} a clip section.");
        if (Clip is { } clip)
        {
            var v = clip.Vision ?? throw new InvalidModelException($"{source}: no clip vision configuration.");
            Require(v.HiddenSize > 0 && v.NumHeads > 0 && v.HiddenSize % v.NumHeads == 0 && v.IntermediateSize > 0 && v.NumLayers > 0 && v.PatchSize > 0
                && v.BaseImageSize > 0 && v.BaseImageSize % v.PatchSize == 0, "clip vision sizes must be positive, hidden_size a multiple of heads, image_size of patch_size.");
            Require(t.HiddenSize % t.NumHeads == 0 && t.HeadDim * t.NumHeads == t.HiddenSize && t.NumKvHeads == t.NumHeads, "clip text heads must split hidden_size evenly.");
            Require(clip.ProjectionDim > 0, $"clip projection_dim {clip.ProjectionDim} must be positive.");
            Require(double.IsFinite(clip.TextLayerNormEps) && clip.TextLayerNormEps > 0 && double.IsFinite(v.LayerNormEps) && v.LayerNormEps > 0, "clip layer_norm_eps must be positive.");
            Require(ActivationNames.All.Contains(v.HiddenAct) && ActivationNames.All.Contains(t.HiddenAct), "unknown clip activation.");
            Require(clip.PoolingTokenId is not int pool || (pool >= 0 && pool < t.VocabSize), $"clip pooling token {clip.PoolingTokenId} is outside the vocabulary.");
            Require(v.ImageMean is { Length: 3 } && v.ImageStd is { Length: 3 } && v.ImageStd.All(x => x > 0), "clip image_mean/image_std need 3 values, std positive.");
        }

        var tokens = Tokens ?? throw new InvalidModelException($"{source}: no special tokens.");
        foreach (int id in (tokens.Eos ?? []).Concat(tokens.Bos is int bos ? [bos] : []).Concat(tokens.Pad is int pad ? [pad] : []))
            Require(id >= 0 && id < t.VocabSize, $"special token id {id} is outside the vocabulary of {t.VocabSize}.");
    }

    private static void ValidateMultimodal(MultimodalConfig mm, TextConfig t, Action<bool, string> require)
    {
        var v = mm.Vision ?? throw new InvalidModelException("no vision configuration.");
        foreach (var (field, value) in new[]
                 {
                     ("vision hidden_size", v.HiddenSize), ("vision intermediate_size", v.IntermediateSize), ("vision num_layers", v.NumLayers),
                     ("vision num_heads", v.NumHeads), ("patch_size", v.PatchSize), ("base_image_size", v.BaseImageSize),
                     ("cross_attention_heads", mm.CrossAttentionHeads),
                 })
            require(value > 0, $"{field} is {value}; it must be positive.");
        require(v.HiddenSize % v.NumHeads == 0, $"vision hidden_size {v.HiddenSize} is not a multiple of its {v.NumHeads} heads.");
        require(v.BaseImageSize % v.PatchSize == 0, $"base_image_size {v.BaseImageSize} is not a multiple of patch_size {v.PatchSize}.");
        require(t.HiddenSize % mm.CrossAttentionHeads == 0, $"hidden_size {t.HiddenSize} is not a multiple of cross_attention_heads {mm.CrossAttentionHeads}.");
        require(double.IsFinite(v.LayerNormEps) && v.LayerNormEps > 0, $"vision layer_norm_eps {v.LayerNormEps} must be positive.");
        require(ActivationNames.All.Contains(v.HiddenAct), $"vision hidden_act '{v.HiddenAct}' is not one of {string.Join(", ", ActivationNames.All)}.");
        require(ActivationNames.All.Contains(mm.ProjectorHiddenAct), $"projector_hidden_act '{mm.ProjectorHiddenAct}' is not one of {string.Join(", ", ActivationNames.All)}.");
        require(v.ImageMean is { Length: 3 } && v.ImageStd is { Length: 3 } && v.ImageStd.All(s => s > 0 && float.IsFinite(s)) && v.ImageMean.All(float.IsFinite),
            "image_mean and image_std need 3 finite values, std positive.");
        require(mm.FusionLayers is not null && mm.FusionLayers.All(l => l >= 0 && l < t.NumLayers) && mm.FusionLayers.Distinct().Count() == mm.FusionLayers.Length,
            $"fusion_layers must be distinct layers in [0, {t.NumLayers}).");
        var ar = mm.AdaptiveResolution ?? throw new InvalidModelException("no adaptive_resolution.");
        require(ar.Sizes is { Length: > 0 } && ar.Thresholds is not null && ar.Thresholds.Length == ar.Sizes.Length - 1,
            "adaptive_resolution needs one threshold fewer than sizes.");
        require(ar.Sizes.All(s => s > 0 && s % v.PatchSize == 0), $"every adaptive_resolution size must be a positive multiple of patch_size {v.PatchSize}.");
        require(double.IsFinite(ar.GradientScale) && ar.GradientScale > 0, $"gradient_scale {ar.GradientScale} must be positive.");
        require(double.IsFinite(mm.MinImageConfidence), "min_image_confidence must be finite.");
        require(mm.ImputerWidth >= 0 && mm.RetrievalWidth >= 0, "imputer and retrieval widths must not be negative.");
        require(mm.InstructionClasses is not null && mm.DecodingPresets is not null, "instruction_classes and decoding_presets must be present (possibly empty).");
        require(!mm.HasTaskHead || mm.InstructionClasses!.Length > 0, "a task head needs instruction_classes.");
    }

    public string ToJson() => JsonSerializer.Serialize(this, ManifestJsonContext.Default.ModelManifest);

    public static ModelManifest FromJson(string json)
    {
        ModelManifest? m;
        try { m = JsonSerializer.Deserialize(json, ManifestJsonContext.Default.ModelManifest); }
        catch (JsonException e) { throw new InvalidModelException($"{FileName} is not valid JSON: {e.Message}", e); }
        return m ?? throw new InvalidModelException($"{FileName} is empty.");
    }
}

/// <summary>Engine architecture names, defined once.</summary>
public static class Architectures
{
    public const string Llama = "llama";      // Llama, Mistral
    public const string Qwen2 = "qwen2";      // Llama + q/k/v bias
    public const string Glm = "glm";          // GLM-4 (glm-4-9b-chat-hf): partial interleaved rotary, q/k/v bias
    public const string Glm4 = "glm4";        // GLM-4-0414: Glm + sandwich norms
    public const string OpenAutoGlm = "open_autoglm"; // Llama decoder + vision encoder, fusion layers and heads
    public const string Llava = "llava";      // Llama decoder + CLIP tower; image features replace placeholder tokens
    public const string Clip = "clip";        // CLIPModel dual encoders: embeddings and similarity, no decoder

    public static IReadOnlyList<string> All { get; } = [Llama, Qwen2, Glm, Glm4, OpenAutoGlm, Llava, Clip];
}

/// <summary>RoPE pairing inside the rotary part of a head.</summary>
public static class RopeLayouts
{
    /// <summary>Dim i pairs with i + r/2 (Llama, Mistral, Qwen2; "NeoX").</summary>
    public const string RotateHalf = "rotate_half";
    /// <summary>Dim 2i pairs with 2i + 1 (GLM; "GPT-J").</summary>
    public const string Interleaved = "interleaved";

    public static IReadOnlyList<string> All { get; } = [RotateHalf, Interleaved];
}

/// <summary>Decoder hyper-parameters, already resolved from the source config (no defaults left to guess).</summary>
public sealed class TextConfig
{
    public int VocabSize { get; set; }
    public int HiddenSize { get; set; }
    public int IntermediateSize { get; set; }
    public int NumLayers { get; set; }
    public int NumHeads { get; set; }
    public int NumKvHeads { get; set; }
    public int HeadDim { get; set; }
    /// <summary>Rotated dims at the start of each head: int(head_dim · partial_rotary_factor).</summary>
    public int RotaryDim { get; set; }
    public string RopeLayout { get; set; } = RopeLayouts.RotateHalf;
    public double RopeTheta { get; set; } = 10000.0;
    public RopeScaling? RopeScaling { get; set; }
    public double RmsNormEps { get; set; } = 1e-5;
    public int MaxPositionEmbeddings { get; set; } = 2048;
    public string HiddenAct { get; set; } = "silu";
    /// <summary>q/k/v projections carry a bias (tensor <c>blk.N.attn_qkv_bias</c>).</summary>
    public bool QkvBias { get; set; }
    /// <summary>o projection carries a bias (tensor <c>blk.N.attn_out_bias</c>).</summary>
    public bool OutputBias { get; set; }
    /// <summary>GLM-4-0414 post-attention and post-MLP norms on the branch outputs.</summary>
    public bool SandwichNorms { get; set; }
    /// <summary>The LM head is the embedding table (no <c>output</c> tensor).</summary>
    public bool TiedEmbeddings { get; set; }
}

/// <summary>RoPE frequency scaling (<c>rope_scaling</c> / <c>rope_parameters</c>).</summary>
public sealed class RopeScaling
{
    public const string Linear = "linear";
    public const string Llama3 = "llama3";

    /// <summary>"linear" or "llama3" (others are rejected by the converter).</summary>
    public string Type { get; set; } = Linear;
    public double Factor { get; set; } = 1.0;
    public double LowFreqFactor { get; set; } = 1.0;
    public double HighFreqFactor { get; set; } = 4.0;
    public int OriginalMaxPositionEmbeddings { get; set; } = 8192;
}

public sealed class SpecialTokens
{
    public int? Bos { get; set; }
    public int[] Eos { get; set; } = [];
    public int? Pad { get; set; }
    /// <summary>Whether encoding a plain prompt prepends BOS (the tokenizer's post-processor).</summary>
    public bool AddBos { get; set; }
}

/// <summary>One tensor of the weights file.</summary>
public sealed class TensorInfo
{
    public string Name { get; set; } = "";
    /// <summary>One of <see cref="TensorDTypes"/>.</summary>
    [JsonPropertyName("dtype")]
    public string DType { get; set; } = TensorDTypes.F16;
    public long[] Shape { get; set; } = [];
    /// <summary>Byte offset in the weights file (a multiple of the manifest alignment).</summary>
    public long Offset { get; set; }
    public long Length { get; set; }
    /// <summary>XxHash64 of the tensor bytes, 16 lower-case hex digits.</summary>
    public string Checksum { get; set; } = "";
}

/// <summary>Element types of the converted format: FP16 matrices, F32 norms and biases.</summary>
public static class TensorDTypes
{
    public const string F16 = "F16";
    public const string F32 = "F32";

    /// <summary>Bytes per element, or 0 for a dtype the format does not have.</summary>
    public static int SizeOf(string dtype) => dtype switch { F16 => 2, F32 => 4, _ => 0 };
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, ReadCommentHandling = JsonCommentHandling.Skip)]
[JsonSerializable(typeof(ModelManifest))]
internal sealed partial class ManifestJsonContext : JsonSerializerContext;
