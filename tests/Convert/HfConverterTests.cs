using Xunit;
using System.Text.Json.Nodes;
using OpenAutoGlm.Convert;
using OpenAutoGlm.Tests.Support;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Tests.Convert;

public class HfConverterTests
{
    private static float[] AsHalfRounded(params float[][] parts) => parts.SelectMany(p => p).Select(x => (float)(Half)x).ToArray();

    private static float[] Widen(ReadOnlySpan<Half> values)
    {
        var result = new float[values.Length];
        for (int i = 0; i < values.Length; i++) result[i] = (float)values[i];
        return result;
    }

    public static TheoryData<string, SafetensorsDType, bool> Families => new()
    {
        { "LlamaForCausalLM", SafetensorsDType.F32, false },
        { "MistralForCausalLM", SafetensorsDType.F16, false },
        { "Qwen2ForCausalLM", SafetensorsDType.BF16, true },
        { "GlmForCausalLM", SafetensorsDType.F32, false },
        { "Glm4ForCausalLM", SafetensorsDType.BF16, true },
    };

    [Theory]
    [MemberData(nameof(Families))]
    public void EveryFamilyRoundTripsWithFusedLayouts(string architecture, SafetensorsDType dtype, bool sharded)
    {
        using var dir = new TempDirectory();
        var spec = new TinyCheckpointSpec { Architecture = architecture, DType = dtype, Sharded = sharded };
        var hf = TinyCheckpoint.Write(dir.Combine("hf"), spec);
        var result = HfConverter.Convert(dir.Combine("hf"), dir.Combine("out"), new ConvertOptions { VerifyChecksums = true });

        using var model = ModelFile.Open(dir.Combine("out"), verifyChecksums: true);
        var text = model.Manifest.Text;
        bool glm = architecture.StartsWith("Glm", StringComparison.Ordinal);
        Assert.Equal(architecture, model.Manifest.SourceArchitecture);
        Assert.Equal((spec.VocabSize, spec.HiddenSize, spec.IntermediateSize, spec.NumLayers, spec.NumHeads, spec.NumKvHeads, 12),
            (text.VocabSize, text.HiddenSize, text.IntermediateSize, text.NumLayers, text.NumHeads, text.NumKvHeads, text.HeadDim));
        Assert.Equal(glm ? 6 : 12, text.RotaryDim);
        Assert.Equal(glm ? RopeLayouts.Interleaved : RopeLayouts.RotateHalf, text.RopeLayout);
        Assert.Equal(architecture is "Qwen2ForCausalLM" || glm, text.QkvBias);
        Assert.False(text.OutputBias);
        Assert.Equal(architecture == "Glm4ForCausalLM", text.SandwichNorms);
        Assert.False(text.TiedEmbeddings);
        Assert.Equal(1e-5, text.RmsNormEps);
        Assert.Equal(1, model.Manifest.Tokens.Bos);
        Assert.Equal([2], model.Manifest.Tokens.Eos);
        Assert.Equal(TensorLayout.Required(text).Count, result.TensorCount);
        Assert.Contains(result.Warnings, w => w.Contains("tokenizer.json"));
        Assert.Equal(0, result.ClampedValues);

        Assert.Equal(AsHalfRounded(hf["model.embed_tokens.weight"]), Widen(model.GetHalf(TensorNames.TokenEmbedding)));
        Assert.Equal(AsHalfRounded(hf["lm_head.weight"]), Widen(model.GetHalf(TensorNames.Output)));
        Assert.Equal(hf["model.norm.weight"], model.GetSingle(TensorNames.OutputNorm).ToArray());
        for (int i = 0; i < spec.NumLayers; i++)
        {
            string p = $"model.layers.{i}.";
            Assert.Equal(AsHalfRounded(hf[p + "self_attn.q_proj.weight"], hf[p + "self_attn.k_proj.weight"], hf[p + "self_attn.v_proj.weight"]),
                Widen(model.GetHalf(TensorNames.AttnQkv(i))));
            var gateUp = glm ? AsHalfRounded(hf[p + "mlp.gate_up_proj.weight"]) : AsHalfRounded(hf[p + "mlp.gate_proj.weight"], hf[p + "mlp.up_proj.weight"]);
            Assert.Equal(gateUp, Widen(model.GetHalf(TensorNames.FfnGateUp(i))));
            Assert.Equal(AsHalfRounded(hf[p + "mlp.down_proj.weight"]), Widen(model.GetHalf(TensorNames.FfnDown(i))));
            Assert.Equal(AsHalfRounded(hf[p + "self_attn.o_proj.weight"]), Widen(model.GetHalf(TensorNames.AttnOut(i))));
            Assert.Equal(hf[p + "input_layernorm.weight"], model.GetSingle(TensorNames.AttnNorm(i)).ToArray());
            Assert.Equal(hf[p + "post_attention_layernorm.weight"], model.GetSingle(TensorNames.FfnNorm(i)).ToArray());
            if (text.QkvBias)
                Assert.Equal(hf[p + "self_attn.q_proj.bias"].Concat(hf[p + "self_attn.k_proj.bias"]).Concat(hf[p + "self_attn.v_proj.bias"]),
                    model.GetSingle(TensorNames.AttnQkvBias(i)).ToArray());
            if (text.SandwichNorms)
            {
                Assert.Equal(hf[p + "post_self_attn_layernorm.weight"], model.GetSingle(TensorNames.AttnPostNorm(i)).ToArray());
                Assert.Equal(hf[p + "post_mlp_layernorm.weight"], model.GetSingle(TensorNames.FfnPostNorm(i)).ToArray());
            }
        }
    }

    [Fact]
    public void LlamaAttentionBiasAddsQkvAndOutputBiases()
    {
        using var dir = new TempDirectory();
        var hf = TinyCheckpoint.Write(dir.Combine("hf"), new TinyCheckpointSpec { AttentionBias = true });
        HfConverter.Convert(dir.Combine("hf"), dir.Combine("out"), new ConvertOptions());
        using var model = ModelFile.Open(dir.Combine("out"));
        Assert.True(model.Manifest.Text.QkvBias);
        Assert.True(model.Manifest.Text.OutputBias);
        Assert.Equal(hf["model.layers.1.self_attn.o_proj.bias"], model.GetSingle(TensorNames.AttnOutBias(1)).ToArray());
    }

    [Fact]
    public void GlmWithoutAttentionBiasHasNoBiasTensors()
    {
        using var dir = new TempDirectory();
        TinyCheckpoint.Write(dir.Combine("hf"), new TinyCheckpointSpec { Architecture = "GlmForCausalLM", AttentionBias = false });
        HfConverter.Convert(dir.Combine("hf"), dir.Combine("out"), new ConvertOptions());
        using var model = ModelFile.Open(dir.Combine("out"));
        Assert.False(model.Manifest.Text.QkvBias);
        Assert.False(model.Contains(TensorNames.AttnQkvBias(0)));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TiedEmbeddingsWriteNoOutputTensor(bool declaredInConfig)
    {
        using var dir = new TempDirectory();
        TinyCheckpoint.Write(dir.Combine("hf"), new TinyCheckpointSpec
        {
            Tied = true,
            EditConfig = c => c["tie_word_embeddings"] = declaredInConfig,
        });
        var result = HfConverter.Convert(dir.Combine("hf"), dir.Combine("out"), new ConvertOptions());
        using var model = ModelFile.Open(dir.Combine("out"));
        Assert.True(model.Manifest.Text.TiedEmbeddings);
        Assert.False(model.Contains(TensorNames.Output));
        Assert.Equal(2 + 2 * 6, result.TensorCount);
    }

    [Fact]
    public void MissingTensorsAreListedInOneError()
    {
        using var dir = new TempDirectory();
        TinyCheckpoint.Write(dir.Combine("hf"), new TinyCheckpointSpec
        {
            Omit = ["model.layers.0.self_attn.k_proj.weight", "model.layers.1.mlp.up_proj.weight", "model.norm.weight"],
        });
        var e = Assert.Throws<InvalidModelException>(() => HfConverter.Convert(dir.Combine("hf"), dir.Combine("out"), new ConvertOptions()));
        Assert.Contains("3 tensor(s) missing", e.Message);
        Assert.Contains("model.layers.0.self_attn.k_proj.weight", e.Message);
        Assert.Contains("model.layers.1.mlp.up_proj.weight", e.Message);
        Assert.Contains("model.norm.weight", e.Message);
        Assert.False(File.Exists(dir.Combine("out", ModelManifest.FileName)));
    }

    [Fact]
    public void WrongShapeIsReported()
    {
        using var dir = new TempDirectory();
        TinyCheckpoint.Write(dir.Combine("hf"), new TinyCheckpointSpec { EditConfig = c => c["intermediate_size"] = 64 });
        var e = Assert.Throws<InvalidModelException>(() => HfConverter.Convert(dir.Combine("hf"), dir.Combine("out"), new ConvertOptions()));
        Assert.Contains("model.layers.0.mlp.gate_proj.weight is [80, 48], expected [64, 48]", e.Message);
    }

    [Fact]
    public void OutOfRangeValueIsAnErrorUnlessClamped()
    {
        using var dir = new TempDirectory();
        const string tensor = "model.layers.1.mlp.down_proj.weight";
        TinyCheckpoint.Write(dir.Combine("hf"), new TinyCheckpointSpec
        {
            EditTensor = (name, values) =>
            {
                if (name != tensor) return;
                values[5] = 70000f;
                values[6] = -1e6f;
            },
        });
        var e = Assert.Throws<InvalidModelException>(() => HfConverter.Convert(dir.Combine("hf"), dir.Combine("out"), new ConvertOptions()));
        Assert.Contains(tensor, e.Message);
        Assert.Contains("FP16 range", e.Message);

        var result = HfConverter.Convert(dir.Combine("hf"), dir.Combine("out"), new ConvertOptions { ClampToHalfRange = true });
        Assert.Equal(2, result.ClampedValues);
        Assert.Contains(result.Warnings, w => w.Contains(tensor) && w.Contains("clamped 2"));
        using var model = ModelFile.Open(dir.Combine("out"));
        Assert.Equal(Half.MaxValue, model.GetHalf(TensorNames.FfnDown(1))[5]);
        Assert.Equal(Half.MinValue, model.GetHalf(TensorNames.FfnDown(1))[6]);
        Assert.Equal("2", model.Manifest.Metadata["clamped_values"]);
    }

    [Fact]
    public void UnknownArchitectureListsTheSupportedOnes()
    {
        using var dir = new TempDirectory();
        TinyCheckpoint.Write(dir.Combine("hf"), new TinyCheckpointSpec { EditConfig = c => c["architectures"] = new JsonArray("GPTNeoXForCausalLM") });
        var e = Assert.Throws<InvalidModelException>(() => HfConverter.Convert(dir.Combine("hf"), dir.Combine("out"), new ConvertOptions()));
        Assert.Contains("GPTNeoXForCausalLM", e.Message);
        Assert.Contains("LlamaForCausalLM", e.Message);
        Assert.Contains("Glm4ForCausalLM", e.Message);
    }

    [Fact]
    public void HyperParametersResolveWithDefaultsAndScaling()
    {
        using var dir = new TempDirectory();
        TinyCheckpoint.Write(dir.Combine("hf"), new TinyCheckpointSpec
        {
            HeadDim = null,
            NumKvHeads = 4,
            EosTokenIds = [2, 3],
            EditConfig = c =>
            {
                c.Remove("num_key_value_heads");
                c["pad_token_id"] = 0;
                c["rope_scaling"] = new JsonObject
                {
                    ["rope_type"] = "llama3", ["factor"] = 8.0, ["low_freq_factor"] = 1.0, ["high_freq_factor"] = 4.0,
                    ["original_max_position_embeddings"] = 64,
                };
                c["rope_theta"] = 500000.0;
            },
        });
        HfConverter.Convert(dir.Combine("hf"), dir.Combine("out"), new ConvertOptions());
        using var model = ModelFile.Open(dir.Combine("out"));
        var text = model.Manifest.Text;
        Assert.Equal(12, text.HeadDim);
        Assert.Equal(4, text.NumKvHeads);
        Assert.Equal(500000.0, text.RopeTheta);
        Assert.Equal(RopeScaling.Llama3, text.RopeScaling!.Type);
        Assert.Equal(8.0, text.RopeScaling.Factor);
        Assert.Equal(64, text.RopeScaling.OriginalMaxPositionEmbeddings);
        Assert.Equal([2, 3], model.Manifest.Tokens.Eos);
        Assert.Equal(0, model.Manifest.Tokens.Pad);
    }

    [Fact]
    public void UnsupportedRopeScalingIsAnError()
    {
        using var dir = new TempDirectory();
        TinyCheckpoint.Write(dir.Combine("hf"), new TinyCheckpointSpec
        {
            EditConfig = c => c["rope_scaling"] = new JsonObject { ["type"] = "yarn", ["factor"] = 4.0 },
        });
        var e = Assert.Throws<InvalidModelException>(() => HfConverter.Convert(dir.Combine("hf"), dir.Combine("out"), new ConvertOptions()));
        Assert.Contains("'yarn' is not supported", e.Message);
    }

    [Fact]
    public void SlidingWindowAndUnusedTensorsAreWarnings()
    {
        using var dir = new TempDirectory();
        TinyCheckpoint.Write(dir.Combine("hf"), new TinyCheckpointSpec
        {
            Architecture = "MistralForCausalLM",
            EditConfig = c => c["sliding_window"] = 32,
        });
        var result = HfConverter.Convert(dir.Combine("hf"), dir.Combine("out"), new ConvertOptions());
        Assert.Contains(result.Warnings, w => w.Contains("sliding_window 32"));
    }

    [Fact]
    public void TokenizerIsCopiedAndItsBosTemplateSetsAddBos()
    {
        using var dir = new TempDirectory();
        string tokenizer = dir.Combine("tokenizer.json");
        File.WriteAllText(tokenizer, """
            {"post_processor":{"type":"Sequence","processors":[{"type":"ByteLevel"},{"type":"TemplateProcessing",
             "single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],
             "special_tokens":{"<s>":{"id":"<s>","ids":[1],"tokens":["<s>"]}}}]}}
            """);
        TinyCheckpoint.Write(dir.Combine("hf"), new TinyCheckpointSpec { TokenizerJsonPath = tokenizer });
        var result = HfConverter.Convert(dir.Combine("hf"), dir.Combine("out"), new ConvertOptions());
        Assert.DoesNotContain(result.Warnings, w => w.Contains("tokenizer.json"));
        using var model = ModelFile.Open(dir.Combine("out"));
        Assert.True(model.Manifest.Tokens.AddBos);
        Assert.Equal(ModelManifest.DefaultTokenizerFile, model.Manifest.TokenizerFile);
        Assert.Equal(File.ReadAllText(tokenizer), File.ReadAllText(dir.Combine("out", "tokenizer.json")));
    }

    [Fact]
    public void OutputDirectoryMustDifferFromInput()
    {
        using var dir = new TempDirectory();
        TinyCheckpoint.Write(dir.Path, new TinyCheckpointSpec());
        Assert.Throws<ArgumentException>(() => HfConverter.Convert(dir.Path, dir.Path + "/", new ConvertOptions()));
    }

    [Fact]
    public void ProgressIsReportedForEveryTensor()
    {
        using var dir = new TempDirectory();
        TinyCheckpoint.Write(dir.Combine("hf"), new TinyCheckpointSpec());
        var reports = new List<ConvertProgress>();
        var result = HfConverter.Convert(dir.Combine("hf"), dir.Combine("out"), new ConvertOptions(), new CollectingProgress(reports));
        Assert.Equal(result.TensorCount, reports.Count);
        Assert.Equal(result.TensorCount, reports[^1].Completed);
        Assert.Equal(TensorNames.TokenEmbedding, reports[0].Tensor);
    }

    private sealed class CollectingProgress(List<ConvertProgress> reports) : IProgress<ConvertProgress>
    {
        public void Report(ConvertProgress value) => reports.Add(value);
    }

    /// <summary>Also converts a second time into the same directory: the copied read-only tokenizer must not block it.</summary>
    [RequiresSharedModelsFact]
    public void Stories260kConverts()
    {
        using var dir = new TempDirectory();
        var result = HfConverter.Convert(SharedModels.Stories260kHf, dir.Path, new ConvertOptions { VerifyChecksums = true });
        Assert.Equal(2 + 5 * 6, result.TensorCount);
        Assert.Empty(result.Warnings);

        using var model = ModelFile.Open(dir.Path, verifyChecksums: true);
        var text = model.Manifest.Text;
        Assert.Equal(Architectures.Llama, model.Manifest.Architecture);
        Assert.Equal((512, 64, 172, 5, 8, 4, 8, 8), (text.VocabSize, text.HiddenSize, text.IntermediateSize, text.NumLayers, text.NumHeads, text.NumKvHeads, text.HeadDim, text.RotaryDim));
        Assert.True(text.TiedEmbeddings);
        Assert.Equal(1e-5, text.RmsNormEps);
        Assert.Equal(512, text.MaxPositionEmbeddings);
        Assert.Equal(1, model.Manifest.Tokens.Bos);
        Assert.Equal([2], model.Manifest.Tokens.Eos);
        Assert.True(model.Manifest.Tokens.AddBos);
        Assert.True(File.Exists(Path.Combine(dir.Path, "tokenizer.json")));
        model.Dispose();
        HfConverter.Convert(SharedModels.Stories260kHf, dir.Path, new ConvertOptions());

        using var source = SafetensorsCheckpoint.Open(SharedModels.Stories260kHf);
        using var again = ModelFile.Open(dir.Path, verifyChecksums: true);
        Assert.Equal(AsHalfRounded(source.ReadAsSingle("model.embed_tokens.weight")), Widen(again.GetHalf(TensorNames.TokenEmbedding)));
        Assert.Equal(source.ReadAsSingle("model.layers.4.post_attention_layernorm.weight"), again.GetSingle(TensorNames.FfnNorm(4)).ToArray());
    }
}
