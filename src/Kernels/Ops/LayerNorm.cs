using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Kernels.Ops;

/// <summary>LayerNorm with FP16 weight and optional FP16 bias.</summary>
public static class LayerNorm
{
    public const string Source = "Ops/LayerNorm.cu";

    public static void Run(IKernelBackend backend, DevicePtr input, DevicePtr weight, DevicePtr bias, DevicePtr output,
        int rows, int dim, float eps)
    {
        OpChecks.Positive(rows, nameof(rows));
        OpChecks.Positive(dim, nameof(dim));
        OpChecks.That(eps > 0 && float.IsFinite(eps), nameof(eps), eps, "eps must be positive and finite");
        CudaFunction f = backend.GetFunction(Source, "layer_norm", KernelDefines.None);
        var args = new KernelArgs().Ptr(input).Ptr(weight).Ptr(bias).Ptr(output).Int(dim).Float(eps);
        // One block per row (two block reductions: mean, then variance).
        backend.Launch(f, new Dim3((uint)rows), new Dim3((uint)Math.Clamp(Embedding.RoundUp32(dim / 4), 32, 1024)), 0, ref args);
    }
}
