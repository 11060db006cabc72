using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Engine.Generation;

/// <summary>Merges an instruction class's decoding preset into generation options (ARCHITECTURE.md §6).</summary>
public static class InstructionPresets
{
    /// <summary>Preset field names as in config.json.</summary>
    public const string Temperature = "temperature", TopK = "top_k", TopP = "top_p", RepetitionPenalty = "repetition_penalty", MaxNewTokens = "max_new_tokens";

    /// <summary>
    /// Options whose field the caller set explicitly keep it; the others take the preset's value when it has one.
    /// <paramref name="isExplicit"/> says which fields were set (by preset field name); without it, a field that differs from the
    /// engine default counts as set. num_beams is reported, not applied: the generation loop samples one sequence.
    /// </summary>
    public static GenerationOptions Apply(GenerationOptions? options, DecodingPreset? preset, Func<string, bool>? isExplicit = null)
    {
        var o = options ?? new GenerationOptions();
        if (preset is null) return o;
        var d = new GenerationOptions();
        isExplicit ??= field => field switch
        {
            Temperature => o.Temperature != d.Temperature,
            TopK => o.TopK != d.TopK,
            TopP => o.TopP != d.TopP,
            RepetitionPenalty => o.RepetitionPenalty != d.RepetitionPenalty,
            MaxNewTokens => o.MaxNewTokens != d.MaxNewTokens,
            _ => true,
        };
        return o with
        {
            Temperature = !isExplicit(Temperature) && preset.Temperature is float t ? t : o.Temperature,
            TopK = !isExplicit(TopK) && preset.TopK is int k ? k : o.TopK,
            TopP = !isExplicit(TopP) && preset.TopP is float p ? p : o.TopP,
            RepetitionPenalty = !isExplicit(RepetitionPenalty) && preset.RepetitionPenalty is float r ? r : o.RepetitionPenalty,
            MaxNewTokens = !isExplicit(MaxNewTokens) && preset.MaxNewTokens is int n ? n : o.MaxNewTokens,
        };
    }
}
