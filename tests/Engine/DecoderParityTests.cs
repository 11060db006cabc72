using OpenAutoGlm.Engine;
using OpenAutoGlm.Engine.Generation;
using OpenAutoGlm.Tests.Support;

namespace OpenAutoGlm.Tests.Engine;

/// <summary>The engine's fast path against the independent double-precision reference, for every decoder family.</summary>
public class DecoderParityTests
{
    public static TheoryData<string, bool, bool?> Families => new()
    {
        { "LlamaForCausalLM", false, null },
        { "LlamaForCausalLM", true, true },      // tied head, q/k/v/o biases
        { "MistralForCausalLM", false, null },
        { "Qwen2ForCausalLM", true, null },      // q/k/v bias
        { "GlmForCausalLM", false, null },       // partial interleaved rotary, fused gate_up, q/k/v bias
        { "Glm4ForCausalLM", false, null },      // + sandwich norms
    };

    private static readonly int[] Prompt = [1, 17, 42, 5, 88, 23, 61, 9, 30, 77, 14];

    [Theory]
    [MemberData(nameof(Families))]
    public void AllPositionLogitsMatchTheReference(string architecture, bool tied, bool? bias)
    {
        using var m = new TinyModel(new TinyCheckpointSpec { Architecture = architecture, Tied = tied, AttentionBias = bias, Seed = 3 });
        var engine = m.Model.ComputeLogits(Prompt, allPositions: true);
        var reference = m.Reference.Forward(Prompt);
        Assert.Equal(Prompt.Length * m.Spec.VocabSize, engine.Length);
        Assert.InRange(TinyModel.RelativeError(engine, reference), 0, 1e-3);
        // the reference itself is not trivial: logits vary across positions and tokens
        Assert.NotEqual(reference[0][5], reference[3][5]);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void GreedySequencesEqualTheReference(string architecture, bool tied, bool? bias)
    {
        using var m = new TinyModel(new TinyCheckpointSpec { Architecture = architecture, Tied = tied, AttentionBias = bias, Seed = 5, EosTokenIds = [] });
        var result = m.Model.Generate(Prompt[..4], new GenerationOptions { MaxNewTokens = 12 });
        var seq = Prompt[..4].ToList();
        for (int i = 0; i < 12; i++)
        {
            var last = m.Reference.Forward(seq)[^1];
            seq.Add(Array.IndexOf(last, last.Max()));
        }
        Assert.Equal(seq[4..], result.Ids);
    }

    [Theory]
    [InlineData("LlamaForCausalLM", true)]
    [InlineData("LlamaForCausalLM", false)]
    [InlineData("Glm4ForCausalLM", true)]
    [InlineData("Glm4ForCausalLM", false)]
    public void PackedAndRowMajorMatricesBothMatchTheReference(string architecture, bool pack)
    {
        // The decoder runs either kernel family (ModelOptions.PackWeights; by default the one faster on this machine).
        using var m = new TinyModel(new TinyCheckpointSpec { Architecture = architecture, Seed = 6 }, new ModelOptions { Threads = 2, PackWeights = pack });
        var engine = m.Model.ComputeLogits(Prompt, allPositions: true);
        Assert.InRange(TinyModel.RelativeError(engine, m.Reference.Forward(Prompt)), 0, 1e-3);
        // Packed, the last row of an all-positions forward (11 rows) and a last-row forward have the same bits.
        if (pack) Assert.Equal(engine.AsSpan(engine.Length - m.Spec.VocabSize).ToArray(), m.Model.ComputeLogits(Prompt));
    }

    [Fact]
    public void ChunkedPrefillEqualsOneShot()
    {
        var spec = new TinyCheckpointSpec { Architecture = "Qwen2ForCausalLM", Seed = 9 };
        using var whole = new TinyModel(spec);
        using var chunked = new TinyModel(spec, new ModelOptions { Threads = 1, PrefillChunk = 3 });
        var a = whole.Model.ComputeLogits(Prompt, allPositions: true);
        var b = chunked.Model.ComputeLogits(Prompt, allPositions: true);
        for (int i = 0; i < a.Length; i++) Assert.Equal(a[i], b[i], 1e-4f);
    }

    [Fact]
    public void LastPositionLogitsAreTheLastRowOfAllPositions()
    {
        using var m = new TinyModel(new TinyCheckpointSpec { Seed = 4 });
        var all = m.Model.ComputeLogits(Prompt, allPositions: true);
        var last = m.Model.ComputeLogits(Prompt);
        // one row runs the GEMV, many rows the GEMM: equal up to float summation order
        var lastRow = all.AsSpan(all.Length - last.Length);
        for (int i = 0; i < last.Length; i++) Assert.Equal(lastRow[i], last[i], 1e-4f);
    }
}
