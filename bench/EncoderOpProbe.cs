using System.Diagnostics;
using System.Runtime.InteropServices;
using OpenAutoGlm.Kernels.Cpu;

namespace OpenAutoGlm.Bench;

/// <summary>Rates of the ViT-B/16 encoder's operations at 224×224 (196 rows), each against the FMA peak of the same process.</summary>
internal static unsafe class EncoderOpProbe
{
    public static void Run(int threads)
    {
        using var pool = new WorkerPool(threads);
        const int rows = 196, width = 768, heads = 12;
        var rng = new Random(1);
        foreach (var (k, n, name) in new[] { (width, 3 * width, "qkv"), (width, width, "out"), (width, 4 * width, "up"), (4 * width, width, "down") })
        {
            Half* w = (Half*)NativeMemory.AlignedAlloc((nuint)(2L * n * k), 64);
            for (long i = 0; i < (long)n * k; i++) w[i] = (Half)(rng.NextSingle() - 0.5f);
            var x = new float[rows * k];
            for (int i = 0; i < x.Length; i++) x[i] = rng.NextSingle() - 0.5f;
            var y = new float[rows * n];
            // The register-tile GEMM and the panel GEMM, alternating so load swings hit both alike.
            int saved = MatMul.PanelMinRows;
            var best = new double[2];
            Array.Fill(best, double.MaxValue);
            for (int rep = 0; rep < 15; rep++)
                for (int side = 0; side < 2; side++)
                {
                    MatMul.PanelMinRows = side == 0 ? int.MaxValue : 1;
                    long start = Stopwatch.GetTimestamp();
                    MatMul.Multiply(x, rows, k, w, n, y, pool);
                    best[side] = Math.Min(best[side], Stopwatch.GetElapsedTime(start).TotalSeconds);
                }
            MatMul.PanelMinRows = saved;
            var rates = best.Select((b, i) => $"{(i == 0 ? "tile" : "panel")} {2.0 * rows * n * k / b / 1e9:F1}");
            Console.WriteLine($"{name,-6} {rows}×{k}×{n}: GFLOP/s {string.Join("   ", rates)}");
            NativeMemory.AlignedFree(w);
        }
        var qkv = new float[rows * 3 * width];
        for (int i = 0; i < qkv.Length; i++) qkv[i] = rng.NextSingle() - 0.5f;
        var o = new float[rows * width];
        double att = Best(() =>
        {
            fixed (float* pq = qkv, po = o)
                DenseAttention.Forward(pq, rows, 3 * width, pq + width, pq + 2 * width, rows, 3 * width, heads, width / heads, po, width, pool);
        });
        Console.WriteLine($"{"attention",-10} {heads} heads × {rows}²×64: {att * 1e3,7:F2} ms  {4.0 * rows * rows * width / att / 1e9,6:F1} GFLOP/s");
        var ff = new float[rows * 4 * width];
        for (int i = 0; i < ff.Length; i++) ff[i] = rng.NextSingle() - 0.5f;
        double gelu = Best(() => Activations.Gelu(ff));
        Console.WriteLine($"{"gelu",-10} {rows}×{4 * width}: {gelu * 1e3,7:F2} ms");
        Console.WriteLine($"FMA peak {FmaPeak.MeasureFlopsPerSecond(pool) / 1e9:F1} GFLOP/s ({threads} threads)");
    }

    private static double Best(Action action)
    {
        action();
        double best = double.MaxValue;
        for (int rep = 0; rep < 10; rep++)
        {
            long start = Stopwatch.GetTimestamp();
            action();
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return best;
    }
}
