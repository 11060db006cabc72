using Xunit;
using System.Text.Json;
using OpenAutoGlm.Engine.Tokenization;
using OpenAutoGlm.Tests.Support;
using Xunit.Abstractions;

namespace OpenAutoGlm.Tests.Tokenization;

public sealed class SentencePieceBpeTests(ITestOutputHelper output)
{
    private const string TokenizerPath = "models/stories260k/hf/tokenizer.json";
    private static readonly Lazy<TextTokenizer> Stories = new(() => TextTokenizer.FromFile(SharedModels.Get(TokenizerPath)!));

    private static (string Text, int[] Ids) Expected()
    {
        string text = File.ReadAllText(SharedModels.Get("models/stories260k/expected_greedy_200.txt")!);
        using var doc = JsonDocument.Parse(File.ReadAllText(SharedModels.Get("models/stories260k/expected_greedy_200_ids.json")!));
        return (text, doc.RootElement.GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
    }

    private static readonly string[] Corpus =
    [
        "Once upon a time", "Lily's mom said, \"Let's go!\"", "  leading and trailing  ", "many     spaces", "tab\there", "new\nline \n end",
        "日本", "emoji 😀 here", "𠀀 Ext-B", "naïve café", "Zoë's résumé", "123 4567", "", " ", "x", "<s>inside</s> text", "a<unk>b",
    ];

    [RequiresSharedModelsFact(TokenizerPath)]
    public void Stories260k_EncodesTheExpectedStoryExactly()
    {
        var (text, ids) = Expected();
        var tok = Stories.Value;
        Assert.Equal(ids, tok.Encode(text, addSpecialTokens: false));
        Assert.Equal([1, .. ids], tok.Encode(text));
        Assert.True(tok.AddsBos);
        Assert.Equal(1, tok.BosId);
        Assert.Contains(2, tok.EosCandidateIds);
        Assert.Equal(512, tok.VocabSize);
    }

    [RequiresSharedModelsFact(TokenizerPath)]
    public void Stories260k_DecodesTheExpectedIdsToTheStory()
    {
        var (text, ids) = Expected();
        Assert.Equal(text, Stories.Value.Decode(ids));
        Assert.Equal(text, Stories.Value.Decode([1, .. ids], skipSpecialTokens: true));
    }

    [RequiresSharedModelsFact(TokenizerPath)]
    public void Stories260k_NormalizerCollapsesAndTrimsSpaces()
    {
        var tok = Stories.Value;
        Assert.Equal(tok.Encode("hello world"), tok.Encode("  hello    world "));
        Assert.Equal("hello world", tok.Decode(tok.Encode("  hello    world "), skipSpecialTokens: true));
        Assert.Empty(tok.Encode("", addSpecialTokens: false));
    }

    [RequiresSharedModelsFact(TokenizerPath)]
    public void Stories260k_ByteFallbackForUnseenCharacters()
    {
        var tok = Stories.Value;
        foreach (var text in new[] { "日本", "😀", "𠀀" })
        {
            var ids = tok.Encode(text, addSpecialTokens: false);
            var bytes = System.Text.Encoding.UTF8.GetBytes(text);
            // "▁" then one <0xXX> token per UTF-8 byte.
            Assert.Equal(bytes.Select(b => $"<0x{b:X2}>"), ids.Skip(1).Select(id => tok.IdToToken(id)));
            Assert.Equal(text, tok.Decode(ids));
        }
        Assert.Equal(3 + 0xE6, tok.TokenToId("<0xE6>"));
    }

    [RequiresSharedModelsFact(TokenizerPath)]
    public void Stories260k_SpecialTokensInText()
    {
        var tok = Stories.Value;
        var ids = tok.Encode("<s>Once</s>", addSpecialTokens: false);
        Assert.Equal(1, ids[0]);
        Assert.Equal(2, ids[^1]);
        Assert.Equal("<s> Once</s>", tok.Decode(ids));
        Assert.Equal("Once", tok.Decode(ids, skipSpecialTokens: true));
    }

    [RequiresSharedModelsFact(TokenizerPath)]
    public void Stories260k_DecodeRejectsInvalidIds()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Stories.Value.Decode([5, 512]));
        Assert.Contains("512", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Stories.Value.Decode([-1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => Stories.Value.CreateStreamingDecoder().Append(9999));
    }

    [RequiresSharedModelsFact(TokenizerPath)]
    public void Stories260k_StreamingMatchesWholeDecode()
    {
        var tok = Stories.Value;
        var (story, storyIds) = Expected();
        foreach (var ids in new[] { tok.Encode("Once 日本 upon 😀😃 a 𠀀 time.", addSpecialTokens: false), storyIds, tok.Encode("日本語") })
        {
            // Whole sequence, and every prefix: appended text plus Flush equals Decode of the prefix, except that a prefix
            // ending inside a character yields the already complete characters plus one U+FFFD per dangling byte.
            string full = tok.Decode(ids);
            var whole = tok.CreateStreamingDecoder();
            var pieces = ids.Select(whole.Append).ToList();
            Assert.Equal(full, string.Concat(pieces) + whole.Flush());
            for (int k = 0; k <= ids.Length; k++)
            {
                var stream = tok.CreateStreamingDecoder();
                string appended = string.Concat(ids.Take(k).Select(stream.Append));
                Assert.StartsWith(appended, full, StringComparison.Ordinal);
                string flushed = appended + stream.Flush();
                string prefixDecode = tok.Decode(ids.AsSpan(0, k));
                if (!prefixDecode.Contains('\uFFFD'))
                {
                    Assert.Equal(prefixDecode, flushed);
                }
                else
                {
                    // The prefix ends inside a character: complete characters, then U+FFFD for the dangling bytes.
                    Assert.EndsWith("\uFFFD", flushed, StringComparison.Ordinal);
                    Assert.Equal(appended, flushed.TrimEnd('\uFFFD'));
                }
            }
        }
        Assert.Equal(story, string.Concat(storyIds.Select(tok.CreateStreamingDecoder().Append)));
    }

    [RequiresSharedModelsFact(TokenizerPath)]
    public void Stories260k_StreamingStripsTheFirstLeadingSpaceOnly()
    {
        var tok = Stories.Value;
        var stream = tok.CreateStreamingDecoder(skipSpecialTokens: true);
        var ids = tok.Encode("Hi there");
        Assert.Equal("Hi there", string.Concat(ids.Select(stream.Append)) + stream.Flush());
    }

    [RequiresHfTokenizersFact]
    public void Stories260k_MatchesHuggingFaceTokenizers()
    {
        string? path = SharedModels.Get(TokenizerPath);
        if (path is null)
        {
            return;
        }
        using var hf = new Tokenizers.DotNet.Tokenizer(path);
        var (story, _) = Expected();
        string[] corpus = [.. Corpus, .. TiktokenJson.Corpus, story];
        int same = 0, decodes = 0;
        foreach (var text in corpus)
        {
            var expected = hf.Encode(text).Select(i => (int)i).ToArray();
            var actual = Stories.Value.Encode(text);
            if (expected.SequenceEqual(actual))
            {
                same++;
            }
            else
            {
                output.WriteLine($"'{text}': hf [{string.Join(',', expected)}] vs [{string.Join(',', actual)}]");
            }
            // Tokenizers.DotNet decodes with skip_special_tokens.
            if (hf.Decode(expected.Select(i => (uint)i).ToArray()) == Stories.Value.Decode(expected, skipSpecialTokens: true))
            {
                decodes++;
            }
        }
        output.WriteLine($"stories260k: encode {same}/{corpus.Length}, decode {decodes}/{corpus.Length} identical to HF tokenizers");
        Assert.Equal(corpus.Length, same);
        Assert.Equal(corpus.Length, decodes);
    }
}
