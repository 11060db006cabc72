using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Kernels.Ops;

/// <summary>RMSNorm fused with the residual add: x += residual; output = rmsnorm(x) * weight.</summary>
public static class RmsNorm
{
    public const string Source = "Ops/RmsNorm.cu";

    /// <param name="hidden">[rows, dim] FP32; receives hidden + residual when <paramref name="residual"/> is not null.</param>
    /// <param name="residual">[rows, dim] FP32 or <see cref="DevicePtr.Null"/>.</param>
    /// <param name="weight">[dim] FP16.</param>
    public static void Run(IKernelBackend backend, DevicePtr hidden, DevicePtr residual, DevicePtr weight, DevicePtr output,
        int rows, int dim, float eps)
    {
        OpChecks.Positive(rows, nameof(rows));
        OpChecks.Positive(dim, nameof(dim));
        OpChecks.That(eps > 0 && float.IsFinite(eps), nameof(eps), eps, "eps must be positive and finite");
        CudaFunction f = backend.GetFunction(Source, "rms_norm_residual", KernelDefines.None);
        var args = new KernelArgs().Ptr(hidden).Ptr(residual).Ptr(weight).Ptr(output).Int(dim).Float(eps);
        // One block per row: the row reduction stays in one block; up to 1024 threads for wide rows.
        backend.Launch(f, new Dim3((uint)rows), new Dim3((uint)Math.Clamp(Embedding.RoundUp32(dim / 4), 32, 1024)), 0, ref args);
    }
}
