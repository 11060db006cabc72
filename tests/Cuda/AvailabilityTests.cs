using Xunit;
using OpenAutoGlm.Kernels.Cuda;
using OpenAutoGlm.Kernels.Emulation;
using OpenAutoGlm.Kernels.Native;
using OpenAutoGlm.Kernels.Ops;

namespace OpenAutoGlm.Tests.Cuda;

public sealed class AvailabilityTests
{
    [Fact]
    public void Probe_never_throws_and_names_libcuda_when_the_driver_is_missing()
    {
        CudaProbeResult probe = CudaAvailability.Probe();
        Assert.False(string.IsNullOrWhiteSpace(probe.Reason));
        if (!NativeLibraryResolver.TryLoad(NativeLibraryResolver.Cuda, out _, out _))
        {
            Assert.False(probe.Available);
            Assert.Contains("libcuda.so.1", probe.Reason, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Probe_of_a_missing_device_ordinal_is_not_available()
    {
        Assert.False(CudaAvailability.Probe(deviceOrdinal: 4096).Available);
    }

    [Fact]
    public void Nvrtc_minimum_versions_per_arch()
    {
        Assert.Equal(new Version(11, 8), CudaAvailability.MinimumNvrtcFor(90));
        Assert.Equal(new Version(11, 0), CudaAvailability.MinimumNvrtcFor(80));
        Assert.Equal(new Version(12, 8), CudaAvailability.MinimumNvrtcFor(100));
    }

    [Fact]
    public void Opening_the_gpu_backend_without_a_device_reports_the_probe_reason()
    {
        CudaProbeResult probe = CudaAvailability.Probe();
        if (probe.Available) return; // covered by the GPU test below
        var ex = Assert.Throws<CudaException>(() => CudaBackend.Open());
        Assert.Contains(probe.Reason, ex.Message, StringComparison.Ordinal);
    }

    [GpuFact]
    public void Gpu_gemv_matches_emulation()
    {
        const int n = 257, k = 4096;
        var r = new Random(42);
        Half[] w = [.. Enumerable.Range(0, n * k).Select(_ => (Half)(float)(r.NextDouble() - 0.5))];
        float[] x = [.. Enumerable.Range(0, k).Select(_ => (float)(r.NextDouble() - 0.5))];
        float[] Run(IKernelBackend b)
        {
            using var pool = new DevicePool(b.Memory);
            var dw = pool.Upload<Half>(w);
            var dx = pool.Upload<float>(x);
            var dy = pool.Allocate<float>(n);
            Gemv.Run(b, dw, dx, dy, n, k);
            b.Synchronize();
            return dy.Download<float>();
        }
        using var gpu = CudaBackend.Open();
        float[] onGpu = Run(gpu);
        if (!EmuBackend.IsAvailable(out _)) return;
        using var emu = EmuBackend.Create();
        float[] emulated = Run(emu);
        for (int i = 0; i < n; i++) Assert.Equal(emulated[i], onGpu[i], 2e-3f);
    }

    [Fact]
    public void Nvrtc_candidates_honour_the_override_variable()
    {
        string? old = Environment.GetEnvironmentVariable(NativeLibraryResolver.NvrtcOverrideVariable);
        try
        {
            Environment.SetEnvironmentVariable(NativeLibraryResolver.NvrtcOverrideVariable, "/opt/custom/libnvrtc.so");
            IReadOnlyList<string> c = NativeLibraryResolver.Candidates(NativeLibraryResolver.Nvrtc);
            Assert.Equal("/opt/custom/libnvrtc.so", c[0]);
            if (OperatingSystem.IsLinux()) Assert.Contains("libnvrtc.so.11.2", c);
        }
        finally
        {
            Environment.SetEnvironmentVariable(NativeLibraryResolver.NvrtcOverrideVariable, old);
        }
        Assert.Equal("libcuda.so.1", NativeLibraryResolver.Candidates(NativeLibraryResolver.Cuda)[0]);
    }
}

public sealed class ParityTests
{
    [GpuFact]
    public void Gpu_matches_emulation_for_every_op()
    {
        if (!EmuBackend.IsAvailable(out string reason)) Assert.Fail(reason);
        using var gpu = CudaBackend.Open();
        using var emu = EmuBackend.Create();
        IReadOnlyList<KernelParityRow> rows = KernelParity.Run(gpu, emu);
        Assert.All(rows, r => Assert.True(r.Passed, $"{r.Op}: max rel error {r.MaxRelError:g3}"));
    }

    [EmulationFact]
    public void Parity_harness_runs_on_emulation()
    {
        using var a = EmuBackend.Create();
        IReadOnlyList<KernelParityRow> rows = KernelParity.Run(a, a, headDim: 64, gqa: 4);
        Assert.True(rows.Count >= 12);
        Assert.All(rows, r => Assert.True(r.Passed && r.MaxAbsError == 0, $"{r.Op}: {r.MaxAbsError}"));
    }
}
