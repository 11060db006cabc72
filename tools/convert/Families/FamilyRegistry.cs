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
    };

    public static IReadOnlyCollection<string> Supported => Families.Keys;

    public static DecoderFamily? Find(string hfArchitecture) => Families.GetValueOrDefault(hfArchitecture);
}
