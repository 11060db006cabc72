using Xunit;
using OpenAutoGlm.Kernels.Cuda;
using OpenAutoGlm.Kernels.Emulation;

namespace OpenAutoGlm.Tests.Cuda;

/// <summary>Needs NVRTC. Skips with a reason when NVRTC is missing, except on CI (CI=true) where the test runs and fails.</summary>
public sealed class NvrtcFactAttribute : FactAttribute
{
    public NvrtcFactAttribute()
    {
        if (CudaAvailability.NvrtcVersion() is null && !IsCi)
        {
            Skip = "NVRTC not found (libnvrtc.so.13/.12/.11.2 or OPENAUTOGLM_NVRTC); install with scripts/install-nvrtc.sh";
        }
    }

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
}

/// <summary>Needs g++ for the CPU emulation of the .cu sources.</summary>
public sealed class EmulationFactAttribute : FactAttribute
{
    public EmulationFactAttribute()
    {
        if (!EmuBackend.IsAvailable(out string reason)) Skip = reason;
    }
}

/// <summary>Needs a real CUDA device; skips with <see cref="CudaAvailability.Probe"/>'s reason.</summary>
public sealed class GpuFactAttribute : FactAttribute
{
    public GpuFactAttribute()
    {
        CudaProbeResult probe = CudaAvailability.Probe();
        if (!probe.Available) Skip = probe.Reason;
    }
}
