using System.Diagnostics;
using System.Runtime.InteropServices;
using OpenAutoGlm.Kernels.Cpu;

namespace OpenAutoGlm.Bench;

/// <summary>A/B of GEMV software prefetch distance, interleaved over DRAM-resident weights in one process.</summary>
internal static unsafe class GemvPrefetchProbe
{
    public static void Run(int threads)
    {
        using var pool = new WorkerPool(threads);
        const int k = 768, n = 4096, matrices = 48;  // 300 MB: far beyond the last-level cache.
        var rng = new Random(1);
        var ws = new IntPtr[matrices];
        for (int m = 0; m < matrices; m++)
        {
            Half* w = (Half*)NativeMemory.AlignedAlloc((nuint)(2L * n * k), 64);
            for (long i = 0; i < (long)n * k; i++) w[i] = (Half)(rng.NextSingle() - 0.5f);
            ws[m] = (IntPtr)w;
        }
        var x = new float[k];
        for (int i = 0; i < k; i++) x[i] = rng.NextSingle();
        var y = new float[n];
        int[] distances = [0, 1024, 2048, 4096, 8192];
        var best = new double[distances.Length];
        Array.Fill(best, double.MaxValue);
        for (int rep = 0; rep < 8; rep++)
            for (int d = 0; d < distances.Length; d++)
            {
                MatMul.GemvPrefetchHalves = distances[d];
                double total = 0;
                foreach (var w in ws)
                {
                    long start = Stopwatch.GetTimestamp();
                    MatMul.Multiply(x, 1, k, (Half*)w, n, y, pool);
                    total += Stopwatch.GetElapsedTime(start).TotalSeconds;
                }
                best[d] = Math.Min(best[d], total);
            }
        double bandwidth = MemoryBandwidth.MeasureReadBytesPerSecond(pool);
        Console.WriteLine($"read bandwidth {bandwidth / 1e9:F1} GB/s");
        for (int d = 0; d < distances.Length; d++)
            Console.WriteLine($"prefetch {distances[d],5} halves: {2.0 * n * k * matrices / best[d] / 1e9:F1} GB/s");
        MatMul.GemvPrefetchHalves = 4096;
        foreach (var w in ws) NativeMemory.AlignedFree((void*)w);
    }
}
