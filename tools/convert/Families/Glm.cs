using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Convert.Families;

/// <summary>
/// GlmForCausalLM (glm-4-9b-chat-hf): q/k/v bias = <c>attention_bias</c> (default true), interleaved rotary on the
/// first half of each head, and an already fused gate_up_proj.
/// </summary>
public class Glm : DecoderFamily
{
    public override string Architecture => Architectures.Glm;
    protected override bool QkvBias(HfConfig config) => config.GetBool("attention_bias", true);
    protected override string RopeLayout => RopeLayouts.Interleaved;
    protected override double DefaultPartialRotaryFactor => 0.5;
    protected override double DefaultRmsNormEps => 1.5625e-07;
    protected override int DefaultMaxPositionEmbeddings => 131072;
    protected override bool FusedGateUp => true;
}
