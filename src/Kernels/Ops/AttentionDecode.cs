using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Kernels.Ops;

/// <summary>Decode attention for one new token: split-K flash-decoding over the FP16 KV cache plus a combine kernel.</summary>
public static class AttentionDecode
{
    public const string Source = "Ops/AttentionDecode.cu";
    public const int MaxSplits = 64;
    public const int MinKeysPerSplit = 64;

    public static KernelDefines Defines(int headDim, int gqa) => new KernelDefines().Set("HEAD_DIM", headDim).Set("GQA", gqa);

    /// <summary>Floats of scratch needed by <see cref="Run"/> (partial outputs and (max, sum) pairs).</summary>
    public static long ScratchFloats(int heads, int headDim) => (long)heads * MaxSplits * (headDim + 2);

    /// <summary>Splits so that kvHeads × splits covers ~2 waves on a large GPU while each split keeps ≥ 64 keys.</summary>
    public static int ChooseSplits(int kvHeads, int kvLen) =>
        Math.Clamp(Math.Min((264 + kvHeads - 1) / kvHeads, (kvLen + MinKeysPerSplit - 1) / MinKeysPerSplit), 1, MaxSplits);

    /// <summary>Keys per split when <paramref name="kvLen"/> keys are divided among <paramref name="splits"/> splits.</summary>
    public static int Chunk(int kvLen, int splits) => (kvLen + splits - 1) / splits;

    /// <param name="q">[heads, headDim] FP32 (the new token).</param>
    /// <param name="scratch">At least <see cref="ScratchFloats"/> floats.</param>
    /// <param name="output">[heads, headDim] FP32.</param>
    /// <param name="lengthChunk">Optional: two ints on the device, the key count and <see cref="Chunk"/> of it for
    /// <paramref name="splits"/>, read when the kernel runs (a captured decode graph); the grid then has exactly
    /// <paramref name="splits"/> splits, and <paramref name="kvLen"/> (pass the capacity) only bounds what they may be given.</param>
    public static void Run(IKernelBackend backend, DevicePtr q, DevicePtr kCache, DevicePtr vCache, DevicePtr scratch, DevicePtr output,
        int heads, int kvHeads, int headDim, int kvLen, int capacity, float scale, int splits = 0, DevicePtr lengthChunk = default)
    {
        OpChecks.Positive(heads, nameof(heads));
        OpChecks.Positive(kvHeads, nameof(kvHeads));
        OpChecks.That(heads % kvHeads == 0, nameof(kvHeads), kvHeads, $"heads ({heads}) must be a multiple of kvHeads");
        OpChecks.That(headDim % 32 == 0 && headDim <= 256, nameof(headDim), headDim, "headDim must be a multiple of 32 up to 256");
        OpChecks.That(kvLen >= 1 && kvLen <= capacity, nameof(kvLen), kvLen, $"kvLen must be in [1, capacity = {capacity}]");
        if (splits <= 0) splits = ChooseSplits(kvHeads, kvLen);
        OpChecks.That(splits <= MaxSplits, nameof(splits), splits, $"splits must be <= {MaxSplits}");
        int chunk = Chunk(kvLen, splits);
        // Known length: drop the splits the rounding left empty. Device length: keep the grid the caller sized it for.
        if (lengthChunk.IsNull) splits = (kvLen + chunk - 1) / chunk;
        int gqa = heads / kvHeads;
        DevicePtr partO = scratch, partMl = scratch.Offset(4L * heads * MaxSplits * headDim);

        CudaFunction split = backend.GetFunction(Source, "attention_decode_split", Defines(headDim, gqa));
        var a1 = new KernelArgs().Ptr(q).Ptr(kCache).Ptr(vCache).Ptr(partO).Ptr(partMl).Int(kvLen).Int(capacity).Int(chunk).Float(scale).Ptr(lengthChunk);
        // grid (kvHead, split): each K/V row is read once for all GQA heads; 4 warps stride the split's keys.
        backend.Launch(split, Dim3.Blocks(kvHeads, splits), new Dim3(128), 0, ref a1);

        CudaFunction combine = backend.GetFunction(Source, "attention_decode_combine", Defines(headDim, gqa));
        var a2 = new KernelArgs().Ptr(partO).Ptr(partMl).Ptr(output).Int(splits);
        // One block per head, one thread per output dim.
        backend.Launch(combine, new Dim3((uint)heads), new Dim3((uint)headDim), 0, ref a2);
    }
}
