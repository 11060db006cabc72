using Xunit;
namespace OpenAutoGlm.Tests.Tokenization;

/// <summary>Hugging Face's own (Rust) tokenizers through Tokenizers.DotNet, used as the reference implementation.</summary>
internal static class HfOracle
{
    private static readonly Lazy<string?> Unavailable = new(Probe);

    public static string? UnavailableReason => Unavailable.Value;

    public static Tokenizers.DotNet.Tokenizer FromJson(string json)
    {
        string path = Path.Combine(Path.GetTempPath(), $"oag-tok-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        try
        {
            return new Tokenizers.DotNet.Tokenizer(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static string? Probe()
    {
        try
        {
            using var t = FromJson("""{"version":"1.0","added_tokens":[],"normalizer":null,"pre_tokenizer":null,"post_processor":null,"decoder":null,"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}""");
            return t.Encode("a").Length == 1 ? null : "unexpected result";
        }
        catch (Exception e)
        {
            return e.GetType().Name + ": " + e.Message;
        }
    }
}

/// <summary>A fact skipped when HF's native tokenizers library cannot be loaded on this platform.</summary>
public sealed class RequiresHfTokenizersFactAttribute : FactAttribute
{
    public RequiresHfTokenizersFactAttribute()
    {
        if (HfOracle.UnavailableReason is string reason)
        {
            Skip = "HF tokenizers (Tokenizers.DotNet native library) unavailable: " + reason;
        }
    }
}
