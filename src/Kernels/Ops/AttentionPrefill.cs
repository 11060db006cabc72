using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Kernels.Ops;

/// <summary>
/// Prefill attention (FlashAttention-2 style, mma.sync), causal or bidirectional, GQA. Also serves cross-attention
/// (fusion layers): pass the encoder K/V as the "cache", <c>causal: false</c>, <c>startPos: 0</c>.
/// </summary>
public static class AttentionPrefill
{
    public const string Source = "Ops/AttentionPrefill.cu";
    public const int QueryRowsPerBlock = 64;

    public static KernelDefines Defines(int headDim) => new KernelDefines().Set("HEAD_DIM", headDim);

    /// <param name="q">[tokens, heads, headDim] FP32.</param>
    /// <param name="kCache">[kvHeads, capacity, headDim] FP16, positions [0, kvLen) valid.</param>
    /// <param name="output">[tokens, heads, headDim] FP32.</param>
    /// <param name="startPos">Absolute position of query row 0 (causal mask: key j visible to row t iff j ≤ startPos + t).</param>
    public static void Run(IKernelBackend backend, DevicePtr q, DevicePtr kCache, DevicePtr vCache, DevicePtr output,
        int tokens, int heads, int kvHeads, int headDim, int kvLen, int capacity, int startPos, float scale, bool causal)
    {
        OpChecks.Positive(tokens, nameof(tokens));
        OpChecks.Positive(heads, nameof(heads));
        OpChecks.Positive(kvHeads, nameof(kvHeads));
        OpChecks.That(heads % kvHeads == 0, nameof(kvHeads), kvHeads, $"heads ({heads}) must be a multiple of kvHeads");
        OpChecks.That(headDim is 32 or 64 or 80 or 96 or 128 or 256, nameof(headDim), headDim, "headDim must be 32, 64, 80, 96, 128 or 256");
        OpChecks.That(kvLen >= 1 && kvLen <= capacity, nameof(kvLen), kvLen, $"kvLen must be in [1, capacity = {capacity}]");
        OpChecks.NonNegative(startPos, nameof(startPos));
        OpChecks.That(!causal || startPos + tokens <= kvLen, nameof(startPos), startPos,
            $"causal prefill needs startPos + tokens ({tokens}) <= kvLen ({kvLen})");
        CudaFunction f = backend.GetFunction(Source, "attention_prefill", Defines(headDim));
        var args = new KernelArgs().Ptr(q).Ptr(kCache).Ptr(vCache).Ptr(output).Int(tokens).Int(heads).Int(kvHeads)
            .Int(kvLen).Int(capacity).Int(startPos).Float(scale).Int(causal ? 1 : 0);
        // 64 query rows (4 warps x 16) per block, one head per grid.y: K/V tiles are shared by the block's warps.
        backend.Launch(f, Dim3.Blocks(Dim3.CeilDiv(tokens, QueryRowsPerBlock), heads), new Dim3(128), 0, ref args);
    }
}
