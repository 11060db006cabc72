using OpenAutoGlm.Engine.Architectures;
using OpenAutoGlm.Kernels.Cpu;

namespace OpenAutoGlm.Engine.Vision;

/// <summary>
/// Token-insertion fusion (LLaVA): the embeddings at the expanded image-placeholder positions are replaced by the projected
/// image rows, in order; the decoder layers then run unchanged.
/// </summary>
internal sealed class TokenInsertion(float[] rows, int[] rowAtPosition, int width) : IFusionStep
{
    public bool AppliesTo(int layer) => false;

    public void Apply(int layer, Span<float> x, int tokens, WorkerPool pool) { }

    public void OnEmbeddings(Span<float> x, int tokens, int startPos)
    {
        for (int t = 0; t < tokens; t++)
        {
            int pos = startPos + t;
            if (pos < rowAtPosition.Length && rowAtPosition[pos] >= 0)
                rows.AsSpan(rowAtPosition[pos] * width, width).CopyTo(x.Slice(t * width, width));
        }
    }
}
