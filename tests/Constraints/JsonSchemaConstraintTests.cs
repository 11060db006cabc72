using OpenAutoGlm.Engine.Constraints;
using Xunit;

namespace OpenAutoGlm.Tests.Constraints;

public sealed class JsonSchemaConstraintTests
{
    private const string Person = """
        {
          "type": "object",
          "properties": {
            "name": {"type": "string", "maxLength": 5},
            "age": {"type": "integer"},
            "tags": {"type": "array", "items": {"enum": ["a", "b", 1, null]}, "minItems": 1, "maxItems": 2},
            "ok": {"type": "boolean"},
            "score": {"type": ["number", "null"]}
          },
          "required": ["name", "age"],
          "additionalProperties": false
        }
        """;

    private static bool Complete(string schema, string text, int whitespace = 1)
    {
        var c = new JsonSchemaConstraint(JsonSchema.Parse(schema), whitespace);
        foreach (char ch in text)
            if (!c.Advance(ch)) return false;
        return c.CanEnd;
    }

    [Theory]
    [InlineData("""{"name":"Ann","age":30}""")]
    [InlineData("""{"age":-0,"name":"","tags":["a",1],"ok":false,"score":1.5e-3}""")]
    [InlineData("""{ "name": "a\"c\u00e9x", "age": 1, "score": null}""")]
    [InlineData("""{"name":"Bob","age":7,"tags":[null]}""")]
    public void AcceptsValidDocuments(string text) => Assert.True(Complete(Person, text));

    [Theory]
    [InlineData("""{"name":"Ann"}""")]                           // required age missing
    [InlineData("""{"name":"Ann","age":30,}""")]                 // trailing comma
    [InlineData("""{"name":"Annabel","age":30}""")]              // maxLength
    [InlineData("""{"name":"Ann","age":3.5}""")]                 // integer
    [InlineData("""{"name":"Ann","age":01}""")]                  // leading zero
    [InlineData("""{"name":"Ann","age":1,"extra":1}""")]         // additionalProperties false
    [InlineData("""{"name":"Ann","name":"Bo","age":1}""")]       // duplicate key
    [InlineData("""{"name":"Ann","age":1,"tags":[]}""")]         // minItems
    [InlineData("""{"name":"Ann","age":1,"tags":["a","b","a"]}""")] // maxItems
    [InlineData("""{"name":"Ann","age":1,"tags":["c"]}""")]      // enum
    [InlineData("""{"name":"Ann","age":1}x""")]                  // trailing text
    [InlineData("""{"name":"Ann",  "age":1}""")]                 // whitespace run over the bound
    [InlineData("""{"name":"Ann","age":1""")]                    // incomplete
    public void RejectsInvalidDocuments(string text) => Assert.False(Complete(Person, text));

    [Fact]
    public void TopLevelScalarsEndWhereTheTextEnds()
    {
        Assert.True(Complete("""{"type": "integer"}""", "42"));
        Assert.False(Complete("""{"type": "integer"}""", "-"));
        Assert.True(Complete("""{"enum": [1, 12, "x"]}""", "1"));
        Assert.True(Complete("""{"enum": [1, 12, "x"]}""", "12"));
        Assert.False(Complete("""{"enum": [1, 12, "x"]}""", "123"));
        Assert.True(Complete("""{"const": "x"}""", "\"x\" "));
        Assert.False(Complete("""{"type": "null"}""", "nul"));
    }

    [Fact]
    public void AdditionalPropertiesAllowAnyOtherKeyAndValue()
    {
        const string schema = """{"type": "object", "properties": {"id": {"type": "integer"}}}""";
        Assert.True(Complete(schema, """{"id":1,"idx":[{"a":null}],"z":"q"}"""));
        Assert.False(Complete(schema, """{"id":1,"id":2}"""));
    }

    [Fact]
    public void CompactModeRejectsWhitespace()
    {
        Assert.True(Complete(Person, """{"name":"A","age":1}""", whitespace: 0));
        Assert.False(Complete(Person, """{"name": "A","age":1}""", whitespace: 0));
    }

    [Fact]
    public void NumbersAreBoundedInLength()
    {
        Assert.True(Complete("""{"type": "number"}""", new string('9', JsonSchemaConstraint.MaxNumberLength)));
        Assert.False(Complete("""{"type": "number"}""", new string('9', JsonSchemaConstraint.MaxNumberLength + 1)));
    }

    [Theory]
    [InlineData("""{"type": "string", "pattern": "a+"}""", "pattern")]
    [InlineData("""{"type": "object", "properties": {"x": {"anyOf": [], "format": "date"}}}""", "anyOf, format")]
    [InlineData("""{"type": "tuple"}""", "tuple")]
    [InlineData("""{"type": "object", "required": ["x"]}""", "'x'")]
    public void UnsupportedKeywordsAreNamed(string schema, string named)
    {
        var e = Assert.Throws<NotSupportedException>(() => JsonSchema.Parse(schema));
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void TrieMaskEqualsTokenByTokenCheck()
    {
        string[] vocab = ToyVocabulary.Tokens;
        var trie = new TokenTrie(vocab);
        var state = new JsonSchemaConstraint(JsonSchema.Parse(Person));
        var constraint = new TokenConstraint<JsonSchemaConstraint>(state, trie, [ToyVocabulary.Eos]);
        var allowed = new bool[vocab.Length];
        var prefix = "{\"name\":\"A\",\"age\":1,\"tags\":[";
        for (int n = 0; n <= prefix.Length; n++)
        {
            constraint.AllowedTokens(allowed);
            var probe = state.Clone();
            for (int id = 0; id < vocab.Length; id++)
            {
                if (id == ToyVocabulary.Eos) { Assert.Equal(probe.CanEnd, allowed[id]); continue; }
                var c = probe.Clone();
                bool accepted = vocab[id].Length > 0 && vocab[id].All(c.Advance);
                Assert.True(accepted == allowed[id], $"token '{vocab[id]}' after '{prefix[..n]}'");
            }
            if (n < prefix.Length)
            {
                Assert.True(constraint.TryAdvance(prefix[n].ToString()));
                Assert.True(state.Advance(prefix[n]));
            }
        }
        Assert.False(constraint.TryAdvance("}"));
        Assert.True(constraint.TryAdvance("\"a\"]}"));
        Assert.True(constraint.IsComplete);
    }

    [Fact]
    public void LargeVocabularyMaskIsComputed()
    {
        // A 32k vocabulary of mixed fragments: every JSON context must still leave some tokens.
        var rng = new Random(5);
        const string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789{}[]\":, -._";
        var vocab = Enumerable.Range(0, 32000).Select(i => i < alphabet.Length ? alphabet[i].ToString()
            : new string(Enumerable.Range(0, 1 + rng.Next(8)).Select(_ => alphabet[rng.Next(alphabet.Length)]).ToArray())).ToArray();
        var constraint = new TokenConstraint<JsonSchemaConstraint>(new JsonSchemaConstraint(JsonSchema.Parse(Person)), new TokenTrie(vocab), []);
        var allowed = new bool[vocab.Length];
        foreach (var piece in new[] { "{", "\"name\"", ":", "\"ab" })
        {
            constraint.AllowedTokens(allowed);
            Assert.Contains(true, allowed);
            Assert.True(constraint.TryAdvance(piece));
        }
        constraint.AllowedTokens(allowed);
        Assert.True(allowed[Array.IndexOf(vocab, "\"")]);
    }
}
