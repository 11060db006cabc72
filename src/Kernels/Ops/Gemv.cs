using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Kernels.Ops;

/// <summary>Decode GEMV: y[N] = W[N, K] (FP16, row-major) · x[K] (FP32), optionally accumulating into y.</summary>
public static class Gemv
{
    public const string Source = "Ops/Gemv.cu";
    public const int WarpsPerBlock = 8;

    public static void Run(IKernelBackend backend, DevicePtr weight, DevicePtr x, DevicePtr y, int n, int k, bool accumulate = false)
    {
        OpChecks.Positive(n, nameof(n));
        OpChecks.Positive(k, nameof(k));
        if (k % 8 == 0)
        {
            // The 16-byte load path needs 16-byte aligned rows and x.
            OpChecks.That(weight.Value % 16 == 0, nameof(weight), $"0x{weight.Value:x}", "weight must be 16-byte aligned when k % 8 == 0");
            OpChecks.That(x.Value % 16 == 0, nameof(x), $"0x{x.Value:x}", "x must be 16-byte aligned when k % 8 == 0");
        }
        CudaFunction f = backend.GetFunction(Source, "gemv_f16", KernelDefines.None);
        var args = new KernelArgs().Ptr(weight).Ptr(x).Ptr(y).Int(n).Int(k).Int(accumulate ? 1 : 0);
        // Warp per row, 8 rows per 256-thread block: enough blocks to fill every SM even for N = 2048.
        backend.Launch(f, new Dim3(Dim3.CeilDiv(n, WarpsPerBlock)), new Dim3(WarpsPerBlock * 32), 0, ref args);
    }
}
