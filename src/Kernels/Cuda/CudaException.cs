using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using OpenAutoGlm.Kernels.Native;

namespace OpenAutoGlm.Kernels.Cuda;

/// <summary>A CUDA driver, NVRTC or cuBLAS call failed.</summary>
public class CudaException : Exception
{
    public CudaException(string errorName, string description, string call, int device, int code)
        : base(Format(errorName, description, call, device))
    {
        ErrorName = errorName;
        Description = description;
        Call = call;
        Device = device;
        Code = code;
    }

    public CudaException(string message) : base(message)
    {
        ErrorName = "";
        Description = message;
        Call = "";
        Device = -1;
    }

    public CudaException(string message, Exception inner) : base(message, inner)
    {
        ErrorName = "";
        Description = message;
        Call = "";
        Device = -1;
    }

    /// <summary>The C enum name, e.g. CUDA_ERROR_OUT_OF_MEMORY.</summary>
    public string ErrorName { get; }
    public string Description { get; }
    /// <summary>The failing call as written in source.</summary>
    public string Call { get; }
    /// <summary>Device ordinal, or -1 when not tied to a device.</summary>
    public int Device { get; }
    public int Code { get; }

    private static string Format(string name, string description, string call, int device) =>
        $"{name}: {description} (in `{call}`{(device >= 0 ? $", device {device}" : "")})";
}

/// <summary>NVRTC rejected a kernel source; carries the full compiler log and the options used.</summary>
public sealed class NvrtcCompileException : CudaException
{
    public NvrtcCompileException(string sourceName, string log, IReadOnlyList<string> options)
        : base($"NVRTC failed to compile {sourceName} with options [{string.Join(' ', options)}]:\n{log}")
    {
        SourceName = sourceName;
        Log = log;
        Options = options;
    }

    public string SourceName { get; }
    public string Log { get; }
    public IReadOnlyList<string> Options { get; }
}

/// <summary>Result checks for the three native layers.</summary>
public static unsafe class CudaCheck
{
    /// <summary>Throws <see cref="CudaException"/> when <paramref name="result"/> is not CUDA_SUCCESS.</summary>
    public static void Check(CUresult result, int device = -1, [CallerArgumentExpression(nameof(result))] string call = "")
    {
        if (result != CUresult.CUDA_SUCCESS)
        {
            throw new CudaException(result.ToString(), Describe(result), call, device, (int)result);
        }
    }

    public static void Check(nvrtcResult result, [CallerArgumentExpression(nameof(result))] string call = "")
    {
        if (result != nvrtcResult.NVRTC_SUCCESS)
        {
            string description = result.ToString();
            try
            {
                byte* s = Nvrtc.nvrtcGetErrorString(result);
                if (s != null) description = Marshal.PtrToStringUTF8((nint)s) ?? description;
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
            }
            throw new CudaException(result.ToString(), description, call, -1, (int)result);
        }
    }

    public static void Check(cublasStatus_t status, int device = -1, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != cublasStatus_t.CUBLAS_STATUS_SUCCESS)
        {
            throw new CudaException(status.ToString(), "cuBLAS call failed", call, device, (int)status);
        }
    }

    /// <summary>cuGetErrorString when the driver is loadable; otherwise a generic text. Never throws.</summary>
    public static string Describe(CUresult result)
    {
        try
        {
            byte* s = null;
            if (CuDriver.cuGetErrorString(result, &s) == CUresult.CUDA_SUCCESS && s != null)
            {
                return Marshal.PtrToStringUTF8((nint)s) ?? result.ToString();
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
        return Enum.IsDefined(result) ? result.ToString() : $"CUresult {(int)result}";
    }

    /// <summary>cuGetErrorName when available, else the enum member name.</summary>
    public static string Name(CUresult result)
    {
        try
        {
            byte* s = null;
            if (CuDriver.cuGetErrorName(result, &s) == CUresult.CUDA_SUCCESS && s != null)
            {
                return Marshal.PtrToStringUTF8((nint)s) ?? result.ToString();
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
        return result.ToString();
    }
}
