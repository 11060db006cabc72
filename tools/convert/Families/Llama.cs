using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Convert.Families;

/// <summary>LlamaForCausalLM and MistralForCausalLM: <c>attention_bias</c> (default false) covers q, k, v and o.</summary>
public sealed class Llama : DecoderFamily
{
    public override string Architecture => Architectures.Llama;
    protected override bool QkvBias(HfConfig config) => config.GetBool("attention_bias", false);
    protected override bool OutputBias(HfConfig config) => config.GetBool("attention_bias", false);
}
