using System.Runtime.CompilerServices;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace OpenAutoGlm.Kernels.Cpu;

/// <summary>Measured sustained read bandwidth: the roofline bound for memory-bound decode.</summary>
public static unsafe class MemoryBandwidth
{
    /// <summary>Bytes per second reading a <paramref name="bytes"/> buffer with all pool threads, best of several passes.</summary>
    public static double MeasureReadBytesPerSecond(WorkerPool pool, long bytes = 256L << 20)
    {
        ArgumentNullException.ThrowIfNull(pool);
        if (bytes < 1 << 20) throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "bytes must be at least 1 MiB.");
        long floats = bytes / sizeof(float) / 64 * 64;
        float* buffer = (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
        try
        {
            // Touch every page so the measurement does not include first-touch faults.
            new Span<float>(buffer, (int)Math.Min(floats, int.MaxValue)).Fill(1f);
            for (long i = int.MaxValue; i < floats; i++) buffer[i] = 1f;
            int chunks = pool.Threads * 8;
            var body = new ReadBody { Buffer = buffer, ChunkFloats = floats / chunks / 64 * 64 };
            float* sums = stackalloc float[chunks];
            body.Sums = sums;
            double best = 0;
            for (int run = 0; run < 12; run++)
            {
                long start = Stopwatch.GetTimestamp();
                pool.For(chunks, ref body);
                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                best = Math.Max(best, body.ChunkFloats * chunks * sizeof(float) / seconds);
            }
            GC.KeepAlive(sums[0]);
            return best;
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    private struct ReadBody : IParallelBody
    {
        public float* Buffer;
        public float* Sums;
        public long ChunkFloats;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Invoke(int index)
        {
            float* p = Buffer + index * ChunkFloats;
            // Four independent sums so the add latency never limits the load rate.
            var a = Vector256<float>.Zero; var b = a; var c = a; var d = a;
            for (long i = 0; i < ChunkFloats; i += 32)
            {
                a += Vector256.Load(p + i);
                b += Vector256.Load(p + i + 8);
                c += Vector256.Load(p + i + 16);
                d += Vector256.Load(p + i + 24);
            }
            Sums[index] = Vector256.Sum(a + b + c + d);
        }
    }
}
