using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Kernels.Ops;

/// <summary>
/// KV cache layout: per sequence per layer, K and V are FP16 [kvHeads, capacity, headDim]. FP16 (not FP32) because
/// decode attention is bandwidth-bound (half the bytes per token) and the tensor-core prefill path consumes FP16
/// operands anyway; the rounding (2^-11 relative) matches the FP16 weights.
/// </summary>
public static class KvCache
{
    public const string Source = "Ops/KvCache.cu";

    public static long Bytes(int kvHeads, int capacity, int headDim) => 2L * kvHeads * capacity * headDim;

    /// <summary>
    /// Writes FP32 rows [tokens, kvHeads, headDim] into cache positions [startPos, startPos + tokens). With
    /// <paramref name="positions"/> the start is read on the device (positions[0]) instead, for a captured decode graph;
    /// the caller then guarantees positions[0] + tokens ≤ capacity.
    /// </summary>
    public static void Store(IKernelBackend backend, DevicePtr source, DevicePtr cache, int tokens, int kvHeads, int headDim,
        int capacity, int startPos, DevicePtr positions = default)
    {
        OpChecks.Positive(tokens, nameof(tokens));
        OpChecks.Positive(kvHeads, nameof(kvHeads));
        OpChecks.Positive(headDim, nameof(headDim));
        OpChecks.NonNegative(startPos, nameof(startPos));
        OpChecks.That(startPos + tokens <= capacity, nameof(startPos), startPos, $"startPos + tokens ({tokens}) exceeds capacity {capacity}");
        CudaFunction f = backend.GetFunction(Source, "kv_store", KernelDefines.None);
        var args = new KernelArgs().Ptr(source).Ptr(cache).Int(kvHeads).Int(headDim).Int(capacity).Int(startPos).Ptr(positions);
        // grid (token, kvHead); a head row per block.
        backend.Launch(f, Dim3.Blocks(tokens, kvHeads), new Dim3((uint)Math.Clamp(Embedding.RoundUp32(headDim), 32, 256)), 0, ref args);
    }
}
