using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Kernels.Ops;

/// <summary>Row-broadcast bias add: y[r, c] += b[c].</summary>
public static class BiasAdd
{
    public const string Source = "Ops/BiasAdd.cu";

    public static void Run(IKernelBackend backend, DevicePtr y, DevicePtr bias, int rows, int cols)
    {
        OpChecks.Positive(rows, nameof(rows));
        OpChecks.Positive(cols, nameof(cols));
        OpChecks.NotNull(bias, nameof(bias));
        long n = (long)rows * cols;
        CudaFunction f = backend.GetFunction(Source, "bias_add", KernelDefines.None);
        var args = new KernelArgs().Ptr(y).Ptr(bias).Int(cols).UInt64((ulong)n);
        // Elementwise, grid-stride: 256 threads, enough blocks to cover the rows (capped at 65535).
        backend.Launch(f, OpChecks.ElementwiseGrid(n), new Dim3(256), 0, ref args);
    }
}
