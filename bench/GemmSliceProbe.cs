using System.Diagnostics;
using System.Runtime.InteropServices;
using OpenAutoGlm.Kernels.Cpu;

namespace OpenAutoGlm.Bench;

/// <summary>A/B of the GEMM k-slice depth, interleaved in one process so machine noise hits both sides alike.</summary>
internal static unsafe class GemmSliceProbe
{
    public static void Run(int threads)
    {
        using var pool = new WorkerPool(threads);
        foreach (var (k, n) in new[] { (768, 1280), (768, 4096), (2048, 768) })
        {
            const int rows = 128;
            Half* w = (Half*)NativeMemory.AlignedAlloc((nuint)(2L * n * k), 64);
            var rng = new Random(1);
            for (long i = 0; i < (long)n * k; i++) w[i] = (Half)(rng.NextSingle() - 0.5f);
            var x = new float[rows * k];
            for (int i = 0; i < x.Length; i++) x[i] = rng.NextSingle() - 0.5f;
            var y = new float[rows * n];
            int[] slices = [256, 512, 1024, int.MaxValue / 2];
            var best = new double[slices.Length];
            Array.Fill(best, double.MaxValue);
            for (int rep = 0; rep < 15; rep++)
                for (int s = 0; s < slices.Length; s++)
                {
                    MatMul.KSlice = slices[s];
                    long start = Stopwatch.GetTimestamp();
                    MatMul.Multiply(x, rows, k, w, n, y, pool);
                    best[s] = Math.Min(best[s], Stopwatch.GetElapsedTime(start).TotalSeconds);
                }
            for (int s = 0; s < slices.Length; s++)
                Console.WriteLine($"k={k} n={n} slice={(slices[s] > 1 << 20 ? "none" : slices[s].ToString()),5}: {2.0 * rows * n * k / best[s] / 1e9:F1} GFLOP/s");
            NativeMemory.AlignedFree(w);
        }
        MatMul.KSlice = 512;
    }
}
