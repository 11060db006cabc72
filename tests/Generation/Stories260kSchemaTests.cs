using System.Text.Json;
using OpenAutoGlm.Engine.Constraints;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Tests.Engine;
using OpenAutoGlm.Tests.Support;

namespace OpenAutoGlm.Tests.Generation;

/// <summary>Schema-constrained output with a real SentencePiece (Metaspace) vocabulary, whose tokens carry their leading space.</summary>
public sealed class Stories260kSchemaTests(Stories260kFixture fixture) : IClassFixture<Stories260kFixture>
{
    [RequiresSharedModelsFact("models/stories260k")]
    public void ConstrainedOutputUsesOnlyDeclaredKeys()
    {
        var schema = JsonSchema.Parse("""{"type":"object","properties":{"name":{"type":"string","maxLength":8},"age":{"type":"integer"}},"required":["name","age"],"additionalProperties":false}""");
        for (ulong seed = 1; seed <= 3; seed++)
        {
            var r = fixture.Model!.Generate("Once upon a time", new GenerationOptions { MaxNewTokens = 120, Temperature = 1f, Seed = seed, JsonSchema = schema });
            Assert.Equal(FinishReason.StopToken, r.FinishReason);
            using var doc = JsonDocument.Parse(r.Text);
            Assert.Equal(["age", "name"], doc.RootElement.EnumerateObject().Select(p => p.Name).Order());
            Assert.True(doc.RootElement.GetProperty("name").GetString()!.Length <= 8);
            Assert.True(doc.RootElement.GetProperty("age").TryGetDecimal(out _));
        }
    }
}
