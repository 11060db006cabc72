using OpenAutoGlm.Kernels.Cuda;
using OpenAutoGlm.Kernels.Native;

namespace OpenAutoGlm.Kernels.Ops;

/// <summary>
/// Prefill GEMM: Y[M, N] = X[M, K] (FP32) · W[N, K]ᵀ (FP16), FP32 accumulation. On a GPU with cuBLAS, X is staged
/// to FP16 and cublasGemmEx runs with CUBLAS_COMPUTE_32F; otherwise (no cuBLAS, emulation) the own mma.sync kernel runs.
/// Both round X to FP16.
/// </summary>
public static class Gemm
{
    public const string Source = "Ops/Gemm.cu";
    public const int TileM = 64, TileN = 64;

    /// <param name="halfScratch">Device buffer of at least M*K FP16 values, used only by the cuBLAS path (may be null).</param>
    public static void Run(IKernelBackend backend, DevicePtr x, DevicePtr weight, DevicePtr y, int m, int n, int k,
        bool accumulate = false, DevicePtr halfScratch = default, bool allowCublas = true)
    {
        OpChecks.Positive(m, nameof(m));
        OpChecks.Positive(n, nameof(n));
        OpChecks.Positive(k, nameof(k));
        if (allowCublas && !halfScratch.IsNull && backend is CudaBackend cuda && cuda.Cublas != 0)
        {
            RunCublas(cuda, x, weight, y, m, n, k, accumulate, halfScratch);
            return;
        }
        CudaFunction f = backend.GetFunction(Source, "gemm_f16_mma", KernelDefines.None);
        var args = new KernelArgs().Ptr(x).Ptr(weight).Ptr(y).Int(m).Int(n).Int(k).Int(accumulate ? 1 : 0);
        // 64x64 output tile per 128-thread block (4 warps x 32x32); grid.x over N so consecutive blocks share X rows.
        backend.Launch(f, Dim3.Blocks(Dim3.CeilDiv(n, TileN), Dim3.CeilDiv(m, TileM)), new Dim3(128), 0, ref args);
    }

    private static unsafe void RunCublas(CudaBackend cuda, DevicePtr x, DevicePtr weight, DevicePtr y, int m, int n, int k,
        bool accumulate, DevicePtr halfScratch)
    {
        long count = (long)m * k;
        CudaFunction convert = cuda.GetFunction(Source, "convert_f32_to_f16", KernelDefines.None);
        var args = new KernelArgs().Ptr(x).Ptr(halfScratch).UInt64((ulong)count);
        cuda.Launch(convert, OpChecks.ElementwiseGrid(count), new Dim3(256), 0, ref args);
        float alpha = 1f, beta = accumulate ? 1f : 0f;
        // Column-major view: Yᵀ[N, M] = W[N, K] · Xᵀ[K, M]; W (row-major [N, K]) is op=T with lda = K.
        CudaCheck.Check(Cublas.cublasGemmEx(cuda.Cublas, cublasOperation_t.CUBLAS_OP_T, cublasOperation_t.CUBLAS_OP_N,
            n, m, k, &alpha, (void*)weight.Value, cudaDataType_t.CUDA_R_16F, k, (void*)halfScratch.Value, cudaDataType_t.CUDA_R_16F, k,
            &beta, (void*)y.Value, cudaDataType_t.CUDA_R_32F, n, cublasComputeType_t.CUBLAS_COMPUTE_32F,
            cublasGemmAlgo_t.CUBLAS_GEMM_DEFAULT), cuda.Context.Device);
    }
}
