namespace OpenAutoGlm.Weights;

/// <summary>A tensor the converted format requires: canonical name, dtype and shape.</summary>
public sealed record TensorSpec(string Name, string DType, long[] Shape);

/// <summary>The tensors a decoder needs, derived from its resolved hyper-parameters; defined once for converter and loader.</summary>
public static class TensorLayout
{
    public static IReadOnlyList<TensorSpec> Required(TextConfig text)
    {
        long d = text.HiddenSize, v = text.VocabSize, ff = text.IntermediateSize;
        long qkvRows = (long)(text.NumHeads + 2L * text.NumKvHeads) * text.HeadDim;
        long attnWidth = (long)text.NumHeads * text.HeadDim;

        var specs = new List<TensorSpec> { new(TensorNames.TokenEmbedding, TensorDTypes.F16, [v, d]) };
        for (int i = 0; i < text.NumLayers; i++)
        {
            specs.Add(new(TensorNames.AttnNorm(i), TensorDTypes.F32, [d]));
            specs.Add(new(TensorNames.AttnQkv(i), TensorDTypes.F16, [qkvRows, d]));
            if (text.QkvBias) specs.Add(new(TensorNames.AttnQkvBias(i), TensorDTypes.F32, [qkvRows]));
            specs.Add(new(TensorNames.AttnOut(i), TensorDTypes.F16, [d, attnWidth]));
            if (text.OutputBias) specs.Add(new(TensorNames.AttnOutBias(i), TensorDTypes.F32, [d]));
            if (text.SandwichNorms) specs.Add(new(TensorNames.AttnPostNorm(i), TensorDTypes.F32, [d]));
            specs.Add(new(TensorNames.FfnNorm(i), TensorDTypes.F32, [d]));
            specs.Add(new(TensorNames.FfnGateUp(i), TensorDTypes.F16, [2 * ff, d]));
            specs.Add(new(TensorNames.FfnDown(i), TensorDTypes.F16, [d, ff]));
            if (text.SandwichNorms) specs.Add(new(TensorNames.FfnPostNorm(i), TensorDTypes.F32, [d]));
        }
        specs.Add(new(TensorNames.OutputNorm, TensorDTypes.F32, [d]));
        if (!text.TiedEmbeddings) specs.Add(new(TensorNames.Output, TensorDTypes.F16, [v, d]));
        return specs;
    }
}
