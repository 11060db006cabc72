using System.Globalization;
using System.Text;
using System.Text.Json;
using OpenAutoGlm.Engine.Constraints;
using Xunit;

namespace OpenAutoGlm.Tests.Constraints;

/// <summary>A toy vocabulary of JSON fragments: every printable character plus multi-character pieces, and an end token.</summary>
internal static class ToyVocabulary
{
    public const int Eos = 0;

    public static readonly string[] Tokens =
    [
        "", // end of sequence
        .. Enumerable.Range(0x20, 0x7F - 0x20).Select(c => ((char)c).ToString()),
        "\n", "é",
        "{\"", "\":", "\": ", "\",", "\",\"", "\"}", "\"]", "true", "false", "null", "12", "0.", "-1", "e+", "}]", "]}", "[{", "},{",
        ", ", "\\n", "\\u00e9", "name", "\"name\":", "id", "\"id\":", "ab", "\"\"", "[]", "{}", "\"a\"", "1,", "n\\\"q",
    ];
}

/// <summary>
/// Random schemas sampled by a random "model" under the constraint: every finished output must parse and validate
/// (with a validator written independently of the automaton), and no reachable state may be a dead end.
/// </summary>
public sealed class ConstrainedSamplingPropertyTests
{
    private static readonly string[] PropertyNames = ["name", "id", "ab", "a", "n\\\"q"];
    private static readonly string[] EnumValues = ["\"a\"", "\"b\"", "\"x y\"", "1", "12", "-3", "true", "null", "\"é\""];

    private static string RandomSchema(Random r, int depth)
    {
        int kind = r.Next(depth >= 3 ? 7 : 9);
        switch (kind)
        {
            case 0:
                var parts = new List<string> { "\"type\": \"string\"" };
                int? max = r.Next(2) == 0 ? r.Next(6) : null;
                if (max is { } m) parts.Add($"\"maxLength\": {m}");
                if (r.Next(3) == 0) parts.Add($"\"minLength\": {r.Next((max ?? 3) + 1)}");
                return "{" + string.Join(", ", parts) + "}";
            case 1: return """{"type": "number"}""";
            case 2: return """{"type": "integer"}""";
            case 3: return """{"type": "boolean"}""";
            case 4: return """{"type": "null"}""";
            case 5: return "{\"enum\": [" + string.Join(", ", EnumValues.OrderBy(_ => r.Next()).Take(1 + r.Next(4))) + "]}";
            case 6: return r.Next(2) == 0 ? """{"type": ["string", "null"], "maxLength": 3}""" : """{"type": ["integer", "boolean"]}""";
            case 7:
                var names = PropertyNames.OrderBy(_ => r.Next()).Take(1 + r.Next(3)).ToList();
                var props = names.Select(n => $"\"{n}\": {RandomSchema(r, depth + 1)}");
                var required = names.Where(_ => r.Next(2) == 0).Select(n => $"\"{n}\"");
                string additional = r.Next(10) < 7 ? ", \"additionalProperties\": false" : "";
                return $"{{\"type\": \"object\", \"properties\": {{{string.Join(", ", props)}}}, \"required\": [{string.Join(", ", required)}]{additional}}}";
            default:
                int min = r.Next(3);
                string maxItems = r.Next(2) == 0 ? $", \"maxItems\": {min + r.Next(3)}" : "";
                return $"{{\"type\": \"array\", \"items\": {RandomSchema(r, depth + 1)}, \"minItems\": {min}{maxItems}}}";
        }
    }

    [Fact]
    public void SampledOutputsParseAndValidate()
    {
        var vocab = ToyVocabulary.Tokens;
        var trie = new TokenTrie(vocab);
        var rng = new Random(20260529);
        var allowed = new bool[vocab.Length];
        int completed = 0, runs = 0;
        for (int s = 0; s < 250; s++)
        {
            string schemaText = RandomSchema(rng, 0);
            using var schemaDoc = JsonDocument.Parse(schemaText);
            var constraint = new TokenConstraint<JsonSchemaConstraint>(
                new JsonSchemaConstraint(JsonSchema.Parse(schemaText), maxWhitespaceRun: rng.Next(2)), trie, [ToyVocabulary.Eos]);
            for (int sample = 0; sample < 3; sample++, runs++)
            {
                constraint.Reset();
                var text = new StringBuilder();
                bool ended = false;
                for (int step = 0; step < 400 && !ended; step++)
                {
                    constraint.AllowedTokens(allowed);
                    Assert.True(allowed.Skip(1).Contains(true) || constraint.IsComplete, $"dead end after '{text}' for {schemaText}");
                    Assert.Equal(constraint.IsComplete, allowed[ToyVocabulary.Eos]);
                    int id = SampleToken(rng, vocab, allowed);
                    if (id == ToyVocabulary.Eos) { ended = true; break; }
                    Assert.True(constraint.TryAdvance(vocab[id]));
                    text.Append(vocab[id]);
                }
                if (!ended) continue;
                completed++;
                using var doc = JsonDocument.Parse(text.ToString());
                Assert.True(Validator.Valid(doc.RootElement, schemaDoc.RootElement), $"'{text}' does not match {schemaText}");
            }
        }
        Assert.True(completed > runs * 9 / 10, $"only {completed} of {runs} samples finished");
    }

    /// <summary>Random logits, nudged toward closing tokens so that samples finish.</summary>
    private static int SampleToken(Random r, string[] vocab, bool[] allowed)
    {
        double total = 0;
        Span<double> weights = stackalloc double[vocab.Length];
        for (int i = 0; i < vocab.Length; i++)
        {
            if (!allowed[i]) continue;
            double logit = 2 * r.NextDouble() + (i == ToyVocabulary.Eos || vocab[i].IndexOfAny(['"', '}', ']']) >= 0 ? 2.5 : 0);
            weights[i] = Math.Exp(logit);
            total += weights[i];
        }
        double x = r.NextDouble() * total;
        for (int i = 0; i < vocab.Length; i++)
        {
            if (!allowed[i]) continue;
            x -= weights[i];
            if (x <= 0) return i;
        }
        return Array.FindLastIndex(allowed, a => a);
    }

    /// <summary>The schema subset's meaning, checked on a parsed document.</summary>
    private static class Validator
    {
        public static bool Valid(JsonElement v, JsonElement schema)
        {
            if (schema.TryGetProperty("const", out var c)) return JsonElement.DeepEquals(v, c);
            if (schema.TryGetProperty("enum", out var e)) return e.EnumerateArray().Any(x => JsonElement.DeepEquals(v, x));
            if (!schema.TryGetProperty("type", out var type)) return true;
            var types = type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Select(t => t.GetString()!).ToList() : [type.GetString()!];
            return types.Any(t => ValidType(v, t, schema));
        }

        private static int? Int(JsonElement schema, string name) => schema.TryGetProperty(name, out var x) ? x.GetInt32() : null;

        private static bool ValidType(JsonElement v, string type, JsonElement schema)
        {
            switch (type)
            {
                case "string":
                    if (v.ValueKind != JsonValueKind.String) return false;
                    int length = v.GetString()!.EnumerateRunes().Count();
                    return length >= (Int(schema, "minLength") ?? 0) && length <= (Int(schema, "maxLength") ?? int.MaxValue);
                case "number": return v.ValueKind == JsonValueKind.Number;
                case "integer":
                    return v.ValueKind == JsonValueKind.Number
                        && decimal.TryParse(v.GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d == decimal.Truncate(d);
                case "boolean": return v.ValueKind is JsonValueKind.True or JsonValueKind.False;
                case "null": return v.ValueKind == JsonValueKind.Null;
                case "object":
                    if (v.ValueKind != JsonValueKind.Object) return false;
                    var members = v.EnumerateObject().ToList();
                    var props = schema.TryGetProperty("properties", out var p) ? p : default;
                    // Declared properties at most once (the automaton does not compare additional keys with each other).
                    var declared = members.Where(m => props.ValueKind == JsonValueKind.Object && props.TryGetProperty(m.Name, out _)).ToList();
                    if (declared.Select(m => m.Name).Distinct().Count() != declared.Count) return false;
                    bool closed = schema.TryGetProperty("additionalProperties", out var ap) && ap.ValueKind == JsonValueKind.False;
                    foreach (var m in members)
                    {
                        if (props.ValueKind == JsonValueKind.Object && props.TryGetProperty(m.Name, out var ps)) { if (!Valid(m.Value, ps)) return false; }
                        else if (closed) return false;
                    }
                    return !schema.TryGetProperty("required", out var req) || req.EnumerateArray().All(r => members.Any(m => m.Name == r.GetString()));
                case "array":
                    if (v.ValueKind != JsonValueKind.Array) return false;
                    int n = v.GetArrayLength();
                    if (n < (Int(schema, "minItems") ?? 0) || n > (Int(schema, "maxItems") ?? int.MaxValue)) return false;
                    return !schema.TryGetProperty("items", out var items) || v.EnumerateArray().All(x => Valid(x, items));
                default: return false;
            }
        }
    }
}
