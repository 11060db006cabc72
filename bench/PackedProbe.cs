using System.Diagnostics;
using System.Runtime.InteropServices;
using OpenAutoGlm.Kernels.Cpu;

namespace OpenAutoGlm.Bench;

/// <summary>
/// The matrix products of one step of the 125M model (12 layers of QKV, O, gate/up and down: 151 MB of FP16 weights) through
/// the row-major kernels (<see cref="MatMul"/>, its default path for each row count) and the packed ones
/// (<see cref="PackedMatMul"/>), interleaved in one process, best of 7, at 1–128 rows.
/// </summary>
internal static unsafe class PackedProbe
{
    public static void Run(int threads, string? rowList)
    {
        using var pool = new WorkerPool(threads);
        (int K, int N)[] shapes = [(768, 1280), (768, 768), (768, 4096), (2048, 768)];
        var rng = new Random(1);
        var weights = new List<(nint W, PackedMatrix P, PackedMatrix Small, int K, int N)>();
        long flopsPerRow = 0;
        long start = Stopwatch.GetTimestamp();
        double packSeconds = 0;
        for (int l = 0; l < 12; l++)
            foreach (var (k, n) in shapes)
            {
                Half* w = (Half*)NativeMemory.AlignedAlloc((nuint)(2L * n * k), 64);
                for (long i = 0; i < (long)n * k; i++) w[i] = (Half)(rng.NextSingle() - 0.5f);
                long t0 = Stopwatch.GetTimestamp();
                var packed = PackedMatrix.Pack(w, n, k, pool);
                bool huge = HugePages.Enabled;
                HugePages.Enabled = false;
                weights.Add(((nint)w, packed, PackedMatrix.Pack(w, n, k, pool), k, n));
                HugePages.Enabled = huge;
                packSeconds += Stopwatch.GetElapsedTime(t0).TotalSeconds;
                flopsPerRow += 2L * n * k;
            }
        Console.WriteLine($"packing {flopsPerRow / 1e6:F0} MB of FP16 weights took {packSeconds * 1e3:F0} ms ({flopsPerRow / packSeconds / 1e9:F1} GB/s)");
        int[] rowCounts = (rowList ?? "1,2,4,8,12,16,24,32,64,128").Split(',').Select(int.Parse).ToArray();
        foreach (int rows in rowCounts)
        {
            var x = new float[rows * 4096];
            for (int i = 0; i < x.Length; i++) x[i] = rng.NextSingle() - 0.5f;
            var y = new float[rows * 4096];
            double rowMajor = double.MaxValue, packed = double.MaxValue, small = double.MaxValue, narrow = double.MaxValue;
            for (int rep = 0; rep < 7; rep++)
            {
                long t0 = Stopwatch.GetTimestamp();
                foreach (var (w, _, _, k, n) in weights) MatMul.Multiply(x.AsSpan(0, rows * k), rows, k, (Half*)w, n, y.AsSpan(0, rows * n), pool);
                rowMajor = Math.Min(rowMajor, Stopwatch.GetElapsedTime(t0).TotalSeconds);
                t0 = Stopwatch.GetTimestamp();
                foreach (var (w, _, _, k, n) in weights) MatMul.Multiply(x.AsSpan(0, rows * k), rows, k, (Half*)w, n, y.AsSpan(0, rows * n), pool, VectorIsa.V256);
                narrow = Math.Min(narrow, Stopwatch.GetElapsedTime(t0).TotalSeconds);
                t0 = Stopwatch.GetTimestamp();
                foreach (var (_, p, _, k, n) in weights) PackedMatMul.Multiply(x.AsSpan(0, rows * k), rows, p, y.AsSpan(0, rows * n), pool);
                packed = Math.Min(packed, Stopwatch.GetElapsedTime(t0).TotalSeconds);
                t0 = Stopwatch.GetTimestamp();
                foreach (var (_, _, p, k, n) in weights) PackedMatMul.Multiply(x.AsSpan(0, rows * k), rows, p, y.AsSpan(0, rows * n), pool);
                small = Math.Min(small, Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }
            Console.WriteLine($"rows={rows,4}: row-major {rowMajor * 1e3,6:F1} ms ({flopsPerRow * rows / rowMajor / 1e9,5:F1} GFLOP/s, {flopsPerRow / rowMajor / 1e9,4:F1} GB/s)   " +
                $"packed {packed * 1e3,6:F1} ms ({flopsPerRow * rows / packed / 1e9,5:F1} GFLOP/s, {flopsPerRow / packed / 1e9,4:F1} GB/s)   {rowMajor / packed:F2}x   " +
                $"packed, 4 KiB pages {small * 1e3,6:F1} ms   row-major on Vector256 {narrow * 1e3,6:F1} ms");
        }
        foreach (var (w, p, q, _, _) in weights) { NativeMemory.AlignedFree((void*)w); p.Dispose(); q.Dispose(); }
    }
}
