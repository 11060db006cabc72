using Xunit;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Tests.Weights;

public class HfConfigTests
{
    [Fact]
    public void TypedGettersReadValuesAndDefaults()
    {
        var config = HfConfig.Parse("""{"architectures":["LlamaForCausalLM"],"hidden_size":64,"rms_norm_eps":1e-5,"tie_word_embeddings":true,"pad_token_id":null,"n":4096.0}""", "config.json");
        Assert.Equal(["LlamaForCausalLM"], config.Architectures);
        Assert.Equal(64, config.GetInt("hidden_size"));
        Assert.Equal(4096, config.GetInt("n"));
        Assert.Equal(1e-5, config.GetDouble("rms_norm_eps"));
        Assert.True(config.GetBool("tie_word_embeddings", false));
        Assert.Null(config.GetInt("pad_token_id"));
        Assert.Equal(7, config.GetInt("missing", 7));
        Assert.Contains("'missing'", Assert.Throws<InvalidModelException>(() => config.RequireInt("missing")).Message);
    }

    [Fact]
    public void EosMayBeAnIntegerOrAList()
    {
        Assert.Equal([2], HfConfig.Parse("""{"eos_token_id":2}""", "c").GetIntList("eos_token_id")!);
        Assert.Equal([5, 6], HfConfig.Parse("""{"eos_token_id":[5,6]}""", "c").GetIntList("eos_token_id")!);
        Assert.Null(HfConfig.Parse("{}", "c").GetIntList("eos_token_id"));
    }

    [Fact]
    public void TextConfigIsPreferredThenTopLevel()
    {
        var config = HfConfig.Parse("""{"hidden_size":1,"vocab_size":9,"text_config":{"hidden_size":2,"vocab_size":null}}""", "c");
        Assert.Equal(2, config.GetInt("hidden_size"));
        Assert.Equal(9, config.GetInt("vocab_size"));
    }

    [Fact]
    public void RopeScalingIsReadUnderEitherSpelling()
    {
        var old = HfConfig.Parse("""{"rope_theta":500000.0,"rope_scaling":{"type":"linear","factor":2.0}}""", "c");
        Assert.Equal("linear", old.GetRopeScaling()!.GetRopeType());
        Assert.Equal(500000.0, old.GetRopeDouble("rope_theta"));

        var v5 = HfConfig.Parse("""{"rope_parameters":{"rope_type":"llama3","factor":8.0,"rope_theta":10000.0,"partial_rotary_factor":0.5}}""", "c");
        Assert.Equal("llama3", v5.GetRopeScaling()!.GetRopeType());
        Assert.Equal(10000.0, v5.GetRopeDouble("rope_theta"));
        Assert.Equal(0.5, v5.GetRopeDouble("partial_rotary_factor"));
        Assert.Null(HfConfig.Parse("""{"rope_scaling":null}""", "c").GetRopeScaling());
    }

    [Fact]
    public void WrongTypesAndBadJsonAreReported()
    {
        var config = HfConfig.Parse("""{"hidden_size":"big","flag":1,"x":1.5}""", "config.json");
        Assert.Contains("'hidden_size' is \"big\"", Assert.Throws<InvalidModelException>(() => config.GetInt("hidden_size")).Message);
        Assert.Contains("true or false", Assert.Throws<InvalidModelException>(() => config.GetBool("flag")).Message);
        Assert.Contains("integer", Assert.Throws<InvalidModelException>(() => config.GetInt("x")).Message);
        Assert.Contains("not valid JSON", Assert.Throws<InvalidModelException>(() => HfConfig.Parse("{", "config.json")).Message);
        Assert.Contains("expected an object", Assert.Throws<InvalidModelException>(() => HfConfig.Parse("[]", "config.json")).Message);
    }
}
