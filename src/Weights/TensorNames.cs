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
}
