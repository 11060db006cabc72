using System.Runtime.InteropServices;

namespace OpenAutoGlm.Kernels.Native;

#pragma warning disable CA1707, IDE1006 // member names are the CUDA C names

/// <summary>CUDA driver API result codes; member names and values match cuda.h.</summary>
public enum CUresult
{
    CUDA_SUCCESS = 0,
    CUDA_ERROR_INVALID_VALUE = 1,
    CUDA_ERROR_OUT_OF_MEMORY = 2,
    CUDA_ERROR_NOT_INITIALIZED = 3,
    CUDA_ERROR_DEINITIALIZED = 4,
    CUDA_ERROR_PROFILER_DISABLED = 5,
    CUDA_ERROR_PROFILER_NOT_INITIALIZED = 6,
    CUDA_ERROR_PROFILER_ALREADY_STARTED = 7,
    CUDA_ERROR_PROFILER_ALREADY_STOPPED = 8,
    CUDA_ERROR_STUB_LIBRARY = 34,
    CUDA_ERROR_DEVICE_UNAVAILABLE = 46,
    CUDA_ERROR_NO_DEVICE = 100,
    CUDA_ERROR_INVALID_DEVICE = 101,
    CUDA_ERROR_DEVICE_NOT_LICENSED = 102,
    CUDA_ERROR_INVALID_IMAGE = 200,
    CUDA_ERROR_INVALID_CONTEXT = 201,
    CUDA_ERROR_CONTEXT_ALREADY_CURRENT = 202,
    CUDA_ERROR_MAP_FAILED = 205,
    CUDA_ERROR_UNMAP_FAILED = 206,
    CUDA_ERROR_ARRAY_IS_MAPPED = 207,
    CUDA_ERROR_ALREADY_MAPPED = 208,
    CUDA_ERROR_NO_BINARY_FOR_GPU = 209,
    CUDA_ERROR_ALREADY_ACQUIRED = 210,
    CUDA_ERROR_NOT_MAPPED = 211,
    CUDA_ERROR_NOT_MAPPED_AS_ARRAY = 212,
    CUDA_ERROR_NOT_MAPPED_AS_POINTER = 213,
    CUDA_ERROR_ECC_UNCORRECTABLE = 214,
    CUDA_ERROR_UNSUPPORTED_LIMIT = 215,
    CUDA_ERROR_CONTEXT_ALREADY_IN_USE = 216,
    CUDA_ERROR_PEER_ACCESS_UNSUPPORTED = 217,
    CUDA_ERROR_INVALID_PTX = 218,
    CUDA_ERROR_INVALID_GRAPHICS_CONTEXT = 219,
    CUDA_ERROR_NVLINK_UNCORRECTABLE = 220,
    CUDA_ERROR_JIT_COMPILER_NOT_FOUND = 221,
    CUDA_ERROR_UNSUPPORTED_PTX_VERSION = 222,
    CUDA_ERROR_JIT_COMPILATION_DISABLED = 223,
    CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY = 224,
    CUDA_ERROR_INVALID_SOURCE = 300,
    CUDA_ERROR_FILE_NOT_FOUND = 301,
    CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND = 302,
    CUDA_ERROR_SHARED_OBJECT_INIT_FAILED = 303,
    CUDA_ERROR_OPERATING_SYSTEM = 304,
    CUDA_ERROR_INVALID_HANDLE = 400,
    CUDA_ERROR_ILLEGAL_STATE = 401,
    CUDA_ERROR_NOT_FOUND = 500,
    CUDA_ERROR_NOT_READY = 600,
    CUDA_ERROR_ILLEGAL_ADDRESS = 700,
    CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
    CUDA_ERROR_LAUNCH_TIMEOUT = 702,
    CUDA_ERROR_LAUNCH_INCOMPATIBLE_TEXTURING = 703,
    CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED = 704,
    CUDA_ERROR_PEER_ACCESS_NOT_ENABLED = 705,
    CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE = 708,
    CUDA_ERROR_CONTEXT_IS_DESTROYED = 709,
    CUDA_ERROR_ASSERT = 710,
    CUDA_ERROR_TOO_MANY_PEERS = 711,
    CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED = 712,
    CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED = 713,
    CUDA_ERROR_HARDWARE_STACK_ERROR = 714,
    CUDA_ERROR_ILLEGAL_INSTRUCTION = 715,
    CUDA_ERROR_MISALIGNED_ADDRESS = 716,
    CUDA_ERROR_INVALID_ADDRESS_SPACE = 717,
    CUDA_ERROR_INVALID_PC = 718,
    CUDA_ERROR_LAUNCH_FAILED = 719,
    CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE = 720,
    CUDA_ERROR_NOT_PERMITTED = 800,
    CUDA_ERROR_NOT_SUPPORTED = 801,
    CUDA_ERROR_SYSTEM_NOT_READY = 802,
    CUDA_ERROR_SYSTEM_DRIVER_MISMATCH = 803,
    CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE = 804,
    CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900,
    CUDA_ERROR_STREAM_CAPTURE_INVALIDATED = 901,
    CUDA_ERROR_STREAM_CAPTURE_MERGE = 902,
    CUDA_ERROR_STREAM_CAPTURE_UNMATCHED = 903,
    CUDA_ERROR_STREAM_CAPTURE_UNJOINED = 904,
    CUDA_ERROR_STREAM_CAPTURE_ISOLATION = 905,
    CUDA_ERROR_STREAM_CAPTURE_IMPLICIT = 906,
    CUDA_ERROR_CAPTURED_EVENT = 907,
    CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD = 908,
    CUDA_ERROR_TIMEOUT = 909,
    CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE = 910,
    CUDA_ERROR_UNKNOWN = 999,
}

/// <summary>Subset of CUdevice_attribute used by the engine (values from cuda.h).</summary>
public enum CUdevice_attribute
{
    CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1,
    CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8,
    CU_DEVICE_ATTRIBUTE_WARP_SIZE = 10,
    CU_DEVICE_ATTRIBUTE_CLOCK_RATE = 13,
    CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
    CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE = 36,
    CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH = 37,
    CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE = 38,
    CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR = 39,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
    CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,
}

/// <summary>Subset of CUfunction_attribute (values from cuda.h).</summary>
public enum CUfunction_attribute
{
    CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 0,
    CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES = 1,
    CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES = 2,
    CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES = 3,
    CU_FUNC_ATTRIBUTE_NUM_REGS = 4,
    CU_FUNC_ATTRIBUTE_PTX_VERSION = 5,
    CU_FUNC_ATTRIBUTE_BINARY_VERSION = 6,
    CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
}

public enum CUstreamCaptureMode
{
    CU_STREAM_CAPTURE_MODE_GLOBAL = 0,
    CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1,
    CU_STREAM_CAPTURE_MODE_RELAXED = 2,
}

/// <summary>
/// CUDA driver API. Handles (CUcontext, CUmodule, CUfunction, CUstream, CUevent, CUgraph, CUgraphExec)
/// are <see cref="nint"/>; CUdeviceptr is <see cref="ulong"/>; CUdevice is <see cref="int"/>.
/// </summary>
public static unsafe partial class CuDriver
{
    private const string Lib = NativeLibraryResolver.Cuda;

    public const uint CU_STREAM_DEFAULT = 0;
    public const uint CU_STREAM_NON_BLOCKING = 1;
    public const uint CU_EVENT_DEFAULT = 0;
    public const uint CU_EVENT_DISABLE_TIMING = 2;

    static CuDriver() => NativeLibraryResolver.EnsureRegistered();

    // Initialization, version, errors
    [LibraryImport(Lib, EntryPoint = "cuInit")] public static partial CUresult cuInit(uint flags);
    [LibraryImport(Lib, EntryPoint = "cuDriverGetVersion")] public static partial CUresult cuDriverGetVersion(int* driverVersion);
    [LibraryImport(Lib, EntryPoint = "cuGetErrorName")] public static partial CUresult cuGetErrorName(CUresult error, byte** pStr);
    [LibraryImport(Lib, EntryPoint = "cuGetErrorString")] public static partial CUresult cuGetErrorString(CUresult error, byte** pStr);

    // Devices
    [LibraryImport(Lib, EntryPoint = "cuDeviceGet")] public static partial CUresult cuDeviceGet(int* device, int ordinal);
    [LibraryImport(Lib, EntryPoint = "cuDeviceGetCount")] public static partial CUresult cuDeviceGetCount(int* count);
    [LibraryImport(Lib, EntryPoint = "cuDeviceGetName")] public static partial CUresult cuDeviceGetName(byte* name, int len, int dev);
    [LibraryImport(Lib, EntryPoint = "cuDeviceGetAttribute")] public static partial CUresult cuDeviceGetAttribute(int* pi, CUdevice_attribute attrib, int dev);
    [LibraryImport(Lib, EntryPoint = "cuDeviceTotalMem_v2")] public static partial CUresult cuDeviceTotalMem_v2(nuint* bytes, int dev);

    // Contexts
    [LibraryImport(Lib, EntryPoint = "cuDevicePrimaryCtxRetain")] public static partial CUresult cuDevicePrimaryCtxRetain(nint* pctx, int dev);
    [LibraryImport(Lib, EntryPoint = "cuDevicePrimaryCtxRelease_v2")] public static partial CUresult cuDevicePrimaryCtxRelease_v2(int dev);
    [LibraryImport(Lib, EntryPoint = "cuCtxCreate_v2")] public static partial CUresult cuCtxCreate_v2(nint* pctx, uint flags, int dev);
    [LibraryImport(Lib, EntryPoint = "cuCtxDestroy_v2")] public static partial CUresult cuCtxDestroy_v2(nint ctx);
    [LibraryImport(Lib, EntryPoint = "cuCtxSetCurrent")] public static partial CUresult cuCtxSetCurrent(nint ctx);
    [LibraryImport(Lib, EntryPoint = "cuCtxGetCurrent")] public static partial CUresult cuCtxGetCurrent(nint* pctx);
    [LibraryImport(Lib, EntryPoint = "cuCtxPushCurrent_v2")] public static partial CUresult cuCtxPushCurrent_v2(nint ctx);
    [LibraryImport(Lib, EntryPoint = "cuCtxPopCurrent_v2")] public static partial CUresult cuCtxPopCurrent_v2(nint* pctx);
    [LibraryImport(Lib, EntryPoint = "cuCtxSynchronize")] public static partial CUresult cuCtxSynchronize();

    // Streams
    [LibraryImport(Lib, EntryPoint = "cuStreamCreate")] public static partial CUresult cuStreamCreate(nint* phStream, uint flags);
    [LibraryImport(Lib, EntryPoint = "cuStreamSynchronize")] public static partial CUresult cuStreamSynchronize(nint hStream);
    [LibraryImport(Lib, EntryPoint = "cuStreamDestroy_v2")] public static partial CUresult cuStreamDestroy_v2(nint hStream);

    // Events
    [LibraryImport(Lib, EntryPoint = "cuEventCreate")] public static partial CUresult cuEventCreate(nint* phEvent, uint flags);
    [LibraryImport(Lib, EntryPoint = "cuEventRecord")] public static partial CUresult cuEventRecord(nint hEvent, nint hStream);
    [LibraryImport(Lib, EntryPoint = "cuEventSynchronize")] public static partial CUresult cuEventSynchronize(nint hEvent);
    [LibraryImport(Lib, EntryPoint = "cuEventElapsedTime")] public static partial CUresult cuEventElapsedTime(float* pMilliseconds, nint hStart, nint hEnd);
    [LibraryImport(Lib, EntryPoint = "cuEventDestroy_v2")] public static partial CUresult cuEventDestroy_v2(nint hEvent);

    // Memory
    [LibraryImport(Lib, EntryPoint = "cuMemGetInfo_v2")] public static partial CUresult cuMemGetInfo_v2(nuint* free, nuint* total);
    [LibraryImport(Lib, EntryPoint = "cuMemAlloc_v2")] public static partial CUresult cuMemAlloc_v2(ulong* dptr, nuint bytesize);
    [LibraryImport(Lib, EntryPoint = "cuMemFree_v2")] public static partial CUresult cuMemFree_v2(ulong dptr);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyHtoD_v2")] public static partial CUresult cuMemcpyHtoD_v2(ulong dstDevice, void* srcHost, nuint byteCount);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoH_v2")] public static partial CUresult cuMemcpyDtoH_v2(void* dstHost, ulong srcDevice, nuint byteCount);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoD_v2")] public static partial CUresult cuMemcpyDtoD_v2(ulong dstDevice, ulong srcDevice, nuint byteCount);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyHtoDAsync_v2")] public static partial CUresult cuMemcpyHtoDAsync_v2(ulong dstDevice, void* srcHost, nuint byteCount, nint hStream);
    [LibraryImport(Lib, EntryPoint = "cuMemcpyDtoHAsync_v2")] public static partial CUresult cuMemcpyDtoHAsync_v2(void* dstHost, ulong srcDevice, nuint byteCount, nint hStream);
    [LibraryImport(Lib, EntryPoint = "cuMemsetD8_v2")] public static partial CUresult cuMemsetD8_v2(ulong dstDevice, byte value, nuint count);
    [LibraryImport(Lib, EntryPoint = "cuMemsetD32_v2")] public static partial CUresult cuMemsetD32_v2(ulong dstDevice, uint value, nuint count);
    [LibraryImport(Lib, EntryPoint = "cuMemsetD8Async")] public static partial CUresult cuMemsetD8Async(ulong dstDevice, byte value, nuint count, nint hStream);

    // Modules and kernels
    [LibraryImport(Lib, EntryPoint = "cuModuleLoadData")] public static partial CUresult cuModuleLoadData(nint* module, void* image);
    [LibraryImport(Lib, EntryPoint = "cuModuleGetFunction")] public static partial CUresult cuModuleGetFunction(nint* hfunc, nint hmod, byte* name);
    [LibraryImport(Lib, EntryPoint = "cuModuleGetGlobal_v2")] public static partial CUresult cuModuleGetGlobal_v2(ulong* dptr, nuint* bytes, nint hmod, byte* name);
    [LibraryImport(Lib, EntryPoint = "cuModuleUnload")] public static partial CUresult cuModuleUnload(nint hmod);
    [LibraryImport(Lib, EntryPoint = "cuFuncGetAttribute")] public static partial CUresult cuFuncGetAttribute(int* pi, CUfunction_attribute attrib, nint hfunc);
    [LibraryImport(Lib, EntryPoint = "cuFuncSetAttribute")] public static partial CUresult cuFuncSetAttribute(nint hfunc, CUfunction_attribute attrib, int value);
    [LibraryImport(Lib, EntryPoint = "cuLaunchKernel")]
    public static partial CUresult cuLaunchKernel(nint f, uint gridDimX, uint gridDimY, uint gridDimZ,
        uint blockDimX, uint blockDimY, uint blockDimZ, uint sharedMemBytes, nint hStream, void** kernelParams, void** extra);

    // Graphs (stream capture)
    [LibraryImport(Lib, EntryPoint = "cuStreamBeginCapture_v2")] public static partial CUresult cuStreamBeginCapture_v2(nint hStream, CUstreamCaptureMode mode);
    [LibraryImport(Lib, EntryPoint = "cuStreamEndCapture")] public static partial CUresult cuStreamEndCapture(nint hStream, nint* phGraph);
    [LibraryImport(Lib, EntryPoint = "cuGraphInstantiateWithFlags")] public static partial CUresult cuGraphInstantiateWithFlags(nint* phGraphExec, nint hGraph, ulong flags);
    [LibraryImport(Lib, EntryPoint = "cuGraphLaunch")] public static partial CUresult cuGraphLaunch(nint hGraphExec, nint hStream);
    [LibraryImport(Lib, EntryPoint = "cuGraphDestroy")] public static partial CUresult cuGraphDestroy(nint hGraph);
    [LibraryImport(Lib, EntryPoint = "cuGraphExecDestroy")] public static partial CUresult cuGraphExecDestroy(nint hGraphExec);
}
