using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Kernels.Ops;

/// <summary>One compiled specialization of a kernel source.</summary>
public sealed record KernelVariant(string Source, KernelDefines Defines)
{
    public override string ToString() => Defines.Key.Length == 0 ? Source : $"{Source} [{Defines.Key}]";
}

/// <summary>The kernel variants the engine uses, for a set of model shapes.</summary>
public static class KernelCatalog
{
    public static readonly int[] RepresentativeHeadDims = [32, 64, 128];
    public static readonly int[] RepresentativeGqaRatios = [1, 2, 4, 8];

    public static IReadOnlyList<KernelVariant> Variants(IEnumerable<int>? headDims = null, IEnumerable<int>? gqaRatios = null)
    {
        int[] dims = [.. headDims ?? RepresentativeHeadDims];
        int[] ratios = [.. gqaRatios ?? RepresentativeGqaRatios];
        var list = new List<KernelVariant>
        {
            new(Embedding.Source, KernelDefines.None),
            new(RmsNorm.Source, KernelDefines.None),
            new(LayerNorm.Source, KernelDefines.None),
            new(Rope.Source, KernelDefines.None),
            new(KvCache.Source, KernelDefines.None),
            new(Gemv.Source, KernelDefines.None),
            new(Gemm.Source, KernelDefines.None),
            new(FusionGate.Source, KernelDefines.None),
            new(BiasAdd.Source, KernelDefines.None),
            new(Activations.Source, KernelDefines.None),
            new(Softmax.Source, KernelDefines.None),
            new(Sampling.Source, KernelDefines.None),
        };
        foreach (int d in dims)
        {
            list.Add(new(AttentionPrefill.Source, AttentionPrefill.Defines(d)));
            foreach (int g in ratios) list.Add(new(AttentionDecode.Source, AttentionDecode.Defines(d, g)));
        }
        return list;
    }
}
