namespace OpenAutoGlm.Weights;

/// <summary>
/// The native Open-AutoGLM parts of a model (architecture <see cref="Architectures.OpenAutoGlm"/>): vision encoder, projector,
/// fusion layers, and the optional imputer, retrieval and task heads. Resolved by the converter; no defaults left to guess.
/// </summary>
public sealed class MultimodalConfig
{
    public VisionConfig Vision { get; set; } = new();
    /// <summary>Activation between the projector's two layers (gelu, gelu_pytorch_tanh, quick_gelu, silu).</summary>
    public string ProjectorHiddenAct { get; set; } = "gelu";
    /// <summary>Decoder layers (from 0) that run the fusion step after their attention block.</summary>
    public int[] FusionLayers { get; set; } = [];
    public int CrossAttentionHeads { get; set; }
    public AdaptiveResolution AdaptiveResolution { get; set; } = new();
    /// <summary>Images whose confidence is below this are treated as missing.</summary>
    public double MinImageConfidence { get; set; } = 0.1;
    public string[] InstructionClasses { get; set; } = [];
    /// <summary>Decoding settings per instruction class name.</summary>
    public Dictionary<string, DecodingPreset> DecodingPresets { get; set; } = [];
    /// <summary>Hidden width of the missing-modality imputer; 0 when the checkpoint has none.</summary>
    public int ImputerWidth { get; set; }
    /// <summary>Width of the shared retrieval space; 0 when the checkpoint has no retrieval heads.</summary>
    public int RetrievalWidth { get; set; }
    /// <summary>Whether the checkpoint has an instruction classifier over <see cref="InstructionClasses"/>.</summary>
    public bool HasTaskHead { get; set; }

    public bool IsFusionLayer(int layer) => Array.IndexOf(FusionLayers, layer) >= 0;
}

/// <summary>The ViT: pre-LayerNorm blocks over p×p patches with a learned G×G position table.</summary>
public sealed class VisionConfig
{
    public int HiddenSize { get; set; }
    public int IntermediateSize { get; set; }
    public int NumLayers { get; set; }
    public int NumHeads { get; set; }
    public int PatchSize { get; set; }
    /// <summary>Image side the position table was trained for: G = BaseImageSize / PatchSize.</summary>
    public int BaseImageSize { get; set; }
    public double LayerNormEps { get; set; } = 1e-6;
    public string HiddenAct { get; set; } = "gelu";
    public float[] ImageMean { get; set; } = [0.5f, 0.5f, 0.5f];
    public float[] ImageStd { get; set; } = [0.5f, 0.5f, 0.5f];

    public int BaseGrid => PatchSize > 0 ? BaseImageSize / PatchSize : 0;
    public int PatchValues => 3 * PatchSize * PatchSize;
}

/// <summary>Resolution picked from image complexity s: Sizes[0] if s &lt; Thresholds[0], Sizes[1] if s &lt; Thresholds[1], else Sizes[2].</summary>
public sealed class AdaptiveResolution
{
    public int[] Sizes { get; set; } = [128, 224, 384];
    public double[] Thresholds { get; set; } = [0.3, 0.7];
    public double GradientScale { get; set; } = 1.0;

    public int Pick(double complexity)
    {
        for (int i = 0; i < Thresholds.Length; i++)
            if (complexity < Thresholds[i]) return Sizes[i];
        return Sizes[^1];
    }
}

/// <summary>Decoding settings an instruction class asks for; a null field keeps the engine's default.</summary>
public sealed class DecodingPreset
{
    public float? Temperature { get; set; }
    public int? TopK { get; set; }
    public float? TopP { get; set; }
    public float? RepetitionPenalty { get; set; }
    public int? NumBeams { get; set; }
    public int? MaxNewTokens { get; set; }
}

/// <summary>Activation names as configs spell them, defined once.</summary>
public static class ActivationNames
{
    public const string Gelu = "gelu";
    public const string GeluTanh = "gelu_pytorch_tanh";
    public const string QuickGelu = "quick_gelu";
    public const string Silu = "silu";

    public static IReadOnlyList<string> All { get; } = [Gelu, GeluTanh, QuickGelu, Silu];
}

/// <summary>
/// LLaVA-1.5 (architecture <see cref="Architectures.Llava"/>): a CLIP vision tower with a class token and pre-LayerNorm, whose
/// patch rows after <see cref="FeatureLayers"/> blocks (CLS dropped) go through a two-layer projector and replace the image
/// placeholder token, expanded to one position per patch.
/// </summary>
public sealed class LlavaConfig
{
    /// <summary>CLIP tower: BaseImageSize is the crop size, HiddenAct usually quick_gelu; NumLayers counts the blocks stored.</summary>
    public VisionConfig Vision { get; set; } = new();
    public string ProjectorHiddenAct { get; set; } = ActivationNames.Gelu;
    /// <summary>Blocks run before the features are taken (vision_feature_layer −2 of L blocks → L − 1).</summary>
    public int FeatureLayers { get; set; }
    /// <summary>The image placeholder token id (<c>image_token_index</c>).</summary>
    public int ImageTokenId { get; set; }
    /// <summary>Keep the class-token row (vision_feature_select_strategy "full") instead of dropping it ("default").</summary>
    public bool KeepClassToken { get; set; }
}

/// <summary>
/// CLIPModel dual encoders (architecture <see cref="Architectures.Clip"/>): the CLIP vision tower (class token, pre- and
/// post-LayerNorm) with <c>visual_projection</c>, and the causal text transformer with <c>text_projection</c>. The manifest's
/// <see cref="ModelManifest.Text"/> holds the text tower's sizes (vocabulary, width, MLP width, layers, heads, context);
/// its rotary and RMSNorm fields are unused.
/// </summary>
public sealed class ClipConfig
{
    /// <summary>CLIP vision tower: BaseImageSize is the crop size; every stored block runs.</summary>
    public VisionConfig Vision { get; set; } = new();
    /// <summary>LayerNorm epsilon of the text tower.</summary>
    public double TextLayerNormEps { get; set; } = 1e-5;
    /// <summary>Width of the shared embedding space (<c>projection_dim</c>).</summary>
    public int ProjectionDim { get; set; }
    /// <summary>
    /// Text pooling position: the first occurrence of this id; null pools at the highest token id (original CLIP, whose
    /// configs say eos_token_id 2, as Transformers reads them).
    /// </summary>
    public int? PoolingTokenId { get; set; }
}
