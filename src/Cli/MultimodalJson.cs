using System.Text.Json;
using OpenAutoGlm.Engine;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Cli;

/// <summary>The JSON fields image-aware commands add, written one way everywhere.</summary>
internal static class MultimodalJson
{
    public static void WriteImages(Utf8JsonWriter w, IReadOnlyList<ImageReport> images, double visionMs)
    {
        w.WriteStartArray("images");
        foreach (var i in images)
        {
            w.WriteStartObject();
            w.WriteNumber("resolution", i.Resolution);
            w.WriteNumber("complexity", Math.Round(i.Complexity, 6));
            w.WriteNumber("confidence", Math.Round(i.Confidence, 6));
            w.WriteBoolean("valid", i.Valid);
            w.WriteNumber("tokens", i.Tokens);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNumber("vision_ms", Math.Round(visionMs, 3));
    }

    public static void WritePreset(Utf8JsonWriter w, DecodingPreset? preset)
    {
        if (preset is null) { w.WriteNull("preset"); return; }
        w.WriteStartObject("preset");
        if (preset.Temperature is float t) w.WriteNumber("temperature", t);
        if (preset.TopK is int k) w.WriteNumber("top_k", k);
        if (preset.TopP is float p) w.WriteNumber("top_p", p);
        if (preset.RepetitionPenalty is float r) w.WriteNumber("repetition_penalty", r);
        if (preset.NumBeams is int b) w.WriteNumber("num_beams", b);
        if (preset.MaxNewTokens is int n) w.WriteNumber("max_new_tokens", n);
        w.WriteEndObject();
    }
}
