using System.Runtime.InteropServices;

namespace OpenAutoGlm.Kernels.Native;

#pragma warning disable CA1707, IDE1006 // member names are the NVRTC C names

/// <summary>NVRTC result codes; member names and values match nvrtc.h.</summary>
public enum nvrtcResult
{
    NVRTC_SUCCESS = 0,
    NVRTC_ERROR_OUT_OF_MEMORY = 1,
    NVRTC_ERROR_PROGRAM_CREATION_FAILURE = 2,
    NVRTC_ERROR_INVALID_INPUT = 3,
    NVRTC_ERROR_INVALID_PROGRAM = 4,
    NVRTC_ERROR_INVALID_OPTION = 5,
    NVRTC_ERROR_COMPILATION = 6,
    NVRTC_ERROR_BUILTIN_OPERATION_FAILURE = 7,
    NVRTC_ERROR_NO_NAME_EXPRESSIONS_AFTER_COMPILATION = 8,
    NVRTC_ERROR_NO_LOWERED_NAMES_BEFORE_COMPILATION = 9,
    NVRTC_ERROR_NAME_EXPRESSION_NOT_VALID = 10,
    NVRTC_ERROR_INTERNAL_ERROR = 11,
    NVRTC_ERROR_TIME_FILE_WRITE_FAILED = 12,
}

/// <summary>NVRTC runtime compiler. nvrtcProgram is <see cref="nint"/>; strings are NUL-terminated UTF-8 (<c>byte*</c>).</summary>
public static unsafe partial class Nvrtc
{
    private const string Lib = NativeLibraryResolver.Nvrtc;

    static Nvrtc() => NativeLibraryResolver.EnsureRegistered();

    [LibraryImport(Lib, EntryPoint = "nvrtcVersion")] public static partial nvrtcResult nvrtcVersion(int* major, int* minor);
    [LibraryImport(Lib, EntryPoint = "nvrtcGetErrorString")] public static partial byte* nvrtcGetErrorString(nvrtcResult result);
    [LibraryImport(Lib, EntryPoint = "nvrtcGetNumSupportedArchs")] public static partial nvrtcResult nvrtcGetNumSupportedArchs(int* numArchs);
    [LibraryImport(Lib, EntryPoint = "nvrtcGetSupportedArchs")] public static partial nvrtcResult nvrtcGetSupportedArchs(int* supportedArchs);
    [LibraryImport(Lib, EntryPoint = "nvrtcCreateProgram")]
    public static partial nvrtcResult nvrtcCreateProgram(nint* prog, byte* src, byte* name, int numHeaders, byte** headers, byte** includeNames);
    [LibraryImport(Lib, EntryPoint = "nvrtcDestroyProgram")] public static partial nvrtcResult nvrtcDestroyProgram(nint* prog);
    [LibraryImport(Lib, EntryPoint = "nvrtcCompileProgram")] public static partial nvrtcResult nvrtcCompileProgram(nint prog, int numOptions, byte** options);
    [LibraryImport(Lib, EntryPoint = "nvrtcGetProgramLogSize")] public static partial nvrtcResult nvrtcGetProgramLogSize(nint prog, nuint* logSizeRet);
    [LibraryImport(Lib, EntryPoint = "nvrtcGetProgramLog")] public static partial nvrtcResult nvrtcGetProgramLog(nint prog, byte* log);
    [LibraryImport(Lib, EntryPoint = "nvrtcGetPTXSize")] public static partial nvrtcResult nvrtcGetPTXSize(nint prog, nuint* ptxSizeRet);
    [LibraryImport(Lib, EntryPoint = "nvrtcGetPTX")] public static partial nvrtcResult nvrtcGetPTX(nint prog, byte* ptx);
    [LibraryImport(Lib, EntryPoint = "nvrtcGetCUBINSize")] public static partial nvrtcResult nvrtcGetCUBINSize(nint prog, nuint* cubinSizeRet);
    [LibraryImport(Lib, EntryPoint = "nvrtcGetCUBIN")] public static partial nvrtcResult nvrtcGetCUBIN(nint prog, byte* cubin);
}
