using System.Text;
using System.Text.Json;

namespace OpenAutoGlm.Engine.Tokenization;

/// <summary>Builds the pipeline components from a parsed tokenizer.json (no reflection-based serialization).</summary>
internal static class TokenizerJsonReader
{
    public static string? GetString(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static bool GetBool(JsonElement e, string name, bool fallback) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && (v.ValueKind == JsonValueKind.True || v.ValueKind == JsonValueKind.False) ? v.GetBoolean() : fallback;

    public static bool IsNull(JsonElement root, string name, out JsonElement value) =>
        !root.TryGetProperty(name, out value) || value.ValueKind == JsonValueKind.Null;

    private static string TypeOf(JsonElement e, string what)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException($"tokenizer.json: {what} must be an object.");
        }
        return GetString(e, "type") ?? throw new InvalidDataException($"tokenizer.json: {what} has no \"type\".");
    }

    private static IEnumerable<JsonElement> Array(JsonElement e, string name, string what)
    {
        if (!e.TryGetProperty(name, out var arr) || arr.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidDataException($"tokenizer.json: {what} needs an array \"{name}\".");
        }
        return arr.EnumerateArray();
    }

    /// <summary>Reads a <c>{"String": ...}</c> or <c>{"Regex": ...}</c> pattern.</summary>
    private static (string? Literal, UnicodeRegex? Regex) Pattern(JsonElement e, string what)
    {
        if (!e.TryGetProperty("pattern", out var p) || p.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException($"tokenizer.json: {what} needs a \"pattern\" object.");
        }
        if (GetString(p, "String") is string s)
        {
            return (s, null);
        }
        if (GetString(p, "Regex") is string r)
        {
            return (null, new UnicodeRegex(r, what));
        }
        throw new InvalidDataException($"tokenizer.json: {what} pattern must have \"String\" or \"Regex\".");
    }

    public static TextNormalizer? Normalizer(JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        string type = TypeOf(e, "normalizer");
        return type switch
        {
            "Sequence" => new SequenceNormalizer(Array(e, "normalizers", "normalizer Sequence").Select(x => Normalizer(x)!).Where(x => x is not null).ToList()),
            "NFC" => new UnicodeFormNormalizer(NormalizationForm.FormC),
            "NFD" => new UnicodeFormNormalizer(NormalizationForm.FormD),
            "NFKC" => new UnicodeFormNormalizer(NormalizationForm.FormKC),
            "NFKD" => new UnicodeFormNormalizer(NormalizationForm.FormKD),
            "Lowercase" => new LowercaseNormalizer(),
            "Prepend" => new PrependNormalizer(GetString(e, "prepend") ?? throw new InvalidDataException("tokenizer.json: Prepend normalizer needs \"prepend\".")),
            "Strip" => new StripNormalizer(GetBool(e, "strip_left", true), GetBool(e, "strip_right", true)),
            "Replace" => ReplaceNormalizerFrom(e),
            _ => throw new NotSupportedException($"tokenizer.json: normalizer type '{type}' is not supported."),
        };
    }

    private static ReplaceNormalizer ReplaceNormalizerFrom(JsonElement e)
    {
        var (literal, regex) = Pattern(e, "Replace normalizer");
        return new ReplaceNormalizer(literal, regex, GetString(e, "content") ?? string.Empty);
    }

    public static PreTokenizer? PreTokenizer(JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        string type = TypeOf(e, "pre_tokenizer");
        switch (type)
        {
            case "Sequence":
                return new SequencePreTokenizer(Array(e, "pretokenizers", "pre_tokenizer Sequence").Select(x => PreTokenizer(x)).OfType<PreTokenizer>().ToList());
            case "ByteLevel":
                return new ByteLevelPreTokenizer(GetBool(e, "add_prefix_space", true), GetBool(e, "use_regex", true));
            case "Split":
            {
                var (literal, regex) = Pattern(e, "Split pre-tokenizer");
                string behavior = GetString(e, "behavior") ?? "Isolated";
                if (!Enum.TryParse<SplitBehavior>(behavior, out var b))
                {
                    throw new NotSupportedException($"tokenizer.json: Split behavior '{behavior}' is not supported.");
                }
                return new SplitPreTokenizer(regex, literal, b, GetBool(e, "invert", false));
            }
            case "Metaspace":
                return new MetaspacePreTokenizer(Replacement(e), Scheme(e), GetBool(e, "split", true));
            case "Digits":
                return new DigitsPreTokenizer(GetBool(e, "individual_digits", false));
            case "WhitespaceSplit":
                return new WhitespaceSplitPreTokenizer();
            default:
                throw new NotSupportedException($"tokenizer.json: pre_tokenizer type '{type}' is not supported.");
        }
    }

    private static char Replacement(JsonElement e)
    {
        string r = GetString(e, "replacement") ?? "\u2581";
        if (r.Length != 1)
        {
            throw new NotSupportedException($"tokenizer.json: Metaspace replacement '{r}' must be one UTF-16 character.");
        }
        return r[0];
    }

    private static PrependScheme Scheme(JsonElement e)
    {
        string? scheme = GetString(e, "prepend_scheme");
        if (scheme is null)
        {
            return GetBool(e, "add_prefix_space", true) ? PrependScheme.Always : PrependScheme.Never;
        }
        return scheme switch
        {
            "always" => PrependScheme.Always,
            "first" => PrependScheme.First,
            "never" => PrependScheme.Never,
            _ => throw new NotSupportedException($"tokenizer.json: Metaspace prepend_scheme '{scheme}' is not supported."),
        };
    }

    public static TokenDecoder? Decoder(JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        string type = TypeOf(e, "decoder");
        switch (type)
        {
            case "Sequence":
                return new SequenceDecoder(Array(e, "decoders", "decoder Sequence").Select(x => Decoder(x)).OfType<TokenDecoder>().ToList());
            case "ByteLevel":
                return new ByteLevelDecoder();
            case "ByteFallback":
                return new ByteFallbackDecoder();
            case "Fuse":
                return new FuseDecoder();
            case "Replace":
            {
                var (literal, _) = Pattern(e, "Replace decoder");
                if (literal is null)
                {
                    throw new NotSupportedException("tokenizer.json: Replace decoder with a Regex pattern is not supported.");
                }
                return new ReplaceDecoder(literal, GetString(e, "content") ?? string.Empty);
            }
            case "Strip":
            {
                string content = GetString(e, "content") ?? " ";
                if (content.Length != 1)
                {
                    throw new NotSupportedException($"tokenizer.json: Strip decoder content '{content}' must be one character.");
                }
                return new StripDecoder(content[0], GetInt(e, "start"), GetInt(e, "stop"));
            }
            case "Metaspace":
                return new MetaspaceDecoder(Replacement(e), Scheme(e) != PrependScheme.Never);
            default:
                throw new NotSupportedException($"tokenizer.json: decoder type '{type}' is not supported.");
        }
    }

    private static int GetInt(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : 0;

    /// <summary>The token ids a post-processor adds before and after a single sequence.</summary>
    public static (List<int> Prefix, List<int> Suffix) PostProcessor(JsonElement e, Func<string, int?> tokenToId)
    {
        var prefix = new List<int>();
        var suffix = new List<int>();
        if (e.ValueKind == JsonValueKind.Null)
        {
            return (prefix, suffix);
        }
        string type = TypeOf(e, "post_processor");
        switch (type)
        {
            case "ByteLevel":
                break;
            case "Sequence":
                foreach (var p in Array(e, "processors", "post_processor Sequence"))
                {
                    var (pre, suf) = PostProcessor(p, tokenToId);
                    prefix.AddRange(pre);
                    suffix.InsertRange(0, suf);
                }
                break;
            case "RobertaProcessing":
            case "BertProcessing":
                prefix.Add(PairId(e, "cls"));
                suffix.Add(PairId(e, "sep"));
                break;
            case "TemplateProcessing":
            {
                var specials = new Dictionary<string, int[]>(StringComparer.Ordinal);
                if (e.TryGetProperty("special_tokens", out var st) && st.ValueKind == JsonValueKind.Object)
                {
                    foreach (var p in st.EnumerateObject())
                    {
                        specials[p.Name] = Array(p.Value, "ids", $"post_processor special token '{p.Name}'").Select(x => x.GetInt32()).ToArray();
                    }
                }
                bool seenSequence = false;
                foreach (var item in Array(e, "single", "TemplateProcessing"))
                {
                    if (item.TryGetProperty("Sequence", out _))
                    {
                        seenSequence = true;
                    }
                    else if (item.TryGetProperty("SpecialToken", out var sp))
                    {
                        string id = GetString(sp, "id") ?? throw new InvalidDataException("tokenizer.json: TemplateProcessing SpecialToken without \"id\".");
                        int[] ids = specials.TryGetValue(id, out var known) ? known
                            : tokenToId(id) is int single ? [single]
                            : throw new InvalidDataException($"tokenizer.json: TemplateProcessing uses unknown special token '{id}'.");
                        (seenSequence ? suffix : prefix).AddRange(ids);
                    }
                    else
                    {
                        throw new InvalidDataException("tokenizer.json: TemplateProcessing item is neither Sequence nor SpecialToken.");
                    }
                }
                break;
            }
            default:
                throw new NotSupportedException($"tokenizer.json: post_processor type '{type}' is not supported.");
        }
        return (prefix, suffix);
    }

    private static int PairId(JsonElement e, string name)
    {
        if (e.TryGetProperty(name, out var pair) && pair.ValueKind == JsonValueKind.Array && pair.GetArrayLength() == 2 && pair[1].ValueKind == JsonValueKind.Number)
        {
            return pair[1].GetInt32();
        }
        throw new InvalidDataException($"tokenizer.json: post_processor needs \"{name}\": [token, id].");
    }

    /// <summary>Reads <c>model.merges</c> in either form: <c>"a b"</c> strings or <c>["a", "b"]</c> pairs.</summary>
    public static List<(string, string)> Merges(JsonElement model)
    {
        var merges = new List<(string, string)>();
        if (!model.TryGetProperty("merges", out var arr) || arr.ValueKind == JsonValueKind.Null)
        {
            return merges;
        }
        if (arr.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidDataException("tokenizer.json: model.merges must be an array.");
        }
        int index = 0;
        foreach (var m in arr.EnumerateArray())
        {
            if (m.ValueKind == JsonValueKind.String)
            {
                string s = m.GetString()!;
                string[] parts = s.Split(' ');
                if (parts.Length != 2)
                {
                    throw new InvalidDataException($"tokenizer.json: merge #{index} \"{s}\" is not two space-separated tokens.");
                }
                merges.Add((parts[0], parts[1]));
            }
            else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2 && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
            {
                merges.Add((m[0].GetString()!, m[1].GetString()!));
            }
            else
            {
                throw new InvalidDataException($"tokenizer.json: merge #{index} must be a \"a b\" string or a [\"a\", \"b\"] pair.");
            }
            index++;
        }
        return merges;
    }
}
