using OpenAutoGlm.Kernels.Cpu;
using OpenAutoGlm.Kernels.Cuda;

namespace OpenAutoGlm.Weights;

/// <summary>Where a model's weight bytes live while it is loaded: the bytes of weights.bin at a fixed address until Dispose.</summary>
internal interface IWeightStore : IDisposable
{
    unsafe byte* Pointer { get; }
    long Length { get; }
}

/// <summary>How the weights are held in memory.</summary>
public enum WeightResidency
{
    /// <summary>Memory-mapped from weights.bin: nothing is copied, pages come from the page cache.</summary>
    Mapped,

    /// <summary>
    /// Read once into anonymous memory backed by 2 MiB transparent huge pages (Linux; elsewhere, or when the kernel
    /// refuses, this is <see cref="Mapped"/>). The decode GEMV then streams without a TLB miss and a prefetcher restart
    /// every 4 KiB, which measured about 10 % faster here; it costs a copy at load and the file's page-cache pages.
    /// </summary>
    HugePages,
}

/// <summary>weights.bin copied into huge-page-backed anonymous memory (<see cref="HugePages"/>); the region is owned by a SafeHandle.</summary>
internal sealed unsafe class HugePageWeights : IWeightStore
{
    private readonly HostMemoryHandle _region;

    public long Length { get; }

    private HugePageWeights(HostMemoryHandle region, long length)
    {
        _region = region;
        Length = length;
    }

    public byte* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_region.IsClosed, this);
            return (byte*)_region.DangerousGetHandle();
        }
    }

    /// <summary>The file in huge pages; null when the platform has no transparent huge pages (the caller maps instead).</summary>
    public static HugePageWeights? TryLoad(string path)
    {
        long length = new FileInfo(path).Length;
        if (length == 0 || HugePages.TryAllocate(length) is not { } region) return null;
        try
        {
            using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
            byte* p = (byte*)region.DangerousGetHandle();
            long done = 0;
            while (done < length)
            {
                int chunk = (int)Math.Min(length - done, 64 << 20);
                int read = RandomAccess.Read(file, new Span<byte>(p + done, chunk), done);
                if (read <= 0) throw new InvalidModelException($"{path}: ended after {done} of {length} bytes while loading.");
                done += read;
            }
            return new HugePageWeights(region, length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            region.Dispose();
            throw new InvalidModelException($"{path}: cannot be read: {e.Message}", e);
        }
        catch
        {
            region.Dispose();
            throw;
        }
    }

    public void Dispose() => _region.Dispose();
}
