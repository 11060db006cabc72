using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Kernels.Ops;

/// <summary>Token embedding lookup: FP16 table [vocab, dim] → FP32 [tokens, dim].</summary>
public static class Embedding
{
    public const string Source = "Ops/Embedding.cu";

    public static void Gather(IKernelBackend backend, DevicePtr table, DevicePtr ids, DevicePtr output, int tokens, int vocab, int dim)
    {
        OpChecks.Positive(tokens, nameof(tokens));
        OpChecks.Positive(vocab, nameof(vocab));
        OpChecks.Positive(dim, nameof(dim));
        OpChecks.NotNull(table, nameof(table));
        CudaFunction f = backend.GetFunction(Source, "embedding_gather", KernelDefines.None);
        var args = new KernelArgs().Ptr(table).Ptr(ids).Ptr(output).Int(tokens).Int(vocab).Int(dim);
        // One block per token; 256 threads stride over the row (coalesced row copy).
        backend.Launch(f, new Dim3((uint)tokens), new Dim3((uint)Math.Min(256, RoundUp32(dim))), 0, ref args);
    }

    internal static int RoundUp32(int n) => (n + 31) / 32 * 32;
}
