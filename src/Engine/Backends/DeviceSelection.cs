using OpenAutoGlm.Kernels.Cuda;
using OpenAutoGlm.Weights;

namespace OpenAutoGlm.Engine.Backends;

/// <summary>Maps ModelOptions.Device to a backend: null for the CPU, else the CUDA decoder on a GPU or under emulation.</summary>
internal static class DeviceSelection
{
    public static CudaTextDecoder? Open(ModelFile file, string device, Action<string>? log)
    {
        switch (device)
        {
            case "cpu":
                return null;
            case "auto":
                var probe = CudaAvailability.Probe();
                if (!probe.Available)
                {
                    log?.Invoke($"autoglm: CUDA not usable ({probe.Reason}); running on the CPU.");
                    return null;
                }
                return Create(file, "cuda");
            case "cuda" or "cuda-emu":
                return Create(file, device);
            default:
                if (device.StartsWith("cuda:", StringComparison.Ordinal)) return Create(file, device);
                throw new ArgumentException($"Unknown device '{device}' (expected cpu, auto, cuda, cuda:N or cuda-emu).", nameof(device));
        }
    }

    private static CudaTextDecoder Create(ModelFile file, string device)
    {
        if (device != "cuda-emu")
        {
            int ordinal = device.Length > 5 ? int.Parse(device.AsSpan(5), System.Globalization.CultureInfo.InvariantCulture) : 0;
            var probe = CudaAvailability.Probe(ordinal);
            if (!probe.Available) throw new InvalidOperationException($"--device {device}: CUDA is not available: {probe.Reason}.");
        }
        else if (!Kernels.Emulation.EmuBackend.IsAvailable(out string reason))
            throw new InvalidOperationException($"--device cuda-emu: the CUDA emulation is not available: {reason}.");
        var backend = KernelBackends.Create(device);
        try { return new CudaTextDecoder(file, backend); }
        catch
        {
            backend.Dispose();
            throw;
        }
    }
}
