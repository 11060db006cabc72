using System.Diagnostics;
using System.Runtime.InteropServices;
using OpenAutoGlm.Kernels.Cpu;

namespace OpenAutoGlm.Bench;

/// <summary>
/// The matrix products of one batched step of the 125M model (12 layers: QKV, O, gate/up, down; 151 MB of FP16 weights,
/// far past the caches) at few rows, through the register-tile GEMM, the skinny kernel and the panel GEMM, interleaved in one process.
/// </summary>
internal static unsafe class GemmRowsProbe
{
    public static void Run(int threads)
    {
        using var pool = new WorkerPool(threads);
        int saved = MatMul.SkinnyMaxRows, savedPanel = MatMul.PanelMinRows;
        (int K, int N)[] shapes = [(768, 1280), (768, 768), (768, 4096), (2048, 768)];
        const int layers = 12;
        var weights = new List<(nint W, int K, int N)>();
        var rng = new Random(1);
        long flopsPerRow = 0;
        for (int l = 0; l < layers; l++)
            foreach (var (k, n) in shapes)
            {
                Half* w = (Half*)NativeMemory.AlignedAlloc((nuint)(2L * n * k), 64);
                for (long i = 0; i < (long)n * k; i++) w[i] = (Half)(rng.NextSingle() - 0.5f);
                weights.Add(((nint)w, k, n));
                flopsPerRow += 2L * n * k;
            }
        foreach (int rows in new[] { 4, 8, 12, 16, 24, 32, 48, 64, 128 })
        {
            var x = new float[rows * 4096];
            for (int i = 0; i < x.Length; i++) x[i] = rng.NextSingle() - 0.5f;
            var y = new float[rows * 4096];
            var best = new double[3];
            Array.Fill(best, double.MaxValue);
            var resident = weights.Take(shapes.Length).ToList();
            double bestResident = double.MaxValue;
            for (int rep = 0; rep < 7; rep++)
            {
                MatMul.SkinnyMaxRows = 0;
                MatMul.PanelMinRows = int.MaxValue;
                long t0 = Stopwatch.GetTimestamp();
                for (int l = 0; l < layers; l++)
                    foreach (var (w, k, n) in resident)
                        MatMul.Multiply(x.AsSpan(0, rows * k), rows, k, (Half*)w, n, y.AsSpan(0, rows * n), pool);
                bestResident = Math.Min(bestResident, Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }
            Console.WriteLine($"rows={rows,4}: one layer's weights (12.6 MB, cache-resident) x12: {bestResident * 1e3,7:F1} ms ({flopsPerRow * rows / bestResident / 1e9,5:F1} GFLOP/s)");
            for (int rep = 0; rep < 7; rep++)
                for (int side = 0; side < 3; side++)
                {
                    MatMul.SkinnyMaxRows = side == 1 ? int.MaxValue : 0;
                    MatMul.PanelMinRows = side == 2 ? 1 : int.MaxValue;
                    long start = Stopwatch.GetTimestamp();
                    foreach (var (w, k, n) in weights)
                        MatMul.Multiply(x.AsSpan(0, rows * k), rows, k, (Half*)w, n, y.AsSpan(0, rows * n), pool);
                    best[side] = Math.Min(best[side], Stopwatch.GetElapsedTime(start).TotalSeconds);
                }
            Console.WriteLine($"rows={rows,4}: FP32-block GEMM {best[0] * 1e3,7:F1} ms ({flopsPerRow * rows / best[0] / 1e9,5:F1} GFLOP/s)   " +
                $"skinny {best[1] * 1e3,7:F1} ms ({flopsPerRow * rows / best[1] / 1e9,5:F1} GFLOP/s)   " +
                $"panel {best[2] * 1e3,7:F1} ms ({flopsPerRow * rows / best[2] / 1e9,5:F1} GFLOP/s)");
        }
        MatMul.SkinnyMaxRows = saved;
        MatMul.PanelMinRows = savedPanel;
        foreach (var (w, _, _) in weights) NativeMemory.AlignedFree((void*)w);
    }
}
