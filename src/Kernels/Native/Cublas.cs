using System.Runtime.InteropServices;

namespace OpenAutoGlm.Kernels.Native;

#pragma warning disable CA1707, IDE1006 // member names are the cuBLAS C names

/// <summary>cuBLAS status codes; member names and values match cublas_api.h.</summary>
public enum cublasStatus_t
{
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_ARCH_MISMATCH = 8,
    CUBLAS_STATUS_MAPPING_ERROR = 11,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
    CUBLAS_STATUS_INTERNAL_ERROR = 14,
    CUBLAS_STATUS_NOT_SUPPORTED = 15,
    CUBLAS_STATUS_LICENSE_ERROR = 16,
}

public enum cublasOperation_t
{
    CUBLAS_OP_N = 0,
    CUBLAS_OP_T = 1,
    CUBLAS_OP_C = 2,
}

/// <summary>Subset of cudaDataType_t (library_types.h).</summary>
public enum cudaDataType_t
{
    CUDA_R_32F = 0,
    CUDA_R_64F = 1,
    CUDA_R_16F = 2,
    CUDA_R_16BF = 14,
}

/// <summary>Subset of cublasComputeType_t.</summary>
public enum cublasComputeType_t
{
    CUBLAS_COMPUTE_16F = 64,
    CUBLAS_COMPUTE_32F = 68,
    CUBLAS_COMPUTE_32F_FAST_16F = 74,
    CUBLAS_COMPUTE_32F_FAST_TF32 = 77,
}

public enum cublasGemmAlgo_t
{
    CUBLAS_GEMM_DEFAULT = -1,
    CUBLAS_GEMM_DEFAULT_TENSOR_OP = 99,
}

public enum cublasMath_t
{
    CUBLAS_DEFAULT_MATH = 0,
    CUBLAS_TENSOR_OP_MATH = 1,
    CUBLAS_PEDANTIC_MATH = 2,
    CUBLAS_TF32_TENSOR_OP_MATH = 3,
}

/// <summary>cuBLAS (column-major). cublasHandle_t and cudaStream_t are <see cref="nint"/>; device pointers are <c>void*</c>.</summary>
public static unsafe partial class Cublas
{
    private const string Lib = NativeLibraryResolver.Cublas;

    static Cublas() => NativeLibraryResolver.EnsureRegistered();

    [LibraryImport(Lib, EntryPoint = "cublasCreate_v2")] public static partial cublasStatus_t cublasCreate_v2(nint* handle);
    [LibraryImport(Lib, EntryPoint = "cublasDestroy_v2")] public static partial cublasStatus_t cublasDestroy_v2(nint handle);
    [LibraryImport(Lib, EntryPoint = "cublasGetVersion_v2")] public static partial cublasStatus_t cublasGetVersion_v2(nint handle, int* version);
    [LibraryImport(Lib, EntryPoint = "cublasSetStream_v2")] public static partial cublasStatus_t cublasSetStream_v2(nint handle, nint stream);
    [LibraryImport(Lib, EntryPoint = "cublasSetMathMode")] public static partial cublasStatus_t cublasSetMathMode(nint handle, cublasMath_t mode);

    [LibraryImport(Lib, EntryPoint = "cublasGemmEx")]
    public static partial cublasStatus_t cublasGemmEx(nint handle, cublasOperation_t transa, cublasOperation_t transb,
        int m, int n, int k, void* alpha, void* A, cudaDataType_t Atype, int lda, void* B, cudaDataType_t Btype, int ldb,
        void* beta, void* C, cudaDataType_t Ctype, int ldc, cublasComputeType_t computeType, cublasGemmAlgo_t algo);

    [LibraryImport(Lib, EntryPoint = "cublasGemmStridedBatchedEx")]
    public static partial cublasStatus_t cublasGemmStridedBatchedEx(nint handle, cublasOperation_t transa, cublasOperation_t transb,
        int m, int n, int k, void* alpha, void* A, cudaDataType_t Atype, int lda, long strideA,
        void* B, cudaDataType_t Btype, int ldb, long strideB, void* beta, void* C, cudaDataType_t Ctype, int ldc, long strideC,
        int batchCount, cublasComputeType_t computeType, cublasGemmAlgo_t algo);
}
