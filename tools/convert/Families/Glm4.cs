using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Convert.Families;

/// <summary>Glm4ForCausalLM (GLM-4-0414): Glm plus post-attention and post-MLP sandwich norms.</summary>
public sealed class Glm4 : Glm
{
    public override string Architecture => Architectures.Glm4;
    protected override bool SandwichNorms => true;
}
