namespace OpenAutoGlm.Weights;

/// <summary>Canonical tensor names of the converted format, defined once. Shapes are [out, in], row-major.</summary>
public static class TensorNames
{
    /// <summary>[V, D] F16.</summary>
    public const string TokenEmbedding = "token_embd";
    /// <summary>[D] F32.</summary>
    public const string OutputNorm = "output_norm";
    /// <summary>[V, D] F16; absent when embeddings are tied.</summary>
    public const string Output = "output";

    /// <summary>[D] F32.</summary>
    public static string AttnNorm(int layer) => $"blk.{layer}.attn_norm";
    /// <summary>[(H + 2·H_kv)·d, D] F16: q rows, then k rows, then v rows.</summary>
    public static string AttnQkv(int layer) => $"blk.{layer}.attn_qkv";
    /// <summary>[(H + 2·H_kv)·d] F32.</summary>
    public static string AttnQkvBias(int layer) => $"blk.{layer}.attn_qkv_bias";
    /// <summary>[D, H·d] F16.</summary>
    public static string AttnOut(int layer) => $"blk.{layer}.attn_out";
    /// <summary>[D] F32.</summary>
    public static string AttnOutBias(int layer) => $"blk.{layer}.attn_out_bias";
    /// <summary>[D] F32, sandwich norm on the attention output (GLM-4-0414).</summary>
    public static string AttnPostNorm(int layer) => $"blk.{layer}.attn_post_norm";
    /// <summary>[D] F32.</summary>
    public static string FfnNorm(int layer) => $"blk.{layer}.ffn_norm";
    /// <summary>[2·I, D] F16: gate rows, then up rows.</summary>
    public static string FfnGateUp(int layer) => $"blk.{layer}.ffn_gate_up";
    /// <summary>[D, I] F16.</summary>
    public static string FfnDown(int layer) => $"blk.{layer}.ffn_down";
    /// <summary>[D] F32, sandwich norm on the MLP output (GLM-4-0414).</summary>
    public static string FfnPostNorm(int layer) => $"blk.{layer}.ffn_post_norm";

    // Native Open-AutoGLM: vision encoder (v.), projector (mm.), fusion layers (blk.N.xattn_*), heads.

    /// <summary>[d_v, 3·p·p] F16, a patch vector indexed ch·p·p + i·p + j.</summary>
    public const string VisionPatchEmbed = "v.patch_embd";
    /// <summary>[d_v] F32.</summary>
    public const string VisionPatchEmbedBias = "v.patch_embd_bias";
    /// <summary>[G·G, d_v] F32, row r·G + c = grid cell (r, c); kept F32 because it is resampled, not multiplied.</summary>
    public const string VisionPosEmbed = "v.pos_embd";
    /// <summary>[d_v] F32 LayerNorm weight / bias.</summary>
    public static string VisionNorm1(int layer) => VisionBlock(layer).Norm1;
    public static string VisionNorm1Bias(int layer) => VisionBlock(layer).Norm1Bias;
    public static string VisionNorm2(int layer) => VisionBlock(layer).Norm2;
    public static string VisionNorm2Bias(int layer) => VisionBlock(layer).Norm2Bias;
    /// <summary>[3·d_v, d_v] F16: q rows, k rows, v rows; bias [3·d_v] F32.</summary>
    public static string VisionQkv(int layer) => VisionBlock(layer).Qkv;
    public static string VisionQkvBias(int layer) => VisionBlock(layer).QkvBias;
    /// <summary>[d_v, d_v] F16; bias [d_v] F32.</summary>
    public static string VisionAttnOut(int layer) => VisionBlock(layer).Out;
    public static string VisionAttnOutBias(int layer) => VisionBlock(layer).OutBias;
    /// <summary>[f_v, d_v] F16; bias [f_v] F32.</summary>
    public static string VisionFfnUp(int layer) => VisionBlock(layer).Up;
    public static string VisionFfnUpBias(int layer) => VisionBlock(layer).UpBias;
    /// <summary>[d_v, f_v] F16; bias [d_v] F32.</summary>
    public static string VisionFfnDown(int layer) => VisionBlock(layer).Down;
    public static string VisionFfnDownBias(int layer) => VisionBlock(layer).DownBias;
    /// <summary>[d_v] F32.</summary>
    public const string VisionPostNorm = "v.post_ln";
    public const string VisionPostNormBias = "v.post_ln_bias";

    /// <summary>[D, d_v] F16 and [D] F32.</summary>
    public const string ProjectorFc1 = "mm.fc1";
    public const string ProjectorFc1Bias = "mm.fc1_bias";
    /// <summary>[D, D] F16 and [D] F32.</summary>
    public const string ProjectorFc2 = "mm.fc2";
    public const string ProjectorFc2Bias = "mm.fc2_bias";

    /// <summary>[D] F32 RMSNorm before the cross-attention query.</summary>
    public static string CrossAttnNorm(int layer) => $"blk.{layer}.xattn_norm";
    /// <summary>[D, D] F16.</summary>
    public static string CrossAttnQ(int layer) => $"blk.{layer}.xattn_q";
    /// <summary>[2·D, D] F16: k rows, then v rows.</summary>
    public static string CrossAttnKv(int layer) => $"blk.{layer}.xattn_kv";
    /// <summary>[D, D] F16.</summary>
    public static string CrossAttnOut(int layer) => $"blk.{layer}.xattn_out";
    /// <summary>[D, 2·D] F16 over [f_v ; h]; bias [D] F32.</summary>
    public static string FusionGate(int layer) => $"blk.{layer}.fusion_gate";
    public static string FusionGateBias(int layer) => $"blk.{layer}.fusion_gate_bias";

    /// <summary>[d_i, D] F16 + [d_i] F32, then [D, d_i] F16 + [D] F32.</summary>
    public const string ImputerFc1 = "imputer.fc1";
    public const string ImputerFc1Bias = "imputer.fc1_bias";
    public const string ImputerFc2 = "imputer.fc2";
    public const string ImputerFc2Bias = "imputer.fc2_bias";

    /// <summary>[e, D] F16 each (CLIP: image [e, d_v], text [e, D_text]); logit scale [1] F32.</summary>
    public const string RetrievalImageProj = "retrieval.image_proj";
    public const string RetrievalTextProj = "retrieval.text_proj";
    public const string RetrievalLogitScale = "retrieval.logit_scale";

    /// <summary>[C, D] F16 and [C] F32.</summary>
    public const string TaskHead = "task_head";
    public const string TaskHeadBias = "task_head_bias";

    /// <summary>[d_v] F32: the CLIP class-token embedding (LLaVA).</summary>
    public const string VisionClassEmbed = "v.class_embd";
    /// <summary>[d_v] F32: CLIP's LayerNorm before the first block (LLaVA).</summary>
    public const string VisionPreNorm = "v.pre_ln";
    public const string VisionPreNormBias = "v.pre_ln_bias";

    // CLIP text tower (t.): learned positions and pre-LayerNorm blocks with a causal mask.

    /// <summary>[V, D] F16 token embeddings of the CLIP text tower.</summary>
    public const string TextTowerTokenEmbed = "t.token_embd";
    /// <summary>[P, D] F32 position table of the CLIP text tower.</summary>
    public const string TextTowerPosEmbed = "t.pos_embd";
    /// <summary>[D] F32 final LayerNorm of the CLIP text tower.</summary>
    public const string TextTowerFinalNorm = "t.final_ln";
    public const string TextTowerFinalNormBias = "t.final_ln_bias";

    /// <summary>The twelve tensors of vision block <paramref name="layer"/> (v.blk.N.*).</summary>
    public static LayerNormBlockNames VisionBlock(int layer) => new(layer, "v");
    /// <summary>The twelve tensors of CLIP text block <paramref name="layer"/> (t.blk.N.*), laid out as a vision block.</summary>
    public static LayerNormBlockNames TextTowerBlock(int layer) => new(layer, "t");
}

/// <summary>Names of one pre-LayerNorm transformer block (ViT, CLIP text tower) under a tower prefix; shapes as the Vision* names.</summary>
public sealed record LayerNormBlockNames(int Layer, string Tower)
{
    private string Name(string part) => $"{Tower}.blk.{Layer}.{part}";
    public string Norm1 => Name("ln1");
    public string Norm1Bias => Name("ln1_bias");
    public string Qkv => Name("attn_qkv");
    public string QkvBias => Name("attn_qkv_bias");
    public string Out => Name("attn_out");
    public string OutBias => Name("attn_out_bias");
    public string Norm2 => Name("ln2");
    public string Norm2Bias => Name("ln2_bias");
    public string Up => Name("ffn_up");
    public string UpBias => Name("ffn_up_bias");
    public string Down => Name("ffn_down");
    public string DownBias => Name("ffn_down_bias");
}
