using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Convert.Families;

/// <summary>A source tensor of the checkpoint with the shape the family expects it to have.</summary>
public sealed record SourceTensor(string Name, long[] Shape);

/// <summary>One output tensor, made by concatenating its sources along rows (q|k|v, gate|up) in order.</summary>
public sealed record TensorRecipe(TensorSpec Output, IReadOnlyList<SourceTensor> Sources);

/// <summary>
/// A Hugging Face decoder family in the common Llama naming (§1.9): how its config resolves to a
/// <see cref="TextConfig"/> and which HF tensors make each canonical tensor. Families override the flags that differ.
/// </summary>
public abstract class DecoderFamily
{
    /// <summary>Engine architecture, one of <see cref="Architectures"/>.</summary>
    public abstract string Architecture { get; }

    protected abstract bool QkvBias(HfConfig config);
    protected virtual bool OutputBias(HfConfig config) => false;
    protected virtual string RopeLayout => RopeLayouts.RotateHalf;
    protected virtual double DefaultPartialRotaryFactor => 1.0;
    protected virtual double DefaultRmsNormEps => 1e-6;
    protected virtual int DefaultMaxPositionEmbeddings => 2048;
    protected virtual bool SandwichNorms => false;
    /// <summary>The checkpoint stores <c>mlp.gate_up_proj</c> ([2I, D], gate rows first) instead of gate_proj and up_proj.</summary>
    protected virtual bool FusedGateUp => false;

    /// <summary>
    /// A value for a config field the checkpoint leaves out because its Transformers config class has a default
    /// (LLaVA's text_config relies on LlamaConfig's); null when the field is required.
    /// </summary>
    public virtual int? DefaultField(string name) => null;

    private int RequireInt(HfConfig config, string name) => config.GetInt(name) ?? DefaultField(name) ?? config.RequireInt(name);

    public virtual TextConfig ResolveText(HfConfig config, bool tiedEmbeddings, ICollection<string> warnings)
    {
        int hidden = RequireInt(config, "hidden_size");
        int heads = RequireInt(config, "num_attention_heads");
        if (heads <= 0) throw new InvalidModelException($"{config.Source}: num_attention_heads is {heads}.");
        int? explicitHeadDim = config.GetInt("head_dim");
        if (explicitHeadDim is null && hidden % heads != 0)
            throw new InvalidModelException($"{config.Source}: no head_dim, and hidden_size {hidden} is not a multiple of num_attention_heads {heads}.");
        int headDim = explicitHeadDim ?? hidden / heads;

        double partialRotary = config.GetRopeDouble("partial_rotary_factor") ?? DefaultPartialRotaryFactor;
        int rotaryDim = (int)(headDim * partialRotary);
        if (rotaryDim <= 0 || rotaryDim % 2 != 0 || rotaryDim > headDim)
            throw new InvalidModelException($"{config.Source}: partial_rotary_factor {partialRotary} gives rotary dim {rotaryDim} of head_dim {headDim}; it must be even, positive and at most head_dim.");

        string activation = config.GetString("hidden_act") ?? "silu";
        if (activation != "silu") throw new InvalidModelException($"{config.Source}: hidden_act '{activation}' is not supported (only silu).");
        if (config.GetBool("mlp_bias", false)) throw new InvalidModelException($"{config.Source}: mlp_bias is not supported.");

        var text = new TextConfig
        {
            VocabSize = RequireInt(config, "vocab_size"),
            HiddenSize = hidden,
            IntermediateSize = RequireInt(config, "intermediate_size"),
            NumLayers = RequireInt(config, "num_hidden_layers"),
            NumHeads = heads,
            NumKvHeads = config.GetInt("num_key_value_heads") ?? heads,
            HeadDim = headDim,
            RotaryDim = rotaryDim,
            RopeLayout = RopeLayout,
            RopeTheta = config.GetRopeDouble("rope_theta") ?? 10000.0,
            RopeScaling = ResolveRopeScaling(config),
            RmsNormEps = config.GetDouble("rms_norm_eps") ?? DefaultRmsNormEps,
            MaxPositionEmbeddings = config.GetInt("max_position_embeddings") ?? DefaultMaxPositionEmbeddings,
            HiddenAct = activation,
            QkvBias = QkvBias(config),
            OutputBias = OutputBias(config),
            SandwichNorms = SandwichNorms,
            TiedEmbeddings = tiedEmbeddings,
        };

        if (config.GetBool("use_sliding_window", true) && config.GetInt("sliding_window") is int window && window < text.MaxPositionEmbeddings)
            warnings.Add($"sliding_window {window} is not applied: attention spans the whole context, so outputs differ from the original beyond {window} tokens.");
        return text;
    }

    /// <summary>Where the decoder's tensors live in this checkpoint: the prefix of <c>layers.N…</c>/<c>embed_tokens</c>/<c>norm</c>, and the LM head.</summary>
    public virtual (string DecoderPrefix, string Head) TensorPrefixes(IReadOnlyDictionary<string, SafetensorInfo> tensors) => ("model.", "lm_head.weight");

    /// <summary>Adds the family's sections beyond the decoder (vision, fusion, heads) to the manifest.</summary>
    public virtual void CompleteManifest(ModelManifest manifest, HfConfig config, IReadOnlyDictionary<string, SafetensorInfo> tensors) { }

    /// <summary>Tensors beyond the decoder, for the sections <see cref="CompleteManifest"/> added.</summary>
    public virtual IReadOnlyList<TensorRecipe> ExtraRecipes(ModelManifest manifest, IReadOnlyDictionary<string, SafetensorInfo> tensors) => [];

    public virtual IReadOnlyList<TensorRecipe> Recipes(TextConfig text, string decoderPrefix = "model.", string head = "lm_head.weight")
    {
        long d = text.HiddenSize, v = text.VocabSize, ff = text.IntermediateSize;
        long qRows = (long)text.NumHeads * text.HeadDim, kvRows = (long)text.NumKvHeads * text.HeadDim;
        var recipes = new List<TensorRecipe>();

        void Add(string name, string dtype, params SourceTensor[] sources)
        {
            long rows = sources.Sum(s => s.Shape[0]);
            long[] shape = sources[0].Shape.Length == 1 ? [rows] : [rows, .. sources[0].Shape[1..]];
            recipes.Add(new TensorRecipe(new TensorSpec(name, dtype, shape), sources));
        }

        static SourceTensor Src(string name, long[] shape) => new(name, shape);

        Add(TensorNames.TokenEmbedding, TensorDTypes.F16, Src(decoderPrefix + "embed_tokens.weight", [v, d]));
        for (int i = 0; i < text.NumLayers; i++)
        {
            string p = $"{decoderPrefix}layers.{i}.";
            Add(TensorNames.AttnNorm(i), TensorDTypes.F32, Src(p + "input_layernorm.weight", [d]));
            Add(TensorNames.AttnQkv(i), TensorDTypes.F16,
                Src(p + "self_attn.q_proj.weight", [qRows, d]), Src(p + "self_attn.k_proj.weight", [kvRows, d]), Src(p + "self_attn.v_proj.weight", [kvRows, d]));
            if (text.QkvBias)
                Add(TensorNames.AttnQkvBias(i), TensorDTypes.F32,
                    Src(p + "self_attn.q_proj.bias", [qRows]), Src(p + "self_attn.k_proj.bias", [kvRows]), Src(p + "self_attn.v_proj.bias", [kvRows]));
            Add(TensorNames.AttnOut(i), TensorDTypes.F16, Src(p + "self_attn.o_proj.weight", [d, qRows]));
            if (text.OutputBias) Add(TensorNames.AttnOutBias(i), TensorDTypes.F32, Src(p + "self_attn.o_proj.bias", [d]));
            if (text.SandwichNorms) Add(TensorNames.AttnPostNorm(i), TensorDTypes.F32, Src(p + "post_self_attn_layernorm.weight", [d]));
            Add(TensorNames.FfnNorm(i), TensorDTypes.F32, Src(p + "post_attention_layernorm.weight", [d]));
            if (FusedGateUp)
                Add(TensorNames.FfnGateUp(i), TensorDTypes.F16, Src(p + "mlp.gate_up_proj.weight", [2 * ff, d]));
            else
                Add(TensorNames.FfnGateUp(i), TensorDTypes.F16, Src(p + "mlp.gate_proj.weight", [ff, d]), Src(p + "mlp.up_proj.weight", [ff, d]));
            Add(TensorNames.FfnDown(i), TensorDTypes.F16, Src(p + "mlp.down_proj.weight", [d, ff]));
            if (text.SandwichNorms) Add(TensorNames.FfnPostNorm(i), TensorDTypes.F32, Src(p + "post_mlp_layernorm.weight", [d]));
        }
        Add(TensorNames.OutputNorm, TensorDTypes.F32, Src(decoderPrefix + "norm.weight", [d]));
        if (!text.TiedEmbeddings) Add(TensorNames.Output, TensorDTypes.F16, Src(head, [v, d]));
        return recipes;
    }

    private static RopeScaling? ResolveRopeScaling(HfConfig config)
    {
        var section = config.GetRopeScaling();
        string? type = section?.GetRopeType();
        if (section is null || type is null or "default") return null;
        double Factor() => section.GetDouble("factor") ?? throw new InvalidModelException($"{section.Source}: {type} rope scaling has no factor.");
        return type switch
        {
            RopeScaling.Linear => new RopeScaling { Type = RopeScaling.Linear, Factor = Factor() },
            RopeScaling.Llama3 => new RopeScaling
            {
                Type = RopeScaling.Llama3,
                Factor = Factor(),
                LowFreqFactor = section.GetDouble("low_freq_factor") ?? throw new InvalidModelException($"{section.Source}: llama3 rope scaling has no low_freq_factor."),
                HighFreqFactor = section.GetDouble("high_freq_factor") ?? throw new InvalidModelException($"{section.Source}: llama3 rope scaling has no high_freq_factor."),
                OriginalMaxPositionEmbeddings = section.GetInt("original_max_position_embeddings")
                    ?? throw new InvalidModelException($"{section.Source}: llama3 rope scaling has no original_max_position_embeddings."),
            },
            _ => throw new InvalidModelException($"{section.Source}: rope scaling type '{type}' is not supported (supported: {RopeScaling.Linear}, {RopeScaling.Llama3})."),
        };
    }
}
