using System.Runtime.InteropServices;
using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>
/// Native buffers for weights that are streamed every token: on Linux with transparent huge pages (THP "always" or
/// "madvise"), a buffer of 2 MiB or more is 2 MiB-aligned and advised MADV_HUGEPAGE, so the stream runs without a TLB miss
/// (and a hardware-prefetcher restart) every 4 KiB. Elsewhere, or if the kernel refuses, ordinary pages.
/// </summary>
internal static unsafe partial class HugePages
{
    private const nuint Size = 2 << 20;
    private const int MadviseHugePage = 14; // MADV_HUGEPAGE

    /// <summary>Whether buffers from now on may use huge pages (benchmarks turn it off to compare).</summary>
    internal static bool Enabled = OperatingSystem.IsLinux() && ThpEnabled();

    public static HostMemoryHandle Allocate(long bytes)
    {
        if (!Enabled || bytes < (long)Size) return new HostMemoryHandle(bytes, 64);
        long rounded = (bytes + (long)Size - 1) / (long)Size * (long)Size;
        var handle = new HostMemoryHandle(rounded, Size);
        // Advice only: a refusal leaves ordinary pages, which work the same, a little slower.
        _ = madvise(handle.DangerousGetHandle(), (nuint)rounded, MadviseHugePage);
        return handle;
    }

    private static bool ThpEnabled()
    {
        try { return !File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled").Contains("[never]", StringComparison.Ordinal); }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int madvise(nint address, nuint length, int advice);
}
