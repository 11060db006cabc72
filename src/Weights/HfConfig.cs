using System.Text.Json;

namespace OpenAutoGlm.Weights;

/// <summary>
/// Typed read-only view of a Hugging Face <c>config.json</c>. Lookups look in <c>text_config</c> first (multimodal
/// configs keep the decoder there), then at the top level; a JSON <c>null</c> counts as absent.
/// </summary>
public sealed class HfConfig
{
    private readonly JsonElement _root;
    private readonly JsonElement? _text;

    /// <summary>The file (or file and section) the values came from, for messages.</summary>
    public string Source { get; }

    private HfConfig(JsonElement root, string source, bool useTextConfig)
    {
        _root = root;
        Source = source;
        if (useTextConfig && root.TryGetProperty("text_config", out var text) && text.ValueKind == JsonValueKind.Object) _text = text;
    }

    public static HfConfig Load(string path)
    {
        if (!File.Exists(path)) throw new InvalidModelException($"{path}: not found.");
        return Parse(File.ReadAllText(path), path);
    }

    public static HfConfig Parse(string json, string source)
    {
        try
        {
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidModelException($"{source}: JSON {document.RootElement.ValueKind}, expected an object.");
            return new HfConfig(document.RootElement.Clone(), source, useTextConfig: true);
        }
        catch (JsonException e) { throw new InvalidModelException($"{source}: not valid JSON: {e.Message}", e); }
    }

    /// <summary>The top-level <c>architectures</c> list (empty when absent).</summary>
    public IReadOnlyList<string> Architectures =>
        _root.TryGetProperty("architectures", out var a) && a.ValueKind == JsonValueKind.Array
            ? a.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!).ToArray()
            : [];

    /// <summary>The top-level <c>model_type</c> (not text_config's), or null.</summary>
    public string? ModelType =>
        _root.TryGetProperty("model_type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;

    public bool Has(string name) => Find(name) is not null;

    public int? GetInt(string name) => Find(name) is { } e ? ReadInt(name, e) : null;

    public int GetInt(string name, int fallback) => GetInt(name) ?? fallback;

    public int RequireInt(string name) => GetInt(name) ?? throw new InvalidModelException($"{Source}: required field '{name}' is missing.");

    public double? GetDouble(string name) => Find(name) is { } e
        ? e.ValueKind == JsonValueKind.Number ? e.GetDouble() : throw WrongType(name, e, "a number")
        : null;

    public double GetDouble(string name, double fallback) => GetDouble(name) ?? fallback;

    public bool? GetBool(string name) => Find(name) is { } e
        ? e.ValueKind switch { JsonValueKind.True => true, JsonValueKind.False => false, _ => throw WrongType(name, e, "true or false") }
        : null;

    public bool GetBool(string name, bool fallback) => GetBool(name) ?? fallback;

    public string? GetString(string name) => Find(name) is { } e
        ? e.ValueKind == JsonValueKind.String ? e.GetString() : throw WrongType(name, e, "a string")
        : null;

    /// <summary>An integer or a list of integers (e.g. <c>eos_token_id</c>); null when absent.</summary>
    public int[]? GetIntList(string name)
    {
        if (Find(name) is not { } e) return null;
        if (e.ValueKind != JsonValueKind.Array) return [ReadInt(name, e)];
        return e.EnumerateArray().Select(item => ReadInt(name, item)).ToArray();
    }

    /// <summary>A number or a list of numbers (e.g. <c>image_mean</c>); null when absent.</summary>
    public double[]? GetDoubleList(string name)
    {
        if (Find(name) is not { } e) return null;
        if (e.ValueKind == JsonValueKind.Number) return [e.GetDouble()];
        if (e.ValueKind != JsonValueKind.Array) throw WrongType(name, e, "a list of numbers");
        return e.EnumerateArray().Select(item => item.ValueKind == JsonValueKind.Number ? item.GetDouble() : throw WrongType(name, item, "a number")).ToArray();
    }

    /// <summary>A list of strings (e.g. <c>instruction_classes</c>); null when absent.</summary>
    public string[]? GetStringList(string name)
    {
        if (Find(name) is not { } e) return null;
        if (e.ValueKind != JsonValueKind.Array) throw WrongType(name, e, "a list of strings");
        return e.EnumerateArray().Select(item => item.ValueKind == JsonValueKind.String ? item.GetString()! : throw WrongType(name, item, "a string")).ToArray();
    }

    /// <summary>The keys of this object (a section's field names, e.g. the classes of <c>decoding_presets</c>).</summary>
    public IReadOnlyList<string> Keys => _root.EnumerateObject().Select(p => p.Name).ToArray();

    /// <summary>A nested object as its own view (no <c>text_config</c> fallback inside it); null when absent.</summary>
    public HfConfig? GetSection(string name) => Find(name) is { } e
        ? e.ValueKind == JsonValueKind.Object ? new HfConfig(e, $"{Source} ({name})", useTextConfig: false) : throw WrongType(name, e, "an object")
        : null;

    /// <summary>RoPE scaling under either spelling: <c>rope_scaling</c> or the newer <c>rope_parameters</c>.</summary>
    public HfConfig? GetRopeScaling() => GetSection("rope_scaling") ?? GetSection("rope_parameters");

    /// <summary>The scaling kind of a RoPE section: <c>rope_type</c>, or the older <c>type</c>.</summary>
    public string? GetRopeType() => GetString("rope_type") ?? GetString("type");

    /// <summary>A RoPE field that newer configs move into <c>rope_parameters</c> (rope_theta, partial_rotary_factor).</summary>
    public double? GetRopeDouble(string name) => GetDouble(name) ?? GetSection("rope_parameters")?.GetDouble(name);

    private JsonElement? Find(string name)
    {
        if (_text is { } text && text.TryGetProperty(name, out var inText) && inText.ValueKind != JsonValueKind.Null) return inText;
        if (_root.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null) return value;
        return null;
    }

    private int ReadInt(string name, JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Number)
        {
            if (e.TryGetInt32(out int value)) return value;
            // Some exporters write integral values as floats (4096.0).
            double d = e.GetDouble();
            if (d == Math.Floor(d) && d >= int.MinValue && d <= int.MaxValue) return (int)d;
        }
        throw WrongType(name, e, "a 32-bit integer");
    }

    private InvalidModelException WrongType(string name, JsonElement e, string expected) =>
        new($"{Source}: '{name}' is {e.GetRawText()}, expected {expected}.");
}
