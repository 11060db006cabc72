using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Kernels.Ops;

/// <summary>Sampling settings (HF order: repetition penalty, temperature, top-k, top-p, min-p).</summary>
public readonly record struct SamplingParams(float Temperature = 1f, int TopK = 0, float TopP = 1f, float MinP = 0f, float RepetitionPenalty = 1f)
{
    public bool IsGreedy => Temperature <= 0f;
}

/// <summary>Token selection on the device: argmax for greedy, filtered multinomial otherwise.</summary>
public static class Sampling
{
    public const string Source = "Ops/Sampling.cu";

    /// <summary>Applies the repetition penalty to <paramref name="logits"/> for <paramref name="count"/> distinct ids.</summary>
    public static void ApplyRepetitionPenalty(IKernelBackend backend, DevicePtr logits, DevicePtr ids, int count, int vocab, float penalty)
    {
        OpChecks.Positive(vocab, nameof(vocab));
        OpChecks.NonNegative(count, nameof(count));
        OpChecks.That(penalty > 0 && float.IsFinite(penalty), nameof(penalty), penalty, "repetition penalty must be positive");
        if (count == 0 || penalty == 1f) return;
        CudaFunction f = backend.GetFunction(Source, "repetition_penalty", KernelDefines.None);
        var args = new KernelArgs().Ptr(logits).Ptr(ids).Int(count).Int(vocab).Float(penalty);
        // One thread per id.
        backend.Launch(f, new Dim3(Dim3.CeilDiv(count, 256)), new Dim3(256), 0, ref args);
    }

    /// <summary>out[r] = argmax of each logits row (lowest index on ties).</summary>
    public static void Argmax(IKernelBackend backend, DevicePtr logits, DevicePtr output, int rows, int vocab)
    {
        OpChecks.Positive(rows, nameof(rows));
        OpChecks.Positive(vocab, nameof(vocab));
        CudaFunction f = backend.GetFunction(Source, "argmax_rows", KernelDefines.None);
        var args = new KernelArgs().Ptr(logits).Ptr(output).Int(vocab);
        // One block per row; 1024 threads keep a 150k vocabulary at ~150 loads per thread.
        backend.Launch(f, new Dim3((uint)rows), new Dim3(1024), 0, ref args);
    }

    /// <summary>
    /// Samples one token from one logits row into output[0]. <paramref name="probsScratch"/> holds vocab floats;
    /// <paramref name="uniform"/> ∈ [0, 1) comes from the caller's RNG (reproducible seeds). Greedy when temperature ≤ 0.
    /// </summary>
    public static void Sample(IKernelBackend backend, DevicePtr logits, DevicePtr probsScratch, DevicePtr output, int vocab,
        SamplingParams p, float uniform)
    {
        OpChecks.Positive(vocab, nameof(vocab));
        if (p.IsGreedy)
        {
            Argmax(backend, logits, output, 1, vocab);
            return;
        }
        OpChecks.That(float.IsFinite(p.Temperature), nameof(p.Temperature), p.Temperature, "temperature must be finite");
        OpChecks.NonNegative(p.TopK, nameof(p.TopK));
        OpChecks.That(p.TopP > 0 && p.TopP <= 1, nameof(p.TopP), p.TopP, "top-p must be in (0, 1]");
        OpChecks.That(p.MinP >= 0 && p.MinP < 1, nameof(p.MinP), p.MinP, "min-p must be in [0, 1)");
        OpChecks.That(uniform >= 0 && uniform < 1, nameof(uniform), uniform, "uniform must be in [0, 1)");
        CudaFunction f = backend.GetFunction(Source, "sample_filtered", KernelDefines.None);
        var args = new KernelArgs().Ptr(logits).Ptr(probsScratch).Ptr(output).Int(vocab)
            .Float(p.Temperature).Int(p.TopK).Float(p.TopP).Float(p.MinP).Float(uniform);
        // A single 1024-thread block: the row is one sequence's logits and the filters need block-wide reductions.
        backend.Launch(f, new Dim3(1), new Dim3(1024), 0, ref args);
    }
}
