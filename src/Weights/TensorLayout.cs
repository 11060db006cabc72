namespace OpenAutoGlm.Weights;

/// <summary>A tensor the converted format requires: canonical name, dtype and shape.</summary>
public sealed record TensorSpec(string Name, string DType, long[] Shape);

/// <summary>The tensors a decoder needs, derived from its resolved hyper-parameters; defined once for converter and loader.</summary>
public static class TensorLayout
{
    /// <summary>Everything <paramref name="manifest"/> needs: the decoder, plus the multimodal parts when it has them.</summary>
    public static IReadOnlyList<TensorSpec> Required(ModelManifest manifest)
    {
        var specs = Required(manifest.Text);
        if (manifest.Multimodal is { } mm) return [.. specs, .. Multimodal(manifest.Text, mm)];
        if (manifest.Llava is { } llava) return [.. specs, .. Llava(manifest.Text, llava)];
        if (manifest.Clip is { } clip) return Clip(manifest.Text, clip); // no decoder
        return specs;
    }

    /// <summary>CLIP tower (class token, pre-LN, the blocks up to the feature layer; no patch bias) and the projector.</summary>
    public static IReadOnlyList<TensorSpec> Llava(TextConfig text, LlavaConfig llava)
    {
        var v = llava.Vision;
        long d = text.HiddenSize, dv = v.HiddenSize, grid = v.BaseGrid;
        const string F16 = TensorDTypes.F16, F32 = TensorDTypes.F32;
        var specs = new List<TensorSpec>
        {
            new(TensorNames.VisionPatchEmbed, F16, [dv, v.PatchValues]),
            new(TensorNames.VisionClassEmbed, F32, [dv]),
            new(TensorNames.VisionPosEmbed, F32, [grid * grid + 1, dv]),
            new(TensorNames.VisionPreNorm, F32, [dv]),
            new(TensorNames.VisionPreNormBias, F32, [dv]),
        };
        for (int i = 0; i < llava.FeatureLayers; i++) specs.AddRange(VisionBlock(i, v));
        specs.AddRange(Projector(dv, d));
        return specs;
    }

    /// <summary>
    /// CLIPModel: the CLIP vision tower with post-LayerNorm and its projection, the text tower (token and position embeddings,
    /// blocks, final LayerNorm) and its projection, and the logit scale.
    /// </summary>
    public static IReadOnlyList<TensorSpec> Clip(TextConfig text, ClipConfig clip)
    {
        var v = clip.Vision;
        long d = text.HiddenSize, dv = v.HiddenSize, grid = v.BaseGrid, e = clip.ProjectionDim;
        const string F16 = TensorDTypes.F16, F32 = TensorDTypes.F32;
        var specs = new List<TensorSpec>
        {
            new(TensorNames.VisionPatchEmbed, F16, [dv, v.PatchValues]),
            new(TensorNames.VisionClassEmbed, F32, [dv]),
            new(TensorNames.VisionPosEmbed, F32, [grid * grid + 1, dv]),
            new(TensorNames.VisionPreNorm, F32, [dv]),
            new(TensorNames.VisionPreNormBias, F32, [dv]),
        };
        for (int i = 0; i < v.NumLayers; i++) specs.AddRange(Block(TensorNames.VisionBlock(i), dv, v.IntermediateSize));
        specs.Add(new(TensorNames.VisionPostNorm, F32, [dv]));
        specs.Add(new(TensorNames.VisionPostNormBias, F32, [dv]));
        specs.Add(new(TensorNames.TextTowerTokenEmbed, F16, [text.VocabSize, d]));
        specs.Add(new(TensorNames.TextTowerPosEmbed, F32, [text.MaxPositionEmbeddings, d]));
        for (int i = 0; i < text.NumLayers; i++) specs.AddRange(Block(TensorNames.TextTowerBlock(i), d, text.IntermediateSize));
        specs.Add(new(TensorNames.TextTowerFinalNorm, F32, [d]));
        specs.Add(new(TensorNames.TextTowerFinalNormBias, F32, [d]));
        specs.Add(new(TensorNames.RetrievalImageProj, F16, [e, dv]));
        specs.Add(new(TensorNames.RetrievalTextProj, F16, [e, d]));
        specs.Add(new(TensorNames.RetrievalLogitScale, F32, [1]));
        return specs;
    }

    private static IEnumerable<TensorSpec> VisionBlock(int i, VisionConfig v) => Block(TensorNames.VisionBlock(i), v.HiddenSize, v.IntermediateSize);

    private static IEnumerable<TensorSpec> Block(LayerNormBlockNames b, long width, long mlpWidth)
    {
        const string F16 = TensorDTypes.F16, F32 = TensorDTypes.F32;
        yield return new(b.Norm1, F32, [width]);
        yield return new(b.Norm1Bias, F32, [width]);
        yield return new(b.Qkv, F16, [3 * width, width]);
        yield return new(b.QkvBias, F32, [3 * width]);
        yield return new(b.Out, F16, [width, width]);
        yield return new(b.OutBias, F32, [width]);
        yield return new(b.Norm2, F32, [width]);
        yield return new(b.Norm2Bias, F32, [width]);
        yield return new(b.Up, F16, [mlpWidth, width]);
        yield return new(b.UpBias, F32, [mlpWidth]);
        yield return new(b.Down, F16, [width, mlpWidth]);
        yield return new(b.DownBias, F32, [width]);
    }

    /// <summary>The two-layer projector from the vision width into the decoder width (open_autoglm and LLaVA alike).</summary>
    private static IEnumerable<TensorSpec> Projector(long visionWidth, long d)
    {
        yield return new(TensorNames.ProjectorFc1, TensorDTypes.F16, [d, visionWidth]);
        yield return new(TensorNames.ProjectorFc1Bias, TensorDTypes.F32, [d]);
        yield return new(TensorNames.ProjectorFc2, TensorDTypes.F16, [d, d]);
        yield return new(TensorNames.ProjectorFc2Bias, TensorDTypes.F32, [d]);
    }

    public static IReadOnlyList<TensorSpec> Multimodal(TextConfig text, MultimodalConfig mm)
    {
        var v = mm.Vision;
        long d = text.HiddenSize, dv = v.HiddenSize, grid = v.BaseGrid;
        const string F16 = TensorDTypes.F16, F32 = TensorDTypes.F32;
        var specs = new List<TensorSpec>
        {
            new(TensorNames.VisionPatchEmbed, F16, [dv, v.PatchValues]),
            new(TensorNames.VisionPatchEmbedBias, F32, [dv]),
            new(TensorNames.VisionPosEmbed, F32, [grid * grid, dv]),
        };
        for (int i = 0; i < v.NumLayers; i++) specs.AddRange(VisionBlock(i, v));
        specs.Add(new(TensorNames.VisionPostNorm, F32, [dv]));
        specs.Add(new(TensorNames.VisionPostNormBias, F32, [dv]));
        specs.AddRange(Projector(dv, d));
        foreach (int f in mm.FusionLayers)
        {
            specs.Add(new(TensorNames.CrossAttnNorm(f), F32, [d]));
            specs.Add(new(TensorNames.CrossAttnQ(f), F16, [d, d]));
            specs.Add(new(TensorNames.CrossAttnKv(f), F16, [2 * d, d]));
            specs.Add(new(TensorNames.CrossAttnOut(f), F16, [d, d]));
            specs.Add(new(TensorNames.FusionGate(f), F16, [d, 2 * d]));
            specs.Add(new(TensorNames.FusionGateBias(f), F32, [d]));
        }
        if (mm.ImputerWidth > 0)
        {
            specs.Add(new(TensorNames.ImputerFc1, F16, [mm.ImputerWidth, d]));
            specs.Add(new(TensorNames.ImputerFc1Bias, F32, [mm.ImputerWidth]));
            specs.Add(new(TensorNames.ImputerFc2, F16, [d, mm.ImputerWidth]));
            specs.Add(new(TensorNames.ImputerFc2Bias, F32, [d]));
        }
        if (mm.RetrievalWidth > 0)
        {
            specs.Add(new(TensorNames.RetrievalImageProj, F16, [mm.RetrievalWidth, d]));
            specs.Add(new(TensorNames.RetrievalTextProj, F16, [mm.RetrievalWidth, d]));
            specs.Add(new(TensorNames.RetrievalLogitScale, F32, [1]));
        }
        if (mm.HasTaskHead)
        {
            specs.Add(new(TensorNames.TaskHead, F16, [mm.InstructionClasses.Length, d]));
            specs.Add(new(TensorNames.TaskHeadBias, F32, [mm.InstructionClasses.Length]));
        }
        return specs;
    }

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
