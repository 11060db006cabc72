using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Kernels.Ops;

/// <summary>Row-wise softmax of scale*x.</summary>
public static class Softmax
{
    public const string Source = "Ops/Softmax.cu";

    public static void Rows(IKernelBackend backend, DevicePtr input, DevicePtr output, int rows, int cols, float scale = 1f)
    {
        OpChecks.Positive(rows, nameof(rows));
        OpChecks.Positive(cols, nameof(cols));
        OpChecks.That(float.IsFinite(scale) && scale != 0, nameof(scale), scale, "scale must be finite and non-zero");
        CudaFunction f = backend.GetFunction(Source, "softmax_rows", KernelDefines.None);
        var args = new KernelArgs().Ptr(input).Ptr(output).Int(cols).Float(scale);
        // One block per row (max and sum reductions), 32..1024 threads by row width.
        backend.Launch(f, new Dim3((uint)rows), new Dim3((uint)Math.Clamp(Embedding.RoundUp32(cols / 4), 32, 1024)), 0, ref args);
    }
}
