using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Convert.Families;

/// <summary>Qwen2ForCausalLM: Llama with q/k/v biases always present and no o bias.</summary>
public sealed class Qwen2 : DecoderFamily
{
    public override string Architecture => Architectures.Qwen2;
    protected override bool QkvBias(HfConfig config) => true;
}
