using Xunit;
using OpenAutoGlm.Engine.Tokenization;

namespace OpenAutoGlm.Tests.Tokenization;

public sealed class TokenizerJsonTests
{
    private static string Json(string merges, string model = "", string extra = "") => $$$"""
        {"version":"1.0","added_tokens":[{"id":6,"content":"<|end|>","special":true,"normalized":false,"lstrip":false,"rstrip":false,"single_word":false}],
         "normalizer":null,"pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true},
         "post_processor":null,"decoder":{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":true}{{{extra}}},
         "model":{"type":"BPE","unk_token":"<unk>","byte_fallback":false,"fuse_unk":true{{{model}}},
           "vocab":{"<unk>":0,"▁":1,"a":2,"b":3,"▁a":4,"▁ab":5},"merges":{{{merges}}}}}
        """;

    [Fact]
    public void Merges_StringAndPairFormsAgree()
    {
        var strings = TextTokenizer.FromJson(Json("""["▁ a","▁a b"]"""));
        var pairs = TextTokenizer.FromJson(Json("""[["▁","a"],["▁a","b"]]"""));
        Assert.Equal([5, 4], strings.Encode("ab a"));
        Assert.Equal(strings.Encode("ab a ba<|end|>"), pairs.Encode("ab a ba<|end|>"));
        Assert.Equal("ab a", strings.Decode([5, 4]));
    }

    [Fact]
    public void UnknownCharacters_AreFused()
    {
        var tok = TextTokenizer.FromJson(Json("""["▁ a","▁a b"]"""));
        Assert.Equal([1, 0, 2], tok.Encode("xyza"));
        Assert.Equal(6, tok.Encode("a<|end|>")[^1]);
    }

    [Fact]
    public void MissingModel_Throws()
    {
        var e = Assert.Throws<InvalidDataException>(() => TextTokenizer.FromJson("""{"version":"1.0","added_tokens":[]}"""));
        Assert.Contains("model", e.Message);
    }

    [Fact]
    public void InvalidJson_Throws() => Assert.Throws<InvalidDataException>(() => TextTokenizer.FromJson("{not json"));

    [Theory]
    [InlineData("""["▁ a","▁a c"]""", "'c' is not in model.vocab")]
    [InlineData("""["a b"]""", "merged token 'ab'")]
    [InlineData("""["▁ a b"]""", "not two space-separated tokens")]
    [InlineData("""[["▁"]]""", "must be a")]
    [InlineData("""[17]""", "must be a")]
    public void BadMerges_ThrowClearly(string merges, string message)
    {
        var e = Assert.Throws<InvalidDataException>(() => TextTokenizer.FromJson(Json(merges)));
        Assert.Contains(message, e.Message);
    }

    [Theory]
    [InlineData("""{"type":"WordPiece","vocab":{"a":0}}""", "model type 'WordPiece'")]
    [InlineData("""{"type":"Unigram","vocab":[]}""", "model type 'Unigram'")]
    public void UnsupportedModels_Throw(string model, string message)
    {
        var e = Assert.Throws<NotSupportedException>(() => TextTokenizer.FromJson("{\"model\":" + model + "}"));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void UnsupportedNormalizer_NamesIt()
    {
        var e = Assert.Throws<NotSupportedException>(() => TextTokenizer.FromJson(Json("[]", extra: ""","normalizer":{"type":"Precompiled","precompiled_charsmap":""}""").Replace("\"normalizer\":null,", "")));
        Assert.Contains("Precompiled", e.Message);
    }

    [Fact]
    public void UnknownUnkToken_Throws()
    {
        var json = Json("[]").Replace("\"unk_token\":\"<unk>\"", "\"unk_token\":\"<nope>\"");
        var e = Assert.Throws<InvalidDataException>(() => TextTokenizer.FromJson(json));
        Assert.Contains("<nope>", e.Message);
    }

    [Fact]
    public void SplitRegex_KeepsAstralLettersTogether()
    {
        // A Split on \p{L}+ must treat CJK Ext-B and mathematical letters (surrogate pairs in UTF-16) as letters.
        string json = """
            {"added_tokens":[],"normalizer":null,
             "pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\p{L}+|\\p{N}{1,2}"},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]},
             "post_processor":null,"decoder":{"type":"ByteLevel"},
             "model":{"type":"BPE","ignore_merges":true,"vocab":{"VOCAB"},"merges":[]}}
            """;
        var words = new[] { "𠀀𠀁x", "𝟘𝟙", "𝟚" };
        var alphabet = Enumerable.Range(0, 256).Select(b => ByteLevelChar((byte)b).ToString()).ToList();
        var vocab = alphabet.Concat(words.Select(w => new string(System.Text.Encoding.UTF8.GetBytes(w).Select(ByteLevelChar).ToArray()))).Distinct().ToList();
        string vocabJson = string.Join(",", vocab.Select((t, i) => $"{System.Text.Json.JsonSerializer.Serialize(t, TestJsonContext.Default.String)}:{i}"));
        var tok = TextTokenizer.FromJson(json.Replace("{\"VOCAB\"}", "{" + vocabJson + "}"));
        // Whole words come out as single tokens: the regex saw 3 letters, then digits grouped two per match.
        Assert.Equal([256, 257, 258], tok.Encode("𠀀𠀁x𝟘𝟙𝟚"));
        Assert.Equal("𠀀𠀁x𝟘𝟙𝟚", tok.Decode([256, 257, 258]));
    }

    private static char ByteLevelChar(byte b)
    {
        int next = 256;
        for (int i = 0; i < 256; i++)
        {
            bool printable = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || i >= 174;
            if (i == b)
            {
                return printable ? (char)i : (char)next;
            }
            if (!printable)
            {
                next++;
            }
        }
        throw new InvalidOperationException();
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class TestJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
