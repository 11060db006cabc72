using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Kernels.Ops;

public enum RopeMode
{
    /// <summary>NeoX / Llama: pairs (i, i + rot/2).</summary>
    RotateHalf = 0,
    /// <summary>GPT-J / GLM: pairs (2i, 2i + 1).</summary>
    Interleaved = 1,
}

/// <summary>Rotary position embedding applied in place to [tokens, heads, headDim] FP32.</summary>
public static class Rope
{
    public const string Source = "Ops/Rope.cu";

    /// <summary>
    /// Rotates pair i of each head by positions[t] · invFreq[i]; invFreq holds rotaryDim / 2 FP32 frequencies on the device
    /// (θ^(−2i/r), or the checkpoint's scaled ones), the same table the CPU decoder uses.
    /// </summary>
    public static void Apply(IKernelBackend backend, DevicePtr x, DevicePtr positions, DevicePtr invFreq, int tokens, int heads, int headDim,
        int rotaryDim, RopeMode mode)
    {
        OpChecks.Positive(tokens, nameof(tokens));
        OpChecks.Positive(heads, nameof(heads));
        OpChecks.Positive(headDim, nameof(headDim));
        OpChecks.That(rotaryDim > 0 && rotaryDim <= headDim && rotaryDim % 2 == 0, nameof(rotaryDim), rotaryDim,
            $"rotaryDim must be even and within (0, headDim = {headDim}]");
        if (invFreq.IsNull) throw new ArgumentNullException(nameof(invFreq), "rope needs its frequency table on the device.");
        CudaFunction f = backend.GetFunction(Source, "rope", KernelDefines.None);
        var args = new KernelArgs().Ptr(x).Ptr(positions).Ptr(invFreq).Int(heads).Int(headDim).Int(rotaryDim).Int((int)mode);
        // grid (token, head); one thread per rotated pair.
        backend.Launch(f, Dim3.Blocks(tokens, heads), new Dim3((uint)Math.Clamp(Embedding.RoundUp32(rotaryDim / 2), 32, 512)), 0, ref args);
    }
}
