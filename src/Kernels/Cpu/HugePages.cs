using System.Runtime.InteropServices;
using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>
/// Native buffers for weights that are streamed every token: on Linux with transparent huge pages (THP "always" or
/// "madvise"), 2 MiB-aligned and advised MADV_HUGEPAGE, so a stream runs without a TLB miss (and a hardware-prefetcher
/// restart) every 4 KiB. Used for the packed decoder matrices and for weights.bin read into memory
/// (<c>WeightResidency.HugePages</c>).
/// </summary>
public static unsafe partial class HugePages
{
    private const nuint Size = 2 << 20;
    private const int MadviseHugePage = 14; // MADV_HUGEPAGE

    /// <summary>Whether buffers from now on may use huge pages: Linux with THP enabled (benchmarks turn it off to compare).</summary>
    public static bool Enabled { get; internal set; } = OperatingSystem.IsLinux() && ThpEnabled();

    /// <summary>A buffer of at least <paramref name="bytes"/> in huge pages, or null where they are not available or the kernel refuses the advice.</summary>
    public static HostMemoryHandle? TryAllocate(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        if (!Enabled) return null;
        long rounded = Math.Max(1, (bytes + (long)Size - 1) / (long)Size) * (long)Size;
        var handle = new HostMemoryHandle(rounded, Size);
        if (madvise(handle.DangerousGetHandle(), (nuint)rounded, MadviseHugePage) == 0) return handle;
        handle.Dispose();
        return null;
    }

    /// <summary>A 64-byte-aligned buffer of <paramref name="bytes"/>: in huge pages when it spans at least one and they are available.</summary>
    public static HostMemoryHandle Allocate(long bytes)
        => (bytes >= (long)Size ? TryAllocate(bytes) : null) ?? new HostMemoryHandle(bytes, 64);

    private static bool ThpEnabled()
    {
        try { return !File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled").Contains("[never]", StringComparison.Ordinal); }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int madvise(nint address, nuint length, int advice);
}
