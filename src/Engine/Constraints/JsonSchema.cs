using System.Text;
using System.Text.Json;

namespace OpenAutoGlm.Engine.Constraints;

/// <summary>
/// The JSON Schema subset constrained decoding supports: objects, arrays, strings, numbers, integers, booleans, null,
/// enums/consts of scalars and unions by <c>type</c> lists. <see cref="Parse"/> rejects every other keyword by name.
/// </summary>
public abstract class JsonSchema
{
    private static readonly HashSet<string> Annotations = ["title", "description", "$schema", "$id", "$comment", "default", "examples"];

    private protected JsonSchema() { }

    /// <summary>Any JSON value (the schema <c>true</c> or <c>{}</c>).</summary>
    public static JsonSchema Any { get; } = CreateAny();

    private static UnionSchema CreateAny()
    {
        var obj = new ObjectSchema([], [], null);
        var arr = new ArraySchema(null!, 0, null);
        var any = new UnionSchema([obj, arr, new StringSchema(0, null), new NumberSchema(false), LiteralSchema.FromTexts(["true", "false", "null"])]);
        obj.AdditionalProperties = any;
        arr.Items = any;
        return any;
    }

    /// <summary>Parses a schema document.</summary>
    /// <exception cref="NotSupportedException">A keyword or form outside the subset; the message names it and where it is.</exception>
    /// <exception cref="JsonException">Not JSON.</exception>
    public static JsonSchema Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return Parse(doc.RootElement, "#");
    }

    private static JsonSchema Parse(JsonElement e, string path)
    {
        if (e.ValueKind == JsonValueKind.True) return Any;
        if (e.ValueKind != JsonValueKind.Object) throw new NotSupportedException($"Schema at {path} must be an object or true.");
        var unsupported = e.EnumerateObject().Select(p => p.Name)
            .Where(n => !Annotations.Contains(n) && n is not ("type" or "properties" or "required" or "additionalProperties" or "items"
                or "minItems" or "maxItems" or "enum" or "const" or "minLength" or "maxLength")).ToList();
        if (unsupported.Count > 0)
            throw new NotSupportedException($"Unsupported JSON Schema keyword(s) at {path}: {string.Join(", ", unsupported)}.");

        if (e.TryGetProperty("const", out var constant)) return LiteralSchema.FromValues([constant], path);
        if (e.TryGetProperty("enum", out var values))
        {
            if (values.ValueKind != JsonValueKind.Array || values.GetArrayLength() == 0)
                throw new NotSupportedException($"enum at {path} must be a non-empty array.");
            return LiteralSchema.FromValues(values.EnumerateArray().ToList(), path);
        }
        if (!e.TryGetProperty("type", out var type)) return Any;
        List<string> types = type.ValueKind switch
        {
            JsonValueKind.String => [type.GetString()!],
            JsonValueKind.Array => type.EnumerateArray().Select(t => t.GetString() ?? "").ToList(),
            _ => throw new NotSupportedException($"type at {path} must be a string or an array of strings."),
        };
        // number accepts every integer, so a union holding both keeps only number.
        if (types.Contains("number")) types.Remove("integer");
        var options = types.Distinct().Select(t => ParseTyped(e, t, path)).ToList();
        return options.Count == 1 ? options[0] : new UnionSchema(options);
    }

    private static JsonSchema ParseTyped(JsonElement e, string type, string path)
    {
        switch (type)
        {
            case "object":
                var names = new List<string>();
                var schemas = new List<JsonSchema>();
                if (e.TryGetProperty("properties", out var props))
                    foreach (var p in props.EnumerateObject())
                    {
                        names.Add(p.Name);
                        schemas.Add(Parse(p.Value, $"{path}/properties/{p.Name}"));
                    }
                var required = e.TryGetProperty("required", out var req)
                    ? req.EnumerateArray().Select(r => r.GetString() ?? "").ToList()
                    : [];
                foreach (var r in required)
                    if (!names.Contains(r)) throw new NotSupportedException($"required property '{r}' at {path} is not in properties.");
                JsonSchema? additional = Any;
                if (e.TryGetProperty("additionalProperties", out var ap))
                    additional = ap.ValueKind == JsonValueKind.False ? null : Parse(ap, $"{path}/additionalProperties");
                return new ObjectSchema(names.Zip(schemas).Select(x => (x.First, x.Second)).ToList(), required, additional);
            case "array":
                var items = e.TryGetProperty("items", out var it) ? Parse(it, $"{path}/items") : Any;
                int min = Count(e, "minItems", path) ?? 0;
                int? max = Count(e, "maxItems", path);
                if (max < min) throw new NotSupportedException($"maxItems < minItems at {path}.");
                return new ArraySchema(items, min, max);
            case "string":
                int minLength = Count(e, "minLength", path) ?? 0;
                int? maxLength = Count(e, "maxLength", path);
                if (maxLength < minLength) throw new NotSupportedException($"maxLength < minLength at {path}.");
                return new StringSchema(minLength, maxLength);
            case "number": return new NumberSchema(false);
            case "integer": return new NumberSchema(true);
            case "boolean": return LiteralSchema.FromTexts(["true", "false"]);
            case "null": return LiteralSchema.FromTexts(["null"]);
            default: throw new NotSupportedException($"Unsupported type '{type}' at {path}.");
        }
    }

    private static int? Count(JsonElement e, string keyword, string path)
    {
        if (!e.TryGetProperty(keyword, out var v)) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int n) || n < 0)
            throw new NotSupportedException($"{keyword} at {path} must be a non-negative integer.");
        return n;
    }

    /// <summary>JSON string escaping with the fewest escapes: the form constrained output must use for keys and enum strings.</summary>
    internal static string EscapeString(string s) => JsonEscaping.Escape(s);
}

/// <summary>An object whose keys are the listed properties (in any order, each at most once) plus, unless null,
/// other keys whose values match <see cref="AdditionalProperties"/>.</summary>
public sealed class ObjectSchema : JsonSchema
{
    /// <summary>Properties per object are tracked in a 64-bit set.</summary>
    public const int MaxProperties = 64;

    public ObjectSchema(IReadOnlyList<(string Name, JsonSchema Schema)> properties, IReadOnlyList<string> required, JsonSchema? additionalProperties)
    {
        if (properties.Count > MaxProperties) throw new NotSupportedException($"An object schema may declare at most {MaxProperties} properties.");
        // Sorted by escaped name so that the names sharing a typed prefix form one contiguous range.
        var sorted = properties.Select(p => (Key: EscapeString(p.Name), p.Name, p.Schema)).OrderBy(p => p.Key, StringComparer.Ordinal).ToArray();
        Keys = sorted.Select(p => p.Key).ToArray();
        string[] names = sorted.Select(p => p.Name).ToArray();
        Names = names;
        Schemas = sorted.Select(p => p.Schema).ToArray();
        foreach (var r in required) RequiredMask |= 1UL << Array.IndexOf(names, r);
        AllMask = Keys.Length == 64 ? ulong.MaxValue : (1UL << Keys.Length) - 1;
        AdditionalProperties = additionalProperties;
    }

    /// <summary>Property names, in the order of <see cref="Keys"/>.</summary>
    public IReadOnlyList<string> Names { get; }
    public JsonSchema? AdditionalProperties { get; internal set; }
    internal string[] Keys { get; }
    internal JsonSchema[] Schemas { get; }
    internal ulong RequiredMask { get; }
    internal ulong AllMask { get; }
}

/// <summary>An array of <see cref="Items"/> with a bounded count.</summary>
public sealed class ArraySchema(JsonSchema items, int minItems, int? maxItems) : JsonSchema
{
    public JsonSchema Items { get; internal set; } = items;
    public int MinItems { get; } = minItems;
    public int? MaxItems { get; } = maxItems;
}

/// <summary>A string of bounded length (in code points).</summary>
public sealed class StringSchema(int minLength, int? maxLength) : JsonSchema
{
    public int MinLength { get; } = minLength;
    public int? MaxLength { get; } = maxLength;
}

/// <summary>A JSON number; <see cref="IntegerOnly"/> forbids fraction and exponent.</summary>
public sealed class NumberSchema(bool integerOnly) : JsonSchema
{
    public bool IntegerOnly { get; } = integerOnly;
}

/// <summary>One of a fixed set of scalar values, each written in its compact JSON form.</summary>
public sealed class LiteralSchema : JsonSchema
{
    private readonly string[] _texts;

    private LiteralSchema(string[] texts) => _texts = texts;

    /// <summary>The accepted texts, sorted so that texts sharing a prefix are contiguous.</summary>
    public IReadOnlyList<string> Texts => _texts;
    internal string TextAt(int i) => _texts[i];

    internal static LiteralSchema FromTexts(IEnumerable<string> texts) =>
        new(texts.Distinct().OrderBy(t => t, StringComparer.Ordinal).ToArray());

    internal static LiteralSchema FromValues(IReadOnlyList<JsonElement> values, string path) => FromTexts(values.Select(v => v.ValueKind switch
    {
        JsonValueKind.String => "\"" + EscapeString(v.GetString()!) + "\"",
        JsonValueKind.Number => v.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Null => "null",
        _ => throw new NotSupportedException($"enum/const values at {path} must be strings, numbers, booleans or null."),
    }));
}

/// <summary>Alternatives told apart by their first character (object, array, string, number, literals), as <c>type</c> lists produce.</summary>
public sealed class UnionSchema(IReadOnlyList<JsonSchema> options) : JsonSchema
{
    public IReadOnlyList<JsonSchema> Options { get; } = options;
}
