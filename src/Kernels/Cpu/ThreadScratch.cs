using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>
/// Per-thread, grow-only pinned float buffers; pool threads are persistent, so after warm-up the hot path
/// allocates nothing. Slots keep buffers of different kernels from aliasing when nested on one thread.
/// </summary>
internal static unsafe class ThreadScratch
{
    public const int MatMulWeights = 0;
    public const int MatMulInput = 1;
    public const int AttentionScores = 2;
    public const int MatMulAccumulators = 3;
    public const int PanelInput = 4;
    private const int SlotCount = 5;

    [ThreadStatic] private static float[]?[]? s_buffers;

    public static float* Get(int slot, long floats)
    {
        var buffers = s_buffers ??= new float[SlotCount][];
        var buffer = buffers[slot];
        if (buffer is null || buffer.Length < floats + 16)
        {
            // Round up so slowly growing sizes do not reallocate every call; 64 floats keeps rows cache-line aligned.
            long size = Math.Max(floats + 64, (buffer?.Length ?? 0) * 3L / 2);
            buffer = GC.AllocateUninitializedArray<float>(checked((int)size), pinned: true);
            buffers[slot] = buffer;
        }
        // Pinned-heap arrays never move; align to 64 bytes for full-cache-line vector loads.
        nint p = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer));
        return (float*)((p + 63) & ~(nint)63);
    }
}
