using System.IO.Hashing;

namespace OpenAutoGlm.Weights;

/// <summary>The weights-file checksum: XxHash64 (seed 0) of a tensor's bytes as 16 lower-case hex digits.</summary>
public static class TensorChecksum
{
    public static string Compute(ReadOnlySpan<byte> bytes) => Format(XxHash64.HashToUInt64(bytes));

    public static string Format(ulong hash) => hash.ToString("x16");

    internal static unsafe string Compute(byte* data, long length)
    {
        var hash = new XxHash64();
        // Spans are limited to 2 GiB, large tensors are hashed in slices.
        const int slice = 1 << 30;
        for (long done = 0; done < length; done += slice)
            hash.Append(new ReadOnlySpan<byte>(data + done, (int)Math.Min(slice, length - done)));
        return Format(hash.GetCurrentHashAsUInt64());
    }
}
