using System.Runtime.InteropServices;
using OpenAutoGlm.Kernels.Native;

namespace OpenAutoGlm.Kernels.Cuda;

/// <summary>Outcome of <see cref="CudaAvailability.Probe"/>.</summary>
public sealed record CudaProbeResult(
    bool Available,
    string Reason,
    int DeviceCount,
    string? DeviceName,
    int ComputeMajor,
    int ComputeMinor,
    int DriverVersion,
    Version? NvrtcVersion)
{
    public int Arch => ComputeMajor * 10 + ComputeMinor;
}

/// <summary>Checks, without throwing, whether the CUDA backend can run here.</summary>
public static class CudaAvailability
{
    /// <summary>Oldest NVRTC able to target each architecture (major*10+minor).</summary>
    public static Version MinimumNvrtcFor(int arch) => arch switch
    {
        >= 100 => new Version(12, 8),
        >= 90 => new Version(11, 8),
        >= 89 => new Version(11, 8),
        >= 86 => new Version(11, 1),
        _ => new Version(11, 0),
    };

    /// <summary>NVRTC version if the library loads, else null. Never throws.</summary>
    public static unsafe Version? NvrtcVersion()
    {
        try
        {
            if (!NativeLibraryResolver.TryLoad(NativeLibraryResolver.Nvrtc, out _, out _)) return null;
            int major, minor;
            return Nvrtc.nvrtcVersion(&major, &minor) == nvrtcResult.NVRTC_SUCCESS ? new Version(major, minor) : null;
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>Probes driver, device 0 and NVRTC. Never throws.</summary>
    public static unsafe CudaProbeResult Probe(int deviceOrdinal = 0)
    {
        Version? nvrtc = NvrtcVersion();
        try
        {
            string driverName = NativeLibraryResolver.Candidates(NativeLibraryResolver.Cuda)[0];
            if (!NativeLibraryResolver.TryLoad(NativeLibraryResolver.Cuda, out _, out _))
            {
                return Fail($"{driverName} not found (no NVIDIA driver installed)", nvrtc);
            }
            CUresult r = CuDriver.cuInit(0);
            if (r == CUresult.CUDA_ERROR_NO_DEVICE) return Fail("no CUDA device", nvrtc);
            if (r != CUresult.CUDA_SUCCESS) return Fail($"cuInit failed: {r} ({CudaCheck.Describe(r)})", nvrtc);
            int driverVersion = 0;
            CuDriver.cuDriverGetVersion(&driverVersion);
            int count = 0;
            r = CuDriver.cuDeviceGetCount(&count);
            if (r != CUresult.CUDA_SUCCESS || count == 0) return Fail("no CUDA device", nvrtc);
            if (deviceOrdinal >= count) return Fail($"CUDA device {deviceOrdinal} requested but only {count} present", nvrtc);
            int dev;
            if (CuDriver.cuDeviceGet(&dev, deviceOrdinal) != CUresult.CUDA_SUCCESS) return Fail($"cuDeviceGet({deviceOrdinal}) failed", nvrtc);
            int major = 0, minor = 0;
            CuDriver.cuDeviceGetAttribute(&major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev);
            CuDriver.cuDeviceGetAttribute(&minor, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev);
            byte* name = stackalloc byte[256];
            string deviceName = CuDriver.cuDeviceGetName(name, 256, dev) == CUresult.CUDA_SUCCESS
                ? Marshal.PtrToStringUTF8((nint)name) ?? "?" : "?";
            int arch = major * 10 + minor;
            if (arch < 80)
            {
                return new CudaProbeResult(false, $"{deviceName} is sm_{arch}; tensor-core kernels need sm_80 or newer", count, deviceName, major, minor, driverVersion, nvrtc);
            }
            if (nvrtc is null)
            {
                return new CudaProbeResult(false, "NVRTC not found (libnvrtc.so.13/.12/.11.2; set OPENAUTOGLM_NVRTC to its path)", count, deviceName, major, minor, driverVersion, null);
            }
            Version need = MinimumNvrtcFor(arch);
            if (nvrtc < need)
            {
                return new CudaProbeResult(false, $"NVRTC too old: {nvrtc.Major}.{nvrtc.Minor} < {need.Major}.{need.Minor} for sm_{arch}", count, deviceName, major, minor, driverVersion, nvrtc);
            }
            return new CudaProbeResult(true, $"{deviceName} (sm_{arch}), driver {driverVersion / 1000}.{driverVersion % 1000 / 10}, NVRTC {nvrtc.Major}.{nvrtc.Minor}", count, deviceName, major, minor, driverVersion, nvrtc);
        }
        catch (Exception e)
        {
            return Fail($"CUDA probe failed: {e.GetType().Name}: {e.Message}", nvrtc);
        }
    }

    private static CudaProbeResult Fail(string reason, Version? nvrtc) => new(false, reason, 0, null, 0, 0, 0, nvrtc);
}
