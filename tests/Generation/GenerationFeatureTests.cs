using System.Text.Json;
using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Constraints;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Tests.Engine;
using OpenAutoGlm.Tests.Support;

namespace OpenAutoGlm.Tests.Generation;

/// <summary>A tiny random Llama with the byte-level test tokenizer, so text and schemas can be exercised.</summary>
public sealed class TinyTextModelFixture : IDisposable
{
    private readonly TempDirectory _dir = new();

    public TinyTextModelFixture()
    {
        string tokenizer = TinyTokenizer.Write(_dir.Combine("tokenizer.json"));
        Tiny = new TinyModel(new TinyCheckpointSpec
        {
            Seed = 5, VocabSize = TinyTokenizer.VocabSize, BosTokenId = TinyTokenizer.Bos, EosTokenIds = [TinyTokenizer.Eos],
            MaxPositionEmbeddings = 256, TokenizerJsonPath = tokenizer,
        });
    }

    public TinyModel Tiny { get; }
    public AutoGlmModel Model => Tiny.Model;

    public void Dispose()
    {
        Tiny.Dispose();
        _dir.Dispose();
    }
}

public sealed class JsonSchemaGenerationTests(TinyTextModelFixture fixture) : IClassFixture<TinyTextModelFixture>
{
    public static TheoryData<string> Schemas => new()
    {
        """{"type":"object","properties":{"name":{"type":"string","maxLength":6},"age":{"type":"integer"},"ok":{"type":"boolean"}},"required":["name","age","ok"],"additionalProperties":false}""",
        """{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3}""",
        """{"enum":["red","green",12,null]}""",
        """{"type":"object","properties":{"tags":{"type":"array","items":{"type":"string","maxLength":3},"maxItems":2},"score":{"type":"number"}},"required":["tags"],"additionalProperties":false}""",
    };

    [Theory]
    [MemberData(nameof(Schemas))]
    public void ConstrainedOutputParsesAndValidates(string schemaText)
    {
        var schema = JsonSchema.Parse(schemaText);
        using var schemaDoc = JsonDocument.Parse(schemaText);
        for (ulong seed = 1; seed <= 4; seed++)
        {
            var r = fixture.Model.Generate([TinyTokenizer.Bos, 40, 41], new GenerationOptions
            {
                MaxNewTokens = 200, Temperature = seed == 1 ? 0f : 1.2f, Seed = seed, JsonSchema = schema,
            });
            Assert.Equal(FinishReason.StopToken, r.FinishReason);
            using var doc = JsonDocument.Parse(r.Text);
            Assert.True(Validates(doc.RootElement, schemaDoc.RootElement), $"'{r.Text}' does not match {schemaText}");
        }
    }

    /// <summary>An independent validator for the keywords the schemas above use.</summary>
    private static bool Validates(JsonElement value, JsonElement schema)
    {
        if (schema.TryGetProperty("enum", out var options))
            return options.EnumerateArray().Any(o => o.GetRawText() == value.GetRawText());
        switch (schema.GetProperty("type").GetString())
        {
            case "object":
                if (value.ValueKind != JsonValueKind.Object) return false;
                var props = schema.GetProperty("properties");
                foreach (var req in schema.GetProperty("required").EnumerateArray())
                    if (!value.TryGetProperty(req.GetString()!, out _)) return false;
                foreach (var p in value.EnumerateObject())
                    if (!props.TryGetProperty(p.Name, out var ps) || !Validates(p.Value, ps)) return false;
                return true;
            case "array":
                if (value.ValueKind != JsonValueKind.Array) return false;
                int n = value.GetArrayLength();
                if (schema.TryGetProperty("minItems", out var min) && n < min.GetInt32()) return false;
                if (schema.TryGetProperty("maxItems", out var max) && n > max.GetInt32()) return false;
                return value.EnumerateArray().All(v => Validates(v, schema.GetProperty("items")));
            case "string":
                return value.ValueKind == JsonValueKind.String
                    && (!schema.TryGetProperty("maxLength", out var ml) || value.GetString()!.Length <= ml.GetInt32());
            case "integer": return value.ValueKind == JsonValueKind.Number && value.GetRawText().IndexOfAny(['.', 'e', 'E']) < 0;
            case "number": return value.ValueKind == JsonValueKind.Number;
            case "boolean": return value.ValueKind is JsonValueKind.True or JsonValueKind.False;
            default: return false;
        }
    }
}

public sealed class DecodingOptionTests(TinyLlamaFixture fixture) : IClassFixture<TinyLlamaFixture>
{
    private static readonly int[] Prompt = [1, 10, 20, 30];

    [Fact]
    public void BeamSearchMatchesBeamSearchOverTheReferenceDecoder()
    {
        var tiny = fixture.Tiny;
        var r = tiny.Model.Generate(Prompt, new GenerationOptions { NumBeams = 3, MaxNewTokens = 6 });
        var expected = BeamSearch.Run(ids => tiny.Reference.Forward(ids)[^1].Select(x => (float)x).ToArray(), Prompt,
            new BeamSearchOptions { NumBeams = 3, MaxNewTokens = 6, NumReturnSequences = 3, EosTokenIds = [2] });
        Assert.NotNull(r.Beams);
        Assert.Equal(expected.Count, r.Beams!.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Tokens, r.Beams[i].Ids);
            Assert.Equal(expected[i].Score, r.Beams[i].Score, 2);
        }
        Assert.Equal(r.Beams[0].Ids, r.Ids);
    }

    [Fact]
    public void LogProbsAreConsistentWithTheLogits()
    {
        var model = fixture.Model;
        var r = model.Generate(Prompt, new GenerationOptions { MaxNewTokens = 6, StopAtEndOfSequence = false, LogProbs = true, TopLogProbs = 5 });
        Assert.NotNull(r.LogProbs);
        Assert.Equal(r.Ids.Length, r.LogProbs!.Count);
        double probabilitySum = 0;
        for (int i = 0; i < r.Ids.Length; i++)
        {
            var lp = r.LogProbs[i];
            Assert.Equal(r.Ids[i], lp.Id);
            Assert.Equal(5, lp.Top.Count);
            Assert.Equal(lp.Id, lp.Top[0].Id); // greedy picks the most likely token
            Assert.Equal(lp.LogProb, lp.Top[0].LogProb, 5);
            for (int k = 1; k < lp.Top.Count; k++) Assert.True(lp.Top[k].LogProb <= lp.Top[k - 1].LogProb);
            Assert.InRange(lp.Top.Sum(t => Math.Exp(t.LogProb)), 0, 1 + 1e-5);
            var logits = model.ComputeLogits([.. Prompt, .. r.Ids[..i]]);
            Assert.Equal(LogitProcessors.LogProbability(logits, lp.Id), lp.LogProb, 4);
            probabilitySum += Math.Exp(lp.LogProb);
        }
        Assert.Equal(probabilitySum / r.Ids.Length, r.Confidence, 6);
        Assert.InRange(r.Confidence, 0, 1);
    }

    [Fact]
    public void FrequencyAndPresencePenaltiesFollowOpenAiSemantics()
    {
        var model = fixture.Model;
        var options = new GenerationOptions { MaxNewTokens = 10, StopAtEndOfSequence = false, FrequencyPenalty = 1.5f, PresencePenalty = 0.7f };
        var r = model.Generate(Prompt, options);
        var generated = new List<int>();
        for (int i = 0; i < r.Ids.Length; i++)
        {
            var logits = model.ComputeLogits([.. Prompt, .. generated]);
            foreach (var g in generated.GroupBy(id => id)) logits[g.Key] -= 1.5f * g.Count() + 0.7f;
            int best = 0;
            for (int v = 1; v < logits.Length; v++) if (logits[v] > logits[best]) best = v;
            Assert.Equal(best, r.Ids[i]);
            generated.Add(best);
        }
        var plain = model.Generate(Prompt, options with { FrequencyPenalty = 0, PresencePenalty = 0 });
        Assert.True(r.Ids.Distinct().Count() >= plain.Ids.Distinct().Count());
    }
}
