using OpenAutoGlm.Convert;
using OpenAutoGlm.Tests.Support;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Tests.Multimodal;

public class OpenAutoGlmConvertTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ConvertsEveryMultimodalTensorAndTheConfig(bool scalarLogitScale)
    {
        using var dir = new TempDirectory();
        var spec = new TinyCheckpointSpec { Architecture = TinyCheckpoint.OpenAutoGlmArchitecture, Vision = new TinyVisionSpec { ScalarLogitScale = scalarLogitScale } };
        var hf = TinyCheckpoint.Write(dir.Combine("hf"), spec);
        var result = HfConverter.Convert(dir.Combine("hf"), dir.Combine("out"), new ConvertOptions { VerifyChecksums = true });
        Assert.DoesNotContain(result.Warnings, w => w.Contains("not used"));

        using var file = ModelFile.Open(dir.Combine("out"));
        var m = file.Manifest;
        Assert.Equal(Architectures.OpenAutoGlm, m.Architecture);
        var mm = Assert.IsType<MultimodalConfig>(m.Multimodal);
        Assert.Equal(32, mm.Vision.HiddenSize);
        Assert.Equal(4, mm.Vision.BaseGrid);
        Assert.Equal([1], mm.FusionLayers);
        Assert.Equal(24, mm.ImputerWidth);
        Assert.Equal(16, mm.RetrievalWidth);
        Assert.True(mm.HasTaskHead);
        Assert.Equal(["chat", "ui_action", "ocr"], mm.InstructionClasses);
        Assert.Equal(0.7f, mm.DecodingPresets["chat"].Temperature);
        Assert.Null(mm.DecodingPresets["chat"].TopK);
        Assert.Equal(5, mm.DecodingPresets["ui_action"].MaxNewTokens);
        Assert.Equal([8, 16, 24], mm.AdaptiveResolution.Sizes);
        Assert.Equal(0.27f, mm.Vision.ImageStd[0]);

        // k rows then v rows in the fused cross-attention tensor
        var kv = file.GetHalf(TensorNames.CrossAttnKv(1));
        var k = hf["model.layers.1.cross_attn.k_proj.weight"];
        var v = hf["model.layers.1.cross_attn.v_proj.weight"];
        Assert.Equal((float)(Half)k[7], (float)kv[7]);
        Assert.Equal((float)(Half)v[7], (float)kv[k.Length + 7]);
        Assert.Equal(hf["vision.pos_embed"][5], file.GetSingle(TensorNames.VisionPosEmbed)[5]);
        Assert.Equal(hf["retrieval.logit_scale"][0], file.GetSingle(TensorNames.RetrievalLogitScale)[0]);
    }

    [Fact]
    public void OptionalHeadsMayBeAbsent()
    {
        using var dir = new TempDirectory();
        var spec = new TinyCheckpointSpec
        {
            Architecture = TinyCheckpoint.OpenAutoGlmArchitecture,
            Vision = new TinyVisionSpec { ImputerWidth = 0, RetrievalWidth = 0, TaskHead = false },
        };
        TinyCheckpoint.Write(dir.Combine("hf"), spec);
        var result = HfConverter.Convert(dir.Combine("hf"), dir.Combine("out"), new ConvertOptions());
        var mm = result.Manifest.Multimodal!;
        Assert.Equal(0, mm.ImputerWidth);
        Assert.Equal(0, mm.RetrievalWidth);
        Assert.False(mm.HasTaskHead);
    }

    [Fact]
    public void MissingVisionTensorIsReported()
    {
        using var dir = new TempDirectory();
        var spec = new TinyCheckpointSpec { Architecture = TinyCheckpoint.OpenAutoGlmArchitecture, Omit = ["vision.layers.1.attn.qkv.bias"] };
        TinyCheckpoint.Write(dir.Combine("hf"), spec);
        var e = Assert.Throws<InvalidModelException>(() => HfConverter.Convert(dir.Combine("hf"), dir.Combine("out"), new ConvertOptions()));
        Assert.Contains("vision.layers.1.attn.qkv.bias", e.Message);
    }
}
