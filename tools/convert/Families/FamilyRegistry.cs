namespace OpenAutoGlm.Convert.Families;

/// <summary>Hugging Face <c>architectures[0]</c> string → the family that converts it.</summary>
public static class FamilyRegistry
{
    private static readonly Dictionary<string, DecoderFamily> Families = new(StringComparer.Ordinal)
    {
        ["LlamaForCausalLM"] = new Llama(),
        ["MistralForCausalLM"] = new Llama(),
        ["Qwen2ForCausalLM"] = new Qwen2(),
        ["GlmForCausalLM"] = new Glm(),
        ["Glm4ForCausalLM"] = new Glm4(),
        [OpenAutoGlmArchitecture] = new OpenAutoGlm(),
        ["LlavaForConditionalGeneration"] = new Llava(),
        ["CLIPModel"] = new Clip(),
    };

    /// <summary>The architecture string of native Open-AutoGLM checkpoints (also chosen by <c>model_type: "open_autoglm"</c>).</summary>
    public const string OpenAutoGlmArchitecture = "OpenAutoGlmForConditionalGeneration";

    public static IReadOnlyCollection<string> Supported => Families.Keys;

    public static DecoderFamily? Find(string hfArchitecture) => Families.GetValueOrDefault(hfArchitecture);
}
